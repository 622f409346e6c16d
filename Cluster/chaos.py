#!/usr/bin/env python3
"""`Cluster/lab chaos`: a reproducible random schedule of faults against the lab and its
lifeboatd, then a checker of the safety invariants.

    Cluster/lab chaos --seed S --steps N [--hosts H] [--lifeboatd PATH] [--out DIR] [--keep]
    Cluster/lab chaos schedule --seed S --steps N [--hosts H]    the schedule only
    Cluster/lab chaos check DIR                                  check a saved run again

A run brings a fresh lab up (H hosts, every BMC a fence level), applies the seed's
schedule (faults with random gaps), heals everything, waits until every node agrees
again, collects the records and checks them. The checker reads only what the run saved
(`DIR`): the BMCs' own power logs, each host's Corosync log, the fault log, and every
node's durable history read from its SQLite file. It does not take Lifeboat's word for
anything it can see from outside: a fence that says "off" must be off in the BMC's log; a
power-off the BMC performed must fall inside a fence attempt that a quorate leader
recorded; an action must start while the node's own Corosync said it was in the primary
component. See Docs/RELIABILITY.md.

The same seed gives the same schedule (kinds, gaps, which of the candidates is hit);
which host a "leader" or "follower" target names is resolved while the run goes.
Exit status: 0 clean, 1 an invariant was violated, 2 the run itself failed.
"""
import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAB = str(REPO / "Cluster" / "lab")
LAB_DIR = Path(os.environ.get("LAB_DIR", "/run/lifeboat-lab"))
LAB_PREFIX = os.environ.get("LAB_PREFIX", "lblab")

# ---------------------------------------------------------------------------
# The schedule: a pure function of (seed, steps, hosts)
# ---------------------------------------------------------------------------

# Faults and how often each is drawn. `target` says whom a fault hits: the leader, a
# follower, any live host, or several hosts at once.
FAULTS = {
    "crash":                 {"weight": 3, "target": "any"},       # power lost, BMC says off
    "crash_power_stays_on":  {"weight": 3, "target": "any"},       # OS dead, BMC says on
    "bmc_power_off":         {"weight": 2, "target": "follower"},  # someone powers it off at the BMC
    "partition":             {"weight": 3, "target": "follower"},  # one host cut off (a minority)
    "partition_leader":      {"weight": 2, "target": "leader"},    # the leader ends in the minority
    "partition_majority":    {"weight": 1, "target": "several"},   # half or more cut off: no quorum anywhere
    "bmc_down":              {"weight": 1, "target": "any"},
    "corosync_kill":         {"weight": 1, "target": "any"},
    "corosync_freeze":       {"weight": 1, "target": "any"},       # SIGSTOP: a hung corosync
    "lifeboatd_kill":        {"weight": 2, "target": "any"},
    "lifeboatd_freeze":      {"weight": 1, "target": "any"},
    "leader_kill_mid_fence": {"weight": 2, "target": "follower"},  # the leader dies while it fences
    # Drawn only when asked for (--with): weight 0 leaves every other seed's schedule as it was.
    "disk_full":             {"weight": 0, "target": "any"},       # its state directory filled (lab up --state-quota)
    # With --nova (lab up --nova-proxy): Nova's API fails through the fault proxy in front of it.
    "nova_error":            {"weight": 0, "target": "cloud"},     # 500 or 503 for every request, or half of them
    "nova_hang":             {"weight": 0, "target": "cloud"},     # no answer at all
    "nova_lost_reply":       {"weight": 0, "target": "cloud"},     # writes done by Nova, their answers lost
}
# The weight of each fault drawn only when asked for (--with KIND; --nova asks for the nova_ ones).
OPTIONAL_FAULTS = {"disk_full": 2, "nova_error": 2, "nova_hang": 1, "nova_lost_reply": 1}
NOVA_FAULTS = ("nova_error", "nova_hang", "nova_lost_reply")
# HA servers booted on each host for a --nova run.
NOVA_SERVERS_PER_HOST = 2
PARTITION_MODES = ["down", "drop", "cluster"]


def nova_compute_params(**more):
    """Agents/nova-compute's parameters for the lab hosts' own nova-compute (`{host}` becomes
    each host's name), and `more`; the Nova tests use them too."""
    venv = os.environ.get("LAB_OPENSTACK_VENV", "/opt/lifeboat-openstack")
    h = f"{LAB_DIR}/hosts/{{host}}"
    return {"binary": f"{venv}/bin/nova-compute", "config": f"{h}/nova/nova-compute.conf",
            "log": f"{h}/nova-compute.log", "pidfile": f"{h}/nova-compute.pid", "nova_host": "{host}", **more}


def nova_compute_resource():
    """The lab hosts' nova-compute as a resource (the process check only: Nova's view of the
    service is what the checker reads)."""
    return {"name": "nova-compute", "agent": "ocf:lifeboat:nova-compute", "monitor_interval": 5,
            "timeouts": {"start": 30, "stop": 30}, "params": nova_compute_params(check_service="false")}


def make_schedule(seed, steps, hosts, extra=()):
    """The seed's schedule. A model of what is outstanding (faults not yet undone) decides
    when to undo one instead of adding another, so the cluster is neither left whole nor
    left dead for long."""
    rng = random.Random(seed)
    kinds = sorted(FAULTS)
    weights = [OPTIONAL_FAULTS[k] if k in extra else FAULTS[k]["weight"] for k in kinds]
    outstanding = []   # kinds of faults not undone yet, in order (the run keeps the same list)
    schedule = []
    for i in range(steps):
        gap = round(rng.uniform(8.0, 14.0) if rng.random() < 0.15 else rng.uniform(0.3, 5.0), 2)
        restore_p = 0.15 + len(outstanding) / hosts
        if outstanding and rng.random() < restore_p:
            if any(k.startswith("partition") for k in outstanding) and rng.random() < 0.3:
                step = {"kind": "heal"}
                outstanding = [k for k in outstanding if not k.startswith("partition")]
            else:
                pick = rng.randrange(len(outstanding))
                step = {"kind": "restore", "pick": pick, "undoes": outstanding.pop(pick)}
        elif rng.random() < 0.15:
            step = {"kind": "power_on_any", "pick": rng.randrange(1000)}
        else:
            kind = rng.choices(kinds, weights)[0]
            step = {"kind": kind, "pick": rng.randrange(1000)}
            if kind.startswith("partition"):
                step["mode"] = rng.choice(PARTITION_MODES)
            if kind == "partition_majority":
                step["count"] = hosts // 2 + 1 if hosts % 2 else hosts // 2   # the rest cannot reach quorum
                outstanding += ["partition_majority"] * step["count"]
            elif kind == "leader_kill_mid_fence":
                step["bmc_slow"] = rng.random() < 0.6   # keep the fence in flight by taking its BMC away
                outstanding += (["bmc_down"] if step["bmc_slow"] else []) + ["crash_power_stays_on", "lifeboatd_kill"]
            elif kind == "nova_error":
                step["status"] = rng.choice([500, 503])
                step["rate"] = rng.choice([0.5, 1.0])
                outstanding.append(kind)
            else:
                outstanding.append(kind)
        step["step"] = i + 1
        step["gap"] = gap
        schedule.append(step)
    return schedule


# ---------------------------------------------------------------------------
# The run: the lab, driven through Cluster/lab
# ---------------------------------------------------------------------------

class RunFailed(Exception):
    """The run could not go on (the lab itself failed), which is not a verdict."""


