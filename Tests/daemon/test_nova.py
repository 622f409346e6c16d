"""Issue 9 on the lab with a real OpenStack (Keystone, placement, Nova 34 with one
nova-compute inside each lab host, RabbitMQ), started once for the module.

Run as root:  python3 -m pytest -v -s Tests/daemon/test_nova.py
Segments: "a" = host1, host2, host3 (reserved), recovery method rh_priority; "b" = host4.
Every wait polls observed state with a timeout; there are no fixed sleeps.
"""
import json
import os
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from labkit import poll

from test_daemon import BIN, DAEMON, LAB, LAB_DIR, REPO, agreed, cli, lab, log_times, record, run, status

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")

from novakit import CLOUDS, HOSTS, STACK, boot, config, hosts_of, instances, nova, power_offs, restore, services, vms


def test_the_client_against_real_keystone_and_nova(cloud):
    out = nova("check").stdout
    assert "ok:" in out and "compute microversion 2.87" in out and "4 nova-compute services" in out, out
    assert all(" up  enabled" in services()[h] for h in HOSTS)
    hv = nova("hypervisors").stdout
    assert all(h in hv for h in HOSTS) and "vcpus" in hv


def test_wrong_password_reader_credential_and_nova_down_give_clear_errors_and_change_nothing(cloud):
    text = Path(CLOUDS).read_text()
    password = Path(LAB_DIR, "openstack", "admin-password").read_text().strip()
    wrong = Path(LAB_DIR, "openstack", "wrong-clouds.yaml")
    wrong.write_text(text.replace(password, "not-the-password"))
    wrong.chmod(0o600)
    p = cli("host4", "nova", "check", "--cloud", "lab", "--clouds-yaml", str(wrong), check=False)
    assert p.returncode == 1 and "keystone: POST /v3/auth/tokens: HTTP 401" in p.stderr, p.stderr
    assert "not-the-password" not in p.stdout + p.stderr and password not in p.stdout + p.stderr
    run([STACK, "app-credential", "lab-reader", "--reader"])
    p = nova("services", cloud="lab-reader", check=False)
    assert p.returncode == 1 and "HTTP 403" in p.stderr and "os-services" in p.stderr, p.stderr
    before = services()
    run([STACK, "api", "stop"])
    try:
        p = nova("check", check=False)
        assert p.returncode == 1 and "no answer" in p.stderr and "connection refused" in p.stderr, p.stderr
    finally:
        run([STACK, "api", "start"])
    assert services() == before
    # A lifeboatd configuration with a broken cloud section is refused at once.
    conf = Path(LAB_DIR, "bad-lifeboatd.conf")
    conf.write_text(json.dumps({"openstack": {"cloud": "lab", "inventory_interval": 0}}))
    p = run([DAEMON, "--config", str(conf)], check=False, timeout=20)
    assert p.returncode == 2 and "openstack.inventory_interval: must be at least 1 second" in p.stderr


def test_inventory_follows_servers_booted_tagged_deleted_and_migrated_by_hand(cloud):
    ids = boot("host2", 2, ha=False)
    seen, took = poll(lambda: all(i in instances() for i in ids) and instances(), 40, "the new servers in the inventory")
    print(f"\n2 servers booted by hand: in Lifeboat's inventory {took:.1f} s later")
    assert all(seen[i]["host"] == "host2" and seen[i]["ha"] is False for i in ids)
    cli("host4", "ha", ids[0], "on")        # the tag is written where users set it: Nova
    assert vms()[ids[0]]["ha"] is True
    poll(lambda: instances()[ids[0]]["ha"] is True, 30, "the tag in Lifeboat's state")
    lab("vms", "delete", ids[1])
    poll(lambda: ids[1] not in instances(), 40, "the deleted server gone from the inventory")
    lab("vms", "migrate", ids[0], "host1")
    poll(lambda: instances().get(ids[0], {}).get("host") == "host1", 40, "the migrated server moved in the inventory")
    cli("host4", "ha", ids[0], "off")
    assert vms()[ids[0]]["ha"] is False
    poll(lambda: instances()[ids[0]]["ha"] is False, 30, "the tag cleared in Lifeboat's state")
    # An operator's settings are never overwritten by a refresh.
    shown = json.loads(cli("host1", "config", "show").stdout)["cluster"]
    assert [h["reserved"] for h in shown["hosts"] if h["name"] == "host3"] == [True]
    assert {h["name"]: h["segment"] for h in shown["hosts"]}["host4"] == "b"


