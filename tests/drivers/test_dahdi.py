"""The DAHDI driver's loop against file descriptors standing in for the device.

tests/drivers/fake_dahdi.py keeps DAHDI's rules (ELAST while an event is
pending, POLLPRI for events, one block or frame per read); the driver's
set-up ioctls, FCS handling, event, alarm and counter paths are checked
here.  The real kernel runs the same code in the VM tests (issue 8).
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from drivers import dahdi_abi as abi
from drivers.dahdi import (
    BlockAssembler,
    DahdiSpan,
    alarms_from_dahdi,
    parse_proc_span,
    strip_fcs,
    with_fcs_room,
)
from drivers.span import (
    Alarm,
    AlarmChanged,
    Block,
    CountersChanged,
    DahdiParams,
    FrameError,
    Side,
    Span,
    SpanError,
    SpanEvent,
    SpanParams,
    SpanType,
    Timing,
    TimingWarning,
)
from tests.drivers.fake_dahdi import FakeDahdi

SABME = bytes([0x00, 0x01, 0x7F])


class Rec:
    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.blocks: list[np.ndarray] = []
        self.events: list[SpanEvent] = []
        self.reply: np.ndarray | None = None

    def span_frame(self, span: Span, frame: bytes) -> None:
        self.frames.append(frame)

    def span_block(self, span: Span, rx: Block, index: int) -> None:
        self.blocks.append(rx.copy())
        span.write_block(rx[::-1].copy() if self.reply is None else self.reply)

    def span_event(self, span: Span, event: SpanEvent) -> None:
        self.events.append(event)


def make(kind: SpanType = SpanType.T1, basechan: int = 1, dsig: int = abi.Sig.HARDHDLC,
         **kw: object) -> tuple[DahdiSpan, FakeDahdi, Rec]:
    p = SpanParams(name="pri1", number=1, driver="dahdi", type=kind, block_samples=40,
                   dahdi=DahdiParams(basechan=basechan, blocksize=40), **kw)  # type: ignore[arg-type]
    dev = FakeDahdi(timeslots=24 if kind is SpanType.T1 else 31, dchannel=p.dchannel or 0,
                    basechan=basechan, dsig=dsig)
    span = DahdiSpan(p, ops=dev, clock=lambda: 1.0)
    rec = Rec()
    span.set_listener(rec)
    return span, dev, rec


def test_channel_setup_ioctls_and_prefill() -> None:
    span, dev, _ = make(basechan=25)
    span.open()
    d = 25 + 24 - 1
    dlog = [(n, a) for c, n, a in dev.ioctl_log if c == d]
    assert [n for n, _ in dlog] == ["DAHDI_SPECIFY", "DAHDI_GET_PARAMS", "DAHDI_SET_BUFINFO",
                                    "DAHDI_SPANSTAT"]
    assert abi.BufferInfo.unpack(dlog[2][1]) == abi.BufferInfo(0, 0, 16, 1024)
    for ts in range(1, 24):
        ch = dev.chan(25 + ts - 1)
        names = [n for c, n, _ in dev.ioctl_log if c == ch.channo]
        assert names == ["DAHDI_SPECIFY", "DAHDI_SET_BLOCKSIZE", "DAHDI_SET_BUFINFO", "DAHDI_SETLAW",
                         "DAHDI_AUDIOMODE", "DAHDI_SETLINEAR", "DAHDI_ECHOCANCEL"]
        assert ch.blocksize == 40 and ch.law == abi.DahdiLaw.MULAW and ch.audio and not ch.linear
        assert ch.bufinfo == abi.BufferInfo(abi.Policy.IMMEDIATE, abi.Policy.IMMEDIATE, 4, 40)
        assert dev.received(ch.channo) == [b"\xff" * 40]  # one idle block of prefill
    assert span.status().alarms == Alarm.NONE
    span.close()
    assert not dev.by_fd


def test_e1_uses_alaw_and_skips_timeslot_16() -> None:
    span, dev, _ = make(SpanType.E1)
    span.open()
    opened = sorted(c for c, n, _ in dev.ioctl_log if n == "DAHDI_SPECIFY")
    assert opened == list(range(1, 32))
    assert dev.chan(1).law == abi.DahdiLaw.ALAW and not dev.chan(16).audio
    assert dev.received(1) == [b"\xd5" * 40]
    span.close()


def test_a_clear_channel_as_dchannel_is_refused_with_the_fix() -> None:
    span, dev, _ = make(dsig=abi.Sig.CLEAR)
    with pytest.raises(SpanError, match="hardhdlc=24 or dchan=24"):
        span.open()
    assert not dev.by_fd  # nothing left open


@pytest.mark.parametrize("dsig", [abi.Sig.HARDHDLC, abi.Sig.HDLCFCS])
def test_dchannel_fcs_octets(dsig: int) -> None:
    span, dev, rec = make(dsig=dsig)
    span.open()
    dev.send(24, SABME + b"\xab\xcd")  # frame + FCS as DAHDI delivers it
    dev.send(24, b"\x00\x01\x12\x34")  # 2 octets after the FCS: too short, counted
    span.on_ready()
    assert rec.frames == [SABME]
    assert span.state.counters.dchannel_dropped == 1
    span.send_frame(b"\x02\x01\x73")
    assert dev.received(24) == [b"\x02\x01\x73\x00\x00"]  # 2 placeholder octets for the FCS
    with pytest.raises(FrameError):
        span.send_frame(b"\x00\x01")
    span.close()


def test_fcs_helpers() -> None:
    assert strip_fcs(SABME + b"\x01\x02") == SABME
    assert with_fcs_room(SABME) == SABME + b"\0\0"
    for bad in (b"", b"\x01", b"\x00\x01\x7f\x00"):
        with pytest.raises(FrameError):
            strip_fcs(bad)


def test_elast_on_read_fetches_the_event_then_reads() -> None:
    span, dev, rec = make()
    span.open()
    dev.send(24, SABME + b"\0\0")
    dev.event(24, abi.Event.BADFCS)
    span.on_ready()
    assert rec.frames == [SABME]
    assert span.state.counters.dchannel_bad_fcs == 1
    assert [n for c, n, _ in dev.ioctl_log if c == 24].count("DAHDI_GETEVENT") >= 2  # until NONE
    span.close()


def test_event_alone_is_seen_through_pollpri() -> None:
    span, dev, _rec = make()
    span.open()
    dev.event(24, abi.Event.ABORT)
    dev.event(24, abi.Event.OVERRUN)
    span.on_ready()  # no data at all: only POLLPRI says there is something
    assert span.state.counters.dchannel_dropped == 2
    assert span.events_seen == {"ABORT": 1, "OVERRUN": 1}
    assert not dev.chan(24).events
    span.close()


def test_elast_on_write_fetches_the_event_then_writes() -> None:
    span, dev, _ = make()
    span.open()
    dev.chan(24).events.append(abi.Event.BADFCS)  # pending, not yet polled
    span.send_frame(SABME)
    assert dev.received(24) == [SABME + b"\0\0"]
    assert span.state.counters.dchannel_bad_fcs == 1
    span.close()


def test_alarm_events_read_spanstat_once_and_report_changes() -> None:
    span, dev, rec = make()
    span.open()
    (up,) = [e for e in rec.events if isinstance(e, AlarmChanged)]
    assert up.cleared == Alarm.RED and up.layer1_up  # a span starts red until SPANSTAT says otherwise
    rec.events.clear()
    n0 = sum(1 for _, n, _ in dev.ioctl_log if n == "DAHDI_SPANSTAT")
    dev.alarms = abi.SpanAlarm.RED | abi.SpanAlarm.LOS
    dev.all_events(abi.Event.ALARM)  # DAHDI queues it on every open channel of the span
    span.on_ready()
    assert sum(1 for _, n, _ in dev.ioctl_log if n == "DAHDI_SPANSTAT") == n0 + 1
    (ev,) = [e for e in rec.events if isinstance(e, AlarmChanged)]
    assert ev.raised == Alarm.RED | Alarm.LOS and not ev.layer1_up
    assert span.status().as_dict()["alarms"] == ["red", "los"]
    dev.alarms = abi.SpanAlarm.YELLOW
    dev.all_events(abi.Event.NOALARM)
    span.on_ready()
    last = [e for e in rec.events if isinstance(e, AlarmChanged)][-1]
    assert last.cleared == Alarm.RED | Alarm.LOS and last.raised == Alarm.YELLOW and last.layer1_up
    span.close()


def test_counters_from_spanstat_and_proc() -> None:
    span, dev, rec = make()
    span.open()
    dev.bpv, dev.crc4, dev.fas = 3, 2, 1
    dev.proc_text += "\tBPV count: 3\n\tTiming slips: 5\n"
    span.poll_spanstat()
    (ev,) = [e for e in rec.events if isinstance(e, CountersChanged)]
    assert (ev.delta.bipolar_violations, ev.delta.crc_errors, ev.delta.fas_errors, ev.delta.slips) == (
        3, 2, 1, 5)
    span.poll_spanstat()
    assert len([e for e in rec.events if isinstance(e, CountersChanged)]) == 1  # no change, no event
    span.close()


def test_audio_blocks_in_and_out_per_span_block() -> None:
    span, dev, rec = make()
    span.open()
    for ts in range(1, 24):
        dev.received(ts)  # drop the prefill
    sent = {ts: bytes([ts]) * 20 + bytes([100 + ts]) * 20 for ts in range(1, 24)}
    for ts in range(1, 23):
        dev.send(ts, sent[ts])
    span.on_ready()
    assert rec.blocks == []  # timeslot 23 has not delivered yet: no block
    dev.send(23, sent[23])
    span.on_ready()
    (blk,) = rec.blocks
    assert blk.shape == (23, 40) and blk.dtype == np.uint8
    assert blk[0, 0] == 1 and blk[22, 39] == 123
    # the listener wrote the rows reversed: timeslot 1 transmits what timeslot 23 received
    assert dev.received(1) == [sent[23]] and dev.received(23) == [sent[1]]
    assert span.blocks == 1 and span.status().counters.tx_underruns == 0
    span.close()


def test_missing_tx_block_goes_out_idle_and_is_counted() -> None:
    span, dev, rec = make()
    span.open()
    rec.reply = np.zeros((23, 40), dtype=np.uint8)
    for _ in range(2):
        for ts in range(1, 24):
            dev.send(ts, bytes(40))
        span.on_ready()
    span.listener = type("Quiet", (Rec,), {"span_block": lambda self, s, rx, i: None})()
    for ts in range(1, 24):
        dev.send(ts, bytes(40))
    span.on_ready()
    assert span.state.counters.tx_underruns == 1
    assert dev.received(5)[-1] == b"\xff" * 40
    span.close()


def test_overrun_underrun_events_counted() -> None:
    span, dev, _ = make()
    span.open()
    dev.event(3, abi.Event.READ_OVERRUN)
    dev.event(4, abi.Event.WRITE_UNDERRUN)
    span.on_ready()
    c = span.state.counters
    assert (c.rx_overruns, c.tx_underruns) == (1, 1)
    span.close()


def test_stuck_channel_is_padded_so_the_clock_runs() -> None:
    asm = BlockAssembler(3, 16, 0xFF, max_lag=3)
    for _ in range(3):
        asm.feed(0, bytes(16))
        asm.feed(1, bytes(16))
    blk = asm.pop()
    assert blk is not None and (blk[2] == 0xFF).all() and asm.padded == 16
    assert asm.pop() is None


def test_basechan_from_sysfs_and_the_error_without_it() -> None:
    p = SpanParams(name="pri1", number=2, driver="dahdi", type=SpanType.T1,
                   dahdi=DahdiParams(basechan=None))
    dev = FakeDahdi(basechan=25, spanno=2)
    dev.files["/sys/bus/dahdi_spans/devices/span-2/basechan"] = "25\n"
    span = DahdiSpan(p, ops=dev, clock=lambda: 0.0)
    assert span.find_basechan() == 25
    dev.files.clear()
    with pytest.raises(SpanError, match="span-2/basechan"):
        span.find_basechan()


def test_non_default_timing_is_warned_about() -> None:
    span, _, rec = make(side=Side.USER, timing=Timing.INTERNAL)
    span.open()
    assert any(isinstance(e, TimingWarning) for e in rec.events)
    span.close()


def test_free_running_when_it_should_be_line_timed_is_warned_about() -> None:
    span, dev, rec = make()  # user side: line timing
    dev.syncsrc = 0
    span.open()
    (w,) = [e for e in rec.events if isinstance(e, TimingWarning)]
    assert "syncsrc 0" in w.message
    span.poll_spanstat()
    assert len([e for e in rec.events if isinstance(e, TimingWarning)]) == 1  # once, not per poll
    dev.syncsrc = 1
    span.poll_spanstat()
    assert span.detail()["syncsrc"] == 1
    span.close()


def test_alarm_bits_and_proc_parsing() -> None:
    assert alarms_from_dahdi(0) == Alarm.NONE
    assert alarms_from_dahdi(abi.SpanAlarm.BLUE | abi.SpanAlarm.LFA) == Alarm.BLUE | Alarm.LOF
    assert alarms_from_dahdi(abi.SpanAlarm.NOTOPEN) == Alarm.RED
    assert alarms_from_dahdi(abi.SpanAlarm.RECOVER | abi.SpanAlarm.LOOPBACK) == Alarm.NONE
    text = 'Span 1: WCT1/0 "T1 card" (MASTER) ESF/B8ZS RED\n\tIRQ misses: 4\n\tTiming slips: 17\n'
    assert parse_proc_span(text) == {"timing_slips": 17, "irq_misses": 4}


def test_runs_under_asyncio_through_the_poller_fd() -> None:
    async def body() -> None:
        span, dev, rec = make()
        await span.start()
        try:
            dev.send(24, SABME + b"\0\0")
            dev.event(24, abi.Event.BADFCS)
            for ts in range(1, 24):
                dev.send(ts, bytes([ts]) * 40)
            for _ in range(100):
                if rec.frames and rec.blocks:
                    break
                await asyncio.sleep(0.01)
            assert rec.frames == [SABME] and len(rec.blocks) == 1
            assert span.state.counters.dchannel_bad_fcs == 1
        finally:
            await span.stop()

    asyncio.run(body())


def test_probe_reports_status_lines_and_exit_status() -> None:
    import io
    import json

    from drivers.dahdi_probe import probe

    p = SpanParams(name="span1", number=1, driver="dahdi", type=SpanType.T1, block_samples=40,
                   dahdi=DahdiParams(basechan=1, blocksize=40))
    dev = FakeDahdi()
    out = io.StringIO()
    assert asyncio.run(probe(p, 1, ops=dev, out=out)) == 0
    (line,) = out.getvalue().splitlines()
    st = json.loads(line)
    assert st["name"] == "span1" and st["layer1_up"] is True and "blocks_per_second" in st
    dev = FakeDahdi(dsig=abi.Sig.CLEAR)
    out = io.StringIO()
    assert asyncio.run(probe(p, 1, ops=dev, out=out)) == 2
    assert "hardhdlc=24 or dchan=24" in json.loads(out.getvalue())["error"]
