"""Core building blocks in-process: status board, health document, shutdown phases."""

from __future__ import annotations

import asyncio
import time

from appliance.console.health import health_document
from appliance.core.shutdown import Phase, ShutdownHooks
from appliance.core.status import StatusBoard
from appliance.notify import Notifier


def test_status_board_snapshot() -> None:
    now = [1000.0]
    board = StatusBoard(clock=lambda: now[0])
    board.add_span("span1", number=1, driver="virtual", type="T1", state="not started")
    board.set_span("span1", "up", alarms=[])
    board.call_started("c-1", span="span1", channel=3, direction="inbound", called="4001")
    board.call_started("c-2", span="span1", channel=4)
    board.call_answered("c-1")
    now[0] += 5
    board.call_ended("c-2", cause=17)
    board.heartbeat("cti", 42)
    board.expect_process("console")
    board.set_section("sip", lambda: {"trunks_up": 1})
    snap = board.snapshot()
    assert snap["uptime_s"] == 5.0
    assert snap["spans"][0]["state"] == "up" and snap["spans"][0]["since_s"] == 5.0
    assert snap["calls"]["active"] == 1 and snap["calls"]["completed"] == 1
    assert snap["calls"]["by_cause"] == {"17": 1}
    assert snap["calls"]["list"][0] == {"id": "c-1", "span": "span1", "channel": 3,
                                        "direction": "inbound", "duration_s": 5.0,
                                        "answered": True, "called": "4001"}
    assert snap["processes"]["cti"]["alive"] is True
    assert snap["processes"]["console"]["alive"] is False
    assert snap["sip"] == {"trunks_up": 1}


def test_health_document_ok_degraded_down() -> None:
    snap = {"version": "x", "spans": [{"name": "s", "state": "up"}],
            "processes": {"core": {"pid": 1, "alive": True}, "cti": {"pid": 2, "alive": True}},
            "calls": {"active": 0, "completed": 0}}
    code, doc = health_document(snap, 0.1, 3.0, time.monotonic())
    assert code == 200 and doc["status"] == "ok"
    assert doc["processes"]["console"]["alive"] is True
    snap["spans"] = [{"name": "s", "state": "alarm"}]
    assert health_document(snap, 0.1, 3.0, time.monotonic())[1]["status"] == "degraded"
    code, doc = health_document(snap, 9.0, 3.0, time.monotonic())
    assert code == 503 and doc["status"] == "down" and doc["processes"]["core"]["alive"] is False
    code, doc = health_document(None, None, 3.0, time.monotonic())
    assert code == 503 and "no status" in doc["reason"]


def test_shutdown_runs_phases_in_order_and_cancels_overruns() -> None:
    order: list[str] = []

    async def clear_calls() -> None:
        order.append("calls")

    async def hang() -> None:
        await asyncio.sleep(60)

    async def stop_spans() -> None:
        order.append("spans")

    hooks = ShutdownHooks()
    hooks.add(Phase.SPANS, "spans", stop_spans)
    hooks.add(Phase.CALLS, "isdn", clear_calls)
    hooks.add(Phase.CALLS, "stuck", hang)
    t0 = time.monotonic()
    asyncio.run(hooks.run(1.0))
    assert order == ["calls", "spans"]
    assert hooks.timed_out == ["stuck"]
    assert time.monotonic() - t0 < 1.5