def test_the_fence_evacuate_tags_flavor_extra_spec_and_image_property_make_a_server_ha(cloud):
    """Both other conventions operators use (fence_evacuate's): `evacuable` in the flavor's
    extra specs, or in the image's properties; no HA_Enabled metadata on either server."""
    by_flavor = boot("host2", 1, ha=False, tag="flavor")[0]
    by_image = boot("host2", 1, ha=False, tag="image")[0]
    plain = boot("host2", 1, ha=False)[0]
    seen, _ = poll(lambda: (x := instances()) and all(i in x for i in (by_flavor, by_image, plain)) and x, 40,
                   "the servers in the inventory")
    assert seen[by_flavor]["ha"] is True, seen[by_flavor]
    assert seen[by_image]["ha"] is True, seen[by_image]
    assert seen[plain]["ha"] is False, seen[plain]
    assert not vms()[by_flavor]["ha"] and not vms()[by_image]["ha"], "no HA_Enabled metadata was set"
    for i in (by_flavor, by_image, plain):
        lab("vms", "delete", i)


def test_host_crash_ten_ha_servers_active_in_the_segment_reserved_host_first_two_others_stay(cloud):
    st, _ = restore()
    leader = st["host1"]["leader"]
    victim = "host1" if leader != "host1" else "host2"
    ha = boot(victim, 10, ha=True)
    other = boot(victim, 2, ha=False)
    poll(lambda: all(i in instances(leader) for i in ha + other), 40, "12 servers in the inventory")
    t0 = time.time()
    lab("crash", "--power-stays-on", victim)

    def all_active():
        v = vms()
        return all(v[i]["host"] != victim and v[i]["status"] == "ACTIVE" for i in ha) and v
    v, took = poll(all_active, 120, "10 HA servers ACTIVE elsewhere", interval=0.2)
    print(f"\n{victim} crashed: 10 HA servers ACTIVE on other hosts of its segment {took:.1f} s later")
    record("evacuate_10_s", round(took, 1))
    assert {v[i]["host"] for i in ha} == {"host3"}, "the reserved host of the segment comes first"
    assert all(v[i]["host"] != "host4" for i in ha), "never outside the segment"
    assert all(v[i]["host"] == victim for i in other), "non-HA servers stay"
    svc = services()[victim]
    assert "disabled" in svc and "forced_down" in svc and "lifeboat" in svc, svc
    assert power_offs(victim) == 1
    # Nova shows ACTIVE a moment before Lifeboat's tracker has seen it settle (it also waits
    # for task_state to clear, and polls every 0.5 s) and replicated the result: wait for the
    # history to hold every move, bounded.
    def recorded():
        h = json.loads(cli(leader, "history", "--format", "json", "--host", victim, "--limit", "1000").stdout)["actions"]
        done = {a["instance"] for a in h if a["kind"] == "evacuate" and a["outcome"] == "ok"}
        return h if set(ha) <= done else None
    hist, lag = poll(recorded, 30, "every evacuation recorded as ok in the history", interval=0.2)
    print(f"the history recorded every move {lag:.1f} s after Nova showed them all ACTIVE")
    by_kind = {}
    for a in hist:
        by_kind.setdefault(a["kind"], []).append(a)
    forced = by_kind["force_down"][0]["finished"]
    # Forced down first; the disable and every evacuation start only after that (they then
    # run side by side: evacuations do not wait for the disable).
    assert forced <= by_kind["disable_service"][0]["started"], hist
    assert all(forced <= e["started"] for e in by_kind["evacuate"]), hist
    evac = [a for a in hist if a["kind"] == "evacuate"]
    ok = [a for a in evac if a["outcome"] == "ok"]
    # Each HA server moved exactly once (a failed attempt may be retried, bounded, and is recorded).
    assert sorted(a["instance"] for a in ok) == sorted(ha), evac
    assert all(a["target"] == "host3" and a.get("request_id") for a in ok), ok
    assert len(evac) - len(ok) <= len(ha), evac
    s = status(leader)
    progress = [r for r in s["recoveries"] if r["host"] == victim]
    assert not progress or progress[0]["moved"] == 10
    # host3 received instances: it is not a reserve any more.
    assert hosts_of(s)["host3"]["reserved"] is False
    # The host returns: re-enabled and no longer forced down in Nova.
    lab("power", victim, "on")
    _, took = poll(lambda: services()[victim].split()[1:3] == ["up", "enabled"] and "forced_down" not in services()[victim],
                   120, "the returning host re-enabled in Nova")
    print(f"{victim} powered on: re-enabled and un-forced-down in Nova {took:.1f} s later")
    poll(agreed(HOSTS, members=HOSTS), 40, "all four members again")


