"""A group's span blocks assembled into engine runs (appliance.media.grouping): one run per
period with every span's block, also when the spans hand in a backlog one after the other
after a stall; a span that lags is left out only after the loop's pass."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from appliance.media.grouping import BlockAssembler
from appliance.media.process import MediaServer
from tests.appliance.media.test_process import span_params


def blk(v: int, rows: int = 2) -> np.ndarray:
    return np.full((rows, 40), v, dtype=np.uint8)


def tags(sets: list[dict[str, np.ndarray | None]]) -> list[dict[str, int | None]]:
    return [{n: (None if b is None else int(b[0, 0])) for n, b in s.items()} for s in sets]


def test_spans_delivering_at_their_own_phase_make_one_run_per_period() -> None:
    a = BlockAssembler(["a", "b", "c"])
    runs = []
    for k in range(5):
        for n in ("a", "b", "c"):
            a.put(n, blk(k))
            runs += a.take_complete()
        runs += a.take_lagging()
    assert tags(runs) == [{"a": k, "b": k, "c": k} for k in range(5)]
    assert a.partial == 0 and a.dropped == 0 and not a.waiting()


def test_a_backlog_handed_in_span_after_span_runs_once_per_block() -> None:
    """After a stall span a delivers 4 blocks, then b its 4: 4 runs (the first design ran
    on a's second block already, without b: 3 runs without b, then 4 with stale a)."""
    a = BlockAssembler(["a", "b"])
    runs = []
    for k in range(4):
        a.put("a", blk(k))
        runs += a.take_complete()
    assert runs == []
    for k in range(4):
        a.put("b", blk(k))
        runs += a.take_complete()
    runs += a.take_lagging()
    assert tags(runs) == [{"a": k, "b": k} for k in range(4)]
    assert a.partial == 0


def test_a_span_that_stops_is_left_out_one_block_late() -> None:
    a = BlockAssembler(["a", "b"])
    a.put("b", blk(99))
    assert tags(a.take_complete()) == []
    a.put("a", blk(0))
    assert tags(a.take_complete()) == [{"a": 0, "b": 99}]
    runs = []
    for k in range(1, 6):  # b is gone: a's blocks wait one period, then run without it
        a.put("a", blk(k))
        runs += a.take_complete() + a.take_lagging()
    assert tags(runs) == [{"a": k, "b": None} for k in range(1, 5)]
    assert a.partial == 4
    assert a.waiting()  # block 5 waits for b (or for a's next block)
    a.put("b", blk(100))  # b is back: it joins at once
    assert tags(a.take_complete()) == [{"a": 5, "b": 100}]


def test_a_full_queue_loses_its_oldest_block() -> None:
    a = BlockAssembler(["a", "b"], lag=2, depth=3)
    for k in range(5):
        a.put("a", blk(k))
    assert a.dropped == 2
    a.put("b", blk(50))
    assert tags(a.take_complete()) == [{"a": 2, "b": 50}]


def test_blocks_are_copied_when_queued() -> None:
    a = BlockAssembler(["a", "b"])
    buf = blk(1)
    a.put("a", buf)
    buf[:] = 7  # a driver reuses its buffer for the next block
    a.put("b", blk(2))
    assert tags(a.take_complete()) == [{"a": 1, "b": 2}]


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="lag"):
        BlockAssembler(["a"], lag=0)
    with pytest.raises(ValueError, match="depth"):
        BlockAssembler(["a"], lag=4, depth=2)


def test_media_server_runs_the_engine_once_per_block_of_a_burst() -> None:
    """Two spans of one group in a real MediaServer: a backlog of 6 blocks from each, handed
    in span after span in one pass of the loop, is 6 engine runs, none without a span."""

    async def body() -> None:
        srv = MediaServer([(span_params("s1"), {"clock": True}), (span_params("s2"), {"clock": True})],
                          port_min=34000, port_max=35000, host="127.0.0.1", echo=False)
        h = srv.groups[0]
        s1, s2 = h.spans
        assert len(srv.groups) == 1 and h.rx.shape[0] == 4
        for k in range(6):
            srv.on_block(h, s1, blk(k))
        for k in range(6):
            srv.on_block(h, s2, blk(100 + k))
        await asyncio.sleep(0)  # the loop's pass ends: the deferred check runs
        await asyncio.sleep(0)
        assert h.engine.ticks == 6
        assert h.assembler.partial == 0
        assert int(h.rx[0, 0]) == 5 and int(h.rx[2, 0]) == 105  # the last run had both spans' last blocks
        # s2 stops: s1's blocks run without it, one block late, s2's rows keep their last block
        for k in range(6, 9):
            srv.on_block(h, s1, blk(k))
            await asyncio.sleep(0)
            await asyncio.sleep(0)
        assert h.engine.ticks == 8 and h.assembler.partial == 2
        assert int(h.rx[0, 0]) == 7 and int(h.rx[2, 0]) == 105
        g = srv.process_stats()["groups"][0]
        assert g["partial"] == 2
        # each span's driver figures, for what a span's slips come from
        assert set(g["span_detail"]) == {"s1", "s2"}
        assert g["span_detail"]["s1"] == s1.detail()

    asyncio.run(body())
