"""Calls between the endpoint and sipp (an independent SIP implementation) on loopback.

Each test runs one sipp scenario from tests/peers/sipp/ against our endpoint
and asserts both sides: sipp's exit code (0 only when every message arrived
in order and every `<ereg check_it>` header check matched) and our events.
"""

from __future__ import annotations

import ipaddress
import time
from pathlib import Path
from typing import Any

from appliance.interwork.facts import (
    CallFacts,
    CauseFact,
    Party,
    Presentation,
    Redirection,
    RedirectionReason,
    Screening,
    TypeOfNumber,
    UserToUser,
)
from appliance.interwork.sipheaders import TrunkPolicy
from appliance.sip import events as ev
from appliance.sip.sdp import LocalMedia
from appliance.sip.trunks import TrunkSpec
from tests.peers.sipp.runner import Sipp, free_udp_port

MEDIA = LocalMedia("127.0.0.1", 40000, law="alaw")
LOOP = (ipaddress.ip_network("127.0.0.1/32"),)


def trunk(*targets: tuple[str, int], **kw: Any) -> TrunkSpec:
    kw.setdefault("options_interval_s", 0)
    kw.setdefault("trusted_networks", LOOP)
    return TrunkSpec("ai", tuple(targets) or (("127.0.0.1", 9),), **kw)


def ok(sipp: Sipp, timeout: float = 20) -> None:
    r = sipp.wait(timeout)
    assert r.rc == 0, f"sipp {sipp.name} rc={r.rc}\n{r.errors[-3000:]}\n{r.stdout[-1500:]}"


# ---------------------------------------------------------------- inbound

def test_inbound_call_answered_and_bye_from_caller(harness: Any, tmp_path: Path) -> None:
    h = harness(trunk())
    sipp = Sipp(tmp_path, "uac_call.xml", remote=h.address, service="+12125551000")
    call = h.expect(ev.IncomingCall)
    assert call.trunk == "ai" and call.request_user == "+12125551000"
    assert call.facts.called is not None and call.facts.called.digits == "2125551000"
    assert call.remote is not None and call.remote.codec == "PCMA" and call.remote.dtmf_payload_type == 101
    call.call.provisional(180)
    call.call.answer(MEDIA)
    hang = h.expect(ev.Hangup)
    assert hang.by == "remote" and hang.why == "BYE"
    ok(sipp)
    answer = h.sent("SIP/2.0 200 OK")[0]
    # RFC 3264 s6.1: the offerer's first codec, its telephone-event type, mirrored direction.
    assert "m=audio 40000 RTP/AVP 8 101\r\n" in answer
    assert "a=fmtp:101 0-15\r\n" in answer and "a=sendrecv\r\n" in answer


def test_inbound_bye_from_gateway_carries_reason(harness: Any, tmp_path: Path) -> None:
    h = harness(trunk())
    sipp = Sipp(tmp_path, "uac_wait_bye.xml", remote=h.address)
    call = h.expect(ev.IncomingCall)
    call.call.answer(MEDIA)
    time.sleep(0.3)
    call.call.hangup(CauseFact(16))
    assert h.expect(ev.Hangup).by == "local"
    ok(sipp)


def test_inbound_cancel(harness: Any, tmp_path: Path) -> None:
    h = harness(trunk())
    sipp = Sipp(tmp_path, "uac_cancel.xml", remote=h.address)
    call = h.expect(ev.IncomingCall)
    call.call.provisional(180)
    hang = h.expect(ev.Hangup)
    assert hang.by == "remote" and hang.why == "CANCEL"
    ok(sipp)


def test_unsupported_require_gets_420(harness: Any, tmp_path: Path) -> None:
    h = harness(trunk())
    ok(Sipp(tmp_path, "uac_require.xml", remote=h.address))
    assert not [e for e in h.events() if isinstance(e, ev.IncomingCall)]


