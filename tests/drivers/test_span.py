"""The span interface: parameters, timing rules, alarm/counter events."""

from __future__ import annotations

import pytest

from drivers.span import (
    Alarm,
    AlarmChanged,
    Counters,
    CountersChanged,
    FrameError,
    Law,
    Side,
    SpanParams,
    SpanState,
    SpanType,
    Timing,
    check_frame,
    resolve_timing,
)


def test_defaults_follow_line_type() -> None:
    t1 = SpanParams(name="a", number=1, driver="dahdi", type=SpanType.T1)
    assert t1.bchannels == tuple(range(1, 24)) and t1.dchannel == 24
    assert t1.law is Law.ULAW and t1.framing == "esf" and t1.coding == "b8zs"
    e1 = SpanParams(name="b", number=2, driver="dahdi", type="E1")  # type: ignore[arg-type]
    assert 16 not in e1.bchannels and len(e1.bchannels) == 30 and e1.dchannel == 16
    assert e1.law is Law.ALAW and e1.framing == "ccs" and e1.coding == "hdb3"
    assert Law.ULAW.idle == 0xFF and Law.ALAW.idle == 0xD5


@pytest.mark.parametrize("bad", [
    {"bchannels": (1, 1)}, {"bchannels": (25,)}, {"dchannel": 23, "bchannels": (22, 23)},
    {"block_samples": 12}, {"driver": "zap"}, {"driver": "virtual"},
])
def test_bad_params_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SpanParams(name="a", number=1, driver=str(bad.pop("driver", "dahdi")), type=SpanType.T1,
                   **bad)  # type: ignore[arg-type]


def test_timing_follows_side_and_warns_otherwise() -> None:
    assert resolve_timing(Side.USER, Timing.AUTO) == (Timing.LINE, None)
    assert resolve_timing(Side.NETWORK, Timing.AUTO) == (Timing.INTERNAL, None)
    assert resolve_timing(Side.USER, Timing.LINE) == (Timing.LINE, None)
    t, warn = resolve_timing(Side.USER, Timing.INTERNAL)
    assert t is Timing.INTERNAL and warn and "default is 'line'" in warn
    t, warn = resolve_timing(Side.NETWORK, Timing.LINE)
    assert t is Timing.LINE and warn


def test_from_config_mapping() -> None:
    p = SpanParams.from_config({
        "name": "pbx", "number": 1, "driver": "virtual", "type": "e1", "side": "network",
        "virtual": {"dchannel_socket": "/tmp/x", "bchannel_local": "127.0.0.1:4000",
                    "bchannel_remote": ["127.0.0.1", 4001]},
    })
    assert p.type is SpanType.E1 and p.side is Side.NETWORK and p.crc4
    assert p.virtual and p.virtual.bchannel_local == ("127.0.0.1", 4000)
    assert p.virtual.frames_per_packet == 8 and p.virtual.playout_ms == 4
    assert p.effective_timing is Timing.INTERNAL


def test_state_reports_only_changes() -> None:
    st = SpanState(SpanParams(name="a", number=1, driver="dahdi", type=SpanType.T1))
    assert st.alarms == Alarm.RED
    (ev,) = st.set_alarms(Alarm.NONE, 1.0)
    assert isinstance(ev, AlarmChanged) and ev.cleared == Alarm.RED and ev.layer1_up
    assert st.set_alarms(Alarm.NONE, 2.0) == []
    (ev,) = st.set_alarms(Alarm.YELLOW, 3.0)
    assert isinstance(ev, AlarmChanged) and ev.raised == Alarm.YELLOW and ev.layer1_up
    assert st.flush_counters(4.0) == []
    st.count(slips=2)
    st.set_counters(crc_errors=5)
    (cv,) = st.flush_counters(5.0)
    assert isinstance(cv, CountersChanged)
    assert cv.delta == Counters(slips=2, crc_errors=5) and cv.counters == cv.delta
    assert st.flush_counters(6.0) == []


def test_frame_lengths() -> None:
    check_frame(b"\x00\x01\x7f")
    check_frame(bytes(264))
    for n in (0, 2, 265):
        with pytest.raises(FrameError):
            check_frame(bytes(n))


def test_from_the_gateway_config_schema() -> None:
    from appliance.config.spans import SpanConfig

    cfg = SpanConfig.model_validate({
        "number": 2, "driver": "virtual", "type": "E1", "switchtype": "euroisdn_e1", "side": "user",
        "virtual": {"dchannel_socket": "/run/tdmgw/span2.sock", "bchannel_local": "127.0.0.1:40000",
                    "bchannel_remote": "127.0.0.1:40001"},
    })
    p = SpanParams.from_config(cfg)
    assert p.name == "span2" and p.type is SpanType.E1 and p.law is Law.ALAW and p.crc4
    assert p.dchannel == 16 and 16 not in p.bchannels and len(p.bchannels) == 30
    assert p.virtual is not None and p.virtual.bchannel_remote == ("127.0.0.1", 40001)
    assert p.virtual.dchannel_socket == "/run/tdmgw/span2.sock"
    assert p.effective_timing is Timing.LINE
    d = SpanParams.from_config(SpanConfig.model_validate({
        "number": 1, "driver": "dahdi", "type": "T1", "switchtype": "ni2", "side": "network",
        "dahdi": {"basechan": 1, "blocksize": 80}}))
    assert d.dahdi is not None and d.dahdi.basechan == 1 and d.block_samples == 80
    assert d.law is Law.ULAW and not d.crc4 and d.effective_timing is Timing.INTERNAL
