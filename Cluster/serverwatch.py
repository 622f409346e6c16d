"""Nova's server list, polled for a benchmark or the demo: every poll kept with its time,
the latest at hand. Two sources with one interface: `ServerWatch` asks Nova's API from the
lab's bridge namespace (where the controller lives) through one `labstack.py vms watch`
process with one token; `NovaDBWatch` reads Nova's cell database."""
import json
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

LABSTACK = Path(__file__).resolve().parent / "openstack" / "labstack.py"


class _Polls:
    """The polls seen so far, filled by a source's thread."""

    def __init__(self):
        self.latest = None
        self.polls = []          # [(t, servers)]
        self.error = None
        self.cond = threading.Condition()

    def _add(self, t, servers):
        with self.cond:
            self.latest = servers
            self.polls.append((t, servers))
            self.cond.notify_all()

    def _failed(self, error):
        with self.cond:
            self.error = error
            self.cond.notify_all()

    def _alive(self):
        return True

    def wait_until(self, pred, timeout):
        """Blocks until pred(servers) is true for a poll; returns that poll's time (None on
        timeout, or when the source has ended)."""
        end = time.time() + timeout
        seen = 0
        with self.cond:
            while True:
                for t, servers in self.polls[seen:]:
                    if pred(servers):
                        return t
                seen = len(self.polls)
                left = end - time.time()
                if left <= 0 or not self._alive():
                    return None
                self.cond.wait(left)


class ServerWatch(_Polls):
    def __init__(self, interval=0.2):
        super().__init__()
        self.proc = subprocess.Popen([sys.executable, str(LABSTACK), "vms", "watch", "--interval", str(interval)],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                poll = json.loads(line)
            except ValueError:
                continue
            if "servers" in poll:
                self._add(poll["t"], poll["servers"])
            else:
                self._failed(poll.get("error"))

    def _alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class NovaDBWatch(_Polls):
    """Read straight from the lab Nova's cell database (SQLite, the lab's default) every
    0.1 s: no load on nova-api, whose single worker also takes the evacuation requests a
    benchmark is timing. A server is ACTIVE as Nova's API says it: vm_state active with no
    task in progress."""

    def __init__(self, path, interval=0.1):
        super().__init__()
        self.path, self.interval = str(path), interval
        self.stopped = False
        threading.Thread(target=self._poll, daemon=True).start()

    def _poll(self):
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=1)
        while not self.stopped:
            t = time.time()
            try:
                rows = db.execute("SELECT uuid, host, vm_state, task_state FROM instances WHERE deleted = 0").fetchall()
            except sqlite3.Error as e:
                self._failed(str(e))
            else:
                self._add(t, [{"id": u, "host": h,
                               "status": "ACTIVE" if v == "active" and ts is None else (ts or v or "").upper()}
                              for u, h, v, ts in rows])
            time.sleep(max(0.0, self.interval - (time.time() - t)))
        db.close()

    def stop(self):
        self.stopped = True
