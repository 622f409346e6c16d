"""Issue 10 on the lab with the real Nova (shared with test_nova.py): OCF resources kept
running by each host's lifeboatd, nova-compute killed for real and restarted in place by
Agents/nova-compute, the escalation past the restart limit (fence, force down, disable,
evacuate), Debian's stock ocf:heartbeat:Dummy, bad parameters that block without a restart
loop, and Debian's ocf-tester against the shipped agent.

Run as root:  python3 -m pytest -v -s Tests/daemon/test_nova_resources.py
Every wait polls observed state with a timeout; there are no fixed sleeps.
"""
import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest
from labkit import poll

from novakit import CLOUDS, HOSTS, boot, config, instances, restore, services, vms
from test_daemon import BIN, LAB_DIR, REPO, agreed, cli, lab, record
from test_nova_when_leadership_moves import EVACUATE_POST, arrived_evacuations, evacuation_records, let_requests_pass_and_delete

sys.path.insert(0, str(REPO / "Cluster"))
from chaos import nova_compute_params as lab_nova_compute_params  # noqa: E402  (the lab's paths, shared with lab chaos)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")

AGENT = str(REPO / "Agents/nova-compute")
INTERVAL = 2


def nova_compute_params(check_service=True, grace=30):
    return lab_nova_compute_params(
        service_grace=str(grace), clouds_yaml=CLOUDS, cloud="lab", lifeboat=BIN,
        check_service="true" if check_service else "false")


def apply_resources(resources, policy=None):
    c = json.loads(Path(config(policy)).read_text())
    c["resources"] = resources
    path = Path(LAB_DIR, "resources-cluster.json")
    path.write_text(json.dumps(c, indent=1))
    cli("host1", "config", "apply", str(path))
    return poll(agreed(HOSTS, members=HOSTS), 30, "the configuration everywhere")[0]


def resources(on="host1"):
    return json.loads(cli(on, "resource", "list", "--format", "json").stdout)["resources"]


def resource(name, host, on="host1"):
    return next(r for r in resources(on) if r["name"] == name and r["host"] == host)


def actions(on="host1"):
    return json.loads(cli(on, "history", "--format", "json", "--limit", "2000").stdout)["actions"]


def restarts(host, name, on="host1"):
    return [a for a in actions(on) if a["kind"] == "restart_process" and a.get("host") == host and a.get("process") == name]


