"""The media process's real-time overload guard (appliance.media.process.MediaServer._guard):
it leaves SCHED_FIFO when the blocks do not fit on average, and takes it again once they
have fitted comfortably for REALTIME_BACK_S.  Time is injected; the scheduler calls are
recorded, not made."""

from __future__ import annotations

import os
from typing import Any

import pytest

from appliance.media.process import REALTIME_BACK_S, MediaServer

PERIOD = 0.005


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    made: list[tuple[str, Any]] = []
    monkeypatch.setattr(os, "sched_setscheduler",
                        lambda pid, policy, param: made.append(("sched", policy, param.sched_priority)))
    monkeypatch.setattr(os, "setpriority", lambda which, who, prio: made.append(("nice", prio)))
    return made


def _feed(srv: MediaServer, t: float, seconds: float, load: float) -> float:
    for _ in range(int(seconds / PERIOD)):
        srv._guard(load * PERIOD, PERIOD, t)
        t += PERIOD
    return t


def test_overload_leaves_realtime_and_calm_takes_it_back(calls: list[tuple[str, Any]]) -> None:
    srv = MediaServer([])
    events: list[dict[str, Any]] = []
    srv._flush_events = events.extend  # type: ignore[method-assign]
    srv.realtime, srv.rt_priority, srv.fallback_nice = True, 10, -10
    t = _feed(srv, 0.0, 3.0, 0.8)  # fits: nothing happens
    assert srv.realtime and calls == [] and events == []
    single = srv._load
    srv._guard(20 * PERIOD, PERIOD, t)  # one long block is not an overload
    assert srv.realtime and srv._load < 1.0 and srv._load > single
    t = _feed(srv, t, 3.0, 1.3)
    assert not srv.realtime and srv.rt_drops == 1
    assert calls == [("sched", os.SCHED_OTHER, 0), ("nice", -10)]
    assert [e["realtime"] for e in events] == [False]
    # at 0.9 of the period it fits, but not with the margin asked for: stays out
    t = _feed(srv, t, REALTIME_BACK_S + 2, 0.9)
    assert not srv.realtime and len(calls) == 2
    # inside with the margin for long enough (0.75: a busy process's steady load, as at 240
    # calls on 2 cores): back at the granted priority
    t = _feed(srv, t, REALTIME_BACK_S - 1, 0.75)
    assert not srv.realtime
    t = _feed(srv, t, 3.0, 0.75)
    assert srv.realtime and calls[2:] == [("sched", os.SCHED_FIFO, 10)]
    assert [e["realtime"] for e in events] == [False, True]
    assert srv.process_stats()["realtime_drops"] == 1


def test_a_process_never_granted_realtime_is_not_guarded(calls: list[tuple[str, Any]]) -> None:
    srv = MediaServer([])
    _feed(srv, 0.0, 3.0, 1.5)
    _feed(srv, 3.0, REALTIME_BACK_S + 3, 0.1)
    assert calls == [] and not srv.realtime and srv.rt_drops == 0


def test_realtime_refused_later_stays_out(calls: list[tuple[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    srv = MediaServer([])
    srv._flush_events = lambda ev: None  # type: ignore[method-assign]
    srv.realtime, srv.rt_priority = True, 10
    t = _feed(srv, 0.0, 3.0, 1.5)
    assert not srv.realtime

    def refuse(pid: int, policy: int, param: Any) -> None:
        raise PermissionError("not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", refuse)
    _feed(srv, t, REALTIME_BACK_S + 3, 0.1)
    assert not srv.realtime and srv.rt_priority is None