def test_invite_from_unknown_address_refused(harness: Any, tmp_path: Path) -> None:
    h = harness(trunk(trusted_networks=(ipaddress.ip_network("10.9.9.9/32"),)))
    ok(Sipp(tmp_path, "uac_refused.xml", remote=h.address))
    refused = h.expect(ev.Refused)
    assert refused.status == 403 and refused.source[0] == "127.0.0.1"
    assert not [e for e in h.events() if isinstance(e, ev.IncomingCall)]


def test_inbound_digest_auth(harness: Any, tmp_path: Path) -> None:
    h = harness(trunk(trusted_networks=(ipaddress.ip_network("10.9.9.9/32"),),
                      inbound_username="alice", inbound_password="secret"))
    sipp = Sipp(tmp_path, "uac_auth.xml", remote=h.address)
    call = h.expect(ev.IncomingCall)
    call.call.answer(MEDIA)
    h.expect(ev.Hangup)
    ok(sipp)


def test_inbound_prack(harness: Any, tmp_path: Path) -> None:
    h = harness(trunk())
    sipp = Sipp(tmp_path, "uac_prack.xml", remote=h.address)
    call = h.expect(ev.IncomingCall)
    call.call.provisional(180, reliable=True)
    time.sleep(0.5)
    call.call.answer(MEDIA)
    h.expect(ev.Hangup)
    ok(sipp)
    assert len(h.sent("SIP/2.0 180")) == 1  # PRACKed at once: no retransmission


def test_session_refresh_by_reinvite_when_peer_lacks_update(harness: Any, tmp_path: Path) -> None:
    h = harness(trunk(min_se_s=2))
    sipp = Sipp(tmp_path, "uac_timer_reinvite.xml", remote=h.address)
    call = h.expect(ev.IncomingCall)
    call.call.answer(MEDIA)
    h.expect(ev.Hangup, timeout=15)
    ok(sipp)


def test_session_expiry_sends_bye(harness: Any, tmp_path: Path) -> None:
    h = harness(trunk(min_se_s=2))
    sipp = Sipp(tmp_path, "uac_timer_expire.xml", remote=h.address)
    call = h.expect(ev.IncomingCall)
    call.call.answer(MEDIA)
    hang = h.expect(ev.Hangup, timeout=10)
    assert hang.by == "local" and hang.cause == CauseFact(102)
    ok(sipp)


def test_inbound_update_answered(harness: Any, tmp_path: Path) -> None:
    h = harness(trunk())
    sipp = Sipp(tmp_path, "uac_update.xml", remote=h.address)
    h.expect(ev.IncomingCall).call.answer(MEDIA)
    h.expect(ev.Hangup)
    ok(sipp)


# ---------------------------------------------------------------- outbound

def _facts() -> CallFacts:
    return CallFacts(calling=Party("2125551234", TypeOfNumber.NATIONAL,
                                   screening=Screening.NETWORK_PROVIDED))


def test_outbound_call_and_bye_with_reason(harness: Any, tmp_path: Path) -> None:
    port = free_udp_port()
    sipp = Sipp(tmp_path, "uas_answer.xml", port=port)
    time.sleep(0.2)
    h = harness(trunk(("127.0.0.1", port)))
    call = h.endpoint.place_call("ai", "+15551000", _facts(), MEDIA)
    prov = h.expect(ev.Provisional)
    assert prov.status == 180 and prov.call is call
    ans = h.expect(ev.Answered)
    assert ans.remote is not None and ans.remote.codec == "PCMA" and ans.target == ("127.0.0.1", port)
    call.hangup(CauseFact(16))
    assert h.expect(ev.Hangup).by == "local"
    ok(sipp)
    invite = h.sent("INVITE ")[0]
    assert invite.startswith("INVITE sip:+15551000@127.0.0.1:")
    assert "m=audio 40000 RTP/AVP 8 0 101\r\n" in invite  # the span's law (A-law) first


