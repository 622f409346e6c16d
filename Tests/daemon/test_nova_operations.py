"""Issue 12 on the lab with the real OpenStack: the durable incident history of a real
crash (every step linked and timed, kept across restarts, on the fenced host once it is
back, pruned by its setting, and caught up by a node away longer than the replicated
window), Prometheus /metrics moving during a failover, maintenance drains with real live
migration, and HA policy levels deciding what a crash evacuates.

Run as root:  python3 -m pytest -v -s Tests/daemon/test_nova_operations.py
Segments: "a" = host1, host2, host3 (reserved), rh_priority; "b" = host4 (novakit.config).
"""
import json
import os
import time
from pathlib import Path

import pytest
from labkit import poll

from test_daemon import LAB_DIR, agreed, cli, lab, record, status

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")

from novakit import CLOUDS, HOSTS, boot, config, instances, restore, vms

ADDR = {"host1": "192.168.240.11", "host2": "192.168.240.12", "host3": "192.168.240.13", "host4": "192.168.240.14"}
VENV = "/opt/lifeboat-openstack/bin"


def js(on, *args, **kw):
    return json.loads(cli(on, *args, **kw).stdout)


def metrics(on):
    """`/metrics` of ON's lifeboatd, parsed with prometheus_client's own parser: {(name, labels): value}."""
    from prometheus_client.parser import text_string_to_metric_families
    text = lab("exec", on, "curl", "-sf", f"http://{ADDR[on]}:15868/metrics").stdout
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def stage_count(m, stage):
    return m.get(("lifeboat_stage_duration_seconds_count", (("stage", stage),)), 0)


def osc(*args, on="host4", check=True):
    p = lab("exec", on, "env", f"OS_CLIENT_CONFIG_FILE={CLOUDS}", f"{VENV}/openstack", "--os-cloud", "lab", *args, timeout=120, check=check)
    return p.stdout


