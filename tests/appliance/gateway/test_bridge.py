"""The call bridge state machine: call progress both ways (issue 10 item 2), on injected time."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.gateway import bridge as B
from appliance.gateway import bridge_events as BE
from appliance.interwork.facts import CallFacts, CauseFact, Party, Presentation

from .helpers import HELD, REMOTE, router

FACTS = CallFacts(calling=Party("5550100", presentation=Presentation.RESTRICTED),
                  called=Party("2001"))


def kinds(actions: list[BE.Action]) -> list[str]:
    return [type(a).__name__ if not isinstance(a, BE.CallEvent) else a.kind for a in actions]


def inbound(r=None) -> tuple[B.Bridge, list[BE.Action]]:
    b = B.Bridge("c1", r or router())
    out = b.handle(BE.IsdnSetup("span1", 3, FACTS), 0.0)
    return b, out


def test_in_proceeding_first_then_media_then_invite() -> None:
    b, out = inbound()
    assert kinds(out) == ["IsdnProceedingReq", "call.started", "call.routed", "MediaOpenReq"]
    assert out[1].data["facts"] == FACTS.to_event()  # facts unchanged into CTI
    out = b.handle(BE.MediaOpened(10000), 0.001)
    assert out == [BE.SipInviteReq("voiceai", "2001", FACTS)]


def test_in_name_follows_holds_the_invite_for_the_name() -> None:
    """NI-2 "name information follows": PROCEEDING at once, the INVITE only once the
    FACILITY's name is there (merged into its facts), or after NAME_WAIT_S without it."""
    from appliance.interwork.facts import Name
    b = B.Bridge("c1", router())
    out = b.handle(BE.IsdnSetup("span1", 3, FACTS, name_follows=True), 0.0)
    assert kinds(out) == ["IsdnProceedingReq", "call.started", "call.routed", "MediaOpenReq"]
    assert b.handle(BE.MediaOpened(10000), 0.01) == []  # held: the name is not there yet
    assert b.get_timer() == pytest.approx(B.NAME_WAIT_S)
    late = CallFacts(calling_name=Name("Alice Smith"))
    out = b.handle(BE.IsdnLateFacts(late), 0.1)
    named = replace(FACTS, calling_name=Name("Alice Smith"))
    assert kinds(out) == ["call.facts", "SipInviteReq"]
    assert out[0].data["facts"] == late.to_event()
    assert out[1] == BE.SipInviteReq("voiceai", "2001", named)
    assert b.sip_live and b.get_timer() is None
    # no name in time: the INVITE goes without it when the timer ends
    b = B.Bridge("c2", router())
    b.handle(BE.IsdnSetup("span1", 4, FACTS, name_follows=True), 0.0)
    b.handle(BE.MediaOpened(10002), 0.01)
    assert b.handle_timer(0.2) == []
    assert b.handle_timer(B.NAME_WAIT_S) == [BE.SipInviteReq("voiceai", "2001", FACTS)]
    # the PBX hangs up while the INVITE is held: nothing goes to SIP
    b = B.Bridge("c3", router())
    b.handle(BE.IsdnSetup("span1", 5, FACTS, name_follows=True), 0.0)
    out = b.handle(BE.IsdnDisconnected(CauseFact(16), False), 0.05)
    assert not any(isinstance(a, BE.SipInviteReq) for a in out)
    b.handle(BE.MediaOpened(10004), 0.06)
    assert not any(isinstance(a, BE.SipInviteReq) for a in b.handle_timer(1.0))


def test_in_no_route_refused_cause_1_after_proceeding() -> None:
    b = B.Bridge("c1", router())
    out = b.handle(BE.IsdnSetup("span1", 3, CallFacts(called=Party("7777"))), 0.0)
    assert kinds(out)[0] == "IsdnProceedingReq"
    assert BE.IsdnDisconnectReq(CauseFact(1)) in out
    assert not any(isinstance(a, (BE.MediaOpenReq, BE.SipInviteReq)) for a in out)
    out = b.handle(BE.IsdnReleased(CauseFact(1)), 0.1)
    assert b.done and kinds(out) == ["call.ended"]
    assert out[0].data["cause"]["value"] == 1


