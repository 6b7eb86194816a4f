"""RTCP reports are made a few per poll, in turn, so that calls opened together do not stall a block."""

from __future__ import annotations

from appliance.media.engine import SpanEngine
from appliance.media.stream import Stream, StreamSpec

PEER = ("192.0.2.10", 4000)


def test_reports_due_together_are_spread_over_polls() -> None:
    e = SpanEngine("s", 40, "mulaw", 40, echo=False, dtmf=False, clock=lambda: 0.0)
    sts = [Stream(StreamSpec(f"c{i}", "s", i, remote=PEER), 0.0) for i in range(40)]
    for st in sts:
        e.open(st)
    now = 1000.0  # every stream's first report is due
    per_poll = [len(e.poll(now)) for _ in range(5)]
    assert per_poll == [12, 12, 12, 4, 0]
    assert all(st.counters.rtcp_tx == 1 for st in sts)  # each stream once, none skipped