def test_outbound_bye_from_callee(harness: Any, tmp_path: Path) -> None:
    port = free_udp_port()
    sipp = Sipp(tmp_path, "uas_bye.xml", port=port)
    time.sleep(0.2)
    h = harness(trunk(("127.0.0.1", port)))
    h.endpoint.place_call("ai", "1000", _facts(), MEDIA)
    h.expect(ev.Answered)
    hang = h.expect(ev.Hangup)
    assert hang.by == "remote" and hang.cause == CauseFact(16)
    ok(sipp)


def test_outbound_cancel(harness: Any, tmp_path: Path) -> None:
    port = free_udp_port()
    sipp = Sipp(tmp_path, "uas_ring_cancel.xml", port=port)
    time.sleep(0.2)
    h = harness(trunk(("127.0.0.1", port)))
    call = h.endpoint.place_call("ai", "1000", _facts(), MEDIA)
    h.expect(ev.Provisional)
    call.hangup(CauseFact(16))
    ok(sipp)


def test_outbound_486_busy(harness: Any, tmp_path: Path) -> None:
    port = free_udp_port()
    sipp = Sipp(tmp_path, "uas_486.xml", port=port)
    time.sleep(0.2)
    h = harness(trunk(("127.0.0.1", port), ("127.0.0.1", 9)))
    h.endpoint.place_call("ai", "1000", _facts(), MEDIA)
    failed = h.expect(ev.Failed)
    # 486 is the callee's answer, not the target's trouble: no failover.
    assert failed.status == 486 and failed.cause == CauseFact(17) and len(failed.tried) == 1
    ok(sipp)


def test_outbound_503_fails_over_to_second_target(harness: Any, tmp_path: Path) -> None:
    p1, p2 = free_udp_port(), free_udp_port()
    first = Sipp(tmp_path / "a", "uas_503.xml", port=p1)
    second = Sipp(tmp_path / "b", "uas_answer.xml", port=p2)
    time.sleep(0.2)
    h = harness(trunk(("127.0.0.1", p1), ("127.0.0.1", p2)))
    call = h.endpoint.place_call("ai", "1000", _facts(), MEDIA)
    ans = h.expect(ev.Answered)
    assert ans.target == ("127.0.0.1", p2)
    down = h.expect(ev.TrunkStatus)
    assert down.target == ("127.0.0.1", p1) and not down.up
    assert h.endpoint.health["ai"].order()[0] == ("127.0.0.1", p2)
    call.hangup(CauseFact(16))
    ok(first)
    ok(second)


def test_no_provisional_fails_over_fast(harness: Any, tmp_path: Path) -> None:
    p1, p2 = free_udp_port(), free_udp_port()
    silent = Sipp(tmp_path / "a", "uas_silent.xml", port=p1)
    second = Sipp(tmp_path / "b", "uas_answer.xml", port=p2)
    time.sleep(0.2)
    h = harness(trunk(("127.0.0.1", p1), ("127.0.0.1", p2), no_provisional_s=1.0))
    started = time.monotonic()
    call = h.endpoint.place_call("ai", "1000", _facts(), MEDIA)
    ans = h.expect(ev.Answered)
    assert ans.target == ("127.0.0.1", p2)
    assert time.monotonic() - started < 5  # not Timer B's 32 s
    call.hangup(CauseFact(16))
    ok(second)
    silent.kill()


def test_outbound_prack(harness: Any, tmp_path: Path) -> None:
    port = free_udp_port()
    sipp = Sipp(tmp_path, "uas_prack.xml", port=port)
    time.sleep(0.2)
    h = harness(trunk(("127.0.0.1", port)))
    call = h.endpoint.place_call("ai", "1000", _facts(), MEDIA)
    prov = h.expect(ev.Provisional)
    assert prov.status == 183 and prov.reliable and prov.remote is not None
    h.expect(ev.Answered)
    call.hangup(CauseFact(16))
    ok(sipp)
    assert h.sent("PRACK ")[0].count("RAck: 7 ") == 1


