"""SysMedic: a lightweight Linux monitoring daemon with per-user accounting.

The package is laid out by architecture (see DESIGN.md):

- ``collect``   reads the machine (``/proc`` on Linux, psutil elsewhere) into frozen records;
- ``analysis``  pure functions: status labels, persistent users, alert conditions;
- ``storage``   the SQLite alert and history store (the only module that imports sqlite3);
- ``notify``    e-mail notification of alerts;
- ``config``    the declared configuration and its validation;
- ``cli``       the docopt command line, thin over the modules above.

Importing the package has no side effects.
"""

__version__ = "1.1.0"