def sh(args, check=True, timeout=120, stdin=None):
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout, input=stdin)
    if check and p.returncode != 0:
        raise RunFailed(f"{' '.join(args)} failed ({p.returncode}): {p.stdout}{p.stderr}")
    return p


def lab(*args, **kw):
    return sh([LAB, *args], **kw)


class Run:
    def __init__(self, args):
        self.args = args
        self.hosts = [f"host{i}" for i in range(1, args.hosts + 1)]
        self.daemon = str(Path(args.lifeboatd).resolve())
        # The CLI beside the daemon, else the debug one (a release build of lifeboatd alone).
        self.cli_bin = next((str(c) for c in (Path(self.daemon).parent / "lifeboat", REPO / ".build/debug/lifeboat")
                             if c.exists()), str(Path(self.daemon).parent / "lifeboat"))
        self.out = Path(args.out)
        self.outstanding = []   # (kind, host) in the model's order
        self.nova_faults = []   # (kind, step) of the Nova faults not undone yet, oldest first
        self.t_begin = time.time()

    # -- observation ------------------------------------------------------
    def cli(self, host, *args, timeout=20):
        return lab("exec", host, self.cli_bin, *args, check=False, timeout=timeout)

    def status(self, host):
        try:
            p = self.cli(host, "status", "--format", "json", timeout=10)
        except subprocess.TimeoutExpired:
            return None
        if p.returncode != 0:
            return None
        try:
            return json.loads(p.stdout)
        except ValueError:
            return None

    def powered(self, h):
        f = LAB_DIR / "hosts" / h / "power"
        return f.exists() and f.read_text().strip() == "on"

    def has_processes(self, h):
        p = sh(["ip", "netns", "pids", f"{LAB_PREFIX}-{h}"], check=False)
        return bool(p.stdout.strip())

    def alive(self, h):
        return self.powered(h) and self.has_processes(h)

    def leader(self):
        """The leader as the live hosts see it (the first answer that names one)."""
        for h in self.hosts:
            if self.alive(h) and not self.disturbed(h):
                s = self.status(h)
                if s and s.get("leader"):
                    return s["leader"]
        return None

    def disturbed(self, h):
        return any(x == h for _, x in self.outstanding)

    # -- faults ------------------------------------------------------------
    def log(self, entry):
        entry.setdefault("t1", time.time())
        with open(self.out / "faults.jsonl", "a") as f:
            f.write(json.dumps(entry) + "\n")
        what = " ".join(f"{k}={v}" for k, v in entry.items() if k not in ("t0", "t1", "output", "step", "gap"))
        print(f"chaos: [{entry['t0'] - self.t_begin:7.2f}s] step {entry.get('step', '-')}: {what}", flush=True)

    def candidates(self, target):
        live = [h for h in self.hosts if self.alive(h) and not self.disturbed(h)]
        if target == "any":
            return live
        leader = self.leader()
        if target == "leader":
            return [leader] if leader in live else []
        return [h for h in live if h != leader]

    def apply(self, step):
        kind = step["kind"]
        t0 = time.time()
        entry = {"step": step["step"], "kind": kind, "t0": t0}
        if kind == "heal":
            lab("heal")
            self.outstanding = [(k, h) for k, h in self.outstanding if not k.startswith("partition")]
            return self.log(entry)
        if kind == "restore":
            k, h = self.outstanding.pop(step["pick"])
            entry.update(undoes=k, host=h, **self.undo(k, h))
            return self.log(entry)
        if kind == "power_on_any":
            dead = [h for h in self.hosts if not self.alive(h) and not self.disturbed(h)]
            if not dead:
                return self.log({**entry, "skipped": "no host is off"})
            h = dead[step["pick"] % len(dead)]
            entry.update(host=h, **self.revive(h))
            return self.log(entry)
        if kind == "partition_majority":
            live = [h for h in self.hosts if self.alive(h) and not self.disturbed(h)]
            hs = sorted(random.Random(step["pick"]).sample(live, min(step["count"], len(live))))
            lab("partition", "--mode", step["mode"], *hs)
            # The model counted `count` entries; keep the same number (None for hosts that were missing).
            for i in range(step["count"]):
                self.outstanding.append(("partition_majority", hs[i] if i < len(hs) else None))
            return self.log({**entry, "hosts": hs, "mode": step["mode"]})
        if kind in NOVA_FAULTS:
            self.nova_faults.append((kind, step))
            self.set_nova_fault()
            self.outstanding.append((kind, "cloud"))
            return self.log({**entry, "host": "cloud", **{k: step[k] for k in ("status", "rate") if k in step}})
        cands = self.candidates(FAULTS[kind]["target"])
        if not cands:
            # Keep the model's bookkeeping in step: placeholders that undo nothing.
            n = {"leader_kill_mid_fence": 2 + (1 if step.get("bmc_slow") else 0)}.get(kind, 1)
            self.outstanding += [(kind, None)] * n
            return self.log({**entry, "skipped": f"no {FAULTS[kind]['target']} host to hit"})
        h = cands[step["pick"] % len(cands)]
        entry["host"] = h
        if kind == "crash":
            lab("crash", h)
        elif kind == "crash_power_stays_on":
            lab("crash", "--power-stays-on", h)
        elif kind == "bmc_power_off":
            lab("power", h, "off", check=False)
        elif kind in ("partition", "partition_leader"):
            lab("partition", "--mode", step["mode"], h)
            entry["mode"] = step["mode"]
        elif kind == "bmc_down":
            lab("bmc-down", h)
        elif kind == "corosync_kill":
            p = lab("corosync", h, "kill", check=False)
            m = re.search(r"corosync killed at (\d+\.\d+)", p.stdout or "")
            if m:
                entry["killed_at"] = float(m.group(1))
        elif kind == "corosync_freeze":
            lab("kill-process", h, "corosync", "--stop", check=False)
        elif kind == "lifeboatd_kill":
            lab("kill-process", h, "lifeboatd", check=False)
        elif kind == "lifeboatd_freeze":
            lab("kill-process", h, "lifeboatd", "--stop", check=False)
        elif kind == "disk_full":
            lab("disk-full", h, "on")
        elif kind == "leader_kill_mid_fence":
            return self.kill_leader_mid_fence(step, entry, h)
        self.outstanding.append((kind, h))
        return self.log(entry)

    def kill_leader_mid_fence(self, step, entry, victim):
        leader = self.leader()
        if step.get("bmc_slow"):
            lab("bmc-down", victim)
            self.outstanding.append(("bmc_down", victim))
        lab("crash", "--power-stays-on", victim)
        self.outstanding.append(("crash_power_stays_on", victim))
        seen = None
        deadline = time.time() + 10
        while leader and time.time() < deadline:
            s = self.status(leader)
            if s and f"fence:{victim}" in (s.get("in_flight") or []):
                seen = time.time()
                break
            time.sleep(0.02)
        if leader:
            lab("kill-process", leader, "lifeboatd", check=False)
        self.outstanding.append(("lifeboatd_kill", leader))
        entry.update(host=victim, leader=leader, fence_seen_in_flight=seen is not None)
        return self.log(entry)

    def set_nova_fault(self):
        """The proxy does what the newest Nova fault not undone says (pass when none is left)."""
        if not self.nova_faults:
            return lab("nova-fault", "pass")
        kind, step = self.nova_faults[-1]
        if kind == "nova_error":
            return lab("nova-fault", "error", "--status", str(step["status"]), "--rate", str(step["rate"]))
        if kind == "nova_hang":
            return lab("nova-fault", "hang")
        # The answers to writes (a POST or PUT: an evacuation, a force-down) are lost; reads pass.
        return lab("nova-fault", "lost_reply", "--match", "^(POST|PUT) ")

    def undo(self, kind, h):
        """Undo one fault, as the operator who repairs it would: a host the cluster fenced
        meanwhile (or that is dead) is powered on as well."""
        if h is None:
            return {"skipped": "nothing to undo"}
        if kind in NOVA_FAULTS:
            i = next(i for i, (k, _) in enumerate(self.nova_faults) if k == kind)
            self.nova_faults.pop(i)
            self.set_nova_fault()
            return {"nova": self.nova_faults[-1][0] if self.nova_faults else "pass"}
        if kind in ("crash", "crash_power_stays_on", "bmc_power_off"):
            return self.revive(h)
        done = self.undo_one(kind, h)
        if not self.disturbed(h) and not self.alive(h):
            done.update(self.revive(h))
        return done

    def undo_one(self, kind, h):
        if kind.startswith("partition"):
            lab("heal", h)
        elif kind == "bmc_down":
            lab("bmc-up", h)
        elif kind == "corosync_kill":
            if self.alive(h):
                lab("corosync", h, "start", check=False)
        elif kind == "corosync_freeze":
            lab("kill-process", h, "corosync", "--cont", check=False)
        elif kind == "lifeboatd_kill":
            if self.alive(h):
                lab("lifeboatd", h, "start", check=False)
        elif kind == "lifeboatd_freeze":
            lab("kill-process", h, "lifeboatd", "--cont", check=False)
        elif kind == "disk_full":
            lab("disk-full", h, "off", check=False)
        return {}

    def revive(self, h):
        """Power a dead host on: on at the BMC if it is off, off-then-on if the BMC says on
        but nothing runs (crashed with power on), nothing if it runs."""
        if not self.powered(h):
            lab("power", h, "on", check=False)
            return {"did": "power on"}
        if not self.has_processes(h):
            lab("power", h, "off", check=False)
            lab("power", h, "on", check=False)
            return {"did": "power cycle"}
        return {"did": "nothing (it runs)"}

    # -- the whole run -----------------------------------------------------
    def setup(self):
        lab("down", check=False, timeout=120)
        t0 = time.time()
        quota = ["--state-quota", "64M"] if "disk_full" in self.args.extra else []
        nova = ["--nova-proxy"] if self.args.nova else []
        lab("up", "--hosts", str(self.args.hosts), "--lifeboatd", self.daemon, *quota, *nova, timeout=600)
        cluster = json.loads(lab("cluster-config", *(["--nova"] if self.args.nova else [])).stdout)
        # The storm guard (half a segment lost within a minute) and the flap guard (3 fences
        # an hour) would halt fencing for the rest of a run on 3 hosts after the first few
        # faults; they have their own tests. Here every loss should be acted on.
        cluster["policy"] = {"fence_retry_interval": 2, "startup_grace": 15,
                             "storm_threshold": 1.0, "flap_limit": 1000}
        if self.args.nova:
            cluster["policy"]["nova_retry_interval"] = 2
            cluster["policy"]["evacuation_retry_interval"] = 10   # a run is minutes long
        if self.args.nova_compute_resource:
            cluster["resources"] = [nova_compute_resource()]
        path = LAB_DIR / "chaos-cluster.json"
        path.write_text(json.dumps(cluster))
        (self.out / "cluster.json").write_text(json.dumps(cluster, indent=1))
        if not self.wait_agreed(60):
            raise RunFailed("the fresh lab did not agree within 60 s")
        p = self.cli("host1", "config", "apply", str(path))
        if p.returncode != 0:
            raise RunFailed(f"config apply: {p.stderr}")
        if not self.wait_agreed(30):
            raise RunFailed("the configuration did not reach every node within 30 s")
        if self.args.nova:
            self.boot_servers()
        print(f"chaos: lab of {self.args.hosts} hosts up and configured in {time.time() - t0:.1f} s", flush=True)

    def servers(self):
        p = lab("vms", "--format", "json", check=False, timeout=90)
        try:
            return json.loads(p.stdout) if p.returncode == 0 else None
        except ValueError:
            return None

    def boot_servers(self):
        """NOVA_SERVERS_PER_HOST HA servers on every host, and Lifeboat's inventory holding
        them all."""
        for h in self.hosts:
            lab("vms", "boot", h, str(NOVA_SERVERS_PER_HOST), "--ha", timeout=300)
        vms = self.servers()
        if vms is None:
            raise RunFailed("cannot list the lab cloud's servers")
        (self.out / "nova-initial.json").write_text(json.dumps(vms, indent=1))
        want = {v["id"] for v in vms if v["ha"]}
        deadline = time.time() + 60
        while time.time() < deadline:
            p = self.cli("host1", "config", "show")
            if p.returncode == 0 and want <= {i["id"] for i in json.loads(p.stdout)["cluster"]["instances"]}:
                return
            time.sleep(1)
        raise RunFailed(f"Lifeboat's inventory did not list the {len(want)} HA servers within 60 s")

    def wait_servers_settled(self, timeout):
        """Seconds until every HA server is ACTIVE with no task on a host that runs (Nova's
        own view through its API), or None."""
        t0 = time.time()
        while time.time() - t0 < timeout:
            vms = self.servers()
            if vms is not None and all(v["status"] == "ACTIVE" and not v.get("task_state") and v["host"] in self.hosts
                                       and self.alive(v["host"]) for v in vms if v["ha"]):
                return time.time() - t0
            time.sleep(2)
        return None

    def agreement(self):
        """Every host answers, synced, all members, quorate, one view; nothing in flight."""
        st = {h: self.status(h) for h in self.hosts}
        if any(s is None or not s.get("synced") or not s.get("quorate") for s in st.values()):
            return None
        view = {json.dumps([sorted(s["members"]), s["leader"], s["epoch"], s["config_version"], s["term"],
                            s["hosts"], s["in_flight"]], sort_keys=True) for s in st.values()}
        s = next(iter(st.values()))
        if len(view) != 1 or sorted(s["members"]) != self.hosts or s["leader"] is None or s["in_flight"]:
            return None
        return st

    def wait_agreed(self, timeout, revive=False):
        """Poll until every node agrees. With `revive`, a host found dead is powered on again
        (every 5 s at most): a fence decided before the final heal may still power a host
        off that had just come back, as an operator would see and undo."""
        deadline = time.time() + timeout
        last_revive = 0
        while time.time() < deadline:
            st = self.agreement()
            if st:
                return st
            if revive and time.time() - last_revive > 5:
                last_revive = time.time()
                for h in self.hosts:
                    if not self.alive(h):
                        t0 = time.time()
                        self.log({"step": "final", "kind": "final_revive", "host": h, "t0": t0, **self.revive(h)})
            time.sleep(0.5)
        return None

    def final_heal(self):
        t0 = time.time()
        for h in self.hosts:
            lab("kill-process", h, "corosync", "--cont", check=False)
            lab("kill-process", h, "lifeboatd", "--cont", check=False)
            lab("bmc-up", h, check=False)
            if "disk_full" in self.args.extra:
                lab("disk-full", h, "off", check=False)
        if self.args.nova:
            self.nova_faults = []
            lab("nova-fault", "pass", check=False)
        lab("heal")
        revived = {}
        for h in self.hosts:
            if not self.alive(h):
                revived[h] = self.revive(h)["did"]
            else:
                lab("corosync", h, "start", check=False)
                lab("lifeboatd", h, "start", check=False)
        self.outstanding = []
        # Which hosts it powered on: the checker counts those power-ons as the run's own.
        self.log({"step": "final", "kind": "final_heal", "t0": t0, "revived": revived})

    def collect(self, final):
        for h in self.hosts:
            d = self.out / h
            d.mkdir(exist_ok=True)
            src = LAB_DIR / "hosts" / h
            for name, path in [("power.log", src / "power.log"), ("ipmi_sim.log", src / "bmc/ipmi_sim.log"),
                               ("boot.log", src / "boot.log"),
                               ("corosync.log", src / "var/log/corosync/corosync.log"),
                               ("lifeboatd.log", src / "lifeboatd.log")]:
                if path.exists():
                    shutil.copyfile(path, d / name)
            db = src / "lifeboat" / "history.sqlite"
            p = sh([self.cli_bin, "history", "--database", str(db), "--format", "json", "--limit", "1000000"],
                   check=False, timeout=120)
            (d / "history.json").write_text(p.stdout if p.returncode == 0 else json.dumps({"error": p.stderr}))
            if final and final.get(h):
                (d / "status.json").write_text(json.dumps(final[h], indent=1))
        if self.args.nova:
            vms = self.servers()
            (self.out / "nova-final.json").write_text(json.dumps(vms, indent=1))
            p = lab("vms", "migrations", check=False, timeout=90)
            (self.out / "nova-migrations.json").write_text(p.stdout if p.returncode == 0 else "null")
            src = LAB_DIR / "openstack" / "faultproxy" / "requests.jsonl"
            if src.exists():
                shutil.copyfile(src, self.out / "nova-requests.jsonl")


