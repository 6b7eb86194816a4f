"""Q.931 procedures between our two sides: glare (5.7), cause-44 retry, RESTART (5.5),
SERVICE (T1.607), data link failure and reset (5.8.8, 5.8.9), STATUS (5.8.10/11),
overlap sending (5.1.3), clearing timers (5.3)."""

from __future__ import annotations

import pytest

from appliance.isdn.cc import events as E
from appliance.isdn.cc.msg import Msg
from appliance.isdn.q931 import CallStateValue as S
from appliance.isdn.q931 import ServiceStatus, Variant

from .pair import Pair


def _active(p: Pair, *, from_user: bool = True, **kw: object) -> tuple[int, int]:
    """Set up one active call; returns (caller's id, callee's id)."""
    a, b = (p.user, p.net) if from_user else (p.net, p.user)
    cid = p.do(a, "setup", called="100", **kw)
    inc = b.last(E.IncomingCall)
    p.do(b, "connect", inc.call_id)
    assert a.ctl.call_state(cid) is S.ACTIVE
    return cid, inc.call_id


def test_glare_network_wins_user_call_moves_to_another_channel() -> None:
    p = Pair(Variant.NI2)
    p.up()
    # both seize channel 5 at once: the messages cross on the wire
    ucid, uout = p.user.ctl.setup(p.now, called="1", channel=5, exclusive=True)
    ncid, nout = p.net.ctl.setup(p.now, called="2", channel=5)
    p.take(p.user, uout)
    p.take(p.net, nout)
    p.pump()
    # the network's call has channel 5 on both sides
    inc = p.user.last(E.IncomingCall)
    assert inc.channel == 5
    assert p.net.ctl.calls()[ncid][1] == 5
    # the user's call was refused with 44 and retried on another channel
    assert any(isinstance(e, E.ChannelChanged) and e.call_id == ucid and e.channel not in (5,
               None) for e in p.user.events)
    net_inc = p.net.last(E.IncomingCall)
    assert net_inc.channel != 5
    assert p.user.ctl.calls()[ucid][1] == net_inc.channel
    p.check()
    p.do(p.net, "connect", net_inc.call_id)
    p.do(p.user, "connect", inc.call_id)
    assert p.user.ctl.call_state(ucid) is S.ACTIVE
    p.do(p.user, "disconnect", ucid)
    p.do(p.net, "disconnect", ncid)
    p.assert_idle()


def test_cause_44_retried_once_on_another_channel() -> None:
    p = Pair(Variant.DMS100)
    p.up()
    cid = p.do(p.user, "setup", called="1")
    inc = p.net.last(E.IncomingCall)
    first = inc.channel
    p.do(p.net, "release", inc.call_id, 44)
    assert p.user.ctl.call_state(cid) is S.CALL_INITIATED
    inc2 = p.net.last(E.IncomingCall)
    assert inc2.channel != first
    p.do(p.net, "release", inc2.call_id, 44)  # no more retries: the call fails
    assert p.user.last(E.Released).cause == 44
    p.assert_idle()


def test_restart_one_channel_clears_its_call() -> None:
    p = Pair(Variant.NI2)
    p.up()
    ucid, ncid = _active(p)
    ch = p.user.ctl.calls()[ucid][1]
    p.do(p.net, "restart", [ch])
    assert p.user.last(E.ChannelRestarted).channels == (ch,)
    assert p.net.last(E.ChannelRestarted).channels == (ch,)
    assert {e.call_id for e in p.user.of(E.Released)} == {ucid}
    assert {e.call_id for e in p.net.of(E.Released)} == {ncid}
    p.assert_idle()


def test_restart_list_and_interface() -> None:
    p = Pair(Variant.EUROISDN_E1)
    p.up()
    calls = [_active(p) for _ in range(3)]
    chans = [p.user.ctl.calls()[u][1] for u, _ in calls]
    p.do(p.user, "restart", chans[:2])
    assert sorted(p.net.last(E.ChannelRestarted).channels) == sorted(chans[:2])
    assert len(p.user.ctl.calls()) == 1
    p.do(p.user, "restart", None)
    assert p.net.last(E.ChannelRestarted).restart_class == 7
    p.assert_idle()


