"""Issue 7 on a real Corosync cluster (the lab): the quorum window, minority behaviour,
whole-cluster restart, state size, sync rounds that cannot stall, and clocks.

Run as root:  python3 -m pytest -v -s Tests/daemon/test_safety.py
Every wait polls observed state with a timeout; there are no fixed sleeps.
"""
import json
import os
import re
import resource
import time
from pathlib import Path

import pytest
from labkit import poll

from test_daemon import BIN, DAEMON, LAB_DIR, REPO, agreed, cli, lab, log_times, record, run, status

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")

HOSTS = ["host1", "host2", "host3"]
LAB_CLUSTER = json.loads((REPO / "Cluster/examples/lab-cluster.json").read_text())


def write_cluster(name, cluster):
    path = Path(LAB_DIR, name)
    path.write_text(json.dumps(cluster))
    return str(path)


def set_debug(hosts, debug):
    """Rewrite HOSTS' lifeboatd.conf with a `debug` object (None removes it); restart them."""
    for h in hosts:
        conf = Path(LAB_DIR, "hosts", h, "lifeboatd.conf")
        c = json.loads(conf.read_text())
        c.pop("debug", None)
        if debug:
            c["debug"] = debug
        conf.write_text(json.dumps(c, indent=2))
        lab("lifeboatd", h, "restart")


def power_offs(host):
    log = Path(LAB_DIR, "hosts", host, "power.log")
    return log.read_text().count("power off via BMC") if log.exists() else 0


def hosts_of(s):
    return {x["name"]: x for x in s["hosts"]}