def test_nova_down_never_stops_fencing_the_recovery_waits_and_says_so(cloud):
    st, _ = restore()
    leader = st["host1"]["leader"]
    victim = next(h for h in ("host2", "host1") if h != leader)
    ids = boot(victim, 2, ha=True)
    poll(lambda: all(i in instances(leader) for i in ids), 40, "the servers in the inventory")
    run([STACK, "api", "stop"])
    try:
        offs = power_offs(victim)
        lab("crash", "--power-stays-on", victim)
        poll(lambda: power_offs(victim) == offs + 1, 30, "fenced while Nova is down")

        def waiting():
            s = status(leader)
            r = [x for x in s["recoveries"] if x["host"] == victim]
            return r and r[0]["force_down"] == "failed" and r[0]["last_error"] and r[0]
        r, _ = poll(waiting, 60, "the recovery waits for Nova, with the reason")
        assert "no answer" in r["last_error"], r
        assert r["moved"] == 0
        print(f"\nNova down: {victim} fenced; recovery waits: {r['last_error']}")
    finally:
        run([STACK, "api", "start"])
    v, took = poll(lambda: (x := vms()) and all(x[i]["host"] != victim and x[i]["status"] == "ACTIVE" for i in ids) and x,
                   90, "evacuated once Nova is back")
    print(f"Nova back: both servers ACTIVE elsewhere {took:.1f} s later")
    lab("power", victim, "on")
    poll(agreed(HOSTS, members=HOSTS), 60, "all four members again")


def test_a_failed_vm_is_restarted_in_place_through_nova(cloud):
    st, _ = restore()
    leader = st["host1"]["leader"]
    vm = boot("host4", 1, ha=True)[0]
    poll(lambda: vm in instances(leader), 40, "the server in the inventory")
    msg = json.dumps({"v": 9, "type": "event", "at": 0, "event": {"kind": "instance_failed", "instance": vm}})
    lab("exec", "host4", BIN, "debug", "cpg-send", "-", stdin=msg)

    def restarted():
        acts = json.loads(cli(leader, "history", "--format", "json", "--limit", "1000").stdout)["actions"]
        return [a for a in acts if a["kind"] == "restart_instance" and a.get("instance") == vm and a["outcome"] == "ok"]
    rec, took = poll(restarted, 60, "the restart recorded")
    assert rec[0].get("start_request_id")
    assert vms()[vm]["status"] == "ACTIVE" and vms()[vm]["host"] == "host4"
    print(f"\ninstance_failed: {vm} stopped and started in place through Nova in {rec[0]['duration_ms']} ms")


def nova_service(op, h):
    """`openstack compute service set OP H nova-compute` (OP: --enable or --disable)."""
    p = lab("exec", "host4", "env", f"OS_CLIENT_CONFIG_FILE={CLOUDS}", "/opt/lifeboat-openstack/bin/openstack",
            "--os-cloud", "lab", "compute", "service", "set", op, h, "nova-compute", check=False, timeout=120)
    assert p.returncode == 0, p.stderr


@contextmanager
def scheduler_refusing_the_other_hosts(retry_interval):
    """One HA server on a victim that is not the leader, Lifeboat's inventory has it, and,
    behind Lifeboat's back, Nova's scheduler refuses every other host of segment a. Yields
    (leader, victim, others, server); afterwards the hosts are enabled again, the server
    deleted, the victim powered on and the lab's configuration applied again."""
    cli("host1", "config", "apply", config({"evacuation_retry_interval": retry_interval}))
    st, _ = restore()
    leader = st["host1"]["leader"]
    victim = next(h for h in ("host2", "host1") if h != leader)
    others = [h for h in ("host1", "host2", "host3") if h != victim]
    vm = boot(victim, 1, ha=True)[0]
    poll(lambda: vm in instances(leader), 40, "the server in the inventory")
    for h in others:
        nova_service("--disable", h)
    try:
        yield leader, victim, others, vm
    finally:
        for h in others:
            nova_service("--enable", h)
        lab("vms", "delete", vm, check=False)
        lab("power", victim, "on", check=False)
        poll(agreed(HOSTS, members=HOSTS), 90, "all four members again")
        cli("host1", "config", "apply", config())