def test_a_crash_is_one_incident_every_step_linked_and_timed_kept_across_restarts_and_on_the_fenced_host(cloud):
    st, _ = restore()
    leader = st["host1"]["leader"]
    victim = "host1" if leader != "host1" else "host2"
    # The incident names every HA server of the host: only this test's (earlier suites'
    # evacuations leave theirs on whichever host had room).
    empty(victim, leader)
    ha = boot(victim, 3, ha=True)
    poll(lambda: all(i in instances(leader) for i in ha), 40, "the servers in the inventory")
    before = metrics(leader)
    t0 = time.time()
    lab("crash", "--power-stays-on", victim)
    # Scraped while the failover runs: the stage histograms move.
    seen = []

    def moved():
        m = metrics(leader)
        seen.append(m)
        v = vms()
        done = all(v[i]["host"] != victim and v[i]["status"] == "ACTIVE" for i in ha)
        return done and stage_count(m, "evacuation") >= stage_count(before, "evacuation") + 3 and m
    after, took = poll(moved, 180, "HA servers ACTIVE elsewhere and the metrics counting it", interval=0.5)
    print(f"\n{victim} crashed: 3 HA servers ACTIVE elsewhere {took:.1f} s later; /metrics scraped {len(seen)} times meanwhile")
    for stage in ("fence", "force_down", "disable", "detection"):
        assert stage_count(after, stage) >= stage_count(before, stage) + 1, stage
    assert after[("lifeboat_actions_total", (("kind", "fence"), ("outcome", "off")))] >= 1
    assert after[("lifeboat_quorate", ())] == 1 and after[("lifeboat_leader", ())] == 1
    assert after[("lifeboat_members", ())] == 3
    assert ("lifeboat_reserved_free", (("resource", "ram_mb"), ("segment", "a"))) in after
    assert ("lifeboat_ha_instances_unprotected", (("segment", "a"),)) in after

    # One incident, opened by the loss, with every step linked, timed, and placed.
    def incident():
        listed = js(leader, "incident", "list", "--host", victim, "--kind", "host_lost", "--format", "json")["incidents"]
        newest = listed[-1] if listed else None
        if not newest or newest["opened_at"] < t0 - 5:
            return None
        shown = js(leader, "incident", "show", str(newest["id"]), "--format", "json")
        ok = [s for s in shown["stages"] if s["kind"] == "evacuate" and s.get("outcome") == "ok"]
        return shown if len(ok) == 3 and shown["incident"].get("outcome") else None
    shown, _ = poll(incident, 60, "the incident resolved with every evacuation recorded")
    inc = shown["incident"]
    assert inc["kind"] == "host_lost" and inc["host"] == victim and inc["segment"] == "a" and inc["outcome"] == "recovered", inc
    assert sorted(inc["instances"]) == sorted(ha)
    stages = {s["kind"]: s for s in shown["stages"]}
    assert stages["fence"]["outcome"] == "off" and "level" in stages["fence"].get("detail", ""), stages["fence"]
    for kind in ("fence", "force_down", "disable_service"):
        s = stages[kind]
        assert s["decided_by"] == leader and s["executed_on"] == leader and s["finished_at"] >= s["started_at"] > 0, s
    evacuations = [s for s in shown["stages"] if s["kind"] == "evacuate" and s.get("outcome") == "ok"]
    inside = [f"target {h}" for h in ("host1", "host2", "host3") if h != victim]   # segment a, never host4
    assert all(any(t in s["detail"] for t in inside) and "request id req-" in s["detail"] for s in evacuations), evacuations
    assert all(r["incident"] == inc["id"] for r in shown["records"])
    text = cli(leader, "incident", "show", str(inc["id"])).stdout
    assert f"Incident #{inc['id']}" in text and "evacuate" in text and "decided by" in text, text
    print(text)
    # What happened to one of them, by instance, time and kind.
    one = ha[0]
    mine = js(leader, "history", "--instance", one, "--since", "1h", "--format", "json", "--limit", "500")["records"]
    assert "node_lost" in {r["kind"] for r in mine} and {r["instance"] for r in mine if "instance" in r} == {one}, mine
    fences = js(leader, "history", "--kind", "fence", "--host", victim, "--since", "1h", "--format", "json")["records"]
    assert [r["kind"] for r in fences][-2:] == ["action_started", "action_finished"], fences
    text = cli(leader, "history", "--instance", one, "--since", "1h").stdout
    assert "time (UTC)" in text and "left the cluster" in text and f"evacuate {one}" in text, text
    assert f"{one} was down " in text and f"(incident #{inc['id']})" in text, text

    # Every lifeboatd restarted: the same incident, the same records, from disk.
    running = [h for h in HOSTS if h != victim]
    for h in running:
        lab("lifeboatd", h, "restart")
    poll(agreed(running, members=running), 60, "the survivors synced again")
    for h in running:
        again = js(h, "incident", "show", str(inc["id"]), "--format", "json")
        assert [(r["seq"], r["text"]) for r in again["records"]] == [(r["seq"], r["text"]) for r in shown["records"]], h

    # The fenced host comes back: it has the incident it was off for, and its re-admission
    # closes the incident everywhere.
    lab("power", victim, "on")
    poll(agreed(HOSTS, members=HOSTS), 120, "the fenced host back")

    def closed_on_victim():
        s = js(victim, "incident", "show", str(inc["id"]), "--format", "json")
        return s if s["incident"].get("closed_at") else None
    back, _ = poll(closed_on_victim, 180, "the incident on the returned host, closed by its re-admission")
    assert any(s["kind"] == "enable_service" and s.get("outcome") == "ok" for s in back["stages"])
    same = js(leader, "incident", "show", str(inc["id"]), "--format", "json")
    assert [(r["seq"], r["text"]) for r in back["records"]] == [(r["seq"], r["text"]) for r in same["records"]]
    record("history_incident_records", len(same["records"]))


def test_bad_history_queries_are_refused_and_change_nothing(cloud):
    st, _ = restore()
    leader = st["host1"]["leader"]
    epoch = status(leader)["epoch"]
    for args, words in [(["--since", "yesterday"], "not a time"), (["--kind", "bogus"], "unknown kind"),
                        (["--since", "1h", "--until", "2h"], "'since' is after 'until'")]:
        p = cli(leader, "history", *args, check=False)
        assert p.returncode == 2 and words in p.stderr, (args, p.stderr)
    p = cli(leader, "incident", "show", "999999", check=False)
    assert p.returncode == 1 and "no incident 999999" in p.stderr, p.stderr
    assert status(leader)["epoch"] == epoch


