"""Evacuation requests on their way to Nova while the leadership moves (`lab chaos --nova`
seed 24): a node joining (a sync round) and the leader dying must not make Lifeboat send a
second request for a server. The fault proxy holds each request a while before Nova sees
it. Runs after the other Nova suites (same shared cloud), so theirs see the cloud as before.
"""
import json
import time
from pathlib import Path

from labkit import poll

from test_daemon import LAB_DIR, agreed, cli, lab, log_times, status
from novakit import HOSTS, boot, instances, restore, vms


EVACUATE_POST = r"^POST /v2\.1/servers/[^/]+/action$"


def proxied_evacuations(since, ids):
    """The fault proxy's records of evacuation requests for ids that came after since (a
    request is logged when it ends)."""
    lines = Path(LAB_DIR, "openstack/faultproxy/requests.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r.get("action") == "evacuate" and r["t"] >= since
            and any(i in r["path"] for i in ids)]


def evacuation_records(ids):
    """Nova's own migration records of evacuations of ids."""
    return [m for m in json.loads(lab("vms", "migrations").stdout)
            if m["instance_uuid"] in ids and m.get("migration_type", "evacuation") == "evacuation"]


def executing(host, ids, since):
    """When HOST's lifeboatd began executing an evacuation of each of ids (after since)."""
    times = {i: [t for t in log_times(host, f"executing evacuate:{i} ") if t >= since] for i in ids}
    return times if all(times.values()) else None


def test_an_evacuation_on_its_way_to_nova_is_neither_cancelled_by_a_joining_node_nor_sent_twice(cloud):
    """`lab chaos --nova` seed 24: a node joined while the leader's evacuation request was on
    its way to Nova. The sync round cancelled the attempt, the leader re-issued it at once,
    found nothing in Nova yet, and sent a second request: Nova evacuated the server twice.
    Here the fault proxy holds each evacuation request 5 s before Nova sees it, and another
    node's lifeboatd restarts (joins) meanwhile: the leader keeps its term and its attempts
    through the round, one request per server reaches Nova, one evacuation record each."""
    st, _ = restore()
    leader = st["host1"]["leader"]
    victim = next(h for h in ("host2", "host1") if h != leader)
    joiner = next(h for h in HOSTS if h not in (leader, victim))
    ids = boot(victim, 2, ha=True)
    poll(lambda: all(i in instances(leader) for i in ids), 40, "the servers in the inventory")
    assert lab("nova-fault", "slow", "--delay", "5", "--match", EVACUATE_POST).returncode == 0
    try:
        t0 = time.time()
        lab("crash", "--power-stays-on", victim)
        began, _ = poll(lambda: executing(leader, ids, t0), 60, "the leader executing both evacuations", interval=0.1)
        lab("kill-process", joiner, "lifeboatd")
        lab("lifeboatd", joiner, "start")
        joined = time.time()
        v, took = poll(lambda: (x := vms()) and all(x[i]["host"] != victim and x[i]["status"] == "ACTIVE" for i in ids) and x,
                       120, "both servers ACTIVE elsewhere", interval=0.3)
    finally:
        lab("nova-fault", "pass")
    sent = poll(lambda: (r := proxied_evacuations(t0, ids)) and len(r) >= 2 and r, 20, "the proxy's records")[0]
    # The join came while the requests were still held by the proxy (on their way).
    synced = [t for t in log_times(leader, "synced from") if t >= joined - 1]
    assert synced and all(r["t"] <= synced[0] <= r["end"] for r in sent), (synced, sent)
    print(f"\n{joiner} joined {synced[0] - min(r['t'] for r in sent):.1f} s after the evacuations were sent; "
          f"both ACTIVE elsewhere {took:.1f} s after the join")
    time.sleep(2)   # a second request, were one sent, would be logged by now
    sent = proxied_evacuations(t0, ids)
    assert sorted(r["path"].split("/")[-2] for r in sent) == sorted(ids), f"one request per server: {sent}"
    records = evacuation_records(ids)
    assert sorted(m["instance_uuid"] for m in records) == sorted(ids), f"one evacuation per server in Nova: {records}"
    acts = json.loads(cli(leader, "history", "--format", "json", "--limit", "1000").stdout)["actions"]
    ev = [a for a in acts if a["kind"] == "evacuate" and a.get("instance") in ids
          and a["started"] >= time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t0 - 1))]
    assert [a["outcome"] for a in ev] == ["ok", "ok"], f"not cancelled by the join: {ev}"
    lab("power", victim, "on")
    poll(agreed(HOSTS, members=HOSTS), 90, "all four members again")
    delete(ids)


def delete(ids):
    """The servers a test booted, gone (the suites share one cloud: a later test's crash
    counts every HA server on its host)."""
    for i in ids:
        lab("vms", "delete", i, check=False)
    poll(lambda: not set(ids) & set(vms()), 60, "the test's servers deleted")


def test_an_evacuation_on_its_way_when_its_leader_dies_is_followed_not_sent_again(cloud):
    """The leader dies while its evacuation requests are on their way to Nova (the proxy holds
    them 1.5 s, then delivers them: the leader is gone, its requests are not). The next leader
    re-issues the evacuations, but first lets the dropped requests land (NovaExecutor's
    reissueSettle), finds them in Nova and follows them: one evacuation record per server."""
    st, _ = restore()
    leader = st["host1"]["leader"]
    victim = next(h for h in ("host2", "host1") if h != leader)
    ids = boot(victim, 2, ha=True)
    poll(lambda: all(i in instances(leader) for i in ids), 40, "the servers in the inventory")
    assert lab("nova-fault", "slow", "--delay", "1.5", "--match", EVACUATE_POST).returncode == 0
    try:
        t0 = time.time()
        lab("crash", "--power-stays-on", victim)
        poll(lambda: executing(leader, ids, t0), 60, "the leader executing both evacuations", interval=0.05)
        lab("kill-process", leader, "lifeboatd")
        v, took = poll(lambda: (x := vms()) and all(x[i]["host"] != victim and x[i]["status"] == "ACTIVE" for i in ids) and x,
                       120, "both servers ACTIVE elsewhere", interval=0.3)
    finally:
        lab("nova-fault", "pass")
        lab("lifeboatd", leader, "start", check=False)
    others = [h for h in HOSTS if h not in (leader, victim)]
    after = status(others[0])["leader"]
    assert after != leader
    time.sleep(2)
    sent = proxied_evacuations(t0, ids)
    records = evacuation_records(ids)
    print(f"\nleader {leader} killed with its evacuations on their way: both ACTIVE {took:.1f} s later; "
          f"{len(sent)} requests reached the proxy, {len(records)} evacuation records")
    assert sorted(m["instance_uuid"] for m in records) == sorted(ids), f"one evacuation per server in Nova: {records}"
    assert sorted(r["path"].split("/")[-2] for r in sent) == sorted(ids), f"the dead leader's requests only: {sent}"
    acts = json.loads(cli(after, "history", "--format", "json", "--limit", "1000").stdout)["actions"]
    ev = [a for a in acts if a["kind"] == "evacuate" and a.get("instance") in ids and a["outcome"] == "ok"
          and a["started"] >= time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t0 - 1))]
    assert len({a["instance"] for a in ev}) == 2, ev
    lab("power", victim, "on")
    poll(agreed(HOSTS, members=HOSTS), 90, "all four members again")
    delete(ids)
