"""Issue 12 without a cluster: the manual, history files read directly, the SLA report
(text, JSON, and HTML rendered by headless Chromium and looked at pixel by pixel), and the
install layout with its systemd unit checked by systemd-analyze."""
import json
import os
import pathlib
import shutil
import struct
import subprocess
import zlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("LIFEBOAT_BIN", str(ROOT / ".build/debug/lifeboat"))


def lifeboat(*args, stdin=None):
    return subprocess.run([BIN, *args], input=stdin, capture_output=True, text=True, timeout=120)


# A day of a small cluster: h1 crashes at 01:00 (its two HA instances run elsewhere 2 s
# later, after fence 0.5 s and Nova's steps), vm3 crashes at 03:00 and is restarted, h4's
# fence fails at 05:00 until an operator confirms it off at 05:10.
DAY = {
    "description": "a day of incidents for the report",
    "cluster": {
        "segments": [{"name": "rack-a", "recovery_method": "auto"}],
        "hosts": [{"name": f"h{n}", "segment": "rack-a", "capacity": {"vcpus": 16, "ram_mb": 32768, "disk_gb": 400}} for n in range(1, 5)],
        "instances": [
            {"id": "vm1", "host": "h1", "ha": True, "flavor": {"vcpus": 2, "ram_mb": 2048, "disk_gb": 20}},
            {"id": "vm2", "host": "h1", "ha": True, "flavor": {"vcpus": 2, "ram_mb": 2048, "disk_gb": 20}},
            {"id": "vm3", "host": "h2", "ha": True, "flavor": {"vcpus": 2, "ram_mb": 2048, "disk_gb": 20}},
            {"id": "vm4", "host": "h4", "ha": True, "flavor": {"vcpus": 2, "ram_mb": 2048, "disk_gb": 20}},
        ],
        "policy": {"fence_retry_interval": 0},
    },
    "faults": {"fence": {"h4": "fail"}},
    "durations": {"fence": 0.5, "force_down": 0.3, "disable_service": 0.3, "evacuate": 1.2, "restart_instance": 4},
    "events": [
        {"at": 3600, "kind": "node_lost", "host": "h1"},
        {"at": 10800, "kind": "instance_failed", "instance": "vm3"},
        {"at": 18000, "kind": "node_lost", "host": "h4"},
        {"at": 18600, "kind": "fence_confirmed_by_operator", "host": "h4"},
    ],
}


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    d = tmp_path_factory.mktemp("history")
    scenario = d / "day.json"
    scenario.write_text(json.dumps(DAY))
    db = d / "history.sqlite"
    r = lifeboat("simulate", str(scenario), "--history", str(db))
    assert r.returncode == 0, r.stderr
    again = lifeboat("simulate", str(scenario), "--history", str(db))
    assert again.returncode == 2 and "exists" in again.stderr
    return db


def test_the_manual_lists_every_command_and_pages_one():
    whole = lifeboat("help")
    assert whole.returncode == 0
    for words in ("NAME", "SYNOPSIS", "COMMANDS", "FILES", "EXIT STATUS", "EXAMPLES", "maintenance", "ha policy add", "incident show", "report"):
        assert words in whole.stdout, words
    page = lifeboat("help", "maintenance")
    assert page.returncode == 0 and "lifeboat maintenance - " in page.stdout and "--drain" in page.stdout and "DESCRIPTION" in page.stdout
    bad = lifeboat("help", "nonsense")
    assert bad.returncode == 2 and "no command 'nonsense'" in bad.stderr
    roff = lifeboat("help", "--man")
    assert roff.stdout.startswith(".TH LIFEBOAT 8") and ".SH COMMANDS" in roff.stdout
    if shutil.which("man"):
        p = subprocess.run(["man", "-l", "-"], input=roff.stdout, capture_output=True, text=True, timeout=60)
        assert p.returncode == 0 and "lifeboat ha explain" in p.stdout


def test_history_and_incidents_read_from_a_file(history):
    h = lifeboat("history", "--database", str(history), "--limit", "1000", "--format", "json")
    assert h.returncode == 0, h.stderr
    records = json.loads(h.stdout)["records"]
    assert records and all("text" in r and "node" in r for r in records)
    inc = json.loads(lifeboat("incident", "list", "--database", str(history), "--format", "json").stdout)["incidents"]
    assert [i["kind"] for i in inc] == ["host_lost", "vm_failed", "host_lost"], inc
    shown = json.loads(lifeboat("incident", "show", "1", "--database", str(history), "--format", "json").stdout)
    kinds = [s["kind"] for s in shown["stages"]]
    assert kinds[0] == "detected" and "fence" in kinds and kinds.count("evacuate") == 2, kinds
    vm4 = lifeboat("history", "--database", str(history), "--instance", "vm4", "--since", "1970-01-01", "--until", "1970-01-02").stdout
    assert "vm4 was down 10 min 2 s in this period (incident #3)" in vm4, vm4
    text = lifeboat("incident", "show", "3", "--database", str(history)).stdout
    assert "fence h4" in text and "(attempt 2)" in text and "an operator confirmed that h4 is powered off" in text, text
    for args, words in [
        (["history", "--database", "/nonexistent.sqlite"], "no such file"),
        (["history", "--database", str(history), "--since", "soon"], "not a time"),
        (["history", "--database", str(history), "--kind", "fencing"], "unknown kind"),
        (["incident", "show", "0", "--database", str(history)], "starts at 1"),
        (["incident", "show", "99", "--database", str(history)], "no incident 99"),
    ]:
        r = lifeboat(*args)
        assert r.returncode == 2 and words in r.stderr, (args, r.stderr)
    junk = history.parent / "junk.sqlite"
    junk.write_bytes(b"x" * 8192)
    r = lifeboat("history", "--database", str(junk))
    assert r.returncode == 2 and "not a Lifeboat history" in r.stderr, r.stderr