def test_an_evacuation_that_nova_fails_at_its_scheduler_is_reported_at_once_the_operator_told_and_retried(cloud):
    """Found by `lab chaos --nova` (seed 1): Nova accepts an evacuation, then its scheduler
    finds no valid host, and the server goes to ERROR where it was (on the dead source). It
    never shows on the target, so Lifeboat, which watched only the target, waited out its
    whole evacuation timeout (300 s). Now the failure is reported at once with Nova's fault,
    the next target is tried, and when every try has failed the operator is told. (Seed 5:)
    once the targets take servers again, the server given up on is placed again after
    `evacuation_retry_interval` (10 s here) and moves."""
    with scheduler_refusing_the_other_hosts(retry_interval=10) as (leader, victim, others, vm):
        t0 = time.time()
        lab("crash", "--power-stays-on", victim)

        def evacuations():
            acts = json.loads(cli(leader, "history", "--format", "json", "--limit", "1000").stdout)["actions"]
            return [a for a in acts if a["kind"] == "evacuate" and a.get("instance") == vm and a["outcome"] is not None
                    and a["started"] >= time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t0 - 1))]
        first, took = poll(lambda: evacuations() or None, 60, "the first evacuation's result")
        print(f"\n{victim} crashed; the evacuation Nova refused was reported {took:.1f} s later: {first[0]['message']}")
        assert first[0]["outcome"] == "failed", first
        assert "No valid host" in first[0]["message"] and f"ERROR on {victim}" in first[0]["message"], first
        assert took < 30, "reported at once, not after the evacuation timeout"

        def told():
            notices = json.loads(cli(leader, "history", "--format", "json", "--limit", "1000").stdout)["notices"]
            return [n for n in notices if n["kind"] == "evacuation_failed" and n.get("instance") == vm]
        notice, _ = poll(told, 60, "the operator told that the evacuation failed")
        assert "failed 2 times" in notice[0]["reason"], notice
        tries = evacuations()
        assert len(tries) == 2 and all(a["outcome"] == "failed" for a in tries), tries
        assert {a["target"] for a in tries} == set(others), "the second try goes to the other host of the segment"
        assert vms()[vm]["status"] == "ERROR" and vms()[vm]["host"] == victim
        # The operator repairs the scheduler's side; the retry moves the server, untold.
        for h in others:
            nova_service("--enable", h)
        t1 = time.time()
        v, took = poll(lambda: (x := vms()) and x[vm]["host"] in others and x[vm]["status"] == "ACTIVE" and x, 120,
                       "the server moved by a retry", interval=0.5)
        print(f"targets enabled again: the server given up on was ACTIVE on {v[vm]['host']} {took:.1f} s later")
        done, _ = poll(lambda: [a for a in evacuations() if a["outcome"] == "ok"], 30, "the retry recorded ok")
        assert done[0]["target"] == v[vm]["host"] and len(evacuations()) == 3, evacuations()
        notices = json.loads(cli(leader, "history", "--format", "json", "--limit", "1000").stdout)["notices"]
        assert len([n for n in notices if n.get("instance") == vm]) == 1, "told once"


