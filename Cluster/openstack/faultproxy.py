#!/usr/bin/env python3
"""A fault proxy in front of the lab's nova-api (`lab up --nova --nova-proxy`): every
request to Nova's catalog address goes through it, and `lab nova-fault` makes it fail the
way a sick Nova does. Used by `lab chaos --nova` and by tests.

    faultproxy.py LISTEN_HOST:PORT UPSTREAM_HOST:PORT CONTROL_FILE LOG_FILE

The control file (JSON, read again whenever it changes) says what to do with a request:

    {"mode": "pass"}                         forward it (the default, and when the file is absent)
    {"mode": "error", "status": 503}         answer it with that 5xx status, Nova never sees it
    {"mode": "hang"}                         never answer and never forward it
    {"mode": "lost_reply"}                   forward it, let Nova do it, never answer (the reply
                                             is lost on the way back: the case a client's retry
                                             must survive)
    {"mode": "slow", "delay": 2}             hold it that many seconds, then forward it and answer
                                             (a request on its way: sent, not yet seen by Nova),
                                             whether or not its client is still there
    "rate": 0.5                              only that share of the matching requests (default 1)
    "match": "^(POST|PUT) "                  only requests whose "METHOD PATH" matches (default all)

A request held by `hang` or `lost_reply` is held until its client gives up or the mode
changes; then its connection is closed without an answer. Each request gets a connection
of its own upstream (Connection: close), so that every request is decided alone.

The log has one JSON line per request: when it came and ended (Unix time), the method and
path, the action's name for `POST .../action` (e.g. "evacuate"), what the proxy did
("pass", "error", "hang", "lost_reply", "slow") and the status Nova or the proxy answered;
"reply" says when that answer could not be delivered (its client was gone).
Beside it, arrivals.jsonl has a line for each request as it comes (when, method, path,
action): a test sees there that a request is on its way before the proxy lets it through.
"""
import asyncio
import json
import os
import random
import re
import sys
import time

HEAD_LIMIT = 65536
BODY_LIMIT = 16 * 1024 * 1024


class Control:
    """The control file, read again when its modification time changes."""

    def __init__(self, path):
        self.path = path
        self.mtime = None
        self.conf = {"mode": "pass"}
        self.rng = random.Random(0)
        self.changed = asyncio.Event()

    def current(self):
        try:
            m = os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            m = None
        if m != self.mtime:
            self.mtime = m
            old = self.conf
            try:
                self.conf = json.load(open(self.path)) if m is not None else {"mode": "pass"}
            except (OSError, ValueError) as e:
                print(f"faultproxy: cannot read {self.path} ({e}); passing every request", file=sys.stderr, flush=True)
                self.conf = {"mode": "pass"}
            if self.conf != old:
                self.changed.set()
                self.changed = asyncio.Event()
        return self.conf

    def decide(self, line):
        c = self.current()
        mode = c.get("mode", "pass")
        if mode == "pass":
            return "pass", c
        if c.get("match") and not re.search(c["match"], line):
            return "pass", c
        if self.rng.random() >= float(c.get("rate", 1.0)):
            return "pass", c
        return mode, c