def nova_compute_pids(host):
    conf = f"{LAB_DIR}/hosts/{host}/nova/nova-compute.conf"
    pids = []
    for p in Path("/proc").glob("[0-9]*"):
        try:
            cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (p / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if "nova-compute" in cmd and f"--config-file {conf} " in cmd and state != "Z":
            pids.append(int(p.name))
    return pids


@pytest.fixture(scope="module")
def lab_resources(cloud):
    restore()
    yield
    # Leave the cloud as test_nova.py expects it: no resources, every host back.
    apply_resources([])
    restore()


def test_ocf_tester_passes_for_the_nova_compute_agent(cloud):
    """Debian's ocf-tester against Agents/nova-compute with host4's real nova-compute."""
    assert shutil.which("ocf-tester"), "ocf-tester (Debian resource-agents) is not installed"
    restore()
    params = nova_compute_params(check_service=False)
    args = [a for k, v in params.items() for a in ("-o", f"{k}={v.replace('{host}', 'host4')}")]
    p = lab("exec", "host4", "ocf-tester", "-n", "nc-test", *args, AGENT, check=False, timeout=300)
    out = p.stdout + p.stderr
    print(f"\nocf-tester: {out.strip().splitlines()[-1] if out.strip() else '(no output)'}")
    assert p.returncode == 0 and "passed all tests" in out, out
    # ocf-tester leaves it stopped: start it again the agent's way, for the tests after.
    env = [f"OCF_RESKEY_{k}={v.replace('{host}', 'host4')}" for k, v in params.items()]
    lab("exec", "host4", "env", "OCF_ROOT=/usr/lib/ocf", *env, AGENT, "start")
    poll(lambda: nova_compute_pids("host4"), 20, "host4's nova-compute running again")
    poll(lambda: " up " in services()["host4"], 60, "host4's service up in Nova")


def test_killed_nova_compute_is_restarted_in_place_within_one_monitor_interval(lab_resources):
    apply_resources([{
        "name": "nova-compute", "agent": "ocf:lifeboat:nova-compute", "params": nova_compute_params(),
        "monitor_interval": INTERVAL, "timeouts": {"start": 30, "stop": 30, "monitor": 15}, "restart_limit": 2,
    }])
    poll(lambda: all(r["state"] == "running" for r in resources() if r["name"] == "nova-compute") and
         all(resource("nova-compute", h, on=h).get("last_monitor", {}).get("rc") == 0 for h in HOSTS),
         60, "nova-compute monitored as running on every host")
    detections, totals = [], []
    for n in range(2):
        before = len(restarts("host4", "nova-compute"))
        old = nova_compute_pids("host4")
        assert old, "host4's nova-compute is not running"
        lab("kill-process", "host4", "nova-compute")
        rec, took = poll(lambda: (r := restarts("host4", "nova-compute")) and len(r) > before and r[-1], 60,
                         "the restart recorded", interval=0.1)
        assert rec["outcome"] == "ok", rec
        new = nova_compute_pids("host4")
        assert new and not set(new) & set(old), (old, new)
        start_ms = rec["duration_ms"]
        detect = took - start_ms / 1000
        detections.append(detect)
        totals.append(took)
        assert detect < INTERVAL + 3, f"detected {detect:.1f} s after the kill (monitor interval {INTERVAL} s)"
        assert "nova-compute restarted on host4" in rec["message"], rec
    print(f"\nnova-compute killed on host4: restarted in place {max(totals):.1f} s later at most "
          f"(detection ≤ {max(detections):.1f} s, monitor interval {INTERVAL} s)")
    record("process_restart_s", round(max(totals), 1))
    r = resource("nova-compute", "host4")
    assert r["failures"] == 2 and r["state"] == "running", r
    poll(lambda: " up " in services()["host4"], 60, "the service up in Nova again")
    # The restart ran on host4 itself: its own lifeboatd logged it.
    assert "executing restart_process:host4:nova-compute" in Path(LAB_DIR, "hosts/host4/lifeboatd.log").read_text()
    # cleanup forgets the failures (crm_resource --cleanup).
    cli("host2", "resource", "cleanup", "nova-compute", "host4")
    poll(lambda: resource("nova-compute", "host4")["failures"] == 0, 10, "failures forgotten")


def test_hung_nova_compute_whose_process_lives_is_seen_through_nova_and_restarted(lab_resources):
    """SIGSTOP: the process lives, its heartbeats stop; Nova reports the service down (lab:
    service_down_time 12 s) and the agent's monitor, which asks Nova, fails it."""
    apply_resources([{
        "name": "nova-compute", "agent": "ocf:lifeboat:nova-compute", "params": nova_compute_params(check_service=True),
        "monitor_interval": INTERVAL, "timeouts": {"stop": 20}, "restart_limit": 3,
    }])
    poll(lambda: resource("nova-compute", "host4", on="host4").get("last_monitor", {}).get("rc") == 0, 60, "monitored")
    cli("host1", "resource", "cleanup", "nova-compute", "host4")
    before = len(restarts("host4", "nova-compute"))
    frozen = nova_compute_pids("host4")
    lab("kill-process", "host4", "nova-compute", "--stop")
    try:
        rec, took = poll(lambda: (r := restarts("host4", "nova-compute")) and len(r) > before and r[-1], 90,
                         "the hung nova-compute restarted")
    finally:
        lab("kill-process", "host4", "nova-compute", "--cont", check=False)
    assert rec["outcome"] == "ok", rec
    new = nova_compute_pids("host4")
    assert new and not set(new) & set(frozen), (frozen, new)
    poll(lambda: " up " in services()["host4"], 60, "the service up again in Nova")
    log = Path(LAB_DIR, "hosts/host4/lifeboatd.log").read_text()
    assert "Nova reports the service of host4 down: hung" in log, "the monitor's reason is logged"
    print(f"\nnova-compute frozen on host4 (process alive): restarted {took:.1f} s later (Nova's service_down_time 12 s)")


def test_killed_past_the_limit_escalates_to_fence_force_down_disable_and_evacuation(lab_resources):
    st = apply_resources([{
        "name": "nova-compute", "agent": "ocf:lifeboat:nova-compute", "params": nova_compute_params(check_service=False),
        "monitor_interval": INTERVAL, "restart_limit": 1,
    }])
    leader = st["host1"]["leader"]
    victim = next(h for h in ("host2", "host1") if h != leader)
    ha = boot(victim, 2, ha=True)
    poll(lambda: all(i in instances(leader) for i in ha), 40, "the servers in the inventory")
    poll(lambda: resource("nova-compute", victim)["state"] == "running" and nova_compute_pids(victim), 30, "monitored")
    # A failure counted before this test (an earlier module's power cycles) would make the
    # first kill the second, past the limit: the host fenced at once (CI saw "restarted
    # once" time out, then the victim missing from the next test's cluster). Start from
    # zero, as an operator would with crm_resource --cleanup.
    cli(leader, "resource", "cleanup", "nova-compute", victim)
    poll(lambda: resource("nova-compute", victim)["failures"] == 0, 20, "no failure counted on the victim")
    # First kill: restarted in place (failure 1 of a limit of 1).
    before = len(restarts(victim, "nova-compute"))
    lab("kill-process", victim, "nova-compute")
    poll(lambda: len(restarts(victim, "nova-compute")) > before and nova_compute_pids(victim), 60, "restarted once")
    # Second kill: past the limit: the host is recovered.
    lab("kill-process", victim, "nova-compute")
    v, took = poll(lambda: (x := vms()) and all(x[i]["host"] != victim and x[i]["status"] == "ACTIVE" for i in ha) and x,
                   120, "HA servers ACTIVE elsewhere after the escalation")
    print(f"\nnova-compute killed past the limit on {victim}: fenced, forced down, disabled, "
          f"2 HA servers ACTIVE elsewhere {took:.1f} s later")
    record("process_escalation_s", round(took, 1))
    hist = [a for a in actions(leader) if a.get("host") == victim or a.get("subject") == victim]
    kinds = [a["kind"] for a in hist]
    for k in ("fence", "force_down", "disable_service", "evacuate"):
        assert k in kinds, (k, kinds)
    assert kinds.index("fence") < kinds.index("force_down") < kinds.index("disable_service"), kinds
    svc = services()[victim]
    assert "forced_down" in svc and "disabled" in svc, svc
    assert lab("power", victim, "status").stdout.strip().endswith("off")
    restore()
    poll(lambda: " up " in services()[victim] and "enabled" in services()[victim], 90, f"{victim} re-enabled in Nova")


def heartbeat(host):
    """Nova's updated_at for host's nova-compute: it moves every report_interval (3 s in the
    lab) while that nova-compute runs, past its start-up, also while it is forced down."""
    return next(s["updated_at"] for s in json.loads(lab("vms", "services").stdout) if s["host"] == host)


def test_a_host_powered_on_while_its_evacuation_lands_gets_nova_compute_restarted_and_is_taken_back(lab_resources):
    """`lab chaos --nova` seed 24: an operator powered a fenced host on while its evacuation
    was still on its way. Its nova-compute started (and cleaned up what was evacuated by
    then) before the evacuation finished, so Nova keeps that evacuation's record `done` and
    refuses to un-force the host down until nova-compute restarts there. Lifeboat sees the
    refusal with nova-compute running (its heartbeat moves), restarts it through the host's
    nova-compute resource, and enables the host at once, instead of retrying for minutes."""
    st = apply_resources([{
        "name": "nova-compute", "agent": "ocf:lifeboat:nova-compute", "params": nova_compute_params(check_service=False),
        "monitor_interval": INTERVAL, "timeouts": {"start": 30, "stop": 30}, "restart_limit": 3,
    }])
    leader = st["host1"]["leader"]
    victim = next(h for h in ("host2", "host1") if h != leader)
    poll(lambda: resource("nova-compute", victim)["state"] == "running" and nova_compute_pids(victim), 30, "monitored")
    cli(leader, "resource", "cleanup", "nova-compute", victim)
    ids = boot(victim, 1, ha=True)
    try:
        poll(lambda: all(i in instances(leader) for i in ids), 40, "the server in the inventory")
        # Every evacuation request held 25 s on its way to Nova (Lifeboat waits 30 s for an
        # answer): long enough for the host to come back and its nova-compute to start
        # before the evacuation lands.
        assert lab("nova-fault", "slow", "--delay", "25", "--match", EVACUATE_POST).returncode == 0
        t0 = time.time()
        lab("crash", "--power-stays-on", victim)
        poll(lambda: arrived_evacuations(t0, ids), 60, "the evacuation request on its way", interval=0.2)
        assert lab("power", victim, "status").stdout.strip().endswith("off"), "fenced before its evacuation"
        lab("power", victim, "on")
        first = poll(lambda: heartbeat(victim), 30, "a heartbeat recorded")[0]
        poll(lambda: heartbeat(victim) != first, 60, f"{victim}'s nova-compute running again (its heartbeat moves)")
        assert not evacuation_records(ids), "the evacuation landed before nova-compute started: the test set nothing up"
        # The evacuation lands, and finishes on its target with the source's nova-compute up.
        v, _ = poll(lambda: (x := vms()) and all(x[i]["host"] not in (None, victim) and x[i]["status"] == "ACTIVE" for i in ids) and x,
                    90, "the server ACTIVE on its target", interval=0.3)
        assert [m["status"] for m in evacuation_records(ids)] == ["done"], evacuation_records(ids)

        def readmitted():
            acts = [a for a in actions(leader) if a["started"] >= time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t0 - 1))]
            ok = [a for a in acts if a["kind"] == "enable_service" and a.get("host") == victim and a["outcome"] == "ok"]
            return ok and acts
        acts, took = poll(readmitted, 120, f"{victim} enabled again", interval=0.5)
        steps = [(a["kind"], a["outcome"]) for a in acts
                 if a.get("host") == victim and a["kind"] in ("enable_service", "restart_process")]
        assert steps == [("enable_service", "failed"), ("restart_process", "ok"), ("enable_service", "ok")], steps
        refused = next(a for a in acts if a["kind"] == "enable_service" and a["outcome"] == "failed")
        assert refused.get("refused_for") == "done_evacuation_records", refused
        assert "evacuation migration records remain" in refused.get("nova_said", ""), refused
        restart = next(a for a in acts if a["kind"] == "restart_process")
        assert restart["process"] == "nova-compute" and "restarted on" in restart["message"], restart
        # Nova took it back: up, enabled, not forced down; its record now completed.
        svc = services()[victim]
        assert "enabled" in svc and "forced_down" not in svc, svc
        assert [m["status"] for m in evacuation_records(ids)] == ["completed"], evacuation_records(ids)
        # The restart was not counted as a failure of the resource.
        assert resource("nova-compute", victim)["failures"] == 0, resource("nova-compute", victim)
        print(f"\n{victim} powered on mid-evacuation: refused ({refused['message']}); nova-compute restarted "
              f"({restart['duration_ms']} ms); enabled {took:.1f} s after the evacuation finished")
        record("readmission_after_done_records_s", round(took, 1))
    finally:
        let_requests_pass_and_delete(victim, ids)
        restore()


