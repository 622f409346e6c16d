#!/usr/bin/env python3
"""`lab demo`: a failover a newcomer can watch.

Brings up the lab with the real cloud (3 hosts: Corosync, lifeboatd, nova-compute and an
IPMI BMC each; Keystone, placement and Nova on a controller), boots HA servers on the
leader, crashes it with its BMC still saying "on", and redraws one screen while the
survivors elect a new leader, fence the host through its BMC, force it down and disable
it in Nova, and evacuate its servers. Then the incident's history, then the lab goes down.

    Cluster/lab demo [--lifeboatd PATH] [--servers N] [--keep]          (root)
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from labrecords import iso, loss_seen  # noqa: E402

LAB = str(Path(__file__).resolve().parent / "lab")
LAB_DIR = Path(os.environ.get("LAB_DIR", "/run/lifeboat-lab"))
TTY = sys.stdout.isatty()
BOLD, DIM, RED, GREEN, YELLOW, RESET = (("\x1b[1m", "\x1b[2m", "\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[0m")
                                         if TTY else ("",) * 6)


class DemoFailed(Exception):
    pass


def run(*args, check=True, timeout=300):
    p = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise DemoFailed(f"{' '.join(args)} failed:\n{p.stdout}{p.stderr}")
    return p


def lab(*args, **kw):
    return run(LAB, *args, **kw)


def step(text):
    print(f"\n{BOLD}== {text}{RESET}", flush=True)


def wait(pred, timeout, what, interval=0.3):
    end = time.time() + timeout
    while time.time() < end:
        try:
            v = pred()
        except (DemoFailed, ValueError, KeyError):
            v = None
        if v:
            return v
        time.sleep(interval)
    raise DemoFailed(f"timed out after {timeout} s waiting for {what}")


class Demo:
    def __init__(self, lifeboatd, servers):
        self.lifeboatd = lifeboatd
        self.cli = str(Path(lifeboatd).parent / "lifeboat")
        self.n = servers
        from serverwatch import ServerWatch
        self.ServerWatch = ServerWatch
        self.watcher = None

    def status(self, host):
        p = lab("exec", host, self.cli, "status", "--format", "json", check=False, timeout=20)
        return json.loads(p.stdout) if p.returncode == 0 and p.stdout.strip() else None

    def servers(self):
        """Nova's server list as last polled (every 0.3 s, from the controller's namespace)."""
        if self.watcher is None:
            self.watcher = self.ServerWatch(0.3)
            self.watcher.wait_until(lambda s: True, 30)
        return self.watcher.latest or []

    # -- the story --------------------------------------------------------------

    def up(self):
        step("The lab: 3 compute hosts and an OpenStack controller, all on this machine")
        print("Each host is a network namespace running Corosync, lifeboatd and nova-compute, with an\n"
              "IPMI 2.0 BMC (ipmi_sim) that really stops its processes when it powers the host off.\n"
              "Bringing it up takes one or two minutes...", flush=True)
        lab("down", check=False)
        t = time.time()
        lab("up", "--hosts", "3", "--nova", "--lifeboatd", self.lifeboatd, timeout=900)
        print(f"up in {time.time() - t:.0f} s.")
        wait(lambda: (s := self.status("host1")) and s["synced"] and len(s["members"]) == 3, 60, "3 members")
        c = lab("cluster-config", "--nova").stdout
        (LAB_DIR / "demo-cluster.json").write_text(c)
        lab("exec", "host1", self.cli, "config", "apply", str(LAB_DIR / "demo-cluster.json"))
        self.leader = wait(lambda: self.status("host1")["leader"], 30, "a leader")
        print(f"The hosts form one Corosync cluster; lifeboatd elected {BOLD}{self.leader}{RESET} leader. "
              "Every BMC is a fence device.")

    def boot(self):
        step(f"Boot {self.n} HA servers (metadata HA_Enabled=True) and 1 other on the leader, {self.leader}")
        out = lab("vms", "boot", self.leader, str(self.n), "--ha", timeout=300).stdout
        self.ha = [l for l in out.split() if len(l) == 36]
        lab("vms", "boot", self.leader, "1", timeout=300)
        known = lambda: len([i for i in json.loads(lab("exec", "host1", self.cli, "config", "show").stdout)
                             ["cluster"]["instances"] if i["id"] in self.ha]) == self.n
        wait(known, 60, "the servers in Lifeboat's inventory", 0.5)
        for s in self.servers():
            print(f"  {s['name']:28} on {s['host']}  {s['status']:7} {'HA' if s['ha'] else 'not HA: stays where it is'}")

    def crash(self):
        self.victim = self.leader
        self.survivors = [h for h in ("host1", "host2", "host3") if h != self.victim]
        step(f"Crash the leader {self.victim}: every process killed, its BMC still says \"on\"")
        print("Nothing tells Lifeboat: Corosync notices the silence, the survivors elect a new leader,\n"
              "which must power the host off through its BMC before anything moves.", flush=True)
        time.sleep(3 if TTY else 0)
        lab("console", self.victim, f"Kernel panic - not syncing: demo crash of {self.victim}")
        self.t0 = time.time()
        lab("crash", "--power-stays-on", self.victim)

    def watch(self, timeout=180):
        seen = {}
        last = None
        end = self.t0 + timeout
        while time.time() < end:
            st = None
            for h in self.survivors:
                st = self.status(h)
                if st:
                    break
            servers = self.servers()
            now = time.time() - self.t0
            frame, done = self.frame(st, servers, now, seen)
            if TTY:
                sys.stdout.write("\x1b[H\x1b[J" + frame)
                sys.stdout.flush()
            elif frame != last:
                print(frame, flush=True)
            last = frame
            if done:
                return
            time.sleep(0.3)
        raise DemoFailed(f"the failover did not finish within {timeout} s")

    def frame(self, st, servers, now, seen):
        v = self.victim
        hosts = {h["name"]: h for h in (st or {}).get("hosts", [])}
        vh = hosts.get(v, {})
        ha = [s for s in servers if s["id"] in self.ha]
        moved = [s for s in ha if s["host"] != v and s["status"] == "ACTIVE"]
        leader = (st or {}).get("leader")

        def mark(key, cond):
            if cond and key not in seen:
                seen[key] = now
            return seen.get(key)
        marks = [
            ("Corosync: the survivors saw it leave", mark("lost", v not in (st or {}).get("members", [v]))),
            (f"new leader elected: {leader}", mark("leader", leader not in (None, v))),
            ("fenced: power off confirmed by its BMC", mark("fenced", vh.get("fenced") is True)),
            ("nova-compute forced down, disabled", mark("service", vh.get("service") == "forced_down")),
            (f"{len(ha)} HA servers ACTIVE on other hosts", mark("active", len(moved) == len(ha))),
        ]
        out = [f"{BOLD}Lifeboat failover: {v} crashed {now:5.1f} s ago{RESET}   (its BMC still said \"on\")", ""]
        if st:
            out.append(f"Cluster, seen from {st['node']}: {'quorate' if st['quorate'] else RED + 'NOT quorate' + RESET}"
                       f", leader {leader}, members {' '.join(st['members'])}")
            for name in sorted(hosts):
                h = hosts[name]
                state = (GREEN + "member" + RESET) if h["member"] else (RED + "lost" + RESET)
                fenced = (RED + "  FENCED (off)" + RESET) if h["fenced"] else ""
                out.append(f"  {name}  {state:16} nova-compute {h['service']:12}{fenced}")
        else:
            out.append("Cluster: (asking the survivors...)")
        out.append("")
        out.append(f"{BOLD}Stages{RESET}                                          after the crash")
        for label, t in marks:
            when = f"{t:6.1f} s" if t is not None else DIM + "   ...  " + RESET
            tick = GREEN + "✓" + RESET if t is not None else " "
            out.append(f"  {tick} {label:44} {when}")
        out.append("")
        bar_w = 30
        filled = int(bar_w * len(moved) / max(len(ha), 1))
        out.append(f"{BOLD}Evacuation{RESET}  {len(moved)} of {len(ha)} HA servers ACTIVE elsewhere  "
                   f"[{'#' * filled}{'.' * (bar_w - filled)}]")
        for s in sorted(servers, key=lambda s: s["name"]):
            where = s["host"] or "-"
            tag = "HA" if s["ha"] else "not HA"
            color = GREEN if s["ha"] and s["host"] != v and s["status"] == "ACTIVE" else (DIM if not s["ha"] else YELLOW)
            out.append(f"  {color}{s['name']:28} {where:6} {s['status']:9} {tag}{RESET}")
        out.append("")
        done = all(t is not None for _, t in marks)
        self.marks = marks
        return "\n".join(out) + "\n", done

    def history(self):
        step(f"What happened, from Lifeboat's durable history (lifeboat history --host {self.victim})")
        survivor = self.survivors[0]
        print(lab("exec", survivor, self.cli, "history", "--host", self.victim, "--limit", "14").stdout)
        step(f"{self.victim}'s serial console, captured from its BMC (Serial over LAN) when it was fenced")
        p = lab("exec", survivor, self.cli, "history", "--host", self.victim, "--console", check=False)
        print(p.stdout.strip() or "(not captured yet)")

    def power_on(self):
        step(f"Power {self.victim} on again through its BMC: it rejoins, syncs, and is re-enabled in Nova")
        lab("power", self.victim, "on")
        t = time.time()

        def back():
            st = self.status(self.victim)
            h = {x["name"]: x for x in (st or {}).get("hosts", [])}.get(self.victim)
            return st and st["synced"] and len(st["members"]) == 3 and h and h["service"] == "up" and not h["fenced"]
        wait(back, 90, f"{self.victim} back in the cluster and in Nova", 0.5)
        print(f"{self.victim} is a member again and its nova-compute is enabled, {time.time() - t:.0f} s after power-on.")

    def record_times(self):
        """The stages to the millisecond, from the records rather than the screen's polls:
        Corosync's own log (the loss), Lifeboat's durable history (each step's end), Nova's
        server list (the last server ACTIVE elsewhere)."""
        hist = json.loads(lab("exec", self.survivors[0], self.cli, "history", "--format", "json", "--host",
                              self.victim, "--limit", "1000").stdout)["actions"]
        done = lambda kind: min((iso(a["finished"]) for a in hist if a["kind"] == kind and a.get("finished")
                                 and a.get("outcome") in ("off", "ok") and iso(a["started"]) > self.t0 - 1), default=None)
        out = [("Corosync: the survivors saw it leave", loss_seen(LAB_DIR, self.victim, self.survivors, self.t0)),
               ("fenced: power off confirmed by its BMC", done("fence")),
               ("nova-compute forced down", done("force_down")),
               ("nova-compute disabled in the scheduler", done("disable_service"))]
        active = self.watcher.wait_until(lambda servers: all(
            s["host"] != self.victim and s["status"] == "ACTIVE" for s in servers if s["id"] in self.ha), 1)
        out.append((f"all {self.n} HA servers ACTIVE on other hosts (Nova)", active))
        return out

    def summary(self):
        step("In short (from Corosync's log, Lifeboat's history and Nova)")
        for label, t in self.times:
            print(f"  {label:50} " + ("   -" if t is None else f"{t - self.t0:6.2f} s after the crash"))
        print("\nThe same crash handled by stock Pacemaker (fence_ipmilan, fence_compute, fence_evacuate)\n"
              "and by Masakari, side by side on this lab: Benchmarks/failover, Docs/BENCHMARKS.md.")


def main(argv):
    ap = argparse.ArgumentParser(prog="lab demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    repo = Path(__file__).resolve().parents[1]
    default = next((str(p) for p in (repo / ".build/release/lifeboatd", repo / ".build/debug/lifeboatd") if p.exists()),
                   str(repo / ".build/debug/lifeboatd"))
    ap.add_argument("--lifeboatd", default=default, help=f"the lifeboatd binary (default: {default})")
    ap.add_argument("--servers", type=int, default=6, help="HA servers on the host that crashes (default 6)")
    ap.add_argument("--keep", action="store_true", help="leave the lab running at the end")
    args = ap.parse_args(argv)
    if not Path(args.lifeboatd).is_file() or not os.access(args.lifeboatd, os.X_OK):
        ap.exit(2, f"lab demo: no lifeboatd at {args.lifeboatd} (build it: swift build)\n")
    if not (Path(args.lifeboatd).parent / "lifeboat").exists():
        ap.exit(2, f"lab demo: no lifeboat CLI beside {args.lifeboatd}\n")
    if not 1 <= args.servers <= 30:
        ap.exit(2, "lab demo: --servers must be 1..30\n")
    if os.geteuid() != 0:
        ap.exit(2, "lab demo: run as root (the lab needs network namespaces)\n")
    demo = Demo(args.lifeboatd, args.servers)
    try:
        demo.up()
        demo.boot()
        demo.crash()
        demo.watch()
        demo.times = demo.record_times()
        demo.history()
        demo.power_on()
        demo.summary()
    except DemoFailed as e:
        print(f"\n{RED}demo failed:{RESET} {e}", file=sys.stderr)
        return 1
    finally:
        if demo.watcher:
            demo.watcher.stop()
        if args.keep:
            print("\nThe lab stays up (--keep): Cluster/lab status; Cluster/lab down when done.")
        else:
            step("Done: the lab goes down (Cluster/lab down)")
            lab("down", check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
