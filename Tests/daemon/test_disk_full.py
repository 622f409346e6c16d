"""A full disk under one node's state directory (issue 13), on the real lab: each host's
state directory is a file system of its own (`lab up --state-quota`), filled to the last
byte by `lab disk-full HOST on` while the cluster works.

What must hold: the node goes on from memory and says so (status, the CLI's text, /metrics,
its log once), the cluster fences and agrees as before, writes on the full node still
work; once there is room again the node saves its whole state by itself (a snapshot, not
a log with a gap in it), and a restart loads everything it applied while its disk was
full. A leader whose disk is full still fences: its peers hold the same replicated state.

Run as root:  python3 -m pytest -v -s Tests/daemon/test_disk_full.py
"""
import json
import os
import re
from pathlib import Path

import pytest
from labkit import poll

from test_daemon import ADDR, DAEMON, LAB_DIR, agreed, cli, lab, status
from test_fencing import apply, bmc_power, fences

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")

HOSTS = ["host1", "host2", "host3"]


@pytest.fixture
def quota_lab():
    assert Path(DAEMON).exists(), f"build lifeboatd first ({DAEMON})"
    lab("down", check=False)
    lab("up", "--hosts", "3", "--lifeboatd", DAEMON, "--state-quota", "32M", timeout=300)
    poll(agreed(HOSTS, members=HOSTS), 30, "3 synced lifeboatd")
    yield HOSTS
    lab("down", check=False)


def metric(host, name, labels):
    text = lab("exec", host, "curl", "-sf", f"http://{ADDR[host]}:15868/metrics").stdout
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name}{labels} in /metrics of {host}")


def loaded_epochs(host):
    text = Path(LAB_DIR, "hosts", host, "lifeboatd.log").read_text()
    return [int(m.group(1)) for m in re.finditer(r"logged events: epoch (\d+)", text)]


def log_text(host):
    return Path(LAB_DIR, "hosts", host, "lifeboatd.log").read_text()