def run(args):
    schedule = make_schedule(args.seed, args.steps, args.hosts, args.extra)
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / "schedule.json").write_text(json.dumps(
        {"seed": args.seed, "steps": args.steps, "hosts": args.hosts, "with": sorted(args.extra), "nova": args.nova,
         "nova_compute_resource": args.nova_compute_resource, "schedule": schedule},
        indent=1))
    r = Run(args)
    print(f"chaos: seed {args.seed}, {args.steps} steps, {args.hosts} hosts; records in {out}", flush=True)
    final = None
    try:
        r.setup()
        r.t_begin = time.time()
        for step in schedule:
            time.sleep(step["gap"])
            try:
                r.apply(step)
            except (RunFailed, subprocess.TimeoutExpired) as e:
                r.log({"step": step["step"], "kind": step["kind"], "t0": time.time(), "error": str(e)[:500]})
        time.sleep(3)
        r.final_heal()
        t0 = time.time()
        final = r.wait_agreed(args.converge_timeout, revive=True)
        converged = time.time() - t0 if final else None
        settled = None
        if final and args.nova:   # then Nova: every HA server ACTIVE on a host that runs
            settled = r.wait_servers_settled(args.converge_timeout)
            final = r.wait_agreed(30) or final   # the last evacuations' results, replicated
        if final:   # the durable histories follow the replicated log a moment later
            time.sleep(2)
        (out / "run.json").write_text(json.dumps({
            "seed": args.seed, "steps": args.steps, "hosts": args.hosts,
            "began": r.t_begin, "ended": time.time(),
            "converged_after_s": round(converged, 2) if converged is not None else None,
            "converge_timeout_s": args.converge_timeout,
            **({"nova_settled_after_s": round(settled, 2) if settled is not None else None} if args.nova else {})},
            indent=1))
        if not final:
            (out / "last-status.json").write_text(json.dumps({h: r.status(h) for h in r.hosts}, indent=1))
        r.collect(final)
    finally:
        if not args.keep:
            lab("down", check=False, timeout=120)
    return check(out)


