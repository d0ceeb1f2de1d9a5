"""Pure analysis of Snapshots: status labels, persistent users, alert conditions.

Nothing here reads the clock or does I/O: every function takes ``now=`` and the data it
judges, so the boundaries are unit-testable (docs/architecture.md #9).
"""
