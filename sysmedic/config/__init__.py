"""SysMedic configuration: declared once, validated once, written atomically.

Two files live in the home directory (docs/protocol-decisions.md, decision 15):

- ``config.json``     monitoring settings, per-user overrides, filtering, e-mail;
- ``websocket.json``  ``{"port": 8060, "enabled": true}`` plus optional server keys.

The package is three modules, lowest first:

- :mod:`.values`   what a value may be: the converters and :func:`~.values.option`;
- :mod:`.options`  the option table: every option is a field of a frozen dataclass, its
  metadata its converter, help, secrecy and whether it acts live or at restart, so the
  declaration *is* the table (docs/architecture.md #11);
- :mod:`.files`    reading and writing them: a converter accepts the JSON value or the CLI's
  string and raises ``ValueError`` whose text completes ``"<file>: <key>: ..."``; files keep only
  what the user set, missing keys take defaults, and a write is atomic.

Everyone else imports the names below from ``sysmedic.config``.
"""

from .files import (CONFIG_FILE, MAX_FILE_BYTES, RESTART_NOTE, WEBSOCKET_FILE, at_restart, config_from_dict,
                    describe, get_option, load_config, load_websocket, load_websocket_or_none, read_json,
                    set_option, set_user_option, show, shown_url, shown_value, stored_value, update_websocket,
                    websocket_from_dict, write_json)
from .options import (NOTIFIERS, PERCENT, SECTIONS, Alerts, Command, Config, Email, Filtering, Monitoring,
                      UserLimits, Webhook, WebSocketSettings)
from .values import EVENTS, SEVERITIES, option

__all__ = ["CONFIG_FILE", "MAX_FILE_BYTES", "RESTART_NOTE", "WEBSOCKET_FILE", "at_restart", "config_from_dict",
           "describe", "get_option", "load_config", "load_websocket", "load_websocket_or_none", "read_json",
           "set_option", "set_user_option", "show", "shown_url", "shown_value", "stored_value", "update_websocket",
           "websocket_from_dict", "write_json", "NOTIFIERS", "PERCENT", "SECTIONS", "Alerts", "Command", "Config", "Email",
           "Filtering", "Monitoring", "UserLimits", "Webhook", "WebSocketSettings", "EVENTS", "SEVERITIES", "option"]