# ---------------------------------------------------------------------------
# The checker: reads only the saved records
# ---------------------------------------------------------------------------

def power_log_entries(text):
    """(t, what, line) of each line of a BMC's power.log (`... @UNIXTIME what`)."""
    for line in text.splitlines():
        m = re.search(r"@(\d+\.\d+) (.*)$", line)
        if m:
            yield float(m.group(1)), m.group(2), line


def parse_power_log(text):
    """[(t, state, line)] with state off / dead_on (crashed, BMC still says on) / on."""
    out = []
    for t, what, line in power_log_entries(text):
        if what.startswith("crash (power off)") or what == "power off via BMC":
            out.append((t, "off", line))
        elif what.startswith("crash (power on)"):
            out.append((t, "dead_on", line))
        elif what == "power on via BMC":
            out.append((t, "on", line))
    return out


def parse_processes_gone(text):
    """{time of a crash or power-off: time its "processes gone" line says they were gone}."""
    out, pending = {}, None
    for t, what, _ in power_log_entries(text):
        if what.startswith("crash (") or what == "power off via BMC":
            pending = t
        elif what == "processes gone" and pending is not None:
            if t - pending <= 10:
                out[pending] = t
            pending = None
    return out


def last_power_on_by_the_run(recs, faults, h, t):
    """The time of host h's last power-on at or before t when it was the run's own (an
    operator's repair: a restore, a power-on of a dead host, the final revive) and h was off
    just before it; else None. Such a power-on races whatever Lifeboat was doing for the
    fenced host: Lifeboat cannot see it before the host rejoins."""
    ons = [at for at, st, _ in recs[h]["power"] if st == "on" and at <= t]
    if not ons:
        return None
    t_on = ons[-1]
    # The power-on lies within that fault's own span (its t0 to t1, when it was logged).
    # The final heal powers on every host that is dead (its record names them; one of a run
    # before it did has no list, and then any power-on in its span is its own: Lifeboat
    # never powers a host on).
    def powered_on_by(f):
        if f.get("kind") == "final_heal":
            revived = f.get("revived")
            return revived is None or revived.get(h) in ("power on", "power cycle")
        return f.get("host") == h and f.get("did") in ("power on", "power cycle")
    by_run = any(powered_on_by(f) and f["t0"] - 0.05 <= t_on <= f.get("t1", f["t0"]) + 0.5 for f in faults)
    before = [st for at, st, _ in recs[h]["power"] if at < t_on]
    return t_on if by_run and before and before[-1] == "off" else None


def power_at(timeline, t):
    """The power state at time t (on before the first event)."""
    state, line = "on", None
    for at, s, l in timeline:
        if at > t:
            break
        state, line = s, l
    return state, line


def parse_corosync_quorum(text, year):
    """[(t, quorate)] from a Corosync log with hires timestamps."""
    out = []
    for line in text.splitlines():
        m = re.match(r"(\w{3} \d{2} \d{2}:\d{2}:\d{2}\.\d{3}) ", line)
        if not m:
            continue
        t = datetime.strptime(f"{year} {m.group(1)}", "%Y %b %d %H:%M:%S.%f").timestamp()
        if "within the primary component" in line:
            out.append((t, True))
        elif "within the non-primary component" in line:
            out.append((t, False))
        elif "Corosync Cluster Engine" in line and "starting up" in line:
            out.append((t, False))
    return out


def quorate_at(timeline, deaths, t):
    """Whether the node's Corosync said primary at t; a death (crash, power off, corosync
    killed) ends it until the log says primary again."""
    events = sorted([(at, q) for at, q in timeline] + [(at, False) for at in deaths])
    state = False
    for at, q in events:
        if at > t:
            break
        state = q
    return state


EXEC_START = re.compile(r"^(\d+\.\d+) lifeboatd\[\w+\] \w+: executing (\S+) attempt (\d+)\.(\d+)$")
EXEC_END = re.compile(r"^(\d+\.\d+) lifeboatd\[\w+\] \w+: (\S+) attempt (\d+)\.(\d+) finished (\w+)")