def test_restart_unanswered_takes_channel_out_of_service() -> None:
    p = Pair(Variant.NI2)
    p.up()
    p.user.clear()
    p.drop_to.add("net")
    p.do(p.user, "restart", [3])
    p.advance(120.0 * 3 + 1)
    assert [m.mt for m in p.user.sent].count("RESTART") == 3
    assert p.user.last(E.RestartFailed).channels == (3,)
    assert not p.user.ctl.pool.usable(3)
    p.assert_idle()


@pytest.mark.parametrize("variant", [Variant.NI2, Variant.ATT4ESS, Variant.LUCENT5E,
                                     Variant.DMS100])
def test_service_takes_channel_out_and_hunting_skips_it(variant: Variant) -> None:
    p = Pair(variant)
    p.up()
    p.do(p.net, "service", 1, ServiceStatus.OUT_OF_SERVICE)
    assert p.user.last(E.ServiceChanged).channel == 1
    assert p.net.last(E.ServiceChanged).far_end is False
    assert p.net.sent[-1].pd == (0x43 if variant is Variant.NI2 else 0x03)  # as libpri
    cid = p.do(p.net, "setup", called="1")
    assert p.user.last(E.IncomingCall).channel == 2
    p.do(p.net, "disconnect", cid)
    p.do(p.net, "service", 1, ServiceStatus.IN_SERVICE)
    cid = p.do(p.net, "setup", called="1")
    assert p.user.last(E.IncomingCall).channel == 1
    p.do(p.net, "disconnect", cid)
    p.assert_idle()


def test_link_failure_shorter_than_t309_keeps_active_call_and_resyncs() -> None:
    p = Pair(Variant.NI2)
    p.up()
    ucid, ncid = _active(p)
    cid_setup = p.do(p.user, "setup", called="2")  # not yet answered
    p.down()
    # the unanswered call is cleared with cause 41 on both sides, the active one kept
    assert any(isinstance(e, E.Released) and e.call_id == cid_setup and e.cause == 41
               for e in p.user.events)
    assert p.user.ctl.call_state(ucid) is S.ACTIVE
    p.advance(60.0)
    p.user.clear()
    p.up()
    assert "STATUS_ENQUIRY" in [m.mt for m in p.user.sent]
    assert p.user.ctl.call_state(ucid) is S.ACTIVE and p.net.ctl.call_state(ncid) is S.ACTIVE
    p.advance(10.0)  # T322 stopped by the STATUS answers: nothing more happens
    assert p.user.ctl.call_state(ucid) is S.ACTIVE
    p.do(p.user, "disconnect", ucid)
    p.assert_idle()


def test_link_failure_longer_than_t309_clears_with_cause_27() -> None:
    p = Pair(Variant.EUROISDN_E1)
    p.up()
    _ucid, _ncid = _active(p)
    p.down()
    p.advance(91.0)
    assert p.user.last(E.Released).cause == 27
    assert p.net.last(E.Released).cause == 27
    p.up()  # channels cleared while down are restarted when the link is back
    p.assert_idle()


def test_link_reset_clears_overlap_calls_only() -> None:
    p = Pair(Variant.EUROISDN_E1)
    p.up()
    ucid, _ = _active(p)
    ov = p.do(p.user, "setup", called="12", sending_complete=False)
    p.do(p.net, "setup_ack", p.net.last(E.IncomingCall).call_id)
    assert p.user.ctl.call_state(ov) is S.OVERLAP_SENDING
    p.take(p.user, p.user.ctl.l2_up(p.now))  # DL-ESTABLISH while established: reset
    p.take(p.net, p.net.ctl.l2_up(p.now))
    p.pump()
    assert p.user.ctl.call_state(ucid) is S.ACTIVE
    assert ov not in p.user.ctl.calls()
    p.do(p.user, "disconnect", ucid)
    p.assert_idle()


def test_overlap_sending_with_information_and_t302() -> None:
    p = Pair(Variant.EUROISDN_E1)
    p.up()
    cid = p.do(p.user, "setup", called="55", sending_complete=False)
    inc = p.net.last(E.IncomingCall)
    assert not inc.sending_complete
    p.do(p.net, "setup_ack", inc.call_id)
    assert p.user.last(E.SetupAcknowledged)
    p.do(p.user, "info", cid, "5")
    p.do(p.user, "info", cid, "1", sending_complete=True)
    infos = p.net.of(E.InfoReceived)
    assert [i.digits for i in infos] == ["5", "1"] and infos[-1].sending_complete
    p.do(p.net, "proceeding", inc.call_id)
    p.do(p.net, "connect", inc.call_id)
    assert p.user.ctl.call_state(cid) is S.ACTIVE
    p.do(p.net, "disconnect", inc.call_id)
    # incomplete number: T302 expires on the network side -> cause 28
    cid = p.do(p.user, "setup", called="5", sending_complete=False)
    inc = p.net.last(E.IncomingCall)
    p.do(p.net, "setup_ack", inc.call_id)
    p.advance(15.5)
    assert p.user.last(E.Released).cause == 28
    p.assert_idle()


