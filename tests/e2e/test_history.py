"""get_history against the real daemon (issue 12): recent samples from memory, older ones from
the database a previous run of the daemon wrote, and the protocol's error for bad arguments."""

import json
import os
import sqlite3

from .harness import Client, wait_for


def history_rows(home):
    with sqlite3.connect(os.path.join(home, "sysmedic.db")) as db:
        return db.execute("SELECT COUNT(*) FROM system_history").fetchone()[0]


def ask(client, request):
    client.ws.send(json.dumps(dict(request, type="get_history", request_id="history")))
    while True:
        message = json.loads(client.ws.recv())
        if message.get("request_id") == "history":
            return message


def test_memory_then_the_database_of_an_earlier_run(make_daemon, tmp_path):
    home = str(tmp_path / "home")
    fast = {"monitoring": {"update_interval": 0.2, "monitoring_interval": 1}}
    first = make_daemon(home=home, config=fast)
    client = Client(first.ws_url())
    updates = [client.next("system_update")["data"] for _ in range(10)]
    recent = ask(client, {"since": 1.5})
    assert recent["type"] == "history_response" and recent["data"]["source"] == "memory"
    data = recent["data"]
    assert data["step"] == 0.2 and len(data["timestamps"]) in (8, 9)
    known = [v for v in data["system"]["memory"]["avg"] if v is not None]
    assert len(known) >= 6 and all(0 < v <= 100 for v in known)
    assert "root" in data["users"] and set(data["users"]["root"]) == {"cpu", "memory"}
    last = updates[-1]["memory_usage"]
    assert any(abs(v - last) < 5 for v in known)
    wait_for(lambda: history_rows(home) >= 2, 10, what="two history rows of the first run")
    assert first.terminate() == 0

    second = make_daemon(home=home, config=fast)
    client = Client(second.ws_url())
    second_started = client.next("system_update")["data"]["sample_time"]
    answer = ask(client, {"since": 3600, "step": 1, "metrics": ["cpu", "memory", "user_cpu"]})["data"]
    # 13 series (cpu, memory, the top 10 users' cpu and the others): 3600 s x 13 x 2 (avg and
    # max) in 40,000 values is a 2.34 s step: 3 rows of 1 s, raised to 4 (a raised step is 2, 4
    # or 8 times the source's, the steps the timeline keeps folded)
    assert answer["source"] == "memory+database" and answer["step"] == 4.0
    earlier = [v for t, v in zip(answer["timestamps"], answer["system"]["memory"]["avg"])
               if t < second_started - 2 and v is not None]
    assert earlier and all(0 < v <= 100 for v in earlier)  # the first run's rows, from SQLite
    assert set(answer["system"]) == {"cpu", "memory"} and "network" not in answer["system"]
    assert "memory" not in answer["users"]["root"]
    bad = ask(client, {"since": "last tuesday"})
    assert bad["type"] == "error" and "since must be" in bad["data"]["error"]
    bad = ask(client, {"metrics": ["cpu", "gpu"]})
    assert bad["type"] == "error" and "unknown metric gpu" in bad["data"]["error"]
