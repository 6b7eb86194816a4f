"""Interop with libpri 1.6 in every variant it has, both roles: our user side against
libpri's network side and the reverse (issue 6 scenarios).  Every scenario ends with
all channels idle on both sides."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from appliance.isdn.cc import events as E
from appliance.isdn.q931 import CallStateValue as S
from appliance.isdn.q931 import Variant
from tests.peers.libpri import Ev
from tests.peers.libpri_calls import Rig

pytestmark = pytest.mark.peer

VARIANTS = [Variant.NI2, Variant.ATT4ESS, Variant.LUCENT5E, Variant.DMS100,
            Variant.EUROISDN_E1, Variant.EUROISDN_T1, Variant.QSIG]
COMBOS = [(v, r) for v in VARIANTS for r in ("user", "network")]
IDS = [f"{v.name}-{r}" for v, r in COMBOS]


@pytest.fixture(params=COMBOS, ids=IDS)
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    variant, role = request.param
    r = Rig(variant, role)
    r.start()
    yield r
    r.close()


def test_we_call_libpri_answers_we_hang_up(rig: Rig) -> None:
    rig.app.policy = "answer"
    cid = rig.do("setup", called="5551000")
    assert rig.run(lambda: rig.has(E.Connected, call_id=cid))
    ring = rig.pri_events(Ev.RING)[-1]
    assert ring.callednum == "5551000"
    assert rig.ctl.call_state(cid) is S.ACTIVE
    ch = rig.ctl.calls()[cid][1]
    assert rig.app.busy.get(ch) is not None
    rig.do("disconnect", cid, 16)
    assert rig.run(lambda: rig.has(E.Released, call_id=cid))
    rig.assert_idle()


def _incoming(rig: Rig, **kw: object) -> tuple[int, object]:
    """libpri places a call to us; returns (our call id, libpri's PriCall)."""
    chan = max(rig.profile.b_channels) - 1 if rig.role == "user" else 2
    pc = rig.app.setup("2000", chan, **kw)  # type: ignore[arg-type]
    assert rig.run(lambda: bool(rig.of(E.IncomingCall)))
    inc = rig.of(E.IncomingCall)[-1]
    assert inc.channel == chan and inc.called == "2000"
    return inc.call_id, pc


def test_libpri_calls_we_answer_libpri_hangs_up(rig: Rig) -> None:
    cid, pc = _incoming(rig)
    rig.do("connect", cid)
    assert rig.run(lambda: rig.has(E.Connected, call_id=cid))
    assert rig.run(lambda: bool(rig.pri_events(Ev.ANSWER)))
    rig.app.hangup(pc, 16)  # type: ignore[arg-type]
    assert rig.run(lambda: rig.has(E.Released, call_id=cid))
    assert rig.of(E.Disconnected)[-1].cause == 16
    rig.assert_idle()


def test_libpri_sends_proceeding_progress_alerting_connect_then_disconnects(rig: Rig) -> None:
    cid = rig.do("setup", called="3000")
    assert rig.run(lambda: bool(rig.pri_events(Ev.RING)))
    pc = next(iter(rig.app.calls.values()))
    ch = pc.channel or 0
    rig.pri.proceeding(pc.handle, ch, 0)
    assert rig.run(lambda: rig.has(E.Proceeding, call_id=cid))
    rig.pri.progress(pc.handle, ch, 1)
    assert rig.run(lambda: rig.has(E.Progress, call_id=cid))
    rig.pri.acknowledge(pc.handle, ch, 1)
    assert rig.run(lambda: rig.has(E.Alerting, call_id=cid))
    rig.pri.answer(pc.handle, ch)
    assert rig.run(lambda: rig.has(E.Connected, call_id=cid))
    assert rig.ctl.call_state(cid) is S.ACTIVE
    rig.app.hangup(pc, 16)
    assert rig.run(lambda: rig.has(E.Released, call_id=cid))
    assert rig.of(E.Disconnected)[-1].by_far_end
    rig.assert_idle()


def test_we_send_proceeding_progress_alerting_connect_then_disconnect(rig: Rig) -> None:
    cid, _ = _incoming(rig)
    rig.do("proceeding", cid)
    assert rig.run(lambda: bool(rig.pri_events(Ev.PROCEEDING)))
    rig.do("progress", cid, description=8)
    assert rig.run(lambda: bool(rig.pri_events(Ev.PROGRESS)))
    rig.do("alerting", cid)
    assert rig.run(lambda: bool(rig.pri_events(Ev.RINGING)))
    rig.do("connect", cid)
    assert rig.run(lambda: bool(rig.pri_events(Ev.ANSWER)))
    assert rig.run(lambda: rig.ctl.call_state(cid) is S.ACTIVE)
    rig.do("disconnect", cid, 16)
    assert rig.run(lambda: rig.has(E.Released, call_id=cid))
    hang = rig.pri_events(Ev.HANGUP) + rig.pri_events(Ev.HANGUP_REQ)
    assert hang and hang[0].cause == 16
    rig.assert_idle()


@pytest.mark.parametrize("cause", [17, 34])
def test_busy_and_no_circuit_from_libpri(rig: Rig, cause: int) -> None:
    rig.app.policy = ("busy", cause)
    cid = rig.do("setup", called="4000")
    assert rig.run(lambda: rig.has(E.Released, call_id=cid))
    got = [e for e in rig.events if isinstance(e, E.Disconnected | E.Released)
           and e.call_id == cid]
    assert got[0].cause == cause
    rig.assert_idle()


@pytest.mark.parametrize("cause", [17, 34])
def test_busy_and_no_circuit_from_us(rig: Rig, cause: int) -> None:
    cid, _ = _incoming(rig)
    if cause == 17:
        rig.do("alerting", cid)
        assert rig.run(lambda: bool(rig.pri_events(Ev.RINGING)))
        rig.do("disconnect", cid, cause)
    else:
        rig.do("release", cid, cause)  # refuse the SETUP: RELEASE COMPLETE, cause 34
    assert rig.run(lambda: bool(rig.pri_events(Ev.HANGUP) + rig.pri_events(Ev.HANGUP_REQ)))
    hang = (rig.pri_events(Ev.HANGUP) + rig.pri_events(Ev.HANGUP_REQ))[0]
    assert hang.cause == cause
    rig.assert_idle()


def test_glare_resolved_as_q931_says(rig: Rig) -> None:
    """Both sides seize channel 5 at once; the network side's call keeps it (Q.931 5.7).

    Each side asks as its variant does: the network exclusively, the user preferred.
    """
    rig.app.policy = "answer"
    cid, out = rig.ctl.setup(time.time(), called="5000", channel=5)
    pc = rig.app.setup("6000", 5, exclusive=True)  # libpri's SETUP crosses ours
    rig._take(out, time.time())
    rig.settle(0.5)
    if rig.role == "user":
        # libpri (network) wins: we took its call on 5; it moved ours to another channel
        inc = rig.of(E.IncomingCall)[-1]
        assert inc.channel == 5
        assert rig.run(lambda: rig.has(E.Connected, call_id=cid))
        ours_ch = rig.ctl.calls()[cid][1]
        assert ours_ch not in (None, 5)
        rig.do("connect", inc.call_id)
        assert rig.run(lambda: bool(rig.pri_events(Ev.ANSWER)))
        rig.do("disconnect", inc.call_id)
    else:
        # we (network) win: libpri's call is refused with 44; ours keeps channel 5
        assert rig.run(lambda: rig.has(E.Connected, call_id=cid) or rig.has(E.Released,
                                                                             call_id=cid))
        hang = [e for e in rig.pri_events(Ev.HANGUP) + rig.pri_events(Ev.HANGUP_ACK)
                if int(e.fields.get("call") or 0) == pc.handle]
        assert hang and hang[0].cause == 44
        if rig.has(E.Connected, call_id=cid):
            assert rig.ctl.calls()[cid][1] is not None
    if cid in rig.ctl.calls():
        rig.do("disconnect", cid)
    rig.assert_idle()


def test_restart_one_channel_both_ways(rig: Rig) -> None:
    rig.app.policy = "answer"
    cid = rig.do("setup", called="7000")
    assert rig.run(lambda: rig.has(E.Connected, call_id=cid))
    ch = rig.ctl.calls()[cid][1]
    rig.do("restart", [ch])
    assert rig.run(lambda: rig.has(E.ChannelRestarted, channels=(ch,), by_far_end=False))
    assert rig.has(E.Released, call_id=cid)
    assert rig.run(lambda: any(chan == ch for chan in
                               [e.channel & 0xFF for e in rig.pri_events(Ev.RESTART)]))
    rig.assert_idle()
    # and libpri restarts the channel of a call of ours
    cid = rig.do("setup", called="7001")
    assert rig.run(lambda: rig.has(E.Connected, call_id=cid))
    ch = rig.ctl.calls()[cid][1]
    pc = next(iter(rig.app.calls.values()))
    rig.pri.reset(ch)
    assert rig.run(lambda: rig.has(E.ChannelRestarted, by_far_end=True, channels=(ch,)))
    assert rig.has(E.Released, call_id=cid)
    rig.pri.destroycall(pc.handle)
    rig.app._free(pc.handle)
    assert rig.run(lambda: bool(rig.pri_events(Ev.RESTART_ACK)) or True, 0.2)
    rig.assert_idle()


def test_restart_interface(rig: Rig) -> None:
    """We restart the whole interface (class 7) with calls up.  (libpri 1.6 cannot send
    one: its pri_restart() is an empty stub, so reception of class 7 is covered by the
    back-to-back tests.)"""
    rig.app.policy = "answer"
    cids = [rig.do("setup", called=f"80{i}") for i in range(2)]
    assert rig.run(lambda: all(rig.has(E.Connected, call_id=c) for c in cids))
    rig.do("restart", None)
    assert rig.run(lambda: rig.has(E.ChannelRestarted, by_far_end=False, restart_class=7))
    assert all(rig.has(E.Released, call_id=c) for c in cids)
    assert rig.run(lambda: bool(rig.pri_events(Ev.RESTART)))
    rig.assert_idle()
    cid = rig.do("setup", called="809")  # and the interface carries calls again
    assert rig.run(lambda: rig.has(E.Connected, call_id=cid))
    rig.do("disconnect", cid)
    rig.assert_idle()


def test_calling_name_and_redirecting_number_both_ways(rig: Rig) -> None:
    from appliance.isdn.cc.parties import (
        Redirecting,
        calling_name,
        calling_number_ie,
        name_ies,
        redirecting,
        redirecting_ies,
    )
    from tests.peers.libpri import PRI_NATIONAL_ISDN
    rig.app.policy = "alert"
    ies = (calling_number_ie("5551234", type_of_number=2),
           *name_ies(rig.profile, "Bob Jones"),
           *redirecting_ies(rig.profile, Redirecting("5559999", 1, 2)))
    cid = rig.do("setup", called="9000", ies=ies)
    assert rig.run(lambda: bool(rig.pri_events(Ev.RING)))
    ring = rig.pri_events(Ev.RING)[-1]
    assert (ring.callingnum, ring.callingname) == ("5551234", "Bob Jones")
    assert (ring.redirectingnum, ring.redirectingreason) == ("5559999", 1)
    rig.do("disconnect", cid)
    assert rig.run(lambda: rig.has(E.Released, call_id=cid))
    rig.assert_idle()
    # libpri -> us
    from tests.peers.libpri import LIB
    LIB.pri_display_options_send(rig.pri.pri, 1 << 1)  # name in display where it can
    cid2, _pc = _incoming(rig, caller="5554321", callername="Alice Smith",
                         callerplan=PRI_NATIONAL_ISDN,
                         redirecting=("5558888", PRI_NATIONAL_ISDN, 0, 2))
    inc = rig.of(E.IncomingCall)[-1]
    assert calling_name(inc.message) == "Alice Smith"
    red = redirecting(inc.message)
    assert red is not None and (red.digits, red.reason) == ("5558888", 2)
    rig.do("disconnect", cid2, 16)
    assert rig.run(lambda: rig.has(E.Released, call_id=cid2))
    rig.assert_idle()


def _active_call(rig: Rig) -> int:
    rig.app.policy = "answer"
    cid = rig.do("setup", called="1234")
    assert rig.run(lambda: rig.has(E.Connected, call_id=cid))
    return int(cid)


def _link_back(rig: Rig) -> None:
    rig.run(lambda: rig.lapd.is_up, 0.3)  # libpri may bring it up itself
    if not rig.lapd.is_up:
        rig._lapd_events(rig.lapd.establish(time.time()), time.time())
    assert rig.run(lambda: rig.lapd.is_up and rig.ctl.link_up and rig.app.up)


def test_link_outage_shorter_than_t309_keeps_the_call(rig: Rig) -> None:
    cid = _active_call(rig)
    ch = rig.ctl.calls()[cid][1]
    rig._lapd_events(rig.lapd.release(time.time()), time.time())  # DISC: both see it go
    assert rig.run(lambda: not rig.ctl.link_up and not rig.app.up)
    assert rig.ctl.call_state(cid) is S.ACTIVE  # kept under T309 (Q.931 5.8.8)
    rig.settle(0.1)
    rig.sent.clear()
    _link_back(rig)
    assert rig.run(lambda: "STATUS_ENQUIRY" in rig.sent)
    rig.settle(0.3)
    assert rig.ctl.call_state(cid) is S.ACTIVE and rig.ctl.calls()[cid][1] == ch
    assert rig.app.busy.get(ch) is not None  # libpri kept it too
    rig.do("disconnect", cid)
    assert rig.run(lambda: rig.has(E.Released, call_id=cid))
    rig.assert_idle()


def test_link_outage_longer_than_t309_clears_and_restarts(rig: Rig) -> None:
    rig.close()
    r = Rig(rig.variant, rig.role, cc_timers={"T309": 0.4},
            pri_timers={"T309": 400, "T203": 300})
    try:
        r.start()
        cid = _active_call(r)
        r.cut = True  # the D-channel is gone: nothing passes either way
        r._lapd_events(r.lapd.release(time.time()), time.time())
        assert r.run(lambda: r.has(E.Released, call_id=cid), 3.0)
        assert [e.cause for e in r.of(E.Released) if e.call_id == cid] == [27]
        assert r.run(lambda: not r.app.calls, 3.0)  # libpri's own T309 cleared its side
        r.cut = False
        _link_back(r)
        r.assert_idle(3.0)
    finally:
        r.close()


NA = [Variant.NI2, Variant.ATT4ESS, Variant.LUCENT5E, Variant.DMS100]


@pytest.mark.parametrize("variant", NA, ids=[v.name for v in NA])
@pytest.mark.parametrize("role", ["user", "network"])
def test_service_both_ways(variant: Variant, role: str) -> None:
    from appliance.isdn.q931 import ServiceStatus
    r = Rig(variant, role, service=True)
    try:
        r.start()
        r.do("service", 3, ServiceStatus.OUT_OF_SERVICE)
        assert r.run(lambda: r.has(E.ServiceChanged, channel=3, far_end=False))
        assert r.run(lambda: bool(r.pri_events(Ev.SERVICE)) or True, 0.2)
        r.pri.maintenance_service(0, 5, int(ServiceStatus.OUT_OF_SERVICE))
        assert r.run(lambda: r.has(E.ServiceChanged, channel=5, far_end=True))
        assert not r.ctl.pool.usable(5) and not r.ctl.pool.usable(3)
        assert r.run(lambda: bool(r.pri_events(Ev.SERVICE_ACK)))
        r.pri.maintenance_service(0, 5, int(ServiceStatus.IN_SERVICE))
        assert r.run(lambda: r.ctl.pool.usable(5))
        r.assert_idle()
    finally:
        r.close()


def test_restart_channel_list(rig: Rig) -> None:
    """One RESTART (class 0) naming several channels, two of them carrying calls."""
    rig.events.clear()
    rig.app.events.clear()
    rig.app.policy = "answer"
    cids = [rig.do("setup", called=f"81{i}") for i in range(2)]
    assert rig.run(lambda: all(rig.has(E.Connected, call_id=c) for c in cids))
    chans = sorted(rig.ctl.calls()[c][1] for c in cids)
    idle = next(n for n in rig.profile.b_channels if n not in chans)
    rig.do("restart", [*chans, idle])
    assert rig.run(lambda: rig.has(E.ChannelRestarted, by_far_end=False))
    assert sorted(rig.of(E.ChannelRestarted)[-1].channels) == sorted([*chans, idle])
    assert all(rig.has(E.Released, call_id=c) for c in cids)
    got = {e.channel & 0xFF for e in rig.pri_events(Ev.RESTART)}
    assert got >= {*chans, idle}
    rig.assert_idle()


OVERLAP = [(v, r) for v in (Variant.EUROISDN_E1, Variant.EUROISDN_T1, Variant.QSIG)
           for r in ("user", "network")]


@pytest.mark.parametrize(("variant", "role"), OVERLAP, ids=[f"{v.name}-{r}" for v, r in OVERLAP])
def test_overlap_sending_both_ways(variant: Variant, role: str) -> None:
    r = Rig(variant, role)
    try:
        r.pri.set_overlapdial(True)
        r.start()
        # we dial in overlap: SETUP without sending complete, then INFORMATION digits
        cid = r.do("setup", called="55", sending_complete=False)
        assert r.run(lambda: bool(r.pri_events(Ev.RING)))
        pc = next(iter(r.app.calls.values()))
        assert r.pri_events(Ev.RING)[-1].complete == 0
        r.pri.need_more_info(pc.handle, pc.channel or 0)
        assert r.run(lambda: r.has(E.SetupAcknowledged, call_id=cid))
        for d in "512":
            r.do("info", cid, d)
        r.do("info", cid, None, sending_complete=True)
        assert r.run(lambda: len(r.pri_events(Ev.INFO_RECEIVED)) >= 3)
        digits = "".join(e.callednum for e in r.pri_events(Ev.INFO_RECEIVED))
        assert digits.startswith("512")
        r.pri.answer(pc.handle, pc.channel or 0)
        assert r.run(lambda: r.has(E.Connected, call_id=cid))
        r.do("disconnect", cid)
        assert r.run(lambda: r.has(E.Released, call_id=cid))
        r.assert_idle()
        # libpri dials in overlap toward us
        r.app.setup("7", 3 if role == "user" else 4, complete=False)
        assert r.run(lambda: bool(r.of(E.IncomingCall)))
        inc = r.of(E.IncomingCall)[-1]
        assert not inc.sending_complete and inc.called == "7"
        r.do("setup_ack", inc.call_id)
        assert r.run(lambda: bool(r.pri_events(Ev.SETUP_ACK)))
        h = next(iter(r.app.calls.values())).handle
        for d in "89":
            r.pri.information(h, d)
        assert r.run(lambda: len(r.of(E.InfoReceived)) >= 2)
        assert "".join(i.digits or "" for i in r.of(E.InfoReceived)) == "89"
        r.do("proceeding", inc.call_id)
        r.do("connect", inc.call_id)
        assert r.run(lambda: r.ctl.call_state(inc.call_id) is S.ACTIVE)
        r.do("disconnect", inc.call_id)
        r.assert_idle()
    finally:
        r.close()


def test_all_channels_busy(rig: Rig) -> None:
    """Every B-channel carries a call: one more from us fails here with 34; one from
    libpri on a busy channel is refused with 44; then everything clears."""
    rig.app.policy = "answer"
    n = len(rig.profile.b_channels)
    cids = [rig.do("setup", called=f"9{i:02d}") for i in range(n)]
    assert rig.run(lambda: all(rig.has(E.Connected, call_id=c) for c in cids), 5.0)
    assert not rig.ctl.pool.idle_numbers()
    extra = rig.do("setup", called="999")
    assert rig.has(E.Released, call_id=extra, cause=34)
    pc = rig.app.setup("888", rig.profile.b_channels[0], exclusive=True)
    assert rig.run(lambda: any(int(e.fields.get("call") or 0) == pc.handle
                               for e in rig.pri_events(Ev.HANGUP)))
    hang = [e for e in rig.pri_events(Ev.HANGUP) if int(e.fields.get("call") or 0) == pc.handle]
    assert hang[0].cause == 44
    for c in cids:
        rig.do("disconnect", c)
    assert rig.run(lambda: all(rig.has(E.Released, call_id=c) for c in cids), 5.0)
    rig.assert_idle(5.0)


FAC_NAMES = [(v, r) for v in (Variant.QSIG, Variant.NI2) for r in ("user", "network")]


@pytest.mark.parametrize(("variant", "role"), FAC_NAMES,
                         ids=[f"{v.name}-{r}" for v, r in FAC_NAMES])
def test_connected_name_presentation(variant: Variant, role: str) -> None:
    """QSIG name presentation (ECMA-164 connectedName) in our CONNECT reaches libpri."""
    from appliance.isdn.cc.parties import name_ies
    from appliance.isdn.q931 import NameOp
    r = Rig(variant, role)
    try:
        r.start()
        r.app.setup("2000", 3)
        assert r.run(lambda: bool(r.of(E.IncomingCall)))
        inc = r.of(E.IncomingCall)[-1]
        r.do("connect", inc.call_id,
             ies=name_ies(r.profile, "Gateway AI", op=NameOp.CONNECTED_NAME))
        assert r.run(lambda: bool(r.pri_events(Ev.ANSWER)))
        subs = r.pri_events(Ev.ANSWER)[-1].subcmds
        names = [s["connected_line"]["id"]["name"]["str"] for s in subs
                 if s.get("connected_line")]
        assert names == ["Gateway AI"]
        r.do("disconnect", inc.call_id)
        r.assert_idle()
    finally:
        r.close()