def test_outbound_session_refresh_by_update(harness: Any, tmp_path: Path) -> None:
    port = free_udp_port()
    sipp = Sipp(tmp_path, "uas_timer_update.xml", port=port)
    time.sleep(0.2)
    h = harness(trunk(("127.0.0.1", port), min_se_s=2))
    call = h.endpoint.place_call("ai", "1000", _facts(), MEDIA)
    h.expect(ev.Answered)
    h.wait_sent("UPDATE ", 2, timeout=8)
    call.hangup(CauseFact(16))
    ok(sipp)


def test_outbound_transport_upper_case_contact(harness: Any, tmp_path: Path) -> None:
    """sippy defect: `;transport=UDP` in the callee's Contact stopped the BYE."""
    port = free_udp_port()
    sipp = Sipp(tmp_path, "uas_transport_upper.xml", port=port)
    time.sleep(0.2)
    h = harness(trunk(("127.0.0.1", port)))
    call = h.endpoint.place_call("ai", "1000", _facts(), MEDIA)
    h.expect(ev.Answered)
    call.hangup(CauseFact(16))
    ok(sipp)
    assert h.sent("BYE ")


def test_outbound_headers_byte_for_byte(harness: Any, tmp_path: Path) -> None:
    """Issue 11 facts reach the INVITE: hidden caller, PAI, Privacy, Diversion, UUI."""
    port = free_udp_port()
    sipp = Sipp(tmp_path, "uas_headers.xml", port=port)
    time.sleep(0.2)
    policy = TrunkPolicy(host="gw.example", country_code="1")
    h = harness(trunk(("127.0.0.1", port), policy=policy))
    facts = CallFacts(
        calling=Party("2125551234", TypeOfNumber.NATIONAL, presentation=Presentation.RESTRICTED,
                      screening=Screening.NETWORK_PROVIDED),
        redirection=Redirection(Party("2125550001", TypeOfNumber.NATIONAL),
                                RedirectionReason.CALL_FORWARDING_BUSY),
        uui=UserToUser(0x04, bytes.fromhex("c0ffee")))
    h.endpoint.place_call("ai", "1000", facts, MEDIA)
    assert h.expect(ev.Failed).status == 486
    ok(sipp)
    assert "2125551234" not in h.sent("INVITE ")[0].split("P-Asserted-Identity")[0]


def test_digest_registration(harness: Any, tmp_path: Path) -> None:
    port = free_udp_port()
    sipp = Sipp(tmp_path, "registrar.xml", port=port)
    time.sleep(0.2)
    h = harness(trunk(("127.0.0.1", port), username="alice", password="s3cret", register=True))
    first = h.expect(ev.RegistrationStatus)
    assert first.registered and first.status == 200 and first.expires == 6
    again = h.expect(ev.RegistrationStatus, timeout=8)  # refreshed at half the 6 s granted
    assert again.registered
    ok(sipp)


def test_options_pings_mark_target_down_and_back_up(harness: Any, tmp_path: Path) -> None:
    """A silent target goes down within one interval; sipp answering brings it back."""
    import socket

    hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    hole.bind(("127.0.0.1", 0))  # receives and never answers
    dead = hole.getsockname()
    good_port = free_udp_port()
    good = Sipp(tmp_path / "g", "options_responder.xml", port=good_port, calls=50)
    time.sleep(0.2)
    h = harness(trunk(("127.0.0.1", dead[1]), ("127.0.0.1", good_port), options_interval_s=1))
    down = h.expect(ev.TrunkStatus, timeout=5)
    assert down.target == ("127.0.0.1", dead[1]) and not down.up
    assert h.endpoint.runtime.call_sync(lambda: h.endpoint.health["ai"].order()) == [
        ("127.0.0.1", good_port), ("127.0.0.1", dead[1])]
    hole.close()
    back = Sipp(tmp_path / "b", "options_responder.xml", port=dead[1], calls=50)
    up = h.expect(ev.TrunkStatus, timeout=6)
    assert up.target == ("127.0.0.1", dead[1]) and up.up
    assert h.endpoint.runtime.call_sync(lambda: h.endpoint.health["ai"].order())[0] == (
        "127.0.0.1", dead[1])  # calls return to the primary
    good.kill()
    back.kill()


