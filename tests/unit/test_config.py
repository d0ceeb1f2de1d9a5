"""config.json and websocket.json: defaults, one-line errors, atomic owner-only writes."""

import json
import os
import stat

import pytest

from sysmedic import config
from sysmedic.errors import ConfigError


def write(home, name, text):
    os.makedirs(home, exist_ok=True)
    with open(os.path.join(home, name), "w") as handle:
        handle.write(text)


def test_defaults_when_no_files(home):
    cfg = config.load_config(home)
    assert (cfg.monitoring.update_interval, cfg.monitoring.monitoring_interval) == (5.0, 60.0)
    assert (cfg.monitoring.cpu_threshold, cfg.monitoring.memory_threshold) == (80, 80)
    assert cfg.monitoring.persistent_time == 3600 and cfg.monitoring.retain_days == 30 * 86400
    ws = config.load_websocket(home)
    assert (ws.port, ws.enabled) == (8060, True)


@pytest.mark.parametrize("text, message", [
    ('{"monitoring": {"cpu_threshold": 150}}', "monitoring.cpu_threshold: 150 is out of range 1-100"),
    ('{"monitoring": {"cpu_threshold": 0}}', "monitoring.cpu_threshold: 0 is out of range 1-100"),
    ('{"monitoring": {"update_interval": 0}}', "monitoring.update_interval: 0 must be greater than 0"),
    ('{"monitoring": {"update_interval": -1}}', "monitoring.update_interval: -1 must be greater than 0"),
    ('{"monitoring": {"cpu_threshold": "high"}}', "monitoring.cpu_threshold: 'high' is not a number"),
    # Issue 13, Low 15: a microsecond interval made the daemon spin a whole core.
    ('{"monitoring": {"update_interval": 0.000001}}', "monitoring.update_interval: 1e-06 is too short (at least 0.2s)"),
    ('{"monitoring": {"update_interval": "0.1s"}}', "monitoring.update_interval: 0.1s is too short (at least 0.2s)"),
    ('{"monitoring": {"monitoring_interval": 0.5}}', "monitoring.monitoring_interval: 0.5 is too short (at least 1s)"),
    ('{"email": {"timeout": 0.001}}', "email.timeout: 0.001 is too short (at least 1s)"),
    # Issue 13, Medium 4: 1e400 is infinity in JSON; int(inf) raised OverflowError, a traceback.
    ('{"monitoring": {"cpu_threshold": 1e400}}', "monitoring.cpu_threshold: inf is not a finite number"),
    ('{"monitoring": {"update_interval": -1e400}}', "monitoring.update_interval: -inf is not a finite number"),
    ('{"users": {"bob": {"cpu_threshold": 1e400}}}', "users.bob.cpu_threshold: inf is not a finite number"),
    ('{"filtering": {"min_cpu_percent": 1e999}}', "filtering.min_cpu_percent: inf is not a finite number"),
    ('{"monitoring": {"cpu_treshold": 50}}', "monitoring.cpu_treshold: unknown key"),
    ('{"monitor": {}}', "monitor: unknown section"),
    ('{"users": {"bob": {"cpu_threshold": 101}}}', "users.bob.cpu_threshold: 101 is out of range 1-100"),
    ('{"email": {"recipients": ["nobody"]}}', "email.recipients: 'nobody' is not an e-mail address"),
    ('{"monitoring": ', "invalid JSON"),
    ('', "empty file"),
    ('[1, 2]', "must contain a JSON object"),
    ('[' * 100000 + ']' * 100000, "invalid JSON"),
])
def test_bad_config_is_one_line_naming_file_key_and_value(home, text, message):
    write(home, "config.json", text)
    with pytest.raises(ConfigError) as caught:
        config.load_config(home)
    line = str(caught.value)
    assert "\n" not in line and message in line and line.startswith(os.path.join(home, "config.json"))


