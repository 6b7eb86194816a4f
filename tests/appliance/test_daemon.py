"""The processes for real: sd_notify, watchdog, SIGTERM, SIGHUP, health, a hung peer, `run`."""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .daemon_helpers import NotifySocket, Proc, clean_env, config_text

pytestmark = pytest.mark.slow


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for p in started:
        with_stopped = p.proc.poll() is None
        if with_stopped:
            os.kill(p.pid, signal.SIGCONT)
        p.stop()


def write_config(tmp_path: Path, **kw: object) -> Path:
    path = tmp_path / "tdmgw.toml"
    path.write_text(config_text(tmp_path / "run", **kw))  # type: ignore[arg-type]
    return path


def start(procs: list[Proc], name: str, config: Path, **env: str) -> Proc:
    p = Proc(name, "--config", str(config), env=clean_env(**env))
    procs.append(p)
    return p


def test_core_notifies_ready_and_pings_watchdog_then_sigterm_exits_0(
    tmp_path: Path, procs: list[Proc]
) -> None:
    cfg = write_config(tmp_path)
    notify = NotifySocket(tmp_path / "notify.sock")
    try:
        core = start(procs, "core", cfg, NOTIFY_SOCKET=str(notify.path), WATCHDOG_USEC="200000")
        i = notify.wait_for("READY=1")
        assert any(line.startswith("STATUS=spans 0/0 up")
                   for line in notify.messages[i][1].splitlines())
        notify.wait_for("WATCHDOG=1")
        notify.wait_for("WATCHDOG=1", after=notify.wait_for("WATCHDOG=1") + 1)
        t0 = time.monotonic()
        core.proc.send_signal(signal.SIGTERM)
        rc = core.proc.wait(timeout=5)
        elapsed = time.monotonic() - t0
        assert rc == 0, core.lines[-20:]
        assert elapsed < 5
        notify.wait_for("STOPPING=1")
        core.wait_for(r"core stopped in")
    finally:
        notify.close()


def test_sighup_with_bad_file_keeps_the_running_config(tmp_path: Path, procs: list[Proc]) -> None:
    cfg = write_config(tmp_path)
    notify = NotifySocket(tmp_path / "notify.sock")
    try:
        core = start(procs, "core", cfg, NOTIFY_SOCKET=str(notify.path))
        ready = notify.wait_for("READY=1")
        good = cfg.read_text()
        cfg.write_text(good + "\n[media]\nptime_ms = 20\nrtp_port_min = \"10000\n")
        mark = len(core.lines)
        core.proc.send_signal(signal.SIGHUP)
        line = core.wait_for(r"reload refused: .*TOML syntax error", start=mark)
        assert f"{cfg}:" in line
        core.wait_for(r"running configuration is kept", start=mark)
        again = notify.wait_for("READY=1", after=notify.wait_for("RELOADING=1", after=ready) + 1)
        assert again > ready
        assert core.proc.poll() is None
        # a valid file: live settings apply, the rest waits for a restart
        cfg.write_text(good.replace("status_interval_ms = 100", "status_interval_ms = 200")
                       .replace('listen = "127.0.0.1:0"', 'listen = "127.0.0.1:1"'))
        mark = len(core.lines)
        core.proc.send_signal(signal.SIGHUP)
        core.wait_for(r"applied live: runtime.status_interval_ms: 100 -> 200", start=mark)
        core.wait_for(r"waiting for a daemon restart: health.listen: '127.0.0.1:0' -> "
                      r"'127.0.0.1:1'", start=mark)
        core.proc.send_signal(signal.SIGTERM)
        assert core.proc.wait(timeout=5) == 0
    finally:
        notify.close()


def _health(run: Path, timeout: float = 20) -> str:
    url_file = run / "health.url"
    deadline = time.monotonic() + timeout
    while not url_file.exists():
        assert time.monotonic() < deadline, "console wrote no health.url"
        time.sleep(0.05)
    return url_file.read_text().strip()


def _get_until(url: str, pred: object, timeout: float = 15) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        r = httpx.get(url, timeout=2)
        if pred(r):  # type: ignore[operator]
            return r
        assert time.monotonic() < deadline, r.text
        time.sleep(0.1)


def test_health_endpoint_reports_processes_spans_calls(tmp_path: Path, procs: list[Proc]) -> None:
    cfg = write_config(tmp_path, heartbeat_ms=800)
    start(procs, "console", cfg)
    core = start(procs, "core", cfg)
    url = _health(tmp_path / "run")
    assert url.startswith("http://127.0.0.1:") and url.endswith("/healthz")
    r = _get_until(url, lambda r: r.status_code == 200
                   and r.json()["processes"].get("console", {}).get("alive"))
    doc = r.json()
    for key in ("version", "uptime_s", "processes", "spans", "calls"):
        assert key in doc
    assert doc["calls"]["active"] == 0 and doc["calls"]["completed"] == 0
    assert doc["processes"]["core"]["pid"] == core.pid and doc["processes"]["core"]["alive"]
    assert doc["processes"]["cti"]["alive"] is False  # not started in this test
    assert doc["status"] == "degraded"
    from appliance.config import load
    from appliance.console.status_cmd import status

    code, text = status(load(cfg).config)
    assert code == 1 and text.startswith("tdmgw ") and ": degraded" in text
    assert "cti      pid -       NOT ALIVE  heartbeat never" in text
    # a hung core is reported as down, by the console, without the core's help
    os.kill(core.pid, signal.SIGSTOP)
    try:
        r = _get_until(url, lambda r: r.status_code == 503)
        assert r.json()["status"] == "down" and r.json()["processes"]["core"]["alive"] is False
        assert status(load(cfg).config)[0] == 3
    finally:
        os.kill(core.pid, signal.SIGCONT)