def parse_executor_log(text):
    """{(key, term, id): {"start", "end", "outcome"}} from a lifeboatd log: when the node's
    executor really ran each attempt, by the local clock (the history's times are cluster
    time, which may lag the wall clock)."""
    out = {}
    for line in text.splitlines():
        m = EXEC_START.match(line)
        if m:
            out.setdefault((m.group(2), int(m.group(3)), int(m.group(4))), {})["start"] = float(m.group(1))
            continue
        m = EXEC_END.match(line)
        if m:
            e = out.setdefault((m.group(2), int(m.group(3)), int(m.group(4))), {})
            e["end"], e["outcome"] = float(m.group(1)), m.group(5)
    return out


def load_run(d):
    d = Path(d)
    sched = json.loads((d / "schedule.json").read_text())
    hosts = [f"host{i}" for i in range(1, sched["hosts"] + 1)]
    faults = [json.loads(l) for l in (d / "faults.jsonl").read_text().splitlines() if l.strip()] \
        if (d / "faults.jsonl").exists() else []
    runinfo = json.loads((d / "run.json").read_text()) if (d / "run.json").exists() else {}
    year = datetime.fromtimestamp(runinfo.get("began", time.time())).year
    recs = {}
    for h in hosts:
        hd = d / h
        power_text = (hd / "power.log").read_text() if (hd / "power.log").exists() else ""
        power = parse_power_log(power_text)
        quorum = parse_corosync_quorum((hd / "corosync.log").read_text(), year) \
            if (hd / "corosync.log").exists() else []
        hist = json.loads((hd / "history.json").read_text()) if (hd / "history.json").exists() else {}
        status = json.loads((hd / "status.json").read_text()) if (hd / "status.json").exists() else None
        execs = parse_executor_log((hd / "lifeboatd.log").read_text(errors="replace")) \
            if (hd / "lifeboatd.log").exists() else {}
        recs[h] = {"power": power, "quorum": quorum, "history": hist, "status": status, "executed": execs,
                   "gone": parse_processes_gone(power_text)}
    return sched, hosts, faults, runinfo, recs


def load_nova(d):
    """Nova's own records of a --nova run (None for a run without Nova): the servers before
    and after, every evacuation Nova recorded (os-migrations), and the fault proxy's log."""
    d = Path(d)
    if not (d / "nova-initial.json").exists():
        return None

    def read(name, default=None):
        try:
            return json.loads((d / name).read_text())
        except (OSError, ValueError):
            return default
    requests = []
    if (d / "nova-requests.jsonl").exists():
        for line in (d / "nova-requests.jsonl").read_text().splitlines():
            try:
                requests.append(json.loads(line))
            except ValueError:
                pass
    return {"initial": read("nova-initial.json", []), "final": read("nova-final.json"),
            "migrations": read("nova-migrations.json"), "requests": requests,
            "cluster": read("cluster.json", {})}


def nova_time(text):
    """Unix time of a Nova timestamp (UTC, with or without fractions or a zone)."""
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).timestamp()


# Seconds between the leader's decision to evacuate and its request reaching Nova (it reads
# the server first). A power-on by the run itself (an operator's repair) inside that window
# races the recovery; no cluster manager can stop an operator at the BMC, and the host's
# nova-compute, once it starts, removes what was evacuated. Counted, not a violation.
DECISION_TO_REQUEST = 2.0


def check_nova(nova, hosts, recs, runinfo, records, v, faults=()):
    """Nova's records against the BMCs' and the segments: evacuations only of instances
    whose source host was off by its BMC's log, each instance moved from where it was to one
    place at a time, never out of its segment, and every HA server ACTIVE at the end or a
    recorded reason."""
    segment = {h["name"]: h.get("segment") for h in nova["cluster"].get("hosts", [])}
    # When each evacuation request reached Nova's front door (the fault proxy): Nova writes
    # its record a moment later, and a power-on in that moment is not the requester's doing.
    asked = {}
    for r in nova["requests"]:
        v.count(f"nova_requests_{r.get('did', 'broken')}")
        m = re.search(r"/servers/([0-9a-f-]{36})/action$", r.get("path") or "")
        if m and r.get("action") == "evacuate" and r.get("did") in ("pass", "lost_reply"):
            asked.setdefault(m.group(1), []).append(r["t"])
    migrations = nova["migrations"]
    if migrations is None:
        v.violate("nova-records", "Nova's evacuation records (os-migrations) could not be read", {})
        return
    failed = ("failed", "error", "cancelled")
    by_instance = {}
    for m in migrations:
        if m.get("migration_type") != "evacuation":
            continue
        v.count("nova_evacuations")
        if m.get("status") in failed:
            v.count("nova_evacuations_failed")
        t = nova_time(m["created_at"])
        m["_t"] = t
        src, dst = m.get("source_compute"), m.get("dest_compute")
        by_instance.setdefault(m["instance_uuid"], []).append(m)
        if src in recs:
            # The request that made this record: the last one for the server before it.
            request = max([a for a in asked.get(m["instance_uuid"], []) if a <= t + 0.01], default=t)
            state, line = power_at(recs[src]["power"], request)
            t_on = last_power_on_by_the_run(recs, faults, src, request)
            if state != "off" and t_on is not None and request - t_on <= DECISION_TO_REQUEST:
                v.count("nova_evacuations_racing_an_operator_power_on")
            elif state != "off":
                v.violate("nova-evacuation-source-off", f"Nova recorded an evacuation of {m['instance_uuid']} from "
                          f"{src} at {m['created_at']} UTC, asked at {datetime.fromtimestamp(request).isoformat()}, "
                          f"while {src}'s BMC log says {state}", {"migration": m, "last_power_line": line})
        if dst is not None and segment.get(src) != segment.get(dst):
            v.violate("nova-evacuation-in-segment", f"{m['instance_uuid']} was evacuated from {src} (segment "
                      f"{segment.get(src)}) to {dst} (segment {segment.get(dst)})", {"migration": m})
    initial = {s["id"]: s for s in nova["initial"]}
    for iid, ms in by_instance.items():
        ms.sort(key=lambda m: m["_t"])
        where = {initial[iid]["host"]} if iid in initial else None
        for m in ms:
            if where is not None and m["source_compute"] not in where:
                v.violate("nova-one-place", f"{iid} was evacuated from {m['source_compute']} at {m['created_at']} "
                          f"UTC, where it no longer was (it was on {', '.join(sorted(where))}): evacuated twice",
                          {"migrations": ms})
                break
            if m.get("status") in failed:
                # A failed evacuation may leave the server at either end.
                where = {m["source_compute"], m["dest_compute"]}
            elif m.get("status") == "completed" and m.get("dest_node") is None:
                # The source's nova-compute came back while the evacuation was still only
                # 'accepted': it destroyed its guest and marked the record completed, but the
                # destination never claimed the server (no dest_node), so Nova still has it on
                # the source, in ERROR. It never moved.
                v.count("nova_evacuations_dropped_by_the_returning_source")
            else:
                where = {m["dest_compute"]}
    final = nova["final"]
    if final is None:
        v.violate("nova-records", "Nova's final server list could not be read", {})
        return
    now = {s["id"]: s for s in final}
    for iid, s in initial.items():
        if not s.get("ha"):
            continue
        v.count("nova_ha_servers")
        f = now.get(iid)
        if f and f["status"] == "ACTIVE" and f["host"] in hosts and not f.get("task_state"):
            continue
        # A recorded reason is a notice that names the server (Lifeboat told the operator).
        reasons = [x for x in records if x.get("kind") == "action_started" and x.get("action") == "notify"
                   and iid in json.dumps((x.get("event") or {}).get("action") or {})]
        if reasons:
            v.count("nova_ha_servers_down_with_reason")
            continue
        v.violate("nova-ha-servers-active", f"HA server {iid} ends {f['status'] if f else 'missing'} on "
                  f"{f['host'] if f else '-'} after the final heal, with no recorded reason",
                  {"server": f, "settled_after_s": runinfo.get("nova_settled_after_s")})


