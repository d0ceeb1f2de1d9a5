"""One module per CLI command group; ``cli`` imports a module only when its command runs.

A zipapp cannot cache bytecode, so every module imported is compiled on every run: importing
the daemon to print ``--version`` cost ~250 ms. Each module here imports what its own
command needs and nothing else.
"""