def test_peer_hold_resume_and_dtmf_info(harness: Any, tmp_path: Path) -> None:
    h = harness(trunk())
    sipp = Sipp(tmp_path, "uac_hold_info.xml", remote=h.address)
    h.expect(ev.IncomingCall).call.answer(MEDIA)
    held = h.expect(ev.MediaChanged)
    assert held.remote.on_hold and held.remote.direction == "sendonly"
    resumed = h.expect(ev.MediaChanged)
    assert not resumed.remote.on_hold
    dtmf = h.expect(ev.DtmfInfo)
    assert (dtmf.digit, dtmf.duration_ms) == ("5", 160)
    h.expect(ev.Hangup)
    ok(sipp)


def test_we_hold_and_resume(harness: Any, tmp_path: Path) -> None:
    port = free_udp_port()
    sipp = Sipp(tmp_path, "uas_hold.xml", port=port)
    time.sleep(0.2)
    h = harness(trunk(("127.0.0.1", port)))
    call = h.endpoint.place_call("ai", "1000", _facts(), MEDIA)
    h.expect(ev.Answered)
    call.hold(True)
    assert h.expect(ev.MediaChanged).remote.direction == "recvonly"
    call.hold(False)
    assert h.expect(ev.MediaChanged).remote.direction == "sendrecv"
    call.hangup(CauseFact(16))
    ok(sipp)


def test_small_session_interval_gets_422(harness: Any, tmp_path: Path) -> None:
    h = harness(trunk())
    ok(Sipp(tmp_path, "uac_422.xml", remote=h.address))


def test_callee_422_retried_with_its_min_se(harness: Any, tmp_path: Path) -> None:
    port = free_udp_port()
    sipp = Sipp(tmp_path, "uas_422.xml", port=port)
    time.sleep(0.2)
    h = harness(trunk(("127.0.0.1", port)))
    h.endpoint.place_call("ai", "1000", _facts(), MEDIA)
    assert h.expect(ev.Failed).status == 486
    ok(sipp)


def test_outbound_digest_challenge_answered(harness: Any, tmp_path: Path) -> None:
    port = free_udp_port()
    sipp = Sipp(tmp_path, "uas_auth.xml", port=port)
    time.sleep(0.2)
    h = harness(trunk(("127.0.0.1", port), username="gw", password="pa55"))
    call = h.endpoint.place_call("ai", "1000", _facts(), MEDIA)
    h.expect(ev.Answered)
    call.hangup(CauseFact(16))
    ok(sipp)