def disturbed_intervals(faults, recs, hosts, end):
    """When each host was touched by a fault or off, as [(from, until)]: from a fault on it
    until every fault on it was undone (restore, heal, power-on, the final heal), and from a
    power-off or crash in its BMC log until it was powered on again."""
    out = {h: [] for h in hosts}
    active = {h: [] for h in hosts}     # kinds not undone yet
    since = {}

    def touch(h, kind, t):
        if h not in active:
            return
        if not active[h]:
            since[h] = t
        active[h].append(kind)

    def untouch(h, t, kind=None):
        """Undo one fault of that kind on h (every fault with no kind)."""
        if h not in active or not active[h]:
            return
        if kind is None:
            active[h] = []
        elif kind in active[h]:
            active[h].remove(kind)
        else:
            return
        if not active[h]:
            out[h].append((since.pop(h), t))

    for f in faults:
        if f.get("skipped") or f.get("error"):
            continue
        k, t = f["kind"], f["t0"]
        if k == "heal":
            for h in hosts:
                for kind in [x for x in active[h] if x.startswith("partition")]:
                    untouch(h, t, kind)
        elif k == "restore":
            untouch(f.get("host"), t, f.get("undoes"))
        elif k in ("power_on_any", "final_revive"):
            pass   # a host Lifeboat fenced: its power log says when it was off
        elif k == "disk_full" or k in NOVA_FAULTS:
            pass   # a node with a full disk (or a sick Nova) works as before: the checks hold it to that
        elif k == "final_heal":
            for h in hosts:
                untouch(h, t)
        elif k == "partition_majority":
            for h in f.get("hosts", []):
                touch(h, k, t)
        elif k == "leader_kill_mid_fence":
            touch(f.get("host"), "crash_power_stays_on", t)
            if f.get("leader"):
                touch(f["leader"], "lifeboatd_kill", t)
        else:
            touch(f.get("host"), k, t)
    for h in hosts:
        if active[h]:
            out[h].append((since[h], end))
        off_since = None
        for t, state, _ in recs[h]["power"]:
            if state in ("off", "dead_on") and off_since is None:
                off_since = t
            elif state == "on" and off_since is not None:
                out[h].append((off_since, t))
                off_since = None
        if off_since is not None:
            out[h].append((off_since, end))
    return out


def overlaps(intervals, lo, hi):
    return any(a < hi and b > lo for a, b in intervals)


class Verdict:
    def __init__(self):
        self.violations = []
        self.counts = {}
        self.recoveries = []   # seconds from a recorded loss to the fence's "off"

    def violate(self, invariant, message, evidence):
        self.violations.append({"invariant": invariant, "message": message, "evidence": evidence})

    def count(self, key, n=1):
        self.counts[key] = self.counts.get(key, 0) + n


def all_records(recs):
    """Every history record of every node, once: replicated records by epoch (every node has
    the same), plus each node's local ones."""
    seen, out = set(), []
    for h, r in recs.items():
        for x in r["history"].get("records", []):
            key = (x.get("epoch"), x.get("kind"), x.get("key"), x.get("at"), x.get("origin"))
            if key in seen:
                continue
            seen.add(key)
            out.append(x)
    return sorted(out, key=lambda x: (x.get("at") or 0, x.get("epoch") or 0))


def host_of_origin(origin):
    return f"host{origin}" if isinstance(origin, int) else None


# Seconds from a host's death to its first fence attempt that the checker allows: Corosync's
# detection (token 1 s + consensus), a leader change and sync round, the start.
LOSS_TO_FENCE = 20
# Seconds from a recorded loss of a dead host to its fence attempt (it takes milliseconds).
NODE_LOST_TO_FENCE = 5


def fence_in_flight_at(start, end, t):
    """Whether a fence attempt from start to end (None: never finished, taken as at most
    120 s) could have powered its host off at t."""
    return start - 0.05 <= t <= (end if end is not None else start + 120) + 0.05