def test_a_server_given_up_on_is_restarted_in_place_once_its_host_is_back(cloud):
    """Chaos with a sick Nova (stop 23) left 10 of 48 HA servers in ERROR after their host
    came back: Nova's scheduler had refused their evacuation, and Lifeboat only told. Now,
    once the host is back in the scheduler, the server is restarted where it is by a hard
    reboot (Nova allows it from ERROR; the guest is created again), as an operator would."""
    with scheduler_refusing_the_other_hosts(retry_interval=0) as (leader, victim, others, vm):
        lab("crash", "--power-stays-on", victim)

        def history():
            return json.loads(cli(leader, "history", "--format", "json", "--limit", "1000").stdout)
        poll(lambda: [n for n in history()["notices"] if n["kind"] == "evacuation_failed" and n.get("instance") == vm],
             90, "the evacuation given up on")
        assert vms()[vm]["status"] == "ERROR" and vms()[vm]["host"] == victim
        for h in others:
            nova_service("--enable", h)
        # The operator powers the host on again.
        t0 = time.time()
        lab("power", victim, "on")
        v, took = poll(lambda: (x := vms()) and x[vm]["host"] == victim and x[vm]["status"] == "ACTIVE"
                       and x[vm].get("task_state") is None and x, 180, "the server ACTIVE again on its host", interval=0.5)
        print(f"\n{victim} powered on: the server left in ERROR there was ACTIVE again {took:.1f} s later")
        restarts, _ = poll(lambda: [a for a in history()["actions"] if a["kind"] == "restart_instance"
                                    and a.get("instance") == vm and a["outcome"] is not None] or None, 30, "the restart recorded")
        assert len(restarts) == 1 and restarts[0]["outcome"] == "ok", restarts
        assert "hard reboot" in restarts[0]["message"] and "it was ERROR" in restarts[0]["message"], restarts
        enabled = [a for a in history()["actions"] if a["kind"] == "enable_service" and a.get("host") == victim and a["outcome"] == "ok"]
        assert enabled and enabled[-1]["started"] <= restarts[0]["started"], "restarted once back in the scheduler"
        told = [n for n in history()["notices"] if n.get("instance") == vm]
        assert len(told) == 1 and told[0]["kind"] == "evacuation_failed", told


def test_evacuations_whose_answers_are_lost_are_not_sent_again_and_finish_ok(cloud):
    """Nova takes both evacuation requests, but their answers never come back (the lab's
    fault proxy in front of nova-api swallows them, then drops the connections): Lifeboat
    must not take a lost answer for a failure. It sends an evacuation once, asks Nova where
    the server is, and follows it to its target. Before, it tried the next target, found the
    server moved already, and told the operator that the evacuation had failed."""
    st, _ = restore()
    leader = st["host1"]["leader"]
    victim = next(h for h in ("host2", "host1") if h != leader)
    ids = boot(victim, 2, ha=True)
    poll(lambda: all(i in instances(leader) for i in ids), 40, "the servers in the inventory")
    assert lab("nova-fault", "lost_reply", "--match", r"^POST /v2\.1/servers/[^/]+/action$").returncode == 0
    try:
        t0 = time.time()
        lab("crash", "--power-stays-on", victim)
        v, took = poll(lambda: (x := vms()) and all(x[i]["host"] != victim and x[i]["status"] == "ACTIVE" for i in ids) and x,
                       120, "both servers ACTIVE elsewhere (Nova did the work)", interval=0.3)
        print(f"\n{victim} crashed: both servers ACTIVE elsewhere {took:.1f} s later, their evacuations' answers lost")
    finally:
        lab("nova-fault", "pass")   # the held connections are closed, unanswered
    def lost():   # a held request is logged when it is let go
        requests = [json.loads(l) for l in Path(LAB_DIR, "openstack/faultproxy/requests.jsonl").read_text().splitlines()]
        held = [r for r in requests if r.get("did") == "lost_reply" and r.get("action") == "evacuate" and r["t"] >= t0]
        return held if len(held) == 2 else None
    held, _ = poll(lost, 10, "the proxy's record of both evacuations, forwarded and their answers lost")
    assert all(r["status"] == 200 for r in held), held   # Nova took them

    def recorded():
        acts = json.loads(cli(leader, "history", "--format", "json", "--limit", "1000").stdout)["actions"]
        ev = [a for a in acts if a["kind"] == "evacuate" and a.get("instance") in ids and a["outcome"] is not None
              and a["started"] >= time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t0 - 1))]
        return ev if len({a["instance"] for a in ev}) == 2 else None
    ev, _ = poll(recorded, 60, "both evacuations' results")
    assert all(a["outcome"] == "ok" for a in ev) and len(ev) == 2, ev
    assert all(v[a["instance"]]["host"] == a["target"] for a in ev), (ev, v)
    notices = json.loads(cli(leader, "history", "--format", "json", "--limit", "1000").stdout)["notices"]
    assert not [n for n in notices if n.get("instance") in ids], notices
    moves = [m for m in json.loads(lab("vms", "migrations").stdout) if m["instance_uuid"] in ids]
    assert sorted(m["instance_uuid"] for m in moves) == sorted(ids), "each server evacuated once, by Nova's own records"
    lab("power", victim, "on")
    poll(agreed(HOSTS, members=HOSTS), 90, "all four members again")

