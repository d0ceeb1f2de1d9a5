"""The SysMedic daemon: composition root, threads, pid file, control socket, process control.

- ``app``        builds everything once, starts the named threads, waits for signals;
- ``state``      the State and AlertSummary the sampler and writer publish, shared by readers;
- ``sampler``    samples, analyses, publishes State, feeds alerts and history to the writer;
- ``writer``     the only SQLite writer, fed through a bounded mailbox;
- ``listeners``  starts, moves and stops the HTTP/WebSocket listener;
- ``threads``    runs the named threads and records any that die;
- ``health``     the ``/health`` answer (503 when degraded);
- ``systemd``    READY/WATCHDOG/STOPPING over ``$NOTIFY_SOCKET``;
- ``control``    the owner-only Unix socket the CLI talks to;
- ``pidfile``    the locked pid file; ``process`` starts, stops and queries the daemon for the CLI.
"""