def test_set_option_writes_atomically_0600_and_keeps_other_keys(home):
    os.makedirs(home)
    os.umask(0o022)
    write(home, "config.json", '{"users": {"db": {"cpu_threshold": 30}}}')
    assert config.set_option(home, "cpu_threshold", "90") == ("monitoring.cpu_threshold", 90)
    assert config.set_option(home, "monitoring.persistent_time", "30m")[1] == 1800
    path = os.path.join(home, "config.json")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    saved = json.load(open(path))
    assert saved == {"monitoring": {"cpu_threshold": 90, "persistent_time": "30m"},
                     "users": {"db": {"cpu_threshold": 30}}}
    assert config.load_config(home).monitoring.persistent_time == 1800
    assert [n for n in os.listdir(home) if n.startswith(".tmp")] == []


def test_bad_set_changes_nothing(home):
    write(home, "config.json", '{"monitoring": {"cpu_threshold": 70}}')
    before = open(os.path.join(home, "config.json")).read()
    with pytest.raises(ConfigError, match="monitoring.cpu_threshold: 150 is out of range"):
        config.set_option(home, "cpu_threshold", "150")
    with pytest.raises(ConfigError, match="nosuch: unknown key"):
        config.set_option(home, "nosuch", "1")
    assert open(os.path.join(home, "config.json")).read() == before


def test_a_broken_file_is_never_overwritten(home):
    write(home, "config.json", '{"monitoring": {"cpu_threshold": 70')
    with pytest.raises(ConfigError, match="invalid JSON"):
        config.set_option(home, "cpu_threshold", "90")
    assert open(os.path.join(home, "config.json")).read() == '{"monitoring": {"cpu_threshold": 70'


def test_user_overrides_inherit_defaults(home):
    os.makedirs(home)
    config.set_option(home, "user_memory_threshold", "40")
    config.set_user_option(home, "postgres", "cpu_threshold", "60")
    cfg = config.load_config(home)
    assert cfg.user_limits("postgres") == config.UserLimits(60, 40)
    assert cfg.user_limits("anyone") == config.UserLimits(80, 40)
    with pytest.raises(ConfigError, match="unknown user key"):
        config.set_user_option(home, "postgres", "disk", "5")
    with pytest.raises(ConfigError, match="not a valid user name"):
        config.set_user_option(home, "bad name", "cpu_threshold", "5")


def test_describe_masks_the_password():
    cfg = config.config_from_dict({"email": {"password": "hunter2"}})
    rows = {key: value for key, value, _ in config.describe(cfg)}
    assert rows["email.password"] == "********" and "hunter2" not in repr(config.describe(cfg))


def test_describe_masks_what_a_webhook_url_may_hide():
    """Issue 21: config show printed webhook.url whole, its password and ?token= too."""
    cfg = config.config_from_dict({"webhook": {"url": "https://ann:pw1@hooks.example/services/T0/B0/XXXX?token=t0k"}})
    shown = {key: value for key, value, _ in config.describe(cfg)}["webhook.url"]
    assert shown == "https://ann:********@hooks.example/services/****?token=****"
    assert config.show("webhook.url", "http://h:81/hook") == "http://h:81/hook"


def test_websocket_json(home):
    os.makedirs(home)
    settings = config.update_websocket(home, port=9090, enabled=False)
    assert (settings.port, settings.enabled) == (9090, False)
    assert json.load(open(os.path.join(home, "websocket.json"))) == {"port": 9090, "enabled": False}
    write(home, "websocket.json", '{"port": 70000}')
    with pytest.raises(ConfigError, match="websocket.json: port: 70000 is out of range 1-65535"):
        config.load_websocket(home)
    # Issue 13, Low 15: floors, so a typo cannot make pings or header deadlines a busy loop.
    for key, value, floor in (("ping_interval", 0.001, "1s"), ("header_timeout", 0.01, "1s"),
                              ("send_timeout", 0.5, "1s")):
        write(home, "websocket.json", json.dumps({key: value}))
        with pytest.raises(ConfigError, match=r"websocket.json: %s: %s is too short \(at least %s\)$"
                           % (key, value, floor)):
            config.load_websocket(home)