def test_t310_t313_t305_t308() -> None:
    p = Pair(Variant.LUCENT5E)
    p.up()
    p.do(p.user, "setup", called="1")
    p.do(p.net, "proceeding", p.net.last(E.IncomingCall).call_id)
    p.advance(30.5)  # T310 (user side 30 s): DISCONNECT 102
    assert p.user.last(E.Disconnected).cause == 102
    p.assert_idle()
    # T313: the user answers, the network never acknowledges
    p.do(p.net, "setup", called="1")
    inc = p.user.last(E.IncomingCall)
    p.do(p.user, "proceeding", inc.call_id)
    p.drop_to.add("net")
    p.do(p.user, "connect", inc.call_id)
    p.advance(4.5)
    assert p.user.last(E.Disconnected).cause == 102
    assert p.user.ctl.call_state(inc.call_id) is S.DISCONNECT_REQUEST
    p.drop_to.clear()
    p.advance(60.0)
    p.assert_idle()
    # T305 then T308 twice: the far end went silent in an active call
    ucid, _ncid = _active(p)
    p.drop_to.update({"net", "user"})
    p.user.clear()
    p.do(p.user, "disconnect", ucid)
    p.advance(30.5)
    assert p.user.ctl.call_state(ucid) is S.RELEASE_REQUEST
    p.advance(8.5)
    assert ucid not in p.user.ctl.calls()
    assert [m.mt for m in p.user.sent] == ["DISCONNECT", "RELEASE", "RELEASE", "RESTART"]
    p.drop_to.clear()
    p.advance(120.5)  # T316: RESTART again, now answered; the network's call goes too
    assert p.user.last(E.ChannelRestarted).channels == (p.net.last(E.Released) and 23,)
    p.assert_idle()


def test_status_enquiry_null_far_end_clears_stale_call() -> None:
    p = Pair(Variant.NI2, wire=True)
    p.up()
    ucid, _ncid = _active(p)
    # the network forgets the call (e.g. it restarted without telling us)
    p.net.ctl._by_id.clear()
    p.net.ctl._calls.clear()
    ch = p.user.ctl.calls()[ucid][1]
    assert ch is not None
    p.net.ctl.pool[ch].state = p.net.ctl.pool[ch].state.IDLE
    p.net.ctl.pool[ch].owner = None
    p.net.events.clear()  # its record of the call went with it
    p.do(p.user, "status_enquiry", ucid)
    assert p.user.last(E.Released).call_id == ucid
    p.assert_idle()


def test_unknown_call_reference_answers() -> None:
    p = Pair(Variant.NI2)
    p.up()
    out = p.user.ctl.receive(Msg("DISCONNECT", 77, True, cause=16), 0.0)
    assert out.messages[0].mt == "RELEASE_COMPLETE" and out.messages[0].cause == 81
    out = p.user.ctl.receive(Msg("STATUS_ENQUIRY", 77, True), 0.0)
    assert out.messages[0].mt == "STATUS" and out.messages[0].call_state == 0
    assert p.user.ctl.receive(Msg("RELEASE_COMPLETE", 77, True), 0.0).messages == []
    out = p.user.ctl.receive_bytes(bytes([8, 2, 0, 78, 5]), 0.0)  # no bearer capability
    assert out.messages[0].cause == 96
    out = p.user.ctl.receive(Msg("ALERTING", 0, True), 0.0)
    assert out.messages[0].mt == "STATUS" and out.messages[0].cause == 81


def test_message_not_compatible_with_state_answers_status_101() -> None:
    p = Pair(Variant.NI2)
    p.up()
    cid = p.do(p.user, "setup", called="1")
    inc = p.net.last(E.IncomingCall)
    cref = p.net.ctl._by_id[inc.call_id].cref
    out = p.user.ctl.receive(Msg("CONNECT_ACKNOWLEDGE", cref, False), p.now)
    assert out.messages[0].mt == "STATUS" and out.messages[0].cause == 101
    assert out.messages[0].call_state == 1
    assert p.user.ctl.call_state(cid) is S.CALL_INITIATED