def rss_kb(host):
    """Resident memory of HOST's lifeboatd, from /proc."""
    pids = run([str(REPO / "Cluster/lab"), "lifeboatd", host, "status"], check=False).stdout
    m = re.search(r"pid (\d+)", pids)
    if not m:
        return None
    for line in Path(f"/proc/{m.group(1)}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def safety_cluster():
    """The lab's hosts with their BMCs as fence levels, plus host4, which never exists
    (startup fencing has something to do after a cold start)."""
    cluster = json.loads(lab("cluster-config").stdout)
    cluster["hosts"].append({"name": "host4", "segment": "lab", "node_id": 4,
                             "capacity": {"vcpus": 16, "ram_mb": 65536, "disk_gb": 500}})
    cluster["policy"] = {"startup_grace": 6, "fence_retry_interval": 0}
    return cluster


@pytest.fixture(scope="module")
def cluster():
    assert Path(DAEMON).exists(), f"build lifeboatd first ({DAEMON})"
    lab("down", check=False)
    lab("up", "--hosts", "3", "--lifeboatd", DAEMON, timeout=300)
    poll(agreed(HOSTS, members=["host1", "host2", "host3"]), 30, "3 synced lifeboatd")
    cli("host1", "config", "apply", write_cluster("safety-cluster.json", safety_cluster()))
    poll(agreed(HOSTS, members=HOSTS), 15, "configuration everywhere")
    yield
    lab("down", check=False)


def test_split_inside_the_quorum_window_the_old_leader_acts_on_nothing(cluster):
    """libquorum reports late (debug.quorum_delay widens the window to 4 s): after CPG has
    shown the split, the old leader must neither act nor accept a change."""
    # No fence levels here: the majority would (rightly) power the cut-off leader off through
    # its BMC before the minority's behaviour could be looked at.
    c = safety_cluster()
    for h in c["hosts"]:
        h.pop("fencing", None)
    cli("host1", "config", "apply", write_cluster("no-fencing.json", c))
    set_debug(HOSTS, {"quorum_delay": 4})
    st, _ = poll(agreed(HOSTS, members=HOSTS), 40, "agreement with the delay")
    leader = st["host1"]["leader"]
    others = [h for h in HOSTS if h != leader]
    t0 = time.time()
    lab("partition", leader)
    # Inside the window: CPG says alone, the (late) quorum flag still says quorate.
    s, took = poll(lambda: (s := status(leader)) and s["members"] == [leader] and s, 10, "CPG shows the split")
    assert time.time() - t0 < 4, "the window closed before it could be checked"
    assert s["quorate"] is True, "expected the stale quorum flag inside the window"
    assert s["acting"] is False
    assert s["not_acting_because"] == "waiting for quorum and membership to agree"
    p = cli(leader, "maintenance", "host4", "on", check=False)
    assert p.returncode != 0 and "quorum and membership disagree" in p.stderr, p.stderr
    print(f"\nold leader {leader} inside the quorum window ({time.time() - t0:.2f} s after the cut): "
          f"not acting, change refused")
    # After the window: no quorum, it says so at once in status, log and history.
    s, _ = poll(lambda: (s := status(leader)) and not s["quorate"] and s, 15, "the minority sees no quorum")
    assert s["quorum_lost_at"] is not None and s["leader"] is None
    assert log_times(leader, r"warning: this partition lost quorum")
    hist = json.loads(cli(leader, "history", "--json").stdout)
    assert any(n["kind"] == "quorum_lost" for n in hist["notices"]), hist["notices"]
    p = cli(leader, "fence", "--confirm", "host4", check=False)
    assert p.returncode != 0 and "no quorum" in p.stderr
    # The majority acts only once its own quorum report is in.
    poll(agreed(others, members=others), 20, "the majority agrees")
    poll(lambda: (s := status(others[0])) and s["acting"] is not None and s, 10, "majority status")
    lab("heal")
    poll(agreed(HOSTS, members=HOSTS), 40, "healed")
    for h in HOSTS:
        assert not hosts_of(status(h))["host4"]["maintenance"]
    # The old leader never started anything while cut off.
    log = Path(LAB_DIR, "hosts", leader, "lifeboatd.log").read_text().splitlines()
    assert not [l for l in log if float(l.split()[0]) > t0 and "executing " in l]
    set_debug(HOSTS, None)
    poll(agreed(HOSTS, members=HOSTS), 40, "agreement without the delay")
    cli("host1", "config", "apply", write_cluster("safety-cluster.json", safety_cluster()))


def test_a_member_that_never_offers_does_not_stall_sync_rounds(cluster):
    st, _ = poll(agreed(HOSTS, members=HOSTS), 40, "agreement")
    before = st["host1"]["epoch"]
    # A probe in the background: it joins (a round opens) and never offers.
    import subprocess
    p = subprocess.Popen([str(REPO / "Cluster/lab"), "exec", "host2", BIN, "debug", "cpg-send", "--linger", "25", "-"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    p.stdin.write('{"v":9,"type":"event","at":0,"event":{"kind":"clock"}}')
    p.stdin.close()
    t0 = time.time()
    poll(lambda: (s := status("host1")) and not s["synced"], 10, "the probe's join opens a round")
    s, took = poll(lambda: all((x := status(h)) and x["synced"] and x["silent_members"] for h in HOSTS) and status("host1"),
                   30, "the round is aborted and everyone syncs")
    print(f"\na CPG member that never offers: round aborted, all synced {time.time() - t0:.1f} s after it joined")
    record("round_abort_s", round(time.time() - t0, 2))
    assert s["leader"] in HOSTS and s["acting"] is True
    p.wait(timeout=60)
    poll(agreed(HOSTS, members=HOSTS), 30, "agreement after the probe left")
    assert status("host1")["silent_members"] == []


def test_a_node_one_hour_ahead_does_not_drag_cluster_time(cluster):
    set_debug(["host3"], {"clock_offset": 3600})
    poll(agreed(HOSTS, members=HOSTS), 40, "host3 back, an hour ahead")
    s3 = status("host3")
    assert abs(s3["clock_offset"] + 3600) < 30, s3["clock_offset"]
    cli("host3", "reserved", "host4", "off")
    cli("host3", "reserved", "host4", "on")
    for h in HOSTS:
        s = status(h)
        assert abs(s["cluster_time"] - time.time()) < 20, (h, s["cluster_time"] - time.time())
    print(f"\nhost3 one hour ahead: its offset {s3['clock_offset']:.1f} s, cluster time within 20 s of real time")
    set_debug(["host3"], None)
    poll(agreed(HOSTS, members=HOSTS), 40, "host3 back on time")


def test_whole_cluster_restart_with_a_fence_in_flight_loses_nothing(cluster):
    """Every BMC off, then on, while the leader's fence of host3 is in flight (host3's
    fence delay holds it for 20 s): the new term re-issues it and it ends once; the
    history and the recovery survive; host4, never seen, is fenced after the grace."""
    st, _ = poll(agreed(HOSTS, members=HOSTS), 40, "agreement")
    c = safety_cluster()
    c["hosts"][2]["fencing"]["delay"] = 20
    cli("host1", "config", "apply", write_cluster("safety-cluster.json", c))
    st, _ = poll(agreed(HOSTS, members=HOSTS), 40, "agreement")
    leader = st["host1"]["leader"]
    assert leader != "host3", "the test expects host3 not to lead"
    offs_before = power_offs("host3")
    lab("crash", "--power-stays-on", "host3")
    st, _ = poll(lambda: (s := status(leader)) and "fence:host3" in s["in_flight"] and s, 20, "the fence of host3 in flight")
    before = json.loads(cli(leader, "history", "--json", "--limit", "100000").stdout)
    term_before = st["term"]
    survivors = ["host1", "host2"]
    t0 = time.time()
    for h in HOSTS:
        lab("power", h, "off")      # every BMC: the whole cluster goes dark
    for h in survivors:
        lab("power", h, "on")       # host3 stays off
    st, took = poll(agreed(survivors, members=survivors), 60, "the cluster is back")
    print(f"\nwhole-cluster power cycle: quorate with a leader again {time.time() - t0:.1f} s after power-off")
    s = st["host1"]
    assert s["term"] > term_before
    assert hosts_of(s)["host3"]["recovery"] is not None, "the recovery in flight was lost"
    after = json.loads(cli("host2", "history", "--json", "--limit", "100000").stdout)
    old = [json.dumps(e, sort_keys=True) for e in before["history"]]
    new = [json.dumps(e, sort_keys=True) for e in after["history"]]
    assert new[:len(old)] == old, "history before the restart changed or was lost"
    # The new term re-issues the fence; it ends confirmed off, with no second power-off
    # (host3 is already off from the power cycle).
    def fenced():
        x = status("host1")
        return x and hosts_of(x)["host3"]["fenced"] and x
    _, took = poll(fenced, 60, "the re-issued fence ends")
    hist = json.loads(cli("host1", "history", "--json", "--limit", "100000").stdout)
    starts = [e for e in hist["history"] if e["event"].get("kind") == "action_started"
              and e["event"]["action"] == {"kind": "fence", "host": "host3"}]
    assert len(starts) >= 2 and starts[-1]["event"]["term"] > starts[0]["event"]["term"]
    finished = [a for a in hist["actions"] if a["record"]["action"] == {"kind": "fence", "host": "host3"}]
    assert [a["report"]["outcome"] for a in finished][-1] == "off"
    assert power_offs("host3") == offs_before + 1, "host3 was powered off more than once"
    # Startup fencing: host4 never joins; after the grace it is treated as lost.
    h4, _ = poll(lambda: (x := status("host1")) and hosts_of(x)["host4"]["recovery"], 30, "host4 fenced at startup")
    assert h4["cause"] == "unseen_at_startup"
    lab("power", "host3", "on")
    poll(agreed(HOSTS, members=HOSTS), 40, "host3 back")


def test_join_with_20000_instances_and_10000_history_entries(cluster):
    cluster = json.loads(json.dumps(LAB_CLUSTER))
    for h in cluster["hosts"]:
        h["capacity"] = {"vcpus": 100000, "ram_mb": 100000000, "disk_gb": 10000000}
    cluster["instances"] = [
        {"id": f"instance-{n:05d}", "host": f"host{n % 3 + 1}", "ha": n % 4 != 0, "priority": n % 3,
         "flavor": {"vcpus": 1, "ram_mb": 2048, "disk_gb": 20}} for n in range(20000)]
    cluster["policy"] = {"startup_fencing": False}
    t0 = time.time()
    cli("host1", "config", "apply", write_cluster("big-cluster.json", cluster), timeout=120)
    configured = time.time() - t0
    poll(agreed(HOSTS, members=HOSTS), 60, "20,000 instances everywhere")
    # 10,000 events from a member of the group (applied by everyone, kept in the history).
    t0 = time.time()
    msg = '{"v":9,"type":"event","at":0,"event":{"kind":"reserved","host":"host4","on":true}}'
    lab("exec", "host2", BIN, "debug", "cpg-send", "--repeat", "10000", "--linger", "2", "-", stdin=msg, timeout=300)
    poll(lambda: all((s := status(h)) and s["history_entries"] >= 10000 for h in HOSTS), 300, "10,000 history entries")
    flooded = time.time() - t0
    poll(agreed(HOSTS, members=HOSTS), 60, "agreement after the flood")
    assert status("host1")["instances"] == 20000
    # host3 reboots and joins: it must receive the whole state.
    lab("crash", "host3")
    poll(agreed(["host1", "host2"], members=["host1", "host2"]), 30, "host3 gone")
    t_on = time.time()
    lab("power", "host3", "on")
    st, took = poll(agreed(HOSTS, members=HOSTS), 120, "host3 synced with the big state", interval=0.2)
    joined = [t for t in log_times("host3", r"joined CPG group") if t > t_on]
    synced = [t for t in log_times("host3", r"synced from") if t > t_on]
    sync_s = synced[0] - joined[0]
    s3 = st["host3"]
    assert s3["instances"] == 20000 and s3["history_entries"] >= 10000
    mem = {h: rss_kb(h) for h in HOSTS}
    snap = Path(LAB_DIR, "hosts", "host1", "lifeboat", "snapshot.lbs").stat().st_size
    print(f"\n20,000 instances, {s3['history_entries']} history entries: configure {configured:.1f} s, "
          f"10,000 events {flooded:.1f} s; joiner synced {sync_s:.2f} s after it joined "
          f"({took:.1f} s after power-on); snapshot {snap / 1e6:.1f} MB; RSS {mem}")
    record("big_state_join", {"instances": 20000, "history_entries": s3["history_entries"],
                              "configure_s": round(configured, 2), "events_10000_s": round(flooded, 2),
                              "join_sync_s": round(sync_s, 2), "power_on_to_synced_s": round(took, 2),
                              "snapshot_bytes": snap, "rss_kb": mem})
    # A configure over the message limit is refused at once, with a clear error.
    huge = dict(cluster)
    huge["instances"] = [
        {"id": f"x-{n:05d}-" + "y" * 40000, "host": "host1", "ha": True,
         "flavor": {"vcpus": 0, "ram_mb": 0, "disk_gb": 0}} for n in range(1750)]
    t0 = time.time()
    p = cli("host1", "config", "apply", write_cluster("huge-cluster.json", huge), check=False, timeout=300)
    assert p.returncode != 0 and "over the" in p.stderr and "limit" in p.stderr, p.stderr
    print(f"a {Path(LAB_DIR, 'huge-cluster.json').stat().st_size / 1e6:.0f} MB configure: refused in "
          f"{time.time() - t0:.1f} s: {p.stderr.strip()}")