def test_in_180_without_sdp_is_alerting_with_local_ringback() -> None:
    b, _ = inbound()
    b.handle(BE.MediaOpened(10000), 0.0)
    out = b.handle(BE.SipProvisional(180, None), 0.1)
    assert out[:2] == [BE.MediaModifyReq(tone="ringback"), BE.IsdnAlertingReq(inband=True)]
    out = b.handle(BE.SipProvisional(180, None), 0.2)  # a second 180: no second ALERTING
    assert not any(isinstance(a, BE.IsdnAlertingReq) for a in out)
    out = b.handle(BE.SipAnswered(REMOTE), 0.3)
    assert out[:2] == [BE.MediaModifyReq(remote=REMOTE, tone=None), BE.IsdnConnectReq()]
    assert b.state is B.State.ACTIVE


def test_in_183_with_sdp_is_progress_with_cut_through() -> None:
    b, _ = inbound()
    b.handle(BE.MediaOpened(10000), 0.0)
    out = b.handle(BE.SipProvisional(183, REMOTE), 0.1)
    assert out[:2] == [BE.MediaModifyReq(remote=REMOTE, tone=None), BE.IsdnProgressReq()]


@pytest.mark.parametrize(("status", "reason", "cause"), [
    (486, None, 17), (404, None, 1), (503, None, 41), (408, None, 102),
    (503, CauseFact(34, 2), 34),  # the Reason header's cause wins (RFC 3326 / 6432)
])
def test_in_sip_failure_to_disconnect_cause(status: int, reason: CauseFact | None,
                                             cause: int) -> None:
    b, _ = inbound()
    b.handle(BE.MediaOpened(10000), 0.0)
    out = b.handle(BE.SipFailed(status, reason), 0.1)
    disc = [a for a in out if isinstance(a, BE.IsdnDisconnectReq)]
    assert disc and disc[0].cause.value == cause
    assert BE.MediaCloseReq() in out
    b.handle(BE.MediaClosed(), 0.2)
    out = b.handle(BE.IsdnReleased(None), 0.3)
    assert b.done and out[-1].data["cause"]["value"] == cause


def test_in_pbx_hangs_up_before_answer_cancels_with_reason() -> None:
    b, _ = inbound()
    b.handle(BE.MediaOpened(10000), 0.0)
    out = b.handle(BE.IsdnDisconnected(CauseFact(16, 1), False), 0.1)
    assert BE.SipHangupReq(CauseFact(16, 1)) in out
    b.handle(BE.SipHangup(None), 0.1)
    b.handle(BE.IsdnReleased(CauseFact(16)), 0.2)
    assert not b.done  # the stream is still closing
    b.handle(BE.MediaClosed({"rx": 1}), 0.3)
    assert b.done


def test_in_bye_after_answer_clears_pbx_with_reason_cause() -> None:
    b, _ = inbound()
    b.handle(BE.MediaOpened(10000), 0.0)
    b.handle(BE.SipAnswered(REMOTE), 0.1)
    out = b.handle(BE.SipHangup(CauseFact(31)), 5.0)
    assert BE.IsdnDisconnectReq(CauseFact(31)) in out


def test_hold_reinvite_keeps_channel_and_repoints_media() -> None:
    b, _ = inbound()
    b.handle(BE.MediaOpened(10000), 0.0)
    b.handle(BE.SipAnswered(REMOTE), 0.1)
    out = b.handle(BE.SipMediaChanged(HELD), 1.0)
    assert out[0] == BE.MediaModifyReq(remote=HELD, tone=None)
    assert not any(isinstance(a, (BE.IsdnDisconnectReq, BE.MediaCloseReq)) for a in out)
    assert b.state is B.State.ACTIVE


def test_media_plane_silent_clears_the_call() -> None:
    b, _ = inbound()
    assert b.get_timer() == B.MEDIA_OPEN_S
    out = b.handle_timer(B.MEDIA_OPEN_S)
    assert BE.IsdnDisconnectReq(CauseFact(47)) in out
    out = b.handle(BE.MediaOpened(10000), 6.0)  # late port: closed at once, no INVITE
    assert out == [BE.MediaCloseReq()]


def outbound(r=None) -> tuple[B.Bridge, list[BE.Action]]:
    b = B.Bridge("c2", r or router())
    out = b.handle(BE.SipInvite("voiceai", "2001", FACTS, REMOTE), 0.0)
    return b, out


