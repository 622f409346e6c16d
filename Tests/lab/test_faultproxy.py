"""The lab's Nova fault proxy (Cluster/openstack/faultproxy.py) against a small local HTTP
server standing in for nova-api: what it forwards, and what its log says, must match what
the upstream saw, also when the client is gone before the answer comes back (a leader
killed while its `slow` evacuation request is held: CI once missed that request in
requests.jsonl, so a test counting the requests Nova saw counted one too few).

Run:  python3 -m pytest -v Tests/lab/test_faultproxy.py   (no root needed)
"""
import json
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from labkit import poll

REPO = Path(__file__).resolve().parents[2]
PROXY = REPO / "Cluster/openstack/faultproxy.py"


class Upstream(BaseHTTPRequestHandler):
    seen = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Upstream.seen.append((self.path, json.loads(body)))
        reply = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def proxy(tmp_path):
    Upstream.seen = []
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    port = free_port()
    control, log = tmp_path / "control.json", tmp_path / "requests.jsonl"
    p = subprocess.Popen([sys.executable, str(PROXY), f"127.0.0.1:{port}",
                          f"127.0.0.1:{upstream.server_address[1]}", str(control), str(log)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert "faultproxy:" in p.stdout.readline()
        yield port, control, log
    finally:
        p.kill()
        p.wait()
        upstream.shutdown()


def post(port, path, doc):
    body = json.dumps(doc).encode()
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(f"POST {path} HTTP/1.1\r\nHost: nova\r\nContent-Type: application/json\r\n"
              f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    return s


def records(log):
    return [json.loads(l) for l in log.read_text().splitlines()] if log.exists() else []


def test_a_passed_request_is_forwarded_answered_and_logged_with_its_action(proxy):
    port, _, log = proxy
    s = post(port, "/v2.1/servers/a/action", {"evacuate": {}})
    answer = s.makefile("rb").read().decode()
    s.close()
    assert answer.startswith("HTTP/1.0 200") or answer.startswith("HTTP/1.1 200"), answer
    assert Upstream.seen == [("/v2.1/servers/a/action", {"evacuate": {}})]
    [r], _ = poll(lambda: records(log), 10, "the request's log line")
    assert (r["did"], r["action"], r["status"], r["path"]) == ("pass", "evacuate", 200, "/v2.1/servers/a/action")
    assert "reply" not in r


def test_a_held_request_whose_client_left_reaches_the_upstream_and_is_logged_as_seen(proxy):
    """The client sends and dies while the proxy holds its request; the proxy still delivers
    it (a request on its way is not recalled by its sender's death), and its log line says
    what the upstream answered and that the answer found nobody."""
    port, control, log = proxy
    control.write_text(json.dumps({"mode": "slow", "delay": 1, "match": r"^POST "}))
    time.sleep(0.05)
    s = post(port, "/v2.1/servers/b/action", {"evacuate": {"host": None}})
    poll(lambda: (log.parent / "arrivals.jsonl").exists() and (log.parent / "arrivals.jsonl").read_text(), 10, "the request's arrival")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")   # RST on close
    s.close()
    [r], _ = poll(lambda: records(log), 10, "the request's log line")
    assert Upstream.seen == [("/v2.1/servers/b/action", {"evacuate": {"host": None}})]
    assert (r["did"], r["action"], r["status"], r["path"]) == ("slow", "evacuate", 200, "/v2.1/servers/b/action"), r
    assert r["end"] - r["t"] >= 1.0, r
    assert r["reply"].startswith("not delivered"), r


def test_an_unreadable_control_file_passes_requests(proxy):
    port, control, log = proxy
    control.write_text("{not json")
    s = post(port, "/v2.1/servers/c/action", {"evacuate": {}})
    s.makefile("rb").read()
    s.close()
    [r], _ = poll(lambda: records(log), 10, "the request's log line")
    assert (r["did"], r["status"]) == ("pass", 200)
    assert Upstream.seen == [("/v2.1/servers/c/action", {"evacuate": {}})]