def test_hung_console_and_cti_do_not_delay_the_watchdog(tmp_path: Path, procs: list[Proc]) -> None:
    cfg = write_config(tmp_path, status_ms=10)
    notify = NotifySocket(tmp_path / "notify.sock")
    try:
        cti = start(procs, "cti", cfg)
        console = start(procs, "console", cfg)
        cti.wait_for("cti ready")
        console.wait_for("console ready")
        core = start(procs, "core", cfg, NOTIFY_SOCKET=str(notify.path), WATCHDOG_USEC="200000")
        notify.wait_for("READY=1")
        os.kill(cti.pid, signal.SIGSTOP)
        os.kill(console.pid, signal.SIGSTOP)
        t0 = time.monotonic()
        mark = len(core.lines)
        # both kinds told apart: events the stopped CTI process lost, statuses superseded
        core.wait_for(r"not keeping up: \d+ message\(s\) dropped so far: \d+ CTI event\(s\) "
                      r"lost, [1-9]\d* status snapshot\(s\) replaced", start=mark)
        time.sleep(max(0.0, 3.0 - (time.monotonic() - t0)))
        pings = [t for t in notify.times("WATCHDOG=1") if t >= t0]
        gaps = [b - a for a, b in itertools.pairwise(pings)]
        assert len(pings) >= 10, pings
        assert max(gaps) < 1.5, gaps  # pings every 0.1 s; a blocked core would stop them
        os.kill(cti.pid, signal.SIGCONT)
        os.kill(console.pid, signal.SIGCONT)
        core.proc.send_signal(signal.SIGTERM)
        assert core.proc.wait(timeout=5) == 0
    finally:
        notify.close()


def test_core_opens_a_virtual_span_and_reports_it(tmp_path: Path, procs: list[Proc]) -> None:
    pytest.importorskip("drivers.virtual")
    run = tmp_path / "run"
    span = f"""
[[spans]]
name = "v1"
number = 1
driver = "virtual"
type = "T1"
switchtype = "ni2"
side = "user"
[spans.virtual]
dchannel_socket = "{run}/v1.dchan"
bchannel_local = "127.0.0.1:0"
bchannel_remote = "127.0.0.1:9"
"""
    cfg = tmp_path / "tdmgw.toml"
    cfg.write_text(span + config_text(run))
    start(procs, "console", cfg)
    core = start(procs, "core", cfg)
    core.wait_for(r"span v1 started .* span=v1")
    url = _health(run)
    r = _get_until(url, lambda r: r.status_code == 200 and r.json()["spans"]
                   and r.json()["spans"][0]["state"] != "starting")
    s = r.json()["spans"][0]
    assert s["name"] == "v1" and s["driver"] == "virtual"
    assert s["state"] == "alarm" and "red" in s["alarms"]  # no far end connected
    core.proc.send_signal(signal.SIGTERM)
    assert core.proc.wait(timeout=5) == 0


def test_run_supervises_three_processes_and_stops_on_sigterm(
    tmp_path: Path, procs: list[Proc]
) -> None:
    cfg = write_config(tmp_path)
    sup = start(procs, "run", cfg)
    sup.wait_for(r"health: http://127\.0\.0\.1:\d+/healthz")
    sup.wait_for(r"core ready")
    pids = [int(m) for m in (sup.wait_for(rf"started {n} \(pid (\d+)\)").split("pid ")[1]
                             .rstrip(")") for n in ("cti", "console", "core"))]
    mark = len(sup.lines)
    sup.proc.send_signal(signal.SIGHUP)  # forwarded to every child
    sup.wait_for(r"tdmgw-core\[\d+\] INFO core: reload: .* unchanged", start=mark)
    sup.wait_for(r"tdmgw-cti\[\d+\] INFO cti: reloaded", start=mark)
    sup.wait_for(r"tdmgw-console\[\d+\] INFO console: reloaded", start=mark)
    sup.proc.send_signal(signal.SIGTERM)
    assert sup.proc.wait(timeout=15) == 0
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_run_restarts_a_child_that_dies(tmp_path: Path, procs: list[Proc]) -> None:
    cfg = write_config(tmp_path)
    sup = start(procs, "run", cfg)
    sup.wait_for(r"core ready")
    line = sup.wait_for(r"started cti \(pid (\d+)\)")
    old = int(line.split("pid ")[1].rstrip(")"))
    mark = len(sup.lines)
    os.kill(old, signal.SIGKILL)
    sup.wait_for(r"cti exited with -9; restarting", start=mark)
    line = sup.wait_for(r"started cti \(pid (\d+)\)", start=mark)
    assert int(line.split("pid ")[1].rstrip(")")) != old
    sup.wait_for(r"cti ready", start=mark)
    sup.proc.send_signal(signal.SIGTERM)
    assert sup.proc.wait(timeout=15) == 0