def test_a_node_away_longer_than_the_replicated_window_gets_the_history_it_missed(cloud):
    """The in-memory window a sync carries is 50 entries here; host4 misses 150."""
    restore()
    cli("host1", "config", "apply", config({"history_retention": 50}))
    poll(agreed(HOSTS, members=HOSTS), 30, "the small window everywhere")
    lab("lifeboatd", "host4", "stop")
    for n in range(75):
        cli("host1", "reserved", "host2", "on" if n % 2 == 0 else "off")
        cli("host1", "reserved", "host2", "off" if n % 2 == 0 else "on")
    lab("lifeboatd", "host4", "start")
    poll(agreed(HOSTS, members=HOSTS), 60, "host4 synced")

    def same():
        a = js("host1", "history", "--limit", "100000", "--format", "json")
        b = js("host4", "history", "--limit", "100000", "--format", "json")
        if b["durable"]["missing"]:
            return None
        ra = [(r["seq"], r["text"]) for r in a["records"]]
        rb = [(r["seq"], r["text"]) for r in b["records"]]
        return (ra, rb) if ra == rb else None
    (ra, _), took = poll(same, 90, "host4's history equal to host1's", interval=1)
    print(f"\nhost4 caught up {len(ra)} records ({took:.1f} s after it synced)")
    log = Path(LAB_DIR, "hosts", "host4", "lifeboatd.log").read_text()
    assert "were missed while away; asking the leader" in log and "received" in log
    cli("host1", "reserved", "host2", "off", check=False)
    cli("host1", "config", "apply", config())
    poll(agreed(HOSTS, members=HOSTS), 30, "configuration back")


def test_retention_prunes_only_what_its_setting_says_and_says_so(cloud):
    restore()
    on = "host2"
    before = js(on, "history", "--limit", "0", "--format", "json")["durable"]
    # Entries of the last 20 s stay; everything older than that before the newest goes.
    cli("host1", "config", "apply", config({"archive_retention_age": 20}))
    poll(agreed(HOSTS, members=HOSTS), 30, "the retention everywhere")

    def pruned():
        d = js(on, "history", "--limit", "100000", "--format", "json")
        return d if d["durable"]["pruned_entries"] > before["pruned_entries"] else None
    d, _ = poll(pruned, 30, "the prune")
    times = [r["at"] for r in d["records"]]
    assert times and max(times) - min(times) <= 20.5, (min(times), max(times))
    assert d["durable"]["entries"] == len(d["records"])
    assert before["entries"] - d["durable"]["entries"] <= d["durable"]["pruned_entries"] - before["pruned_entries"] + 5
    text = cli(on, "history", "--limit", "5").stdout
    assert "retention pruned" in text, text
    cli("host1", "config", "apply", config())
    poll(agreed(HOSTS, members=HOSTS), 30, "configuration back")


def empty(host, leader):
    """No server on HOST (earlier suites leave some, stopped ones among them), in Nova and in
    Lifeboat's inventory."""
    for i, v in vms().items():
        if v["host"] == host:
            lab("vms", "delete", i, check=False)
    poll(lambda: not any(v["host"] == host for v in vms().values()), 60, f"no server on {host}")
    poll(lambda: not any(i["host"] == host for i in instances(leader).values()), 40, f"no instance of {host} in the inventory")


def test_drain_moves_every_instance_inside_the_segment_by_live_migration_and_says_when_empty(cloud):
    st, _ = restore()
    leader = st["host1"]["leader"]
    for h in ("host1", "host2"):
        cli(leader, "maintenance", h, "off")   # a window an interrupted run left open
    empty("host2", leader)
    empty("host1", leader)   # the only target (host3 a reserve, host4 another segment): room for three
    cli(leader, "reserved", "host3", "on")   # a crash of an earlier test may have used the reserve
    ids, stay = [], []
    try:
        ids += boot("host2", 2, ha=True) + boot("host2", 1, ha=False)
        osc("server", "stop", ids[-1])   # a stopped server moves by cold migration, and stays stopped
        poll(lambda: vms()[ids[-1]]["status"] == "SHUTOFF", 60, "the server stopped")
        poll(lambda: all(i in instances(leader) for i in ids), 40, "the servers in the inventory")
        t0 = time.time()
        p = cli(leader, "maintenance", "host2", "on", "--drain", "--wait", "--timeout", "300", timeout=330, check=False)
        took = time.time() - t0
        print(f"\n{p.stdout}drain of 3 servers: {took:.1f} s")
        record("drain_3_s", round(took, 1))
        assert p.returncode == 0 and "host2 is empty and safe to work on" in p.stdout, p.stdout + p.stderr
        v = vms()
        # Inside segment a, never to the reserve (host3) nor outside (host4).
        assert all(v[i]["host"] == "host1" for i in ids), {i: v[i] for i in ids}
        assert [v[i]["status"] for i in ids] == ["ACTIVE", "ACTIVE", "SHUTOFF"], {i: v[i] for i in ids}
        window = js(leader, "incident", "list", "--host", "host2", "--kind", "operator", "--format", "json")["incidents"][-1]
        shown = js(leader, "incident", "show", str(window["id"]), "--format", "json")
        assert window["opened_at"] >= t0 - 1, window
        moves = [s for s in shown["stages"] if s["kind"] == "migrate" and s.get("outcome") == "ok"]
        assert sorted(s["name"].split()[1] for s in moves) == sorted(ids) and all("target host1" in s["detail"] for s in moves), moves
        assert sum("cold migration" in s["detail"] for s in moves) == 1, moves
        cli(leader, "maintenance", "host2", "off")

        # Too little room: host1 in maintenance, host3 a reserve (again: a crash of an earlier test
        # used it, and a reserve that receives instances stops being one): nowhere to go.
        stay += boot("host2", 1, ha=True)
        poll(lambda: stay[0] in instances(leader), 40, "the server in the inventory")
        cli(leader, "reserved", "host3", "on")
        cli(leader, "maintenance", "host1", "on")
        p = cli(leader, "maintenance", "host2", "on", "--drain", "--wait", "--timeout", "120", timeout=150, check=False)
        assert p.returncode == 1 and f"{stay[0]} stays on host2" in p.stdout and "no other host of segment a has room" in p.stdout, p.stdout
        assert vms()[stay[0]]["host"] == "host2" and vms()[stay[0]]["status"] == "ACTIVE"
    finally:
        # Whatever failed, no host is left in maintenance: a crash of a later test there
        # would not be fenced (host2 was, and every suite after it waited for it).
        for h in ("host1", "host2"):
            cli(leader, "maintenance", h, "off", check=False)
        for i in ids + stay:
            lab("vms", "delete", i, check=False)