async def read_request(reader, writer):
    """(head bytes, body bytes) of one HTTP/1.1 request, or None at EOF. A client that waits
    for "100 Continue" before its body (curl does above 1 KB) gets it at once."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    except asyncio.LimitOverrunError:
        raise ValueError("request head too large")
    if re.search(rb"\r\nexpect:\s*100-continue", head, re.I):
        head = re.sub(rb"\r\nexpect:[^\r]*", b"", head, flags=re.I)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await writer.drain()
    m = re.search(rb"\r\ncontent-length:\s*(\d+)", head, re.I)
    if re.search(rb"\r\ntransfer-encoding:\s*chunked", head, re.I):
        body = b""
        while True:   # chunks until the last (size 0) and its trailer
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip(), 16)
            body += size_line
            if size == 0:
                body += await reader.readuntil(b"\r\n")
                break
            body += await reader.readexactly(size + 2)
            if len(body) > BODY_LIMIT:
                raise ValueError("request body too large")
        return head, body
    n = int(m.group(1)) if m else 0
    if n > BODY_LIMIT:
        raise ValueError("request body too large")
    return head, await reader.readexactly(n) if n else b""


def with_connection_close(head):
    lines = head.split(b"\r\n")
    kept = [l for l in lines[1:] if l and not l.lower().startswith(b"connection:")]
    return b"\r\n".join([lines[0], *kept, b"Connection: close", b"", b""])


def action_name(path, body):
    if not path.endswith("/action") or not body:
        return None
    try:
        doc = json.loads(body)
        return next(iter(doc)) if isinstance(doc, dict) and doc else None
    except ValueError:
        return None


class Proxy:
    def __init__(self, upstream, control, log):
        self.upstream = upstream
        self.control = control
        self.log = open(log, "a", buffering=1)
        self.arrivals = open(os.path.join(os.path.dirname(log), "arrivals.jsonl"), "a", buffering=1)

    def record(self, entry):
        self.log.write(json.dumps(entry) + "\n")

    async def hold(self, reader, changed):
        """Hold a connection until its client gives up or the mode changes."""
        gone = asyncio.ensure_future(reader.read())
        change = asyncio.ensure_future(changed.wait())
        await asyncio.wait([gone, change], return_when=asyncio.FIRST_COMPLETED)
        for f in (gone, change):
            f.cancel()
        return "client gave up" if gone.done() and not gone.cancelled() else "mode changed"

    async def serve(self, reader, writer):
        try:
            req = await read_request(reader, writer)
            if req is None:
                return
            head, body = req
            t0 = time.time()
            first = head.split(b"\r\n", 1)[0].decode("latin-1")
            parts = first.split(" ")
            method, path = (parts[0], parts[1]) if len(parts) >= 2 else ("?", first)
            what, conf = self.control.decide(f"{method} {path}")
            changed = self.control.changed   # after decide(), which may have seen the change that chose `what`
            entry = {"t": round(t0, 3), "method": method, "path": path.split("?")[0], "did": what}
            name = action_name(path.split("?")[0], body)
            if name:
                entry["action"] = name
            self.arrivals.write(json.dumps(entry) + "\n")
            if what == "error":
                status = int(conf.get("status", 503))
                text = json.dumps({"error": f"injected by the lab's fault proxy ({status})"}).encode()
                writer.write(f"HTTP/1.1 {status} Injected Fault\r\nContent-Type: application/json\r\n"
                             f"Content-Length: {len(text)}\r\nConnection: close\r\n\r\n".encode() + text)
                await writer.drain()
                entry["status"] = status
            elif what == "hang":
                entry["held"] = await self.hold(reader, changed)
            else:
                if what == "slow":
                    await asyncio.sleep(float(conf.get("delay", 2)))
                ur, uw = await asyncio.open_connection(*self.upstream)
                uw.write(with_connection_close(head) + body)
                await uw.drain()
                response = await ur.read()   # the upstream closes after its answer
                uw.close()
                status = response.split(b" ", 2)[1:2]
                entry["status"] = int(status[0]) if status and status[0].isdigit() else None
                if what == "lost_reply":
                    entry["held"] = await self.hold(reader, changed)
                else:
                    try:
                        writer.write(response)
                        await writer.drain()
                    except OSError as e:
                        # Nova did it; only the answer is lost (its client died meanwhile,
                        # e.g. a leader killed while a `slow` request was held): the
                        # request is still one Nova saw, and the log must say so.
                        entry["reply"] = f"not delivered ({type(e).__name__}: {e})"
            entry["end"] = round(time.time(), 3)
            self.record(entry)
        except (ValueError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as e:
            self.record({"t": round(time.time(), 3), "error": f"{type(e).__name__}: {e}"})
        finally:
            try:
                writer.close()
            except OSError:
                pass


async def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    lh, lp = argv[0].rsplit(":", 1)
    uh, up = argv[1].rsplit(":", 1)
    control = Control(argv[2])
    proxy = Proxy((uh, int(up)), control, argv[3])
    server = await asyncio.start_server(proxy.serve, lh, int(lp), limit=HEAD_LIMIT, reuse_address=True)
    print(f"faultproxy: {argv[0]} -> {argv[1]}, control {argv[2]}", flush=True)

    async def watch():   # a mode change releases held connections even with no new request
        while True:
            control.current()
            await asyncio.sleep(0.2)
    asyncio.ensure_future(watch())
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