def test_a_full_state_directory_is_reported_the_cluster_goes_on_and_the_node_saves_everything_once_there_is_room(quota_lab):
    hosts = quota_lab
    # Two hosts are lost within a minute here: the storm guard would halt the second fence.
    apply(hosts, agent=False, policy={"storm_threshold": 1.0})
    leader = poll(agreed(hosts, members=hosts), 20, "agreement")[0][hosts[0]]["leader"]
    full, victim = [h for h in hosts if h != leader]

    # Bad input first: clear errors, nothing filled.
    p = lab("disk-full", full, "sideways", check=False)
    assert p.returncode != 0 and "want HOST on|off|status" in p.stderr, p.stderr
    p = lab("disk-full", "host9", "on", check=False)
    assert p.returncode != 0 and "unknown host" in p.stderr, p.stderr
    assert "ballast" not in os.listdir(Path(LAB_DIR, "hosts", full, "lifeboat"))

    print("\n" + lab("disk-full", full, "on").stdout.strip())
    # Writes through the full node: replicated, applied everywhere, answered. (The first
    # few still fit in the last page the log file already has.)
    for i in range(200):
        on = i % 2 == 0
        cli(full, "reserved", victim, "on" if on else "off")
        if (s := status(full))["store_error"]:
            break
    assert s["store_error"] and "No space left on device" in s["store_error"], (i, s["store_error"])
    print(f"the log's write failed at the {i + 1}th write after the disk filled")
    if not on:
        cli(full, "reserved", victim, "on")
    assert "STATE DIRECTORY ERROR" in cli(full, "status").stdout
    assert metric(full, "lifeboat_state_directory_errors", {"part": "state"}) == 1
    assert metric(leader, "lifeboat_state_directory_errors", {"part": "state"}) == 0
    assert status(leader)["store_error"] is None
    reserved = {h["name"]: h for h in status(leader)["hosts"]}[victim]["reserved"]
    assert reserved is True

    # The cluster works as before: a crash is fenced, every member agrees.
    lab("crash", "--power-stays-on", victim)
    poll(lambda: [r for r in fences(leader, victim) if r["outcome"] == "off"], 30, "the victim fenced")
    assert bmc_power(victim).endswith("off")
    st, _ = poll(agreed([leader, full], members=sorted([leader, full])), 20, "the survivors agree")
    errors = log_text(full).count("cannot save state in")
    assert errors <= 2, f"logged {errors} times, not once per distinct error"

    # Room again: the node writes its whole state by itself and says so.
    lab("disk-full", full, "off")
    poll(lambda: (s := status(full)) and s["store_error"] is None and s["history"]["error"] is None, 20,
         "the state directory writable again")
    assert "the state directory is writable again" in log_text(full)
    assert metric(full, "lifeboat_state_directory_errors", {"part": "state"}) == 0
    epoch = status(full)["epoch"]

    # A restart loads everything it applied while its disk was full (a log with a gap would
    # stop the replay at the gap), and its history has the fence.
    loads = len(loaded_epochs(full))
    lab("lifeboatd", full, "restart")
    poll(lambda: len(loaded_epochs(full)) > loads, 30, "the restarted lifeboatd loading its state")
    assert loaded_epochs(full)[-1] >= epoch, (loaded_epochs(full), epoch)
    tail = log_text(full).rsplit("logged events: epoch", 1)[0].rsplit("\n", 30)[-30:]
    tail = "\n".join(tail)
    assert "ERROR: replaying" not in tail and "cut at byte" not in tail, tail[-2000:]
    poll(agreed([leader, full], members=sorted([leader, full])), 30, "the survivors agree after the restart")
    poll(lambda: [r for r in fences(full, victim) if r["outcome"] == "off"], 30, "the fence in the restarted node's history")

    # The leader's own disk full: it still fences (the state is replicated), and says so.
    lab("power", victim, "on")
    poll(agreed(hosts, members=hosts), 90, "the victim back and synced")
    leader = status(hosts[0])["leader"]
    lab("disk-full", leader, "on")
    second = next(h for h in hosts if h != leader)
    lab("crash", "--power-stays-on", second)
    other = next(h for h in hosts if h not in (leader, second))  # the leader's own history cannot be written
    poll(lambda: [r for r in fences(other, second) if r["outcome"] == "off"], 30, "fenced by a leader with a full disk")
    assert "executing fence:" + second in log_text(leader)
    # (Its event log may still have room in its last page; its history's next page not.)
    s = status(leader)
    shown = s["store_error"] or s["history"]["error"]
    assert shown and ("No space left on device" in shown or "disk is full" in shown), s
    lab("disk-full", leader, "off")
    poll(lambda: (s := status(leader)) and s["store_error"] is None and s["history"]["error"] is None, 20,
         "the leader's state directory writable again")
    # A lifeboatd started while its disk is full, its history file gone (a new node, a
    # replaced disk): SQLite cannot create it. The node runs and syncs without it, says so,
    # and creates it once there is room, filled with the cluster's history.
    lab("lifeboatd", other, "stop")
    state_dir = Path(LAB_DIR, "hosts", other, "lifeboat")
    for f in state_dir.glob("history.sqlite*"):
        f.unlink()
    lab("disk-full", other, "on")
    lab("lifeboatd", other, "start")
    s, _ = poll(lambda: (s := status(other)) and s["synced"] and s["history"]["error"] and s, 30,
                "a synced lifeboatd on a full disk, without its history")
    assert "full" in s["history"]["error"] and s["history"]["durable"] is False, s["history"]
    assert "HISTORY ERROR" in cli(other, "status").stdout
    lab("disk-full", other, "off")
    poll(lambda: (s := status(other)) and s["store_error"] is None and s["history"]["error"] is None
         and s["history"].get("entries"), 30, "the history created and written once there is room")
    assert "history.sqlite is open again" in log_text(other)
    poll(lambda: [r for r in fences(other, second) if r["outcome"] == "off"], 30, "the fence in its new history")
    poll(lambda: [r for r in fences(other, victim) if r["outcome"] == "off"], 30, "the first fence too (from the cluster)")
    print(json.dumps({"full_node": full, "errors_logged": errors, "loaded_epoch": loaded_epochs(full)[-1], "epoch_before": epoch}))