def test_in_band_tones_on_disconnect_wait_for_release() -> None:
    p = Pair(Variant.NI2)
    p.up()
    ucid, ncid = _active(p)
    p.do(p.net, "disconnect", ncid, 17, inband=True)
    d = p.user.last(E.Disconnected)
    assert d.inband and p.user.ctl.call_state(ucid) is S.DISCONNECT_INDICATION
    p.do(p.user, "release", ucid)
    p.assert_idle()
    # and if the user never releases, T306 on the network side does
    ucid, ncid = _active(p)
    p.do(p.net, "disconnect", ncid, 17, inband=True)
    p.advance(30.5)
    p.assert_idle()


def test_restart_on_link_up_where_the_variant_expects_it() -> None:
    p = Pair(Variant.NI2)
    p.up()
    restarts = [m for m in p.user.sent if m.mt == "RESTART"]
    assert len(restarts) == 23 and all(m.restart_class == 0 for m in restarts)
    assert not [m for m in p.net.sent if m.mt == "RESTART"]
    assert len(p.user.of(E.ChannelRestarted)) == 23
    p.assert_idle()
    q = Pair(Variant.EUROISDN_E1)
    q.up()
    assert not [m for m in q.user.sent if m.mt == "RESTART"]


def test_mandatory_ie_errors_q931_5_8_6() -> None:
    p = Pair(Variant.NI2)
    p.up()
    # SETUP whose bearer capability is malformed: RELEASE COMPLETE, cause 100
    bad_setup = bytes([8, 2, 0, 90, 5, 0x04, 0x01, 0x00])
    out = p.net.ctl.receive_bytes(bad_setup, p.now)
    assert [(m.mt, m.cause) for m in out.messages] == [("RELEASE_COMPLETE", 100)]
    assert not p.net.ctl.calls()
    # DISCONNECT without its cause: we answer RELEASE with cause 96
    cid = p.do(p.user, "setup", called="1")
    ncid = p.net.last(E.IncomingCall).call_id
    p.do(p.net, "connect", ncid)
    cref = p.user.ctl.call_by_id(cid).cref
    out = p.user.ctl.receive_bytes(bytes([8, 2, 0x80, cref, 0x45]), p.now)
    assert [(m.mt, m.cause) for m in out.messages] == [("RELEASE", 96)]
    # RESTART without a restart indicator: STATUS on the global reference, cause 96
    out = p.user.ctl.receive_bytes(bytes([8, 2, 0, 0, 0x46]), p.now)
    assert [(m.mt, m.cause, m.cref) for m in out.messages] == [("STATUS", 96, 0)]


def test_setup_channel_identification_q931_3_1_14() -> None:
    """Mandatory from the network (user side refuses with 96 when absent, 100 when it
    cannot be read); optional from the user (the network hunts), 100 when unreadable."""
    p = Pair(Variant.NI2)
    p.up()
    bc = bytes([0x04, 0x03, 0x80, 0x90, 0xA2])  # speech, 64 kbit/s, u-law
    called = bytes([0x70, 0x02, 0x81, 0x31])
    # network -> user, no channel identification: RELEASE COMPLETE 96, no call
    out = p.user.ctl.receive_bytes(bytes([8, 2, 0x00, 0x21, 0x05]) + bc + called, p.now)
    assert [(m.mt, m.cause) for m in out.messages] == [("RELEASE_COMPLETE", 96)]
    assert not p.user.ctl.calls()
    assert not p.user.of(E.IncomingCall)
    # network -> user, channel identification truncated (octet 3.2 promised): 100
    trunc = bytes([0x18, 0x02, 0xA9, 0x03])
    out = p.user.ctl.receive_bytes(bytes([8, 2, 0x00, 0x22, 0x05]) + bc + trunc + called,
                                   p.now)
    assert [(m.mt, m.cause) for m in out.messages] == [("RELEASE_COMPLETE", 100)]
    assert not p.user.ctl.calls()
    # user -> network with the same unreadable IE: 100 as well
    out = p.net.ctl.receive_bytes(bytes([8, 2, 0x00, 0x23, 0x05]) + bc + trunc + called,
                                  p.now)
    assert [(m.mt, m.cause) for m in out.messages] == [("RELEASE_COMPLETE", 100)]
    assert not p.net.ctl.calls()
    # user -> network without one: accepted, the network picks the channel
    out = p.net.ctl.receive_bytes(bytes([8, 2, 0x00, 0x24, 0x05]) + bc + called, p.now)
    assert "RELEASE_COMPLETE" not in [m.mt for m in out.messages]
    assert len(p.net.ctl.calls()) == 1