def test_out_invite_to_setup_then_media() -> None:
    b, out = outbound()
    setup = [a for a in out if isinstance(a, BE.IsdnSetupReq)]
    assert setup and setup[0].spans == ("span1",) and setup[0].called == Party("2001")
    assert setup[0].facts.calling == FACTS.calling
    out = b.handle(BE.IsdnPlaced("span1", 23), 0.001)
    assert out == [BE.MediaOpenReq("span1", 23, REMOTE)]


def test_out_no_route_and_no_channel() -> None:
    b = B.Bridge("c", router())
    out = b.handle(BE.SipInvite("voiceai", "+4930", FACTS, REMOTE), 0.0)
    assert BE.SipRejectReq(404, CauseFact(1)) in out and b.done
    b, _ = outbound()
    out = b.handle(BE.IsdnSetupFailed(34), 0.0)
    assert BE.SipRejectReq(503, CauseFact(34)) in out and b.done


def test_out_alerting_without_inband_is_180_without_sdp() -> None:
    b, _ = outbound()
    b.handle(BE.IsdnPlaced("span1", 23), 0.0)
    b.handle(BE.MediaOpened(10002), 0.0)
    out = b.handle(BE.IsdnAlerting(False), 0.1)
    assert out[0] == BE.SipProvisionalReq(180, sdp=False)


def test_out_progress_pi8_before_media_waits_for_port_then_183() -> None:
    b, _ = outbound()
    b.handle(BE.IsdnPlaced("span1", 23), 0.0)
    out = b.handle(BE.IsdnProgress(True), 0.1)
    assert not any(isinstance(a, BE.SipProvisionalReq) for a in out)
    out = b.handle(BE.MediaOpened(10002), 0.1)
    assert out == [BE.SipProvisionalReq(183, sdp=True)]
    out = b.handle(BE.IsdnConnected(), 0.2)
    assert out[0] == BE.SipAnswerReq()


def test_out_disconnect_pi8_keeps_announcement_until_timer() -> None:
    b, _ = outbound()
    b.handle(BE.IsdnPlaced("span1", 23), 0.0)
    b.handle(BE.MediaOpened(10002), 0.0)
    out = b.handle(BE.IsdnDisconnected(CauseFact(17), True), 1.0)
    assert out[0] == BE.SipProvisionalReq(183, sdp=True)
    assert b.state is B.State.EARLY_DISCONNECT and b.get_timer() == 1.0 + B.EARLY_DISCONNECT_S
    out = b.handle_timer(1.0 + B.EARLY_DISCONNECT_S)
    assert out[:2] == [BE.IsdnReleaseReq(), BE.SipRejectReq(486, CauseFact(17))]


def test_timers_are_read_when_the_call_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    """A value given to the Bridge wins; otherwise the module's value at construction (the
    end-to-end rig lowers EARLY_DISCONNECT_S this way), not the one at import."""
    monkeypatch.setattr(B, "EARLY_DISCONNECT_S", 2.5)
    b, _ = outbound()
    assert b.early_disconnect_s == 2.5
    assert B.Bridge("x", b.router, early_disconnect_s=7.0, media_open_s=1.0).media_open_s == 1.0


def test_out_disconnect_pi8_caller_cancels() -> None:
    b, _ = outbound()
    b.handle(BE.IsdnPlaced("span1", 23), 0.0)
    b.handle(BE.MediaOpened(10002), 0.0)
    b.handle(BE.IsdnDisconnected(CauseFact(17), True), 1.0)
    out = b.handle(BE.SipHangup(None), 2.0)
    assert out[0] == BE.IsdnReleaseReq()
    b.handle(BE.MediaClosed(), 2.0)
    b.handle(BE.IsdnReleased(None), 2.1)
    assert b.done


def test_out_disconnect_plain_before_answer_is_final_status() -> None:
    b, _ = outbound()
    b.handle(BE.IsdnPlaced("span1", 23), 0.0)
    b.handle(BE.MediaOpened(10002), 0.0)
    out = b.handle(BE.IsdnDisconnected(CauseFact(17, 2), False), 1.0)
    assert BE.SipRejectReq(486, CauseFact(17, 2)) in out


def test_out_cancel_before_answer_disconnects_16() -> None:
    b, _ = outbound()
    b.handle(BE.IsdnPlaced("span1", 23), 0.0)
    out = b.handle(BE.SipHangup(None), 0.5)
    assert BE.IsdnDisconnectReq(CauseFact(16)) in out