def test_ha_policy_levels_decide_what_a_crash_evacuates_and_an_opt_out_stays(cloud):
    st, _ = restore()
    leader = st["host1"]["leader"]
    victim = "host2" if leader != "host2" else "host1"
    empty(victim, leader)   # Nova refuses to change the zone of a host with servers
    osc("aggregate", "create", "--zone", "az-gold", "lab-gold")
    osc("aggregate", "add", "host", "lab-gold", victim)
    plain, out = [], []
    try:
        plain = boot(victim, 2, ha=False)
        out = boot(victim, 1, ha=False)
        poll(lambda: all(i in instances(leader) for i in plain + out), 40, "the servers in the inventory")
        cli(leader, "ha", out[0], "off")   # HA_Enabled=False: opted out whatever the rules say
        project = json.loads(osc("server", "show", plain[0], "-f", "json"))["project_id"]
        cli(leader, "ha", "policy", "add", "by-zone", "--availability-zone", "az-gold", "--priority", "1")
        cli(leader, "ha", "policy", "add", "by-project", "--project", project)

        def explained():
            e = js(leader, "ha", "explain", plain[0], "--format", "json")
            return e if e["protected"] and e["rule"] == "by-zone" else None
        e, _ = poll(explained, 40, "the zone rule protecting the servers (aggregates read from Nova)")
        assert "az-gold" in e["reason"] and e["availability_zone"] == "az-gold" and "lab-gold" in e["aggregates"], e
        assert js(leader, "ha", "explain", out[0], "--format", "json")["source"] == "opt_out"
        listed = js(leader, "ha", "policy", "list", "--format", "json")["rules"]
        assert [r["name"] for r in listed] == ["by-zone", "by-project"] and listed[0]["instances"] >= 2, listed
        cli(leader, "ha", "policy", "remove", "by-zone")
        poll(lambda: js(leader, "ha", "explain", plain[0], "--format", "json")["rule"] == "by-project", 20, "the project rule")
        lab("crash", "--power-stays-on", victim)

        def evacuated():
            v = vms()
            return v if all(v[i]["host"] not in (victim,) and v[i]["status"] == "ACTIVE" for i in plain) else None
        v, took = poll(evacuated, 180, "the rule-protected servers ACTIVE elsewhere")
        print(f"\n{victim} crashed: 2 servers protected by an HA rule ACTIVE elsewhere {took:.1f} s later")
        assert v[out[0]]["host"] == victim, "the opted-out server is not evacuated"
    finally:
        restore()
        for r in ("by-zone", "by-project"):
            cli(leader, "ha", "policy", "remove", r, check=False)
        # Nova keeps a host in its zone while servers run there.
        for i in plain + out:
            lab("vms", "delete", i, check=False)
        poll(lambda: not any(v["host"] == victim for v in vms().values()), 60, "the victim's servers gone")
        osc("aggregate", "remove", "host", "lab-gold", victim)
        osc("aggregate", "delete", "lab-gold")
