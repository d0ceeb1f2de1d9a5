"""Every option of config.json, set on a running daemon (issue 23, item 4): ``config set`` says
"Applied" for a live option and "takes it when it restarts" for a restart-only one; the running
daemon's own values (``config show --running``, read from the daemon, not the file) have a live
option at once and a restart-only one only after a restart; and where a client can see what an
option does, the daemon does it: ``get_config`` has the thresholds, ``system_update`` comes at
the new interval, an excluded user leaves ``get_user_metrics``, an enabled notifier's thread
runs in ``/health``, the collector named is the one ``/health`` reports.

A new option without a value in :data:`NEW` fails here, so none is left untried."""

import json
import os
import pwd

from .harness import Client, cli, wait_for

ME = pwd.getpwuid(os.getuid()).pw_name
CA = "/etc/ssl/certs/ca-certificates.crt"
# Each option and a valid value other than its default, in an order the file accepts (a
# notifier's settings before it is enabled).
NEW = {
    "monitoring.update_interval": "1s",
    "monitoring.monitoring_interval": "2m",
    "monitoring.cpu_threshold": "91",
    "monitoring.memory_threshold": "92",
    "monitoring.user_cpu_threshold": "93",
    "monitoring.user_memory_threshold": "94",
    "monitoring.persistent_time": "30m",
    "monitoring.persistent_grace": "20s",
    "monitoring.alert_after": "2m",
    "monitoring.clear_after": "3m",
    "monitoring.clear_margin": "7.5",
    "monitoring.retain_days": "10d",
    "monitoring.collector": "psutil",
    "monitoring.exit_records": "false",
    "monitoring.pss_interval": "2m",
    "monitoring.history_memory": "30m",
    "filtering.excluded_users": ME,
    "filtering.min_cpu_percent": "0.5",
    "filtering.min_memory_percent": "0.25",
    "filtering.exclude_system_users": "true",
    "alerts.cooldown": "5m",
    "alerts.renotify": "1h",
    "alerts.notify_resolved": "false",
    "email.smtp_host": "127.0.0.1",
    "email.smtp_port": "2525",
    "email.security": "none",
    "email.username": "watcher",
    "email.password": "not-a-real-one",
    "email.sender": "sysmedic@example.org",
    "email.recipients": "ops@example.org",
    "email.timeout": "5s",
    "email.ca_file": CA,
    "email.retries": "1",
    "email.severities": "critical",
    "email.events": "open",
    "email.enabled": "true",
    "webhook.url": "http://127.0.0.1:9/hook",
    "webhook.headers": '{"X-Test": "1"}',
    "webhook.ca_file": CA,
    "webhook.timeout": "5s",
    "webhook.retries": "1",
    "webhook.severities": "critical",
    "webhook.events": "open",
    "webhook.enabled": "true",
    "command.argv": '["/bin/true"]',
    "command.timeout": "5s",
    "command.retries": "1",
    "command.severities": "critical",
    "command.events": "open",
    "command.enabled": "true",
}
RESTART_ONLY = {"monitoring.history_memory"}


def shown(home, *running):
    return json.loads(cli(home, "config", "show", *running, "--json", check=True).stdout)


def test_every_option_applies_live_or_says_it_waits_for_a_restart(make_daemon):
    daemon = make_daemon(config={"monitoring": {"update_interval": 0.25, "monitoring_interval": 1}})
    home, pid = daemon.home, daemon.proc.pid
    first = shown(home)
    assert set(NEW) == {key for key in first if not key.startswith("users.")}, "give each new option a value here"
    assert shown(home, "--running") == first

    client = Client(daemon.ws_url())
    client.next("system_update")
    assert any(row["username"] == ME for row in client.ask("get_user_metrics"))
    started_method = daemon.health()["accounting"]["method"]

    for key, value in NEW.items():
        out = cli(home, "config", "set", key, value, check=True).stdout
        running, saved = shown(home, "--running"), shown(home)
        assert saved[key] != first[key], (key, saved[key])
        if key in RESTART_ONLY:
            assert "takes it when it restarts" in out and "Applied" not in out, (key, out)
            assert running[key] == first[key], (key, running[key])
        else:
            assert "Applied to the running daemon (pid %d)" % pid in out, (key, out)
            assert running[key] == saved[key], (key, running[key], saved[key])
        if key == "filtering.excluded_users":  # the daemon stops showing that user
            wait_for(lambda: all(row["username"] != ME for row in client.ask("get_user_metrics")), 15,
                     what="%s gone from get_user_metrics" % ME)
        if key == "monitoring.collector":
            wait_for(lambda: daemon.health()["accounting"]["method"] == "psutil", 15, what="the psutil collector")

    # What clients see of the thresholds and the interval
    config = client.ask("get_config")
    assert (config["cpu_threshold"], config["memory_threshold"], config["user_cpu_threshold"],
            config["user_memory_threshold"]) == (91, 92, 93, 94), config
    assert config["update_interval"] == "1s", config
    times = [client.next("system_update")["data"]["sample_time"] for _ in range(3)]
    assert min(b - a for a, b in zip(times, times[1:])) > 0.75, times  # was 0.25 s apart
    # The three notifiers run, each enabled only by config set
    wait_for(lambda: {"notify:email", "notify:webhook", "notify:command"} <= set(daemon.health()["threads"]), 15,
             what="the notifiers' threads")
    client.ws.close()
    assert started_method and "Traceback" not in daemon.log()

    # A restart takes the restart-only options too: the running values are the file's
    assert daemon.terminate() == 0
    daemon.start()
    assert shown(home, "--running") == shown(home)
