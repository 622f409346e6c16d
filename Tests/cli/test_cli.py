"""The `lifeboat` CLI against the built binary: simulate and bench, good and bad input."""
import json
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("LIFEBOAT_BIN", str(ROOT / ".build/debug/lifeboat"))
SCENARIOS = sorted((ROOT / "Docs/scenarios").glob("*.json"))


def lifeboat(*args, stdin=None):
    return subprocess.run([BIN, *args], input=stdin, capture_output=True, text=True, timeout=120)


def test_at_least_ten_scenarios_ship():
    assert len(SCENARIOS) >= 10


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.stem)
def test_simulate_shipped_scenario_prints_expected_json_lines(scenario):
    r = lifeboat("simulate", str(scenario))
    assert r.returncode == 0, r.stderr
    expected = scenario.with_suffix(".expected.jsonl").read_text()
    assert r.stdout == expected
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert "final" in lines[-1]
    for line in lines[:-1]:
        assert isinstance(line["at"], float)
        assert ("action" in line) != ("result" in line) or "rejected" in line


def test_simulate_text_format_is_a_table_with_final_state():
    r = lifeboat("simulate", "--format", "text", str(SCENARIOS[0]))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("AT")
    assert "evacuate" in r.stdout and "Final state" in r.stdout


def test_simulate_reads_standard_input():
    r = lifeboat("simulate", "-", stdin=SCENARIOS[0].read_text())
    assert r.returncode == 0, r.stderr
    assert r.stdout == SCENARIOS[0].with_suffix(".expected.jsonl").read_text()


def scenario_with(change):
    s = json.loads(SCENARIOS[0].read_text())
    change(s)
    return json.dumps(s)


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda s: s["cluster"]["hosts"][0].update(capacity={"vcpus": -1, "ram_mb": 1, "disk_gb": 1}),
         "cluster.hosts[0].capacity.vcpus: must not be negative"),
        (lambda s: s["cluster"]["instances"][0].update(host="nowhere"),
         "cluster.instances[0].host: unknown host 'nowhere'"),
        (lambda s: s.update(evnts=[]), "evnts: unknown key"),
        (lambda s: s["events"].append({"at": 1.0, "kind": "explode"}), "events[1].kind: unknown event kind 'explode'"),
        (lambda s: s["cluster"]["hosts"].append(dict(s["cluster"]["hosts"][0], node_id=77)),
         "cluster.hosts[4].name: duplicate host name 'compute-1'"),
    ],
)
def test_simulate_invalid_scenario_exits_2_and_names_the_place(change, message):
    r = lifeboat("simulate", "-", stdin=scenario_with(change))
    assert r.returncode == 2
    assert message in r.stderr
    assert r.stdout == ""


def test_simulate_not_json_exits_2():
    r = lifeboat("simulate", "-", stdin="{ not json")
    assert r.returncode == 2
    assert "invalid JSON at line 1" in r.stderr


def test_simulate_missing_file_exits_2():
    r = lifeboat("simulate", "/nonexistent/scenario.json")
    assert r.returncode == 2
    assert "cannot read /nonexistent/scenario.json" in r.stderr


def test_unknown_option_is_a_usage_error():
    r = lifeboat("simulate", "--formt", "text", str(SCENARIOS[0]))
    assert r.returncode != 0
    assert "formt" in r.stderr


def test_bench_plan_prints_percentiles():
    r = lifeboat("bench", "plan", "--hosts", "200", "--instances", "4000", "--failed", "2", "--runs", "5")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["evacuations"] > 0
    assert out["p50_ms"] > 0 and out["p99_ms"] >= out["p50_ms"]


def test_bench_rejects_impossible_arguments():
    r = lifeboat("bench", "plan", "--hosts", "3", "--failed", "3")
    assert r.returncode != 0
    assert "--failed" in r.stderr


def test_version_reports_linked_system_libraries():
    r = lifeboat("version")
    assert r.returncode == 0
    assert "CS_OK=1" in r.stdout and "templates usable: true" in r.stdout


DAEMON = os.environ.get("LIFEBOATD_BIN", str(pathlib.Path(BIN).parent / "lifeboatd"))


@pytest.mark.parametrize(
    "config,message",
    [
        ('{"group": "lifeboat", "colour": "blue"}', "colour: unknown key"),
        ('{"on_corosync_loss": "panic"}', "on_corosync_loss: expected 'reconnect' or 'exit', found 'panic'"),
        ('{"reconnect_timeout": -1}', "reconnect_timeout: must not be negative"),
        ('{"control_socket": "/' + "x" * 120 + '"}', "control_socket: path longer than a Unix socket allows"),
        ("{nope", "invalid JSON at line 1"),
    ],
)
def test_lifeboatd_bad_configuration_exits_2_and_names_the_key(tmp_path, config, message):
    path = tmp_path / "lifeboatd.conf"
    path.write_text(config)
    r = subprocess.run([DAEMON, "--config", str(path)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert message in r.stderr


def test_lifeboatd_unknown_argument_is_a_usage_error():
    r = subprocess.run([DAEMON, "--frobnicate"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert "unknown argument '--frobnicate'" in r.stderr and "usage: lifeboatd" in r.stderr


def test_lifeboatd_corrupt_saved_configuration_is_a_clear_error(tmp_path):
    (tmp_path / "config.json").write_text('{"version": 3, "cluster": {"hosts": [{"name": 1}]}}')
    conf = tmp_path / "lifeboatd.conf"
    conf.write_text(json.dumps({"state_dir": str(tmp_path), "control_socket": str(tmp_path / "s.sock")}))
    r = subprocess.run([DAEMON, "--config", str(conf)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert "cluster.hosts[0].name: expected a string, found a number" in r.stderr


def test_status_without_a_daemon_says_so(tmp_path):
    r = lifeboat("status", "--socket", str(tmp_path / "none.sock"))
    assert r.returncode == 1
    assert "cannot reach lifeboatd" in r.stderr


def test_operator_command_argument_errors():
    r = lifeboat("maintenance", "host1", "sideways")
    assert r.returncode != 0 and "sideways" in r.stderr
    # Fencing powers a host off: without a terminal to ask on, --yes is required.
    r = subprocess.run([BIN, "fence", "host1"], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and "add --yes to confirm" in r.stderr