def check_records(sched, hosts, faults, runinfo, recs):
    v = Verdict()
    records = all_records(recs)
    executed = {}
    for r in recs.values():
        for k, e in r.get("executed", {}).items():
            executed.setdefault(k, {}).update(e)

    def attempt_of(x):
        """(key, term, id) of the attempt a start record opens (its id is the start's epoch)
        or a finish record closes: how the executor's log names it too."""
        if x.get("kind") == "action_started":
            return (x.get("key"), (x.get("event") or {}).get("term"), x.get("epoch"))
        a = (x.get("event") or {}).get("attempt") or {}
        return (x.get("key"), a.get("term"), a.get("id"))

    def wall(x, which):
        """The wall-clock time of a start or finish record: the executor's own log line when
        it has one (the history holds cluster time), else the record's time."""
        t = executed.get(attempt_of(x), {}).get(which)
        if t is not None:
            lag = abs(x["at"] - t)
            v.counts["max_history_clock_lag_ms"] = max(v.counts.get("max_history_clock_lag_ms", 0), round(lag * 1000))
            return t
        return x["at"]
    applied = [x for x in records if x.get("result") == "applied"]
    starts = [x for x in applied if x.get("kind") == "action_started"]
    finishes = [x for x in records if x.get("kind") == "action_finished"]

    # Faults the chaos run itself did at a BMC (powering a host off or cycling it).
    chaos_power = []
    for f in faults:
        if f.get("kind") == "bmc_power_off" or f.get("did") == "power cycle" or \
                (f.get("kind") == "final_heal"):
            chaos_power.append((f.get("host"), f["t0"] - 0.2, f.get("t1", f["t0"]) + 0.5))

    def run_powered_on_after_an_off(h, lo, hi):
        """The BMC's log says off inside [lo, hi], and the power-on after it was the run's own
        (an operator's repair): a fence confirmed off in that moment, its result logged a
        moment after the operator powered the host on again."""
        t_on = last_power_on_by_the_run(recs, faults, h, hi)
        return t_on is not None and any(st == "off" and lo - 0.05 <= at <= t_on for at, st, _ in recs[h]["power"])

    # -- 1. A fence that reports "off" is off in the BMC's own log; every step that needs
    #       the host off (force-down, evacuation, disabling it) starts while it is off.
    for x in finishes:
        if x.get("action") == "fence" and x.get("outcome") == "off" and x.get("result") == "applied":
            v.count("fences_confirmed_off")
            state, line = power_at(recs[x["host"]]["power"], wall(x, "end"))
            if state != "off" and run_powered_on_after_an_off(x["host"], wall(x, "start"), wall(x, "end")):
                v.count("fences_racing_an_operator_power_on")
            elif state != "off":
                v.violate("fence-confirmed-by-bmc", f"fence of {x['host']} reported off at {x['time']} but its "
                          f"BMC's log says {state}", {"record": x, "last_power_line": line})
    def operator_power_on_unseen(h, t):
        """Whether host h runs at t only because the run itself (an operator's repair)
        powered it on, and it has not rejoined the cluster since: Lifeboat, which fenced it,
        cannot know before it rejoins. That races the recovery (no cluster manager can stop
        an operator at the BMC; the host's nova-compute, once it starts, removes what was
        evacuated): counted, not a violation."""
        t_on = last_power_on_by_the_run(recs, faults, h, t)
        return t_on is not None and not any(y.get("kind") == "node_joined" and y.get("host") == h and t_on <= y["at"] <= t
                                            for y in applied)

    for x in starts:
        if x.get("action") in ("force_down", "evacuate", "disable_service"):
            h = x.get("host")
            if h in recs:
                state, line = power_at(recs[h]["power"], wall(x, "start"))
                v.count(f"started_{x['action']}")
                if state != "off" and operator_power_on_unseen(h, wall(x, "start")):
                    v.count("recovery_steps_racing_an_operator_power_on")
                elif state != "off":
                    v.violate("off-before-recovery", f"{x['action']} of {h} started at {x['time']} while its "
                              f"BMC's log says {state}", {"record": x, "last_power_line": line})

    # -- 2. Never two fences of one host in flight.
    attempts = {}
    for x in starts:
        if x.get("action") == "fence":
            attempts[attempt_of(x)] = {"host": x["host"], "start": wall(x, "start"), "record": x,
                                       "end": None, "outcome": None}
    for x in finishes:
        if x.get("action") != "fence":
            continue
        key = attempt_of(x)
        if key in attempts and attempts[key]["end"] is None:
            attempts[key]["end"] = wall(x, "end")
            attempts[key]["outcome"] = x.get("outcome")
    by_host = {}
    for a in attempts.values():
        by_host.setdefault(a["host"], []).append(a)
    for h, lst in by_host.items():
        lst.sort(key=lambda a: a["start"])
        v.count("fence_attempts", len(lst))
        for a, b in zip(lst, lst[1:]):
            # An attempt never finished ends when the next one starts (its term was lost);
            # one that finished after the next started was still running then.
            if a["end"] is not None and a["end"] > b["start"] and a["outcome"] != "cancelled":
                v.violate("one-fence-in-flight", f"two fences of {h} in flight: one started at "
                          f"{a['record']['time']} finished {a['outcome']} after another started at "
                          f"{b['record']['time']}", {"first": a["record"], "second": b["record"]})

    # A crash or power-off in the lab takes a moment (its processes are killed one by one,
    # logged "processes gone"): the node is dead from then on.
    deaths = {h: [recs[h]["gone"].get(t, t) for t, s, _ in recs[h]["power"] if s in ("off", "dead_on")] for h in hosts}
    # A corosync kill ends the node's quorum at the kill itself (the lab prints its time);
    # runs recorded before it did have only the fault's start, which is earlier.
    for f in faults:
        if f.get("kind") == "corosync_kill" and f.get("host"):
            deaths[f["host"]].append(f.get("killed_at", f["t0"]))

    # -- 3. Every power-off the BMC performed was asked by a recorded fence attempt (or by
    #       the chaos run itself). A fence whose records a later sync replaced counts too (its
    #       leader's side lost the merge: the node keeps them apart as superseded, out of the
    #       history read here): its executor's log shows it, and its node must have been in
    #       the primary component when it began (seed 9 --nova: a leader alone in the group,
    #       quorate with a peer's corosync, fenced a host and crashed before anyone heard).
    for h in hosts:
        lst = by_host.get(h, [])
        for t, state, line in recs[h]["power"]:
            if "power off via BMC" not in line:
                continue
            v.count("bmc_power_offs")
            if any(fh in (h, None) and lo <= t <= hi for fh, lo, hi in chaos_power):
                continue
            inside = [a for a in lst if fence_in_flight_at(a["start"], a["end"], t)]
            logged = [(eh, e) for eh in hosts for k, e in recs[eh].get("executed", {}).items()
                      if k[0] == f"fence:{h}" and "start" in e and fence_in_flight_at(e["start"], e.get("end"), t)]
            if not inside and logged and all(quorate_at(recs[eh]["quorum"], deaths[eh], e["start"]) for eh, e in logged):
                v.count("bmc_power_offs_by_a_superseded_fence")
                continue
            if not inside:
                v.violate("bmc-off-only-by-a-fence", f"{h}'s BMC powered it off at "
                          f"{datetime.fromtimestamp(t).isoformat()} with no fence of {h} in flight",
                          {"power_line": line})

    # -- 4. Nothing starts without quorum: each action's origin was in the primary component
    #       by its own Corosync log (and not dead).
    for x in starts:
        origin = host_of_origin(x.get("origin"))
        # Telling the operator is allowed without quorum (a minority says it lost quorum).
        if origin not in recs or x.get("action") == "notify":
            continue
        v.count("actions_started")
        if not quorate_at(recs[origin]["quorum"], deaths[origin], wall(x, "start")):
            v.violate("quorum-for-every-action", f"{origin} started {x.get('key')} at {x['time']} while its "
                      f"Corosync did not say it was in the primary component", {"record": x})

    # -- 5. A host that dies while a healthy majority of the others lives on is fenced (an
    #       attempt starts) within LOSS_TO_FENCE seconds, unless the history says why not
    #       (the flap or storm guard) or it was brought back before that.
    end = runinfo.get("ended") or float("inf")
    touched = disturbed_intervals(faults, recs, hosts, end)
    quorum = len(hosts) // 2 + 1
    excuses = {}
    for x in records:
        if x.get("kind") == "action_started" and x.get("action") == "notify":
            notice = (x["event"].get("action") or {}).get("notice") or {}
            if notice.get("kind") in ("flapping", "storm_halted"):
                excuses.setdefault(notice.get("host") or "*", []).append(x["at"])
    for f in faults:
        kind = f.get("kind")
        if kind not in ("crash", "crash_power_stays_on", "bmc_power_off", "leader_kill_mid_fence") \
                or f.get("skipped") or f.get("error"):
            continue
        h, t = f["host"], f["t0"]
        lo, hi = t, t + LOSS_TO_FENCE
        back = [a for a, b in touched[h] if a <= t + 0.5 and b < hi]   # revived within the window
        healthy = [n for n in hosts if n != h and not overlaps(touched[n], lo - 1, hi)]
        if back or len(healthy) < quorum:
            continue
        v.count("losses_expecting_a_fence")
        if any(a["start"] >= lo - 0.5 and a["start"] <= hi for a in by_host.get(h, [])):
            continue
        if any(lo - 3600 <= e <= hi for e in excuses.get(h, []) + excuses.get("*", [])):
            continue
        v.violate("lost-host-fenced", f"{h} died ({kind}) at {datetime.fromtimestamp(t).isoformat()} while "
                  f"{', '.join(healthy)} ran undisturbed, and no fence of {h} started within "
                  f"{LOSS_TO_FENCE} s", {"fault": f})

    #       And from the other side: once the leader recorded the loss (node_lost, with its
    #       Corosync primary) of a host that the BMC log says was really dead, a fence starts
    #       within NODE_LOST_TO_FENCE seconds unless the host came back first (given a second
    #       at least) or the history says why not.
    for x in applied:
        if x.get("kind") != "node_lost" or x.get("host") not in recs:
            continue
        h, t = x["host"], x["at"]
        origin = host_of_origin(x.get("origin"))
        if origin not in recs or not quorate_at(recs[origin]["quorum"], deaths[origin], t):
            continue
        state, _ = power_at(recs[h]["power"], t)
        if state not in ("off", "dead_on"):
            continue   # cut off, not dead: fencing it is right, but not for this check to demand
        later_on = [a for a, st, _ in recs[h]["power"] if st == "on" and a > t]
        until = min([t + NODE_LOST_TO_FENCE] + later_on)
        if until - t < 1.0:
            continue
        if power_at(recs[h]["power"], t)[0] == "off" and any(
                a["start"] < t and (a["end"] is None or a["end"] <= t) and a["outcome"] == "off"
                for a in by_host.get(h, [])) and not [y for y in applied if y.get("kind") == "node_joined"
                                                      and y.get("host") == h and y["at"] < t]:
            continue   # fenced and never back since: this loss is that fence taking effect
        v.count("dead_hosts_lost_expecting_a_fence")
        if any(t - 0.5 <= a["start"] <= until for a in by_host.get(h, [])):
            continue
        if any(t - 3600 <= e <= until for e in excuses.get(h, []) + excuses.get("*", [])):
            continue
        v.violate("lost-host-fenced", f"{origin} recorded at {x['time']} that {h} was lost, {h} was dead "
                  f"by its BMC log, and no fence of {h} started within {until - t:.1f} s",
                  {"node_lost": x})

    # Recoveries: from each recorded loss to the host confirmed off by its fence.
    v.recoveries = []
    for x in applied:
        if x.get("kind") in ("node_lost", "node_unseen") and x.get("host") in by_host:
            done = [a for a in by_host[x["host"]] if a["outcome"] == "off" and a["end"] is not None
                    and a["start"] >= x["at"] - 0.5]
            if done:
                v.recoveries.append(round(done[0]["end"] - x["at"], 3))

    # -- 6. After the final heal, every node converged to one state and one history.
    if not runinfo.get("converged_after_s") and runinfo.get("converged_after_s") != 0:
        v.violate("convergence", f"the nodes did not agree within {runinfo.get('converge_timeout_s')} s "
                  f"after the final heal", {})
    else:
        views = {h: json.dumps([r["status"]["epoch"], r["status"]["leader"], r["status"]["config_version"],
                                r["status"]["hosts"]], sort_keys=True) for h, r in recs.items() if r["status"]}
        if len(set(views.values())) != 1 or len(views) != len(hosts):
            v.violate("convergence", "the final states differ between nodes", {"views": views})
        hist = {}
        for h, r in recs.items():
            rs = r["history"].get("records")
            if rs is None:
                v.violate("convergence", f"{h}'s history could not be read", {"error": r["history"].get("error")})
                continue
            hist[h] = {(x["epoch"], x["kind"], x.get("key")) for x in rs
                       if x.get("epoch") is not None and x.get("result") == "applied"}
        if hist:
            union = set().union(*hist.values())
            for h, s in hist.items():
                missing = sorted(union - s)
                if missing:
                    v.violate("convergence", f"{h}'s history lacks {len(missing)} replicated records the "
                              f"others have", {"first_missing": missing[:5]})
    return v