def test_stock_dummy_runs_bad_parameters_block_without_a_restart_loop(lab_resources):
    apply_resources([
        {"name": "dummy", "agent": "ocf:heartbeat:Dummy", "hosts": ["host1"], "monitor_interval": 1,
         "params": {"state": f"{LAB_DIR}/hosts/host1/dummy.state"}},
        {"name": "broken", "agent": "ocf:heartbeat:Dummy", "hosts": ["host2"], "monitor_interval": 1,
         "params": {"no_such_parameter": "1"}},
        {"name": "missing", "agent": "ocf:heartbeat:NoSuchAgent", "hosts": ["host3"], "monitor_interval": 1},
    ])
    # Never started on host1: the first probe says not running, the leader has it started.
    r, _ = poll(lambda: (x := resource("dummy", "host1")) and x.get("last_monitor", {}).get("rc") == 0 and x, 30, "Dummy running")
    assert Path(LAB_DIR, "hosts/host1/dummy.state").exists()
    assert r["failures"] == 0, "a first start is not a failure"
    b, _ = poll(lambda: (x := resource("broken", "host2", on="host2"))["state"] == "blocked" and x, 30, "broken blocked")
    assert "unknown parameter no_such_parameter" in b["blocked"], b
    m, _ = poll(lambda: (x := resource("missing", "host3", on="host3"))["state"] == "blocked" and x, 30, "missing blocked")
    assert "not found" in m["blocked"] and "NoSuchAgent" in m["blocked"], m
    # No restart loop: nothing was restarted for either, over several monitor intervals.
    deadline = time.time() + 4
    poll(lambda: time.time() > deadline, 10, "four monitor intervals")
    assert not restarts("host2", "broken") and not restarts("host3", "missing")
    notices = json.loads(cli("host1", "history", "--format", "json").stdout)["notices"]
    assert any(n["kind"] == "resource_blocked" and n["host"] == "host2" for n in notices), notices
    # An operator restart runs stop + start on the host, and is not counted as a failure.
    before = len(restarts("host1", "dummy"))
    cli("host3", "resource", "restart", "dummy", "host1")
    rec, _ = poll(lambda: (x := restarts("host1", "dummy")) and len(x) > before and x[-1], 30, "operator restart")
    assert rec["outcome"] == "ok" and resource("dummy", "host1")["failures"] == 0, rec
    # Bad input: clear errors, nothing changes. (Not the epoch nor the configuration version:
    # the monitors and Nova's inventory, which counts as configuration, go on applying their
    # own events meanwhile; the resources' specs are what these commands could change.)
    def specs():
        return {n: json.loads(cli("host1", "resource", "show", n, "--format", "json").stdout)["resources"][0]["spec"]
                for n in ("dummy", "broken", "missing")}
    before_specs = specs()
    restarted = {h: len(restarts(h, "dummy")) for h in ("host1", "host2")}
    for args, needle in [
        (("resource", "restart", "dummy", "host2"), "no resource 'dummy' is configured on host2"),
        (("resource", "restart", "dummy", "nohost"), "unknown host"),
        (("resource", "show", "nothing"), "no resource 'nothing'"),
    ]:
        p = cli("host1", *args, check=False)
        assert p.returncode != 0 and needle in p.stderr + p.stdout, (args, p.stdout, p.stderr)
    assert specs() == before_specs
    assert {h: len(restarts(h, "dummy")) for h in ("host1", "host2")} == restarted
    assert not any(r["name"] == "dummy" and r["host"] == "host2" for r in resources("host1"))
    text = cli("host1", "resource", "list").stdout
    assert "broken" in text and "BLOCKED" in text, text