def test_notifier_is_silent_without_notify_socket() -> None:
    n = Notifier(environ={})
    assert not n.enabled and n.ready() is False and n.watchdog_interval() is None
    n = Notifier(environ={"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"})
    assert n.watchdog_interval() is None  # another process's watchdog
    n = Notifier(environ={"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "2000000"})
    assert n.watchdog_interval() == 1.0


class _CountingNotifier(Notifier):
    def __init__(self) -> None:
        super().__init__(environ={"NOTIFY_SOCKET": "/nonexistent"})
        self.pings: list[float] = []

    def send(self, *states: str) -> bool:
        if "WATCHDOG=1" in states:
            self.pings.append(time.monotonic())
        return True


def test_watchdog_is_withheld_while_the_media_thread_is_stuck(tmp_path: object) -> None:
    """A blocked media loop stops the WATCHDOG=1 pings, so systemd restarts the core."""
    from pathlib import Path

    from appliance.config import loads
    from appliance.core.app import Core

    run = Path(str(tmp_path)) / "run"
    loaded = loads(f'[runtime]\ndir = "{run}"\n[logging]\njournald = false\n')
    notifier = _CountingNotifier()
    core = Core(loaded, lambda: loaded, notifier=notifier)

    async def go() -> tuple[int, int, int]:
        core.media.start()
        task = asyncio.create_task(core._watchdog_loop(0.05))
        await asyncio.sleep(0.5)
        before = len(notifier.pings)
        core.media.call_soon(time.sleep, 2.0)  # the media thread hangs for 2 s
        await asyncio.sleep(1.9)
        during = len(notifier.pings) - before
        await asyncio.sleep(0.6)
        after = len(notifier.pings) - before - during
        task.cancel()
        core.media.stop()
        core.close()
        return before, during, after

    before, during, after = asyncio.run(go())
    assert before >= 5
    # stall detection needs max(1 s, interval) of beat age, so about 1 s of pings remain
    assert during <= 25, during
    assert after >= 3, after


STARTED: list[str] = []


class _DemoPart:
    name = "demo"

    def __init__(self, core: object) -> None:
        self.core = core

    async def start(self) -> None:
        STARTED.append(self.name)


def _make_part(core: object) -> _DemoPart:
    return _DemoPart(core)


def test_parts_start_in_order_and_failures_are_reported(tmp_path: object) -> None:
    from pathlib import Path

    from appliance.config import loads
    from appliance.core.app import Core

    loaded = loads(f'[runtime]\ndir = "{Path(str(tmp_path)) / "run"}"\n')
    core = Core(loaded, lambda: loaded, parts=[
        "tests.appliance.test_core_parts:_make_part", "appliance.nonexistent:Part", "bad-spec"])
    asyncio.run(core._start_parts())
    core.close()
    assert STARTED == ["demo"]
    states = core._core_section()["parts"]
    assert states["tests.appliance.test_core_parts:_make_part"] == "running"
    assert states["appliance.nonexistent:Part"].startswith("failed: ModuleNotFoundError")
    assert states["bad-spec"].startswith("failed: ValueError")
    code, doc = health_document({"spans": [], "processes": {}, "core": {"parts": states}}, 0.1,
                                3.0, time.monotonic())
    assert code == 200 and doc["status"] == "degraded"


def test_call_facts_reach_board_bus_and_log(tmp_path: object) -> None:
    import logging
    from pathlib import Path

    from appliance.config import loads
    from appliance.core.app import Core
    from appliance.events import Event

    loaded = loads(f'[runtime]\ndir = "{Path(str(tmp_path)) / "run"}"\n')
    core = Core(loaded, lambda: loaded)
    events: list[Event] = []
    core.bus.subscribe(events.append)
    records: list[logging.LogRecord] = []

    class _Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = _Keep()
    core_log = logging.getLogger("tdmgw.core")
    old_level = core_log.level
    core_log.setLevel(logging.INFO)
    core_log.addHandler(handler)
    try:
        core.call_started("c-1", span="span1", channel=5, direction="inbound", called="4001")
        core.call_answered("c-1")
        core.call_ended("c-1", cause=16)
    finally:
        core_log.removeHandler(handler)
        core_log.setLevel(old_level)
        core.close()
    snap = core.board.snapshot()
    assert snap["calls"]["active"] == 0 and snap["calls"]["completed"] == 1
    assert snap["calls"]["by_cause"] == {"16": 1}
    assert [(e.seq, e.kind) for e in events] == [(1, "call.started"), (2, "call.answered"),
                                                 (3, "call.ended")]
    assert events[0].data == {"call": "c-1", "span": "span1", "channel": 5,
                              "direction": "inbound", "called": "4001"}
    ended = next(r for r in records if "ended" in r.getMessage())
    assert ended.__dict__["call"] == "c-1" and ended.__dict__["cause"] == 16


def test_the_core_bounds_how_long_a_thread_waits_for_the_gil(tmp_path: object) -> None:
    """Core.run sets the interpreter's switch interval to SWITCH_INTERVAL_S (1 ms, not the
    default 5 ms): the loop's D-channel work does not wait behind sippy's thread."""
    import sys
    from pathlib import Path

    from appliance.config import loads
    from appliance.core.app import SWITCH_INTERVAL_S, Core

    loaded = loads(f'[runtime]\ndir = "{Path(str(tmp_path)) / "run"}"\n[logging]\njournald = false\n')
    core = Core(loaded, lambda: loaded, parts=[])
    before = sys.getswitchinterval()

    async def go() -> float:
        task = asyncio.create_task(core.run())
        for _ in range(200):
            if core.part_states is not None and sys.getswitchinterval() != before:
                break
            await asyncio.sleep(0.01)
        seen = sys.getswitchinterval()
        core.stop()
        await asyncio.wait_for(task, 10)
        return seen

    try:
        seen = asyncio.run(go())
    finally:
        sys.setswitchinterval(before)
    assert SWITCH_INTERVAL_S == 0.001
    assert seen == SWITCH_INTERVAL_S != before