def check(d):
    sched, hosts, faults, runinfo, recs = load_run(d)
    v = check_records(sched, hosts, faults, runinfo, recs)
    nova = load_nova(d)
    if nova is not None:
        check_nova(nova, hosts, recs, runinfo, all_records(recs), v, faults)
    by_kind = {}
    for f in faults:
        if not f.get("skipped") and not f.get("error"):
            by_kind[f["kind"]] = by_kind.get(f["kind"], 0) + 1
    summary = {"seed": sched["seed"], "steps": sched["steps"], "hosts": sched["hosts"],
               "faults_by_kind": by_kind, "skipped": sum(1 for f in faults if f.get("skipped")),
               "errors": sum(1 for f in faults if f.get("error")),
               "converged_after_s": runinfo.get("converged_after_s"),
               "nova_settled_after_s": runinfo.get("nova_settled_after_s"),
               "counts": v.counts, "recoveries_s": v.recoveries,
               "violations": v.violations, "clean": not v.violations}
    Path(d, "verdict.json").write_text(json.dumps(summary, indent=1))
    print(f"chaos: seed {sched['seed']}: faults {json.dumps(by_kind, sort_keys=True)}")
    print(f"chaos: seed {sched['seed']}: checked {json.dumps(v.counts, sort_keys=True)}; "
          f"converged after {runinfo.get('converged_after_s')} s")
    if v.violations:
        first = v.violations[0]
        print(f"chaos: seed {sched['seed']}: VIOLATED {first['invariant']}: {first['message']}")
        print(json.dumps(first["evidence"], indent=1)[:4000])
        if len(v.violations) > 1:
            print(f"chaos: ({len(v.violations) - 1} more in {Path(d, 'verdict.json')})")
        return 1
    print(f"chaos: seed {sched['seed']}: clean")
    return 0


def main(argv):
    if argv and argv[0] == "check":
        if len(argv) != 2:
            print("usage: lab chaos check DIR", file=sys.stderr)
            return 2
        if not Path(argv[1], "schedule.json").is_file():
            print(f"lab chaos check: no chaos run in {argv[1]} (no schedule.json)", file=sys.stderr)
            return 2
        return check(argv[1])
    ap = argparse.ArgumentParser(prog="lab chaos", description="Random faults against the lab, then a checker.")
    ap.add_argument("mode", nargs="?", default="run", choices=["run", "schedule"])
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--hosts", type=int, default=3)
    ap.add_argument("--lifeboatd", default=os.environ.get("LAB_LIFEBOATD", str(REPO / ".build/debug/lifeboatd")))
    ap.add_argument("--out", default=None, help="where the records go (default .build/chaos/seed-S)")
    ap.add_argument("--converge-timeout", type=float, default=180)
    ap.add_argument("--keep", action="store_true", help="leave the lab up afterwards")
    ap.add_argument("--with", dest="with_", default="", metavar="KIND[,KIND]",
                    help=f"also draw these faults: {', '.join(sorted(OPTIONAL_FAULTS))}")
    ap.add_argument("--nova", action="store_true",
                    help=f"with the lab cloud (a fault proxy in front of nova-api), {NOVA_SERVERS_PER_HOST} HA servers "
                         f"per host, Nova's faults drawn too, and Nova's records checked")
    ap.add_argument("--nova-compute-resource", action="store_true",
                    help="with --nova: every host's nova-compute as a resource (ocf:lifeboat:nova-compute), as an "
                         "operator would configure it: restarted in place when it fails, and before a host that Nova "
                         "refuses (finished evacuation records) is re-admitted")
    args = ap.parse_args(argv)
    if args.nova_compute_resource and not args.nova:
        ap.error("--nova-compute-resource needs --nova (a lab cloud)")
    args.extra = [k for k in args.with_.split(",") if k]
    unknown = [k for k in args.extra if k not in OPTIONAL_FAULTS]
    if unknown:
        ap.error(f"--with: unknown fault {', '.join(unknown)} (optional faults: {', '.join(sorted(OPTIONAL_FAULTS))})")
    if any(k in NOVA_FAULTS for k in args.extra) and not args.nova:
        ap.error("--with: Nova's faults need --nova (a lab cloud with the fault proxy)")
    if args.nova:
        args.extra += [k for k in NOVA_FAULTS if k not in args.extra]
    if not 3 <= args.hosts <= 9:
        ap.error("--hosts must be 3..9")
    if args.steps < 1:
        ap.error("--steps must be at least 1")
    if args.mode == "schedule":
        print(json.dumps(make_schedule(args.seed, args.steps, args.hosts, args.extra), indent=1))
        return 0
    if os.geteuid() != 0:
        ap.error("the lab needs root")
    if not Path(args.lifeboatd).exists():
        ap.error(f"no lifeboatd at {args.lifeboatd} (build it, or pass --lifeboatd)")
    args.out = args.out or str(REPO / ".build" / "chaos" / f"seed-{args.seed}")
    try:
        return run(args)
    except RunFailed as e:
        print(f"chaos: the run failed (not a verdict): {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