def test_the_report_says_the_numbers_of_that_day(history):
    day = ["--database", str(history), "--since", "1970-01-01", "--until", "1970-01-02"]
    r = json.loads(lifeboat("report", *day, "--format", "json").stdout)
    down = {i["instance"]: i for i in r["instances"]}
    assert down["vm1"]["downtime_s"] == 2.0  # fence 0.5 + force-down 0.3 + evacuate 1.2 (disable runs beside it)
    assert down["vm3"]["downtime_s"] == 4.0  # restarted in place
    assert down["vm4"]["downtime_s"] == 601.5  # 600 s until the operator's confirmation, then 0.3 + 1.2
    assert r["availability_percent"] == pytest.approx(100 * (1 - (2 + 2 + 4 + 601.5) / (4 * 86400)), abs=0.001)
    kinds = {k["kind"]: k for k in r["kinds"]}
    assert kinds["host_lost"]["count"] == 2 and kinds["vm_failed"]["count"] == 1
    assert [c["subject"] for c in r["needing_operator"]] == ["h4"]
    text = lifeboat("report", *day).stdout
    assert "Downtime per instance" in text and "vm4" in text and "MTTR p50" in text and "Recoveries that needed an operator" in text


def png_pixels(path):
    """The RGB(A) pixels of a PNG (8 bits per sample, no interlace), with the standard
    library only."""
    data = pathlib.Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and color in (2, 6) and interlace == 0
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(height):
        f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - channels] if x >= channels else 0
            b, c = prev[x], prev[x - channels] if x >= channels else 0
            if f == 1: line[x] = (line[x] + a) & 255
            elif f == 2: line[x] = (line[x] + b) & 255
            elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return [[tuple(r[x:x + 3]) for x in range(0, stride, channels)] for r in rows]


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.mark.skipif(chromium() is None, reason="headless Chromium is installed by Scripts/install-deps")
def test_the_html_report_renders_its_charts_in_headless_chromium(history, tmp_path):
    html = tmp_path / "report.html"
    r = lifeboat("report", "--database", str(history), "--since", "1970-01-01", "--until", "1970-01-02", "--format", "html", "--output", str(html))
    assert r.returncode == 0 and html.exists(), r.stderr
    shot = tmp_path / "report.png"
    p = subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--screenshot={shot}",
         "--window-size=1200,1400", html.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert shot.exists(), p.stderr
    keep = os.environ.get("LIFEBOAT_REPORT_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)
    pixels = png_pixels(shot)
    counts = {}
    for row in pixels:
        for px in row:
            counts[px] = counts.get(px, 0) + 1
    def near(color, tol=6):
        return sum(n for px, n in counts.items() if all(abs(a - b) <= tol for a, b in zip(px, color)))
    # The incident timeline's host_lost bars and vm_failed bar, the stage chart's fence and
    # "until all running again" segments: each a visible block of its own colour.
    for name, color in [("host_lost bars", (0xD9, 0x53, 0x4F)), ("vm_failed bar", (0x5B, 0xC0, 0xDE)),
                        ("running-again stages", (0x3C, 0x9D, 0x5D)), ("availability figure", (0x1F, 0x6F, 0x43))]:
        assert near(color) > 60, f"{name}: {near(color)} pixels of {color} in the screenshot"


def test_install_lays_out_the_service_and_its_unit_passes_systemd_analyze(tmp_path):
    stage = tmp_path / "root"
    bins = pathlib.Path(BIN).parent
    r = subprocess.run([str(ROOT / "Scripts/install"), "--destdir", str(stage), "--binaries", str(bins)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    def mode(p):
        return oct((stage / p).stat().st_mode & 0o777)
    assert mode("var/lib/lifeboat") == "0o700" and mode("etc/lifeboat/bmc") == "0o700"
    assert mode("etc/lifeboat/lifeboatd.conf") == "0o640" and mode("usr/sbin/lifeboatd") == "0o755"
    for f in ("usr/bin/lifeboat", "usr/lib/ocf/resource.d/lifeboat/nova-compute", "usr/share/man/man8/lifeboat.8.gz",
              "usr/share/bash-completion/completions/lifeboat", "usr/share/zsh/vendor-completions/_lifeboat",
              "lib/systemd/system/lifeboatd.service", "usr/share/doc/lifeboat/LIFEBOATD.md"):
        assert (stage / f).exists(), f
    unit = (stage / "lib/systemd/system/lifeboatd.service").read_text()
    assert "Type=notify" in unit and "WatchdogSec=" in unit and "After=corosync.service" in unit
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    # The unit as installed, its ExecStart pointing at the staged binary, next to the
    # system's own units (corosync.service) and the staged man page.
    units = tmp_path / "units"
    units.mkdir()
    (units / "lifeboatd.service").write_text(unit.replace("ExecStart=/usr/sbin/lifeboatd", f"ExecStart={stage}/usr/sbin/lifeboatd"))
    env = {**os.environ, "SYSTEMD_UNIT_PATH": f"{units}:/lib/systemd/system:", "MANPATH": str(stage / "usr/share/man")}
    v = subprocess.run(["systemd-analyze", "verify", str(units / "lifeboatd.service")], capture_output=True, text=True, env=env, timeout=60)
    assert v.returncode == 0, v.stdout + v.stderr
