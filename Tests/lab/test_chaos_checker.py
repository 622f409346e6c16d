"""The chaos checker (Cluster/chaos.py) on hand-made records: each invariant it claims to
check must fail on records that break it, and pass on records that keep it. The real runs
against the lab are in Tests/daemon/test_chaos.py.

Run:  python3 -m pytest -v Tests/lab/test_chaos_checker.py   (no root needed)
"""
import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "Cluster"))
import chaos  # noqa: E402

T = 1796340000.0   # the run's clock (any fixed time)
HOSTS = ["host1", "host2", "host3"]


def stamp(t):
    return datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + f" @{t:.3f}"


def corosync_line(t, text):
    return datetime.fromtimestamp(t).strftime("%b %d %H:%M:%S.%f")[:-3] + f" [100] vm corosync notice  [QUORUM] {text}"


PRIMARY = "This node is within the primary component and will provide service."
NON_PRIMARY = "This node is within the non-primary component and will NOT provide any services."


def rec(t, epoch, kind, origin=1, **kw):
    r = {"at": t, "time": datetime.fromtimestamp(t).isoformat(), "epoch": epoch, "node": f"host{origin}",
         "origin": origin, "kind": kind, "result": "applied", "event": {"kind": kind}}
    r.update(kw)
    return r


def fence_start(t, epoch, host, origin=1, term=1):
    return rec(t, epoch, "action_started", origin, action="fence", key=f"fence:{host}", host=host,
               event={"kind": "action_started", "action": {"kind": "fence", "host": host}, "term": term})


def fence_end(t, epoch, host, attempt_epoch, outcome="off", origin=1, term=1, result="applied"):
    return rec(t, epoch, "action_finished", origin, action="fence", key=f"fence:{host}", host=host,
               outcome=outcome, result=result,
               event={"kind": "action_finished", "attempt": {"term": term, "id": attempt_epoch}})


def status(epoch=20):
    return {"epoch": epoch, "leader": "host1", "config_version": 1,
            "hosts": [{"name": h, "fenced": False} for h in HOSTS]}