def test_clearing_cause_location_given_by_the_caller_q850_2_2_5() -> None:
    """An interworked clearing keeps where it came from (RFC 8606 location from SIP):
    the location reaches the far end's decoded cause IE; without one, the side's own."""
    for variant in (Variant.NI2, Variant.QSIG):
        p = Pair(variant)
        p.up()
        cid, ncid = _active(p)
        p.do(p.user, "disconnect", cid, 21, location=4)
        disc = p.net.last(E.Disconnected)
        assert disc.message is not None and (disc.message.cause, disc.message.cause_location) \
            == (21, 4)
        p.assert_idle()
        cid, ncid = _active(p)
        p.do(p.net, "disconnect", ncid, 16)
        disc = p.user.last(E.Disconnected)
        assert disc.message is not None
        assert disc.message.cause_location == (1 if variant == Variant.QSIG else 2)
        p.assert_idle()
    p = Pair(Variant.NI2)
    p.up()
    cid, _ = _active(p)
    with pytest.raises(ValueError, match=r"0\.\.15"):
        p.user.ctl.disconnect(cid, p.now, 16, location=16)


def test_hunting_is_configurable_per_side() -> None:
    from appliance.isdn.cc.channels import Hunting
    p = Pair(Variant.EUROISDN_E1, user={"hunting": Hunting.ROUND_ROBIN_DESCENDING},
             net={"hunting": Hunting.DESCENDING})
    p.up()
    got = []
    for _ in range(3):
        cid = p.do(p.user, "setup", called="1")
        got.append(p.user.ctl.calls()[cid][1])
        p.do(p.user, "disconnect", cid)
    assert got == [31, 30, 29]  # round robin moves on although 31 is free again
    ncid = p.do(p.net, "setup", called="2")
    assert p.user.last(E.IncomingCall).channel == 31
    p.do(p.net, "disconnect", ncid)
    p.assert_idle()


def test_preferred_channel_busy_at_the_user_is_moved_in_the_first_answer() -> None:
    p = Pair(Variant.EUROISDN_E1)
    p.up()
    # channel 5 is unusable at the user end only (local maintenance, not signalled)
    p.user.ctl.pool.set_service(5, ServiceStatus.MAINTENANCE, far=False)
    ncid = p.do(p.net, "setup", called="2", channel=5, exclusive=False)
    inc = p.user.last(E.IncomingCall)
    assert inc.channel != 5  # the user picks another one (Q.931 5.2.3.1 b)
    p.do(p.user, "alerting", inc.call_id)
    assert p.net.ctl.calls()[ncid][1] == inc.channel
    assert any(isinstance(e, E.ChannelChanged) and e.call_id == ncid for e in p.net.events)
    p.do(p.net, "disconnect", ncid)
    p.assert_idle()


def test_ie_errors_q931_5_8_7() -> None:
    p = Pair(Variant.NI2)
    p.up()
    bearer, chan = b"\x04\x03\x80\x90\xa2", b"\x18\x03\xa9\x83\x83"
    # unknown optional IE (0x5f): the call is taken, STATUS cause 99 reports it
    out = p.net.ctl.receive_bytes(bytes([8, 2, 0, 91, 5]) + bearer + chan + b"\x5f\x01\x00",
                                  p.now)
    assert any(isinstance(e, E.IncomingCall) for e in out.events)
    assert [(m.mt, m.cause) for m in out.messages] == [("STATUS", 99)]
    # malformed optional IE (progress indicator cut short): STATUS cause 100
    out = p.net.ctl.receive_bytes(bytes([8, 2, 0, 92, 5]) + bearer + b"\x18\x03\xa9\x83\x84"
                                  + b"\x1e\x01\x81", p.now)
    assert any(isinstance(e, E.IncomingCall) for e in out.events)
    assert [(m.mt, m.cause) for m in out.messages] == [("STATUS", 100)]
    # unknown IE that demands comprehension (0x0b): refused like a missing one (96)
    out = p.net.ctl.receive_bytes(bytes([8, 2, 0, 93, 5]) + bearer + b"\x0b\x01\x00", p.now)
    assert [(m.mt, m.cause) for m in out.messages] == [("RELEASE_COMPLETE", 96)]