def test_channel_change_moves_stream() -> None:
    b, _ = outbound()
    b.handle(BE.IsdnPlaced("span1", 23), 0.0)
    b.handle(BE.MediaOpened(10002), 0.0)
    assert b.handle(BE.IsdnPlaced("span1", 22), 0.1) == [BE.MediaMoveReq(22)]


def test_unknown_pair_is_a_defined_error() -> None:
    b, _ = inbound()
    with pytest.raises(B.BridgeError) as e:
        b.handle(BE.IsdnConnected(), 0.0)  # the PBX cannot answer its own call
    assert e.value.cause == 101
    out = b.abort(e.value.cause, 0.0)
    assert BE.IsdnDisconnectReq(CauseFact(101)) in out


def test_limit_counts_released_at_end() -> None:
    r = router(limit=1)
    b, _ = inbound(r)
    assert r.active == {"voiceai": 1}
    b2 = B.Bridge("c9", r)
    out = b2.handle(BE.IsdnSetup("span1", 4, FACTS), 0.0)
    assert BE.IsdnDisconnectReq(CauseFact(34)) in out
    b.handle(BE.IsdnDisconnected(CauseFact(16), False), 0.1)
    b.handle(BE.IsdnReleased(None), 0.1)
    b.handle(BE.MediaOpened(1), 0.2)
    b.handle(BE.MediaClosed(), 0.2)
    assert b.done and r.active == {}


# Whatever the two far ends and the media plane do, a bridge that is told its legs
# are gone ends DONE with one call.ended, and never asks for anything after that.
EVENTS = st.sampled_from([
    BE.SipProvisional(180, None), BE.SipProvisional(183, REMOTE), BE.SipAnswered(REMOTE),
    BE.SipFailed(486, None), BE.SipHangup(None), BE.SipMediaChanged(HELD),
    BE.IsdnPlaced("span1", 5), BE.IsdnProceeding(), BE.IsdnAlerting(True), BE.IsdnAlerting(False),
    BE.IsdnProgress(True), BE.IsdnConnected(), BE.IsdnDisconnected(CauseFact(16), False),
    BE.IsdnDisconnected(CauseFact(17), True), BE.IsdnReleased(None), BE.MediaOpened(1),
    BE.MediaFailed("x"), BE.MediaClosed(),
])


@settings(max_examples=300, deadline=None)
@given(st.booleans(), st.lists(EVENTS, max_size=12))
def test_random_sequences_end_done(out_dir: bool, seq: list[BE.Event]) -> None:
    b = B.Bridge("c", router())
    first: BE.Event = (BE.SipInvite("voiceai", "2001", FACTS, REMOTE) if out_dir
                      else BE.IsdnSetup("span1", 3, FACTS))
    actions = b.handle(first, 0.0)
    now = 0.0
    ended = 0
    for ev in seq:
        now += 0.5
        try:
            actions = b.handle(ev, now)
        except B.BridgeError as e:
            actions = b.abort(e.cause, now)
        ended += sum(1 for a in actions if isinstance(a, BE.CallEvent) and a.kind == "call.ended")
        if b.done:
            break
    # then the far ends finish: every leg and the stream report gone
    for ev in (BE.MediaOpened(1), BE.MediaClosed(), BE.IsdnReleased(None), BE.SipHangup(None)):
        if b.done:
            break
        try:
            actions = b.handle(ev, now + 100)
        except B.BridgeError as e:
            actions = b.abort(e.cause, now + 100)
        ended += sum(1 for a in actions if isinstance(a, BE.CallEvent) and a.kind == "call.ended")
    while not b.done and b.get_timer() is not None:
        actions = b.handle_timer(b.get_timer() or 0.0)
        ended += sum(1 for a in actions if isinstance(a, BE.CallEvent) and a.kind == "call.ended")
        for ev in (BE.MediaClosed(), BE.IsdnReleased(None)):
            if not b.done:
                try:
                    actions = b.handle(ev, now + 200)
                except B.BridgeError:
                    continue
                ended += sum(1 for a in actions
                             if isinstance(a, BE.CallEvent) and a.kind == "call.ended")
    assert b.done, (b.state, b.isdn_live, b.sip_live, b.media)
    assert ended == 1
    assert b.router.active == {}