def write_run(d, records, power=None, corosync=None, faults=(), converged=2.0, statuses=None, histories=None,
              logs=None):
    """A saved run as Cluster/chaos.py writes it: a crash of host3 at T+10 fenced by the
    leader host1 by default."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "schedule.json").write_text(json.dumps({"seed": 7, "steps": 1, "hosts": 3, "schedule": []}))
    (d / "run.json").write_text(json.dumps({"seed": 7, "began": T, "converged_after_s": converged,
                                            "converge_timeout_s": 180}))
    (d / "faults.jsonl").write_text("".join(json.dumps(f) + "\n" for f in faults))
    power = power or {}
    corosync = corosync or {}
    for h in HOSTS:
        hd = d / h
        hd.mkdir(exist_ok=True)
        (hd / "power.log").write_text("".join(f"{stamp(t)} {text}\n" for t, text in power.get(h, [])))
        lines = corosync.get(h, [(T, PRIMARY)])
        (hd / "corosync.log").write_text("".join(corosync_line(t, text) + "\n" for t, text in lines))
        hist = (histories or {}).get(h, records)
        (hd / "history.json").write_text(json.dumps({"records": hist}))
        (hd / "status.json").write_text(json.dumps((statuses or {}).get(h, status())))
        if logs and h in logs:
            (hd / "lifeboatd.log").write_text("".join(f"{t:.3f} lifeboatd[{h}] info: {text}\n" for t, text in logs[h]))
    return d


def crash_and_fence(off_at=T + 12.02):
    records = [fence_start(T + 12.0, 10, "host3"), fence_end(T + 12.06, 11, "host3", 10)]
    power = {"host3": [(T + 10, "crash (power on)"), (T + 10.05, "processes gone"),
                       (off_at, "power off via BMC"), (off_at + 0.02, "processes gone")]}
    return records, power


def verdict(d):
    return chaos.check_records(*chaos.load_run(d))


def invariants(v):
    return [x["invariant"] for x in v.violations]


def test_a_clean_run_passes_and_counts_what_it_checked(tmp_path):
    records, power = crash_and_fence()
    v = verdict(write_run(tmp_path, records, power))
    assert v.violations == []
    assert v.counts == {"fences_confirmed_off": 1, "fence_attempts": 1, "bmc_power_offs": 1, "actions_started": 1}
    assert chaos.check(tmp_path) == 0
    assert json.loads((tmp_path / "verdict.json").read_text())["clean"] is True


def test_a_fence_reported_off_while_the_bmc_says_on_is_caught(tmp_path):
    records, _ = crash_and_fence()
    power = {"host3": [(T + 10, "crash (power on)")]}   # the BMC never powered it off
    v = verdict(write_run(tmp_path, records, power))
    assert "fence-confirmed-by-bmc" in invariants(v)
    assert chaos.check(tmp_path) == 1


def test_a_recovery_step_while_the_host_runs_again_is_caught(tmp_path):
    records, power = crash_and_fence()
    power["host3"].append((T + 20, "power on via BMC"))
    records.append(rec(T + 25, 12, "action_started", action="force_down", key="force_down:host3", host="host3"))
    v = verdict(write_run(tmp_path, records, power))
    assert invariants(v) == ["off-before-recovery"]


def test_a_recovery_step_racing_an_operators_power_on_is_counted_until_the_host_rejoins(tmp_path):
    """The run powered the fenced host on (an operator's repair) 1 s before the step started:
    Lifeboat cannot know before the host rejoins. After a rejoin, the same step is caught."""
    records, power = crash_and_fence()
    power["host3"].append((T + 20, "power on via BMC"))
    repair = [{"step": 3, "kind": "restore", "undoes": "crash_power_stays_on", "host": "host3", "did": "power on",
               "t0": T + 19.9}]
    step = rec(T + 21, 12, "action_started", action="evacuate", key="evacuate:vm1", host="host3")
    v = verdict(write_run(tmp_path / "unseen", records + [step], power, faults=repair))
    assert "off-before-recovery" not in invariants(v)
    assert v.counts["recovery_steps_racing_an_operator_power_on"] == 1
    joined = rec(T + 20.5, 13, "node_joined", host="host3")
    v = verdict(write_run(tmp_path / "rejoined", records + [joined, step], power, faults=repair))
    assert "off-before-recovery" in invariants(v)


def test_a_fence_confirmed_off_a_moment_before_the_run_powered_the_host_on_is_counted(tmp_path):
    records, power = crash_and_fence()   # the BMC powers it off at T+12.02, the fence ends at T+12.06
    power["host3"].append((T + 12.04, "power on via BMC"))
    v = verdict(write_run(tmp_path / "nobody", records, power))
    assert "fence-confirmed-by-bmc" in invariants(v), "a power-on nobody asked for is still caught"
    repair = [{"step": 2, "kind": "restore", "undoes": "partition", "host": "host3", "did": "power on",
               "t0": T + 11.9, "t1": T + 12.05}]
    v = verdict(write_run(tmp_path / "operator", records, power, faults=repair))
    assert "fence-confirmed-by-bmc" not in invariants(v) and v.counts["fences_racing_an_operator_power_on"] == 1


def test_a_crashing_node_is_dead_once_its_processes_are_gone(tmp_path):
    """The lab's crash logs its line, then kills the host's processes (a moment): an action
    its lifeboatd started in that moment came from a live node in the primary component."""
    records, power = crash_and_fence()
    power["host2"] = [(T + 30.000, "crash (power on)"), (T + 30.110, "processes gone")]
    late = rec(T + 30.005, 12, "action_started", origin=2, action="force_down", key="force_down:host3", host="host3")
    v = verdict(write_run(tmp_path / "dying", records + [late], power))
    assert "quorum-for-every-action" not in invariants(v)
    after = rec(T + 30.2, 12, "action_started", origin=2, action="force_down", key="force_down:host3", host="host3")
    v = verdict(write_run(tmp_path / "dead", records + [after], power))
    assert "quorum-for-every-action" in invariants(v)


def test_two_fences_of_one_host_in_flight_are_caught(tmp_path):
    # host1's attempt finishes "off" after host2 (a new term) started its own.
    records = [fence_start(T + 12.0, 10, "host3", origin=1, term=1),
               fence_start(T + 13.0, 14, "host3", origin=2, term=2),
               fence_end(T + 13.5, 15, "host3", 10, origin=1, term=1, result="stale"),
               fence_end(T + 13.6, 16, "host3", 14, origin=2, term=2)]
    power = {"host3": [(T + 10, "crash (power on)"), (T + 13.4, "power off via BMC")]}
    v = verdict(write_run(tmp_path, records, power))
    assert invariants(v) == ["one-fence-in-flight"]
    # The same, with the first attempt cancelled before it powered anything off, is fine.
    records[2]["outcome"] = "cancelled"
    assert verdict(write_run(tmp_path / "b", records, power)).violations == []


def test_a_bmc_power_off_outside_every_fence_is_caught_unless_chaos_did_it(tmp_path):
    records, power = crash_and_fence()
    power["host2"] = [(T + 30, "power off via BMC")]
    v = verdict(write_run(tmp_path, records, power))
    assert invariants(v) == ["bmc-off-only-by-a-fence"]
    faults = [{"step": 3, "kind": "bmc_power_off", "host": "host2", "t0": T + 29.9, "t1": T + 30.1}]
    assert verdict(write_run(tmp_path / "b", records, power, faults=faults)).violations == []


def test_a_fence_whose_records_a_sync_replaced_counts_if_its_node_was_quorate(tmp_path):
    """Seed 9 --nova: host2's leader fenced host3 alone, then crashed; the merge kept the
    other side's history. Its executor's log still shows the fence, from a quorate node."""
    records, power = crash_and_fence()
    records = []   # the history read after the merge has neither record
    logs = {"host2": [(T + 12.0, "executing fence:host3 attempt 3.14"),
                      (T + 12.06, "fence:host3 attempt 3.14 finished off: host3 is off")]}
    v = verdict(write_run(tmp_path, records, power, logs=logs))
    assert "bmc-off-only-by-a-fence" not in invariants(v) and v.counts["bmc_power_offs_by_a_superseded_fence"] == 1
    # The same from a node outside the primary component is not excused.
    corosync = {"host2": [(T, PRIMARY), (T + 11, NON_PRIMARY)]}
    v = verdict(write_run(tmp_path / "b", records, power, logs=logs, corosync=corosync))
    assert "bmc-off-only-by-a-fence" in invariants(v)


def test_an_action_started_without_quorum_is_caught_but_a_notice_is_not(tmp_path):
    records, power = crash_and_fence()
    corosync = {"host1": [(T, PRIMARY), (T + 11, NON_PRIMARY)]}
    v = verdict(write_run(tmp_path, records, power, corosync=corosync))
    assert "quorum-for-every-action" in invariants(v)
    notice = rec(T + 12, 10, "action_started", action="notify", key="notify:quorum_lost:1")
    v = verdict(write_run(tmp_path / "b", [notice], {}, corosync=corosync))
    assert v.violations == []


def test_a_corosync_kill_ends_quorum_at_the_kill_itself_not_when_the_fault_began(tmp_path):
    """Found by seed 78: the run began to kill host1's corosync 5 ms before host1 started a
    fence, and the kill itself came later (the lab's command takes tens of ms to get there):
    host1 was in the primary component when it acted. The lab now prints the kill's own time
    (`killed at`), and the node's quorum ends there."""
    records, power = crash_and_fence()   # host1 starts the fence at T+12.0

    def kill(**times):
        return [{"step": 1, "kind": "corosync_kill", "host": "host1", "t0": T + 11.995, "t1": T + 12.08, **times}]

    v = verdict(write_run(tmp_path / "after", records, power, faults=kill(killed_at=T + 12.05)))
    assert "quorum-for-every-action" not in invariants(v)
    v = verdict(write_run(tmp_path / "before", records, power, faults=kill(killed_at=T + 11.998)))
    assert "quorum-for-every-action" in invariants(v)
    # A run recorded before the lab printed the time: the fault's start stands, as before.
    v = verdict(write_run(tmp_path / "unknown", records, power, faults=kill()))
    assert "quorum-for-every-action" in invariants(v)


def test_an_action_from_a_node_that_was_powered_off_is_caught(tmp_path):
    records, power = crash_and_fence()
    power["host1"] = [(T + 5, "crash (power off)")]   # the leader itself was dead at T+12
    v = verdict(write_run(tmp_path, records, power))
    assert "quorum-for-every-action" in invariants(v)


def test_nodes_that_do_not_converge_are_caught(tmp_path):
    records, power = crash_and_fence()
    v = verdict(write_run(tmp_path, records, power, converged=None))
    assert invariants(v) == ["convergence"]
    v = verdict(write_run(tmp_path / "b", records, power, statuses={"host2": status(epoch=19)}))
    assert invariants(v) == ["convergence"]
    v = verdict(write_run(tmp_path / "c", records, power, histories={"host3": records[:1]}))
    assert invariants(v) == ["convergence"]


def test_the_schedule_is_a_function_of_the_seed():
    a = chaos.make_schedule(42, 30, 3)
    assert a == chaos.make_schedule(42, 30, 3)
    assert a != chaos.make_schedule(43, 30, 3)
    assert len(a) == 30 and [s["step"] for s in a] == list(range(1, 31))
    kinds = {s["kind"] for s in a}
    assert "restore" in kinds and len(kinds - {"restore", "heal"}) >= 4, kinds
    # Over many seeds every fault kind is drawn; an optional one only when asked for.
    optional = set(chaos.OPTIONAL_FAULTS)
    drawn = {s["kind"] for seed in range(30) for s in chaos.make_schedule(seed, 30, 5)}
    assert set(chaos.FAULTS) - optional <= drawn, set(chaos.FAULTS) - optional - drawn
    assert not drawn & optional, drawn & optional
    drawn = {s["kind"] for seed in range(30) for s in chaos.make_schedule(seed, 30, 5, sorted(optional))}
    assert set(chaos.FAULTS) <= drawn, set(chaos.FAULTS) - drawn
    with_full = chaos.make_schedule(42, 30, 3, ["disk_full"])
    assert with_full == chaos.make_schedule(42, 30, 3, ["disk_full"]) and with_full != a
    p = subprocess.run([str(REPO / "Cluster/lab"), "chaos", "schedule", "--seed", "42", "--steps", "30"],
                       capture_output=True, text=True)
    assert p.returncode == 0 and json.loads(p.stdout) == a


@pytest.mark.parametrize("args, message", [
    (["--seed", "1", "--hosts", "2"], "--hosts must be 3..9"),
    (["--seed", "1", "--steps", "0"], "--steps must be at least 1"),
    (["--steps", "3"], "required: --seed"),
    (["--seed", "x"], "invalid int value"),
    (["check", "/nonexistent/chaos-run"], "no chaos run in /nonexistent/chaos-run"),
    (["schedule", "--seed", "1", "--with", "disk_full,meteor"], "--with: unknown fault meteor"),
])
def test_bad_arguments_get_a_clear_error(args, message):
    p = subprocess.run([sys.executable, str(REPO / "Cluster/chaos.py"), *args], capture_output=True, text=True)
    assert p.returncode == 2 and message in p.stderr, p.stderr


def test_a_host_lost_beside_a_healthy_majority_and_never_fenced_is_caught(tmp_path):
    """What seed 1 found (scenario 19): a host back from a fence dies again and nobody
    fences it. The faults say it died while the two others ran undisturbed."""
    crash = {"step": 4, "kind": "crash_power_stays_on", "host": "host3", "t0": T + 10, "t1": T + 10.1}
    records, power = crash_and_fence()
    v = verdict(write_run(tmp_path, records, power, faults=[crash]))
    assert v.violations == [] and v.counts["losses_expecting_a_fence"] == 1
    v = verdict(write_run(tmp_path / "b", [], {"host3": power["host3"][:2]}, faults=[crash]))
    assert invariants(v) == ["lost-host-fenced"]
    # Not expected when the others were not a healthy majority (host2 was cut off too) ...
    cut = {"step": 3, "kind": "partition", "host": "host2", "mode": "drop", "t0": T + 9, "t1": T + 9.1}
    v = verdict(write_run(tmp_path / "c", [], {"host3": power["host3"][:2]}, faults=[cut, crash]))
    assert v.violations == [] and "losses_expecting_a_fence" not in v.counts
    # ... nor when the history says why (the flap guard).
    flap = rec(T + 12, 10, "action_started", action="notify", key="notify:flapping:host3",
               event={"kind": "action_started", "term": 1,
                      "action": {"kind": "notify", "notice": {"kind": "flapping", "host": "host3"}}})
    v = verdict(write_run(tmp_path / "d", [flap], {"host3": power["host3"][:2]}, faults=[crash]))
    assert v.violations == []


def test_a_recorded_loss_of_a_dead_host_must_be_followed_by_its_fence(tmp_path):
    """Seed 1's records: host3 fenced, powered on and back, then dead again; the leader
    records the loss, and no fence follows before host3 is powered on 1.6 s later."""
    records, power = crash_and_fence()
    power["host3"] += [(T + 20, "power on via BMC"), (T + 30, "crash (power on)"), (T + 33.6, "power off via BMC"),
                       (T + 33.7, "power on via BMC")]
    cycle = {"step": 6, "kind": "restore", "undoes": "crash_power_stays_on", "host": "host3", "did": "power cycle",
             "t0": T + 33.5, "t1": T + 33.8}
    records += [rec(T + 22, 12, "node_joined", host="host3"), rec(T + 32, 13, "node_lost", host="host3")]
    v = verdict(write_run(tmp_path, records, power, faults=[cycle]))
    assert invariants(v) == ["lost-host-fenced"], v.violations
    assert v.counts["dead_hosts_lost_expecting_a_fence"] == 1
    # Fixed: the loss is followed by a fence at once.
    fixed = records + [fence_start(T + 32.01, 14, "host3"), fence_end(T + 32.1, 15, "host3", 14)]
    power["host3"].insert(-2, (T + 32.05, "power off via BMC"))
    assert verdict(write_run(tmp_path / "b", fixed, power, faults=[cycle])).violations == []
    # A loss recorded after the fence itself (the fence taking effect) asks for nothing.
    records, power = crash_and_fence()
    records.append(rec(T + 13, 12, "node_lost", host="host3"))
    v = verdict(write_run(tmp_path / "c", records, power))
    assert v.violations == [] and "dead_hosts_lost_expecting_a_fence" not in v.counts


def test_the_executors_own_log_times_win_over_the_historys_cluster_time(tmp_path):
    """CI seed 3: the history's cluster time lagged the wall clock by 1.9 s, so a fence
    looked confirmed before the BMC powered off. The executor's log has the real times."""
    records, power = crash_and_fence(off_at=T + 14.0)   # history: started T+12.0, off T+12.06
    v = verdict(write_run(tmp_path, records, power))
    assert "fence-confirmed-by-bmc" in invariants(v)
    logs = {"host1": [(T + 13.95, "executing fence:host3 attempt 1.10"),
                      (T + 14.08, "fence:host3 attempt 1.10 finished off: host3 is off")]}
    v = verdict(write_run(tmp_path / "b", records, power, logs=logs))
    assert v.violations == [] and v.counts["max_history_clock_lag_ms"] == 2020
    # And the log cannot hide a real one: an executor that says off before the BMC flipped.
    logs = {"host1": [(T + 12.0, "executing fence:host3 attempt 1.10"),
                      (T + 12.1, "fence:host3 attempt 1.10 finished off: host3 is off")]}
    assert "fence-confirmed-by-bmc" in invariants(verdict(write_run(tmp_path / "c", records, power, logs=logs)))


# ---------------------------------------------------------------------------
# A --nova run: Nova's own records against the BMCs' logs and the segments
# ---------------------------------------------------------------------------

def nova_at(t):
    """A Nova timestamp (UTC, no zone, microseconds) of Unix time t."""
    from datetime import timezone
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")


def migration(iid, src, dst, t, status="done", claimed=True):
    """Nova's record of an evacuation; `claimed` if the destination's compute took it (dest_node)."""
    return {"instance_uuid": iid, "source_compute": src, "dest_compute": dst, "dest_node": dst if claimed else None,
            "created_at": nova_at(t), "status": status, "migration_type": "evacuation"}


def write_nova(d, migrations, final=None, segments=None, requests=()):
    """Nova's records of a --nova run: server vm-a (HA) on host3 at the start, ACTIVE on
    host1 at the end by default."""
    (d / "nova-initial.json").write_text(json.dumps([{"id": "vm-a", "host": "host3", "status": "ACTIVE", "ha": True},
                                                     {"id": "vm-b", "host": "host3", "status": "ACTIVE", "ha": False}]))
    final = final if final is not None else [{"id": "vm-a", "host": "host1", "status": "ACTIVE", "ha": True},
                                             {"id": "vm-b", "host": "host3", "status": "ACTIVE", "ha": False}]
    (d / "nova-final.json").write_text(json.dumps(final))
    (d / "nova-migrations.json").write_text(json.dumps(migrations) if migrations is not None else "null")
    (d / "nova-requests.jsonl").write_text("".join(json.dumps(r) + "\n" for r in requests))
    segments = segments or {}
    (d / "cluster.json").write_text(json.dumps({"hosts": [{"name": h, "segment": segments.get(h, "lab")} for h in HOSTS]}))
    return d


def nova_verdict(d):
    sched, hosts, faults, runinfo, recs = chaos.load_run(d)
    v = chaos.check_records(sched, hosts, faults, runinfo, recs)
    chaos.check_nova(chaos.load_nova(d), hosts, recs, runinfo, chaos.all_records(recs), v, faults)
    return v


def test_a_clean_nova_run_passes_and_counts_what_it_checked(tmp_path):
    records, power = crash_and_fence()
    d = write_nova(write_run(tmp_path, records, power), [migration("vm-a", "host3", "host1", T + 12.5)],
                   requests=[{"did": "pass"}, {"did": "error"}, {"did": "pass"}])
    v = nova_verdict(d)
    assert v.violations == []
    assert v.counts["nova_evacuations"] == 1 and v.counts["nova_ha_servers"] == 1
    assert v.counts["nova_requests_pass"] == 2 and v.counts["nova_requests_error"] == 1
    assert chaos.check(d) == 0


def test_an_evacuation_nova_recorded_before_the_bmc_said_off_is_caught(tmp_path):
    records, power = crash_and_fence()
    d = write_nova(write_run(tmp_path, records, power), [migration("vm-a", "host3", "host1", T + 11.0)])
    v = nova_verdict(d)
    assert invariants(v) == ["nova-evacuation-source-off"]
    assert chaos.check(d) == 1


def test_an_evacuation_asked_while_off_and_recorded_after_a_power_on_is_not_a_violation(tmp_path):
    """Nova writes its record a moment after the request came; an operator's power-on in that
    moment is not the requester's doing. The request's time comes from the fault proxy."""
    records, power = crash_and_fence()
    power["host3"].append((T + 12.50, "power on via BMC"))
    ask = {"t": T + 12.40, "method": "POST", "path": "/v2.1/servers/00000000-0000-0000-0000-00000000000a/action",
           "action": "evacuate", "did": "pass", "status": 202}
    m = migration("00000000-0000-0000-0000-00000000000a", "host3", "host1", T + 12.60)
    v = nova_verdict(write_nova(write_run(tmp_path / "asked-off", records, power), [m], requests=[ask]))
    assert "nova-evacuation-source-off" not in invariants(v)
    late = {**ask, "t": T + 12.55}   # asked after the power-on: caught
    v = nova_verdict(write_nova(write_run(tmp_path / "asked-on", records, power), [m], requests=[late]))
    assert "nova-evacuation-source-off" in invariants(v)
    # ... unless the power-on was the run's own (an operator's repair) a moment before the
    # request: that races the recovery, and is counted instead.
    repair = [{"step": 5, "kind": "restore", "undoes": "crash", "host": "host3", "did": "power on", "t0": T + 12.49}]
    v = nova_verdict(write_nova(write_run(tmp_path / "operator", records, power, faults=repair), [m], requests=[late]))
    assert "nova-evacuation-source-off" not in invariants(v)
    assert v.counts["nova_evacuations_racing_an_operator_power_on"] == 1


def test_an_instance_evacuated_twice_is_caught_but_a_failed_try_then_a_good_one_is_not(tmp_path):
    records, power = crash_and_fence()
    twice = [migration("vm-a", "host3", "host1", T + 12.5), migration("vm-a", "host3", "host2", T + 13.0)]
    v = nova_verdict(write_nova(write_run(tmp_path / "twice", records, power), twice))
    assert invariants(v) == ["nova-one-place"]
    retried = [migration("vm-a", "host3", "host2", T + 12.5, status="error"), migration("vm-a", "host3", "host1", T + 14.0)]
    v = nova_verdict(write_nova(write_run(tmp_path / "retried", records, power), retried))
    assert v.violations == [] and v.counts["nova_evacuations_failed"] == 1


def test_an_evacuation_its_returning_source_dropped_before_the_destination_claimed_it_did_not_move_the_server(tmp_path):
    """CI, seed 24 with Nova: host3 came back while the evacuation was still 'accepted'; its
    nova-compute destroyed the guest and marked the record completed, and host1 never claimed
    it (dest_node null). The server stayed on host3 in Nova's records, so evacuating it from
    host3 again later is not a second evacuation."""
    records, power = crash_and_fence()
    dropped_then_again = [migration("vm-a", "host3", "host1", T + 12.5, status="completed", claimed=False),
                          migration("vm-a", "host3", "host1", T + 14.0, status="completed")]
    v = nova_verdict(write_nova(write_run(tmp_path / "dropped", records, power), dropped_then_again))
    assert v.violations == [] and v.counts["nova_evacuations_dropped_by_the_returning_source"] == 1
    # The same two records with the first one claimed by host1: the server was there, so the
    # second moved it from where it no longer was.
    claimed = [migration("vm-a", "host3", "host1", T + 12.5, status="completed"),
               migration("vm-a", "host3", "host1", T + 14.0, status="completed")]
    v = nova_verdict(write_nova(write_run(tmp_path / "claimed", records, power), claimed))
    assert invariants(v) == ["nova-one-place"]


def test_an_evacuation_out_of_the_segment_is_caught(tmp_path):
    records, power = crash_and_fence()
    d = write_nova(write_run(tmp_path, records, power), [migration("vm-a", "host3", "host1", T + 12.5)],
                   segments={"host1": "other"})
    assert invariants(nova_verdict(d)) == ["nova-evacuation-in-segment"]


def test_an_ha_server_left_down_needs_a_recorded_reason(tmp_path):
    records, power = crash_and_fence()
    down = [{"id": "vm-a", "host": "host3", "status": "ERROR", "ha": True}]
    v = nova_verdict(write_nova(write_run(tmp_path / "silent", records, power), [], final=down))
    assert invariants(v) == ["nova-ha-servers-active"]
    failed = rec(T + 30, 12, "action_finished", action="evacuate", key="evacuate:vm-a", host="host3", outcome="failed")
    v = nova_verdict(write_nova(write_run(tmp_path / "failed", records + [failed], power), [], final=down))
    assert invariants(v) == ["nova-ha-servers-active"], "a failed step alone is no reason: the operator must be told"
    notice = {"kind": "evacuation_failed", "host": "host3", "instance": "vm-a", "reason": "no valid host for vm-a"}
    why = records + [failed, rec(T + 31, 13, "action_started", action="notify", key="notify:vm-a",
                                 event={"kind": "action_started", "action": {"kind": "notify", "notice": notice}})]
    v = nova_verdict(write_nova(write_run(tmp_path / "reason", why, power), [], final=down))
    assert v.violations == [] and v.counts["nova_ha_servers_down_with_reason"] == 1


def test_nova_records_that_could_not_be_read_are_a_violation(tmp_path):
    records, power = crash_and_fence()
    d = write_nova(write_run(tmp_path, records, power), None)
    assert invariants(nova_verdict(d)) == ["nova-records"]


def test_nova_faults_are_drawn_only_with_nova_and_keep_other_seeds_as_they_were():
    plain = chaos.make_schedule(5, 30, 3)
    assert not {s["kind"] for s in plain} & set(chaos.NOVA_FAULTS)
    drawn = {s["kind"] for seed in range(20) for s in chaos.make_schedule(seed, 30, 3, list(chaos.NOVA_FAULTS))}
    assert set(chaos.NOVA_FAULTS) <= drawn
    errors = [s for seed in range(20) for s in chaos.make_schedule(seed, 30, 3, list(chaos.NOVA_FAULTS))
              if s["kind"] == "nova_error"]
    assert {s["status"] for s in errors} == {500, 503} and {s["rate"] for s in errors} == {0.5, 1.0}
    p = subprocess.run([sys.executable, str(REPO / "Cluster/chaos.py"), "schedule", "--seed", "1", "--with", "nova_hang"],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "Nova's faults need --nova" in p.stderr, p.stderr


def test_the_long_tier_table_counts_merged_runs_each_with_its_build():
    """`Scripts/chaos N --first F --merge`: the goal run (100 seeds) in parts, the table
    counting every part's seeds and naming the build each ran with."""
    import importlib.util
    from importlib.machinery import SourceFileLoader
    from types import SimpleNamespace
    loader = SourceFileLoader("chaos_script", str(REPO / "Scripts" / "chaos"))
    script = importlib.util.module_from_spec(importlib.util.spec_from_loader("chaos_script", loader))
    loader.exec_module(script)
    assert script.spans([1, 2, 3, 5, 7, 8]) == "1–3, 5, 7–8"
    seed = {"clean": True, "faults_by_kind": {"heal": 1}, "counts": {"fences_confirmed_off": 2}, "recoveries_s": [0.04]}
    results = ([{**seed, "seed": s} for s in range(1, 31)]
               + [{**seed, "seed": s, "build": "commit abc1234 2026-12-05"} for s in range(31, 41)]
               + [{"seed": 41, "clean": False, "build": "commit abc1234 2026-12-05",
                   "violations": [{"invariant": "one-fence-at-a-time", "message": "two fences"}]}])
    args = SimpleNamespace(nova=False, seeds=11, first=31, steps=30, hosts=3, with_="", merge=True,
                           lifeboatd=str(REPO / ".build/debug/lifeboatd"))
    text = script.table(results, args, took=600)
    assert "| 41 | 40 | 1 | 0 |" in text, text
    assert "- seeds 1–30: an earlier build" in text and "- seeds 31–41: commit abc1234 2026-12-05" in text, text
    assert "| fences_confirmed_off | 80 |" in text and "seed 41: **one-fence-at-a-time**" in text, text