def test_rport_reply_goes_to_the_source_port(harness: Any) -> None:
    """RFC 3581: a request whose Via names another port, with ;rport, is answered
    to the port it came from, and the Via says so (symmetric signalling for NAT)."""
    import socket

    h = harness(trunk())
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(2)
    port = s.getsockname()[1]
    msg = ("OPTIONS sip:gw@127.0.0.1 SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 192.0.2.50:5999;rport;branch=z9hG4bKnat1\r\n"
           "From: <sip:nat@192.0.2.50>;tag=1\r\nTo: <sip:gw@127.0.0.1>\r\nCall-ID: nat1\r\n"
           "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
    s.sendto(msg.encode(), h.address)
    reply = s.recv(4000).decode()
    s.close()
    assert reply.startswith("SIP/2.0 200 OK\r\n")
    via = next(line for line in reply.split("\r\n") if line.startswith("Via:"))
    assert f"rport={port}" in via and "received=127.0.0.1" in via


def test_reliable_180_retransmitted_until_late_prack(harness: Any, tmp_path: Path) -> None:
    h = harness(trunk())
    sipp = Sipp(tmp_path, "uac_prack_late.xml", remote=h.address)
    call = h.expect(ev.IncomingCall)
    call.call.provisional(180, reliable=True)
    time.sleep(1.6)
    call.call.answer(MEDIA)
    h.expect(ev.Hangup)
    ok(sipp)
    sent = h.sent("SIP/2.0 180")
    assert len(sent) >= 2 and len({s for s in sent}) == 1  # the same RSeq, retransmitted


def test_inbound_facts_from_headers(harness: Any, tmp_path: Path) -> None:
    """Issue 11 on the way in: PAI + Privacy, Diversion and User-to-User become facts."""
    h = harness(trunk(policy=TrunkPolicy(host="gw.example", country_code="1")))
    sipp = Sipp(tmp_path, "uac_facts.xml", remote=h.address)
    call = h.expect(ev.IncomingCall)
    f = call.facts
    assert f.calling is not None and f.calling.digits == "2125550100"
    assert f.calling.type == TypeOfNumber.NATIONAL and f.calling.restricted
    assert f.calling.screening == Screening.USER_VERIFIED_PASSED
    assert f.redirection is not None and f.redirection.redirecting.digits == "2125550199"
    assert f.redirection.reason == RedirectionReason.CALL_FORWARDING_NO_REPLY
    assert f.uui == UserToUser(0x04, bytes.fromhex("a1b2c3"))
    assert call.headers["privacy"] == ["id"]
    call.call.answer(MEDIA)
    h.expect(ev.Hangup)
    ok(sipp)


def test_mutated_datagrams_never_stop_the_endpoint(harness: Any) -> None:
    """300 corrupted copies of a valid INVITE (fixed seed); the endpoint answers OPTIONS after."""
    import random
    import socket

    h = harness(trunk())
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    base = (f"INVITE sip:1000@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKm\r\n"
            "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:1000@127.0.0.1>\r\nCall-ID: m{n}\r\n"
            "CSeq: 1 INVITE\r\nContact: <sip:a@127.0.0.1>\r\nContent-Type: application/sdp\r\n"
            "Content-Length: 58\r\n\r\nv=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\n")
    rnd = random.Random(1234)
    for n in range(300):
        data = bytearray(base.format(n=n).encode())
        for _ in range(rnd.randint(1, 6)):
            op = rnd.random()
            i = rnd.randrange(len(data))
            if op < 0.4:
                data[i] = rnd.randrange(256)
            elif op < 0.7:
                del data[i:i + rnd.randint(1, 20)]
            else:
                data[i:i] = rnd.choice([b"\r\n", b":", b";", b"<", b"\x00", b"\xff", b",,"])
        s.sendto(bytes(data), h.address)
    s.settimeout(0.2)
    try:
        while True:
            s.recv(8000)
    except TimeoutError:
        pass
    s.settimeout(3)
    s.sendto((f"OPTIONS sip:gw@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKok\r\n"
              "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:gw@127.0.0.1>\r\nCall-ID: alive\r\n"
              "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode(), h.address)
    while True:
        reply = s.recv(8000)
        if b"Call-ID: alive" in reply:
            break
    s.close()
    assert reply.startswith(b"SIP/2.0 200 OK")
    assert h.endpoint.runtime.thread.is_alive()
    assert h.endpoint.counters["bad_input"] > 0


def test_inbound_rejected_with_reason_in_response(harness: Any, tmp_path: Path) -> None:
    """RFC 6432: the Q.850 cause rides on the final response; RFC 3398 picks the status."""
    h = harness(trunk())
    sipp = Sipp(tmp_path, "uac_rejected.xml", remote=h.address)
    call = h.expect(ev.IncomingCall)
    call.call.reject(cause=CauseFact(17, location=2))
    hang = h.expect(ev.Hangup)
    assert hang.by == "local" and hang.why == "486 Busy Here"
    ok(sipp)


def test_registration_423_retried_with_min_expires(harness: Any, tmp_path: Path) -> None:
    port = free_udp_port()
    sipp = Sipp(tmp_path, "registrar_423.xml", port=port)
    time.sleep(0.2)
    h = harness(trunk(("127.0.0.1", port), username="alice", password="s3cret", register=True))
    st = h.expect(ev.RegistrationStatus)
    assert st.registered and st.expires == 7200
    ok(sipp)


def test_inbound_early_media_183_with_sdp(harness: Any, tmp_path: Path) -> None:
    h = harness(trunk())
    sipp = Sipp(tmp_path, "uac_early.xml", remote=h.address)
    call = h.expect(ev.IncomingCall)
    call.call.provisional(183, MEDIA, reliable=False)
    time.sleep(0.2)
    call.call.answer(MEDIA)
    h.expect(ev.Hangup)
    ok(sipp)
    # RFC 3264 s4: the 200 repeats the early answer's session (same o= version).
    assert h.sent("SIP/2.0 183")[0].split("\r\n\r\n", 1)[1] == h.sent("SIP/2.0 200 OK")[0].split(
        "\r\n\r\n", 1)[1]


def test_unresolvable_target_fails_the_call_not_the_endpoint(harness: Any) -> None:
    h = harness(trunk(("host.invalid", 5060), no_provisional_s=0.5))
    h.endpoint.place_call("ai", "1000", _facts(), MEDIA)
    failed = h.expect(ev.Failed, timeout=5)
    assert failed.status in (408, 500, 503)


def test_offers_in_prack_and_early_update_are_answered(harness: Any, tmp_path: Path) -> None:
    """RFC 3262 s5 / RFC 3311 s5.2: sipp's PRACK and then an UPDATE carry new offers before
    the call is answered; each 200 carries our SDP answer (sipp checks) with the o= version
    going up, the INVITE's 200 repeats the last one, and the core hears of each new remote
    address (MediaChanged)."""
    h = harness(trunk())
    sipp = Sipp(tmp_path, "uac_early_offers.xml", remote=h.address)
    call = h.expect(ev.IncomingCall)
    call.call.provisional(183, MEDIA, reliable=True)
    first = h.expect(ev.MediaChanged)
    second = h.expect(ev.MediaChanged)
    assert (first.remote.port, second.remote.port) == (6010, 6020)
    call.call.answer(MEDIA)
    h.expect(ev.Hangup)
    ok(sipp)
    answers = list(dict.fromkeys(m for m in h.sent("SIP/2.0 200") if "m=audio" in m))
    versions = [int(m.split("o=tdmgw ", 1)[1].split()[1]) for m in answers]
    # PRACK's 200, UPDATE's 200 (each a new answer: version up), then the INVITE's 200
    # repeating the last answer unchanged (RFC 3261 s13.2.1, RFC 3264 s8)
    assert len(versions) == 3 and versions[0] < versions[1] == versions[2], versions
    assert answers[1].split("\r\n\r\n", 1)[1] == answers[2].split("\r\n\r\n", 1)[1]


def test_early_update_offer_before_our_media_gets_500_retry_after(harness: Any,
                                                                  tmp_path: Path) -> None:
    h = harness(trunk())
    sipp = Sipp(tmp_path, "uac_update_too_early.xml", remote=h.address)
    call = h.expect(ev.IncomingCall)
    call.call.provisional(180)
    h.wait_sent("SIP/2.0 500")
    call.call.answer(MEDIA)
    h.expect(ev.Hangup)
    ok(sipp)
    assert not [e for e in h.events() if isinstance(e, ev.MediaChanged)]