def test_nova_evacuate_agent_moves_a_host_fenced_by_other_means_and_tracks_each_server(lab_resources):
    """Agents/nova-evacuate (and `lifeboat nova evacuate` under it) for a host that Lifeboat
    stands back from (maintenance) and that is powered off and forced down by hand, as under
    Pacemaker with fence_compute."""
    st, _ = restore()
    leader = st["host1"]["leader"]
    # Not the host the escalation test fenced a moment ago (its compute is still settling).
    victim = next(h for h in ("host3", "host1") if h != leader)
    cli("host4", "maintenance", victim, "on")
    try:
        boot(victim, 2, ha=True)
        other = boot(victim, 1, ha=False)
        # Every HA server on it (earlier tests may have left some there too).
        ha = [i for i, v in vms().items() if v["host"] == victim and v["ha"]]
        nova_args = ["--cloud", "lab", "--clouds-yaml", CLOUDS]
        # Up and not forced down: refused, nothing moves.
        p = cli("host4", "nova", "evacuate", victim, *nova_args, check=False, timeout=60)
        assert p.returncode != 0 and "not forced down" in p.stderr + p.stdout, (p.stdout, p.stderr)
        assert all(vms()[i]["host"] == victim for i in ha)
        lab("power", victim, "off")
        out = cli("host4", "nova", "force-down", victim, *nova_args, timeout=60).stdout
        assert "forced_down" in out, out
        state = f"{LAB_DIR}/hosts/host4/nova-evacuate.state"
        env = ["OCF_ROOT=/usr/lib/ocf", f"OCF_RESKEY_lifeboat={BIN}", f"OCF_RESKEY_clouds_yaml={CLOUDS}",
               "OCF_RESKEY_cloud=lab", f"OCF_RESKEY_host={victim}", f"OCF_RESKEY_state={state}",
               "OCF_RESOURCE_INSTANCE=evac"]
        agent = str(REPO / "Agents/nova-evacuate")
        lab("exec", "host4", "env", *env, agent, "start")
        t0 = time.time()
        p = lab("exec", "host4", "env", *env, agent, "monitor", check=False, timeout=400)
        took = time.time() - t0
        assert p.returncode == 0, (p.stdout, p.stderr)
        v = vms()
        assert all(v[i]["host"] not in (victim, None) and v[i]["status"] == "ACTIVE" for i in ha), v
        assert v[other[0]]["host"] == victim, "a non-HA server stays"
        assert f"{len(ha)} of {len(ha)} servers" in p.stderr + p.stdout, p.stderr
        print(f"\nnova-evacuate: {len(ha)} HA servers of {victim} ACTIVE elsewhere, tracked, in {took:.1f} s")
        # Done once: the next monitor does not evacuate again.
        p2 = lab("exec", "host4", "env", *env, agent, "monitor", check=False, timeout=60)
        assert p2.returncode == 0 and "nova evacuate" not in p2.stderr, p2.stderr
        lab("exec", "host4", "env", *env, agent, "stop")
        assert lab("exec", "host4", "env", *env, agent, "monitor", check=False).returncode == 7
        # Debian's ocf-tester passes it too (no host given: start, monitor, stop only).
        t = lab("exec", "host4", "ocf-tester", "-n", "evac-test", "-o", f"lifeboat={BIN}", "-o", f"clouds_yaml={CLOUDS}",
                "-o", "cloud=lab", "-o", f"state={LAB_DIR}/hosts/host4/evac-test.state", agent, check=False, timeout=120)
        assert t.returncode == 0 and "passed all tests" in t.stdout + t.stderr, t.stdout + t.stderr
    finally:
        if lab("power", victim, "status", check=False).stdout.strip().endswith("off"):
            lab("power", victim, "on")
        poll(lambda: cli("host4", "nova", "force-down", victim, "--undo", "--cloud", "lab", "--clouds-yaml", CLOUDS,
                         check=False, timeout=60).returncode == 0, 90, "forced down lifted")
        poll(agreed(HOSTS, members=HOSTS), 90, "all four members")
        cli("host4", "maintenance", victim, "off")
