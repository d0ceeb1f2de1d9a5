"""The SysMedic daemon: composition root, threads, pid file, control socket, process control.

- ``app``      builds everything once, starts the named threads, waits on one stop Event;
- ``sampler``  samples, analyses, publishes State, feeds alerts and history to the writer;
- ``writer``   the only SQLite writer, fed through a bounded queue;
- ``control``  the owner-only Unix socket the CLI talks to;
- ``pidfile``  the locked pid file; ``process`` starts, stops and queries the daemon for the CLI.
"""
