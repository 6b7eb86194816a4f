"""The media process's own garbage-collector schedule (appliance.media.collector)."""

from __future__ import annotations

import asyncio
import gc
import weakref
from pathlib import Path
from typing import Any

import pytest

from appliance.media.collector import Collector
from appliance.media.control import MediaClient
from appliance.media.process import MediaServer
from tests.appliance.media.farends import ToneFarEnd
from tests.appliance.media.test_process import _with_server, span_params


def test_schedule_on_injected_time() -> None:
    c = Collector(100.0, young_s=0.1, middle_s=1.0, full_s=30.0)
    assert c.due(100.05) is None and c.run(100.05) is None
    assert c.run(100.1) == 0
    assert c.due(100.15) is None  # the young clock restarted
    assert c.run(101.0) == 1
    assert c.due(101.05) is None  # a middle collection includes the young one: both restarted
    assert c.run(130.0) == 2
    assert c.due(130.05) is None
    assert c.counts == [1, 1, 1]
    st = c.stats()
    assert st["collections"] == [1, 1, 1] and st["last_full_ms"] >= 0
    assert c.stats()["max_ms"] == 0.0  # per stats call


def test_bad_periods_are_refused() -> None:
    with pytest.raises(ValueError, match="periods"):
        Collector(0.0, young_s=1.0, middle_s=0.5)
    with pytest.raises(ValueError, match="periods"):
        Collector(0.0, young_s=0.0)


def test_start_freezes_and_stops_automatic_collection_and_full_runs_collect_cycles() -> None:
    class Node:
        other: Any = None

    c = Collector(0.0)
    try:
        c.start()
        assert not gc.isenabled()
        assert gc.get_freeze_count() > 0
        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle: reference counting alone never frees it
        gone = weakref.ref(a)
        del a, b
        for _ in range(3000):  # far past the automatic threshold: nothing collects them
            [[] for _ in range(10)]
        assert gone() is not None
        assert c.run(0.05) is None
        assert c.run(30.0) == 2
        assert gone() is None
        assert c.collected >= 2
    finally:
        c.stop()
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_media_server_runs_the_collector_after_blocks_and_restores_gc(tmp_path: Path) -> None:
    far = ToneFarEnd(span_params(), freqs=(1000.0, 0.0), dbm0=-10.0)
    got: dict[str, Any] = {}

    async def body(client: MediaClient, srv: MediaServer, events: list[dict[str, Any]]) -> None:
        await asyncio.sleep(0.5)
        got["during"] = not gc.isenabled()
        got["stats"] = (await client.stats())["gc"]

    orig = MediaServer.__init__

    def init(self: MediaServer, *a: Any, **k: Any) -> None:
        orig(self, *a, **k)
        self.collector = Collector(0.0, young_s=0.02, middle_s=0.1, full_s=0.3)

    MediaServer.__init__ = init  # type: ignore[method-assign]
    try:
        asyncio.run(_with_server(tmp_path, far, body))
    finally:
        MediaServer.__init__ = orig  # type: ignore[method-assign]
    assert got["during"]
    young, middle, full = got["stats"]["collections"]
    assert young >= 5 and middle >= 1 and full >= 1
    assert gc.isenabled() and gc.get_freeze_count() == 0
