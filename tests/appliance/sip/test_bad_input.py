"""Malformed and unexpected SIP: a clean 400 (or a drop) with a log line, never a dead thread."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.sip.runtime import BadMessage, bad_request_reply, screen_datagram
from appliance.sip.trunks import TrunkSpec

HDRS = ("Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{n}\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\n"
        "To: <sip:b@127.0.0.1>\r\nCall-ID: bad{n}\r\nCSeq: 1 {method}\r\n")


def _exchange(sock: socket.socket, addr: tuple[str, int], data: bytes) -> bytes | None:
    sock.sendto(data, addr)
    try:
        return sock.recv(4000)
    except TimeoutError:
        return None


@pytest.fixture
def peer(harness: Any) -> Any:
    h = harness(TrunkSpec("ai", (("127.0.0.1", 9),), options_interval_s=0,
                          trusted_networks=(ipaddress.ip_network("127.0.0.1/32"),)))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(1.0)
    yield h, s
    s.close()


def _options(port: int, n: int) -> bytes:
    return ("OPTIONS sip:gw@127.0.0.1 SIP/2.0\r\n" + HDRS.format(port=port, n=n, method="OPTIONS")
            + "Content-Length: 0\r\n\r\n").encode()


def test_garbage_is_dropped_and_logged_then_options_still_answered(
        peer: Any, caplog: pytest.LogCaptureFixture) -> None:
    h, s = peer
    port = s.getsockname()[1]
    assert _exchange(s, h.address, b"\x00\xff" * 40) is None
    assert _exchange(s, h.address, b"HELLO THERE this is not SIP at all, really not\r\n\r\n") is None
    assert any("bad SIP input" in r.getMessage() for r in caplog.records)
    reply = _exchange(s, h.address, _options(port, 1))
    assert reply is not None and reply.startswith(b"SIP/2.0 200 OK\r\n")
    assert b"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, PRACK, UPDATE, INFO" in reply


def test_missing_from_gets_400_with_warning(peer: Any) -> None:
    h, s = peer
    port = s.getsockname()[1]
    msg = (f"INVITE sip:1@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKq\r\n"
           "To: <sip:1@127.0.0.1>\r\nCall-ID: nofrom\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
    reply = _exchange(s, h.address, msg.encode())
    assert reply is not None and reply.startswith(b"SIP/2.0 400 Bad Request\r\n")
    assert b"Warning: 399 tdmgw \"INVITE without a from header" in reply
    assert b"Call-ID: nofrom" in reply


def test_bad_cseq_and_bad_content_length_get_400(peer: Any) -> None:
    h, s = peer
    port = s.getsockname()[1]
    msg = ("INVITE sip:1@127.0.0.1 SIP/2.0\r\n" + HDRS.format(port=port, n=2, method="INVITE")
           .replace("CSeq: 1 INVITE", "CSeq: one INVITE") + "Content-Length: 0\r\n\r\n")
    reply = _exchange(s, h.address, msg.encode())
    assert reply is not None and reply.startswith(b"SIP/2.0 400 ")
    msg = ("INVITE sip:1@127.0.0.1 SIP/2.0\r\n" + HDRS.format(port=port, n=3, method="INVITE")
           + "Content-Type: application/sdp\r\nContent-Length: 900\r\n\r\nv=0\r\n")
    reply = _exchange(s, h.address, msg.encode())
    assert reply is not None and reply.startswith(b"SIP/2.0 400 ")
    assert _exchange(s, h.address, _options(port, 4)) is not None


def test_bad_sdp_gets_488_and_unknown_method_501(peer: Any) -> None:
    h, s = peer
    port = s.getsockname()[1]
    body = "v=0\r\nm=audio 4000 RTP/AVP 0\r\n"
    msg = ("INVITE sip:1@127.0.0.1 SIP/2.0\r\n" + HDRS.format(port=port, n=5, method="INVITE")
           + "Contact: <sip:a@127.0.0.1>\r\nContent-Type: application/sdp\r\n"
           + f"Content-Length: {len(body)}\r\n\r\n{body}")
    reply = _exchange(s, h.address, msg.encode())
    assert reply is not None and reply.startswith(b"SIP/2.0 488 "), reply
    msg = ("FROB sip:1@127.0.0.1 SIP/2.0\r\n" + HDRS.format(port=port, n=6, method="FROB")
           + "Content-Length: 0\r\n\r\n")
    reply = _exchange(s, h.address, msg.encode())
    assert reply is not None and reply.startswith(b"SIP/2.0 501 ")
    bye = ("BYE sip:1@127.0.0.1 SIP/2.0\r\n" + HDRS.format(port=port, n=7, method="BYE")
           .replace("To: <sip:b@127.0.0.1>", "To: <sip:b@127.0.0.1>;tag=zz") + "Content-Length: 0\r\n\r\n")
    reply = _exchange(s, h.address, bye.encode())
    assert reply is not None and reply.startswith(b"SIP/2.0 481 ")


@given(st.binary(max_size=300))
def test_fuzz_screen_and_reply_raise_only_bad_message(data: bytes) -> None:
    with contextlib.suppress(BadMessage):
        screen_datagram(data)
    reply = bad_request_reply(data, "why", ("127.0.0.1", 5060))
    assert reply is None or reply.startswith(b"SIP/2.0 400 Bad Request\r\n")


@given(st.lists(st.sampled_from([
    "INVITE sip:a@b SIP/2.0", "Via: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK1", "From: <sip:x@y>;tag=1",
    "To: <sip:a@b>", "Call-ID: 1", "CSeq: 1 INVITE", "CSeq: x", "Content-Length: 5",
    "Content-Length: 0", "Contact: <sip:x@1.2.3.4>", "Via: garbage", "From: <<<", ""]), max_size=10))
def test_fuzz_header_soup_through_sippy_parser(lines: list[str]) -> None:
    """Whatever survives screening, sippy's parser either parses or raises; the
    transaction manager's guard turns the raise into a 400, so here it must not hang."""
    data = ("\r\n".join(lines) + "\r\n\r\n").encode()
    try:
        screen_datagram(data)
    except BadMessage:
        return
    from sippy.SipRequest import SipRequest

    try:
        SipRequest(data.decode())
    except Exception:
        assert bad_request_reply(data, "x", ("127.0.0.1", 1)) is None or True


def test_private_contact_behind_nat_gets_bye_at_its_source(harness: Any) -> None:
    """With `nat_contact`, a caller whose Contact is an RFC 1918 address it cannot be
    reached at gets its BYE sent to the address and port the INVITE came from."""
    import re

    from appliance.interwork.facts import CauseFact
    from appliance.sip import events as ev
    from appliance.sip.sdp import LocalMedia

    h = harness(TrunkSpec("ai", (("127.0.0.1", 9),), options_interval_s=0,
                          trusted_networks=(ipaddress.ip_network("127.0.0.1/32"),)),
                nat_contact=True)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(3)
    body = ("v=0\r\no=- 1 1 IN IP4 192.168.1.50\r\ns=-\r\nc=IN IP4 192.168.1.50\r\nt=0 0\r\n"
            "m=audio 4000 RTP/AVP 0\r\n")
    invite = ("INVITE sip:1000@127.0.0.1 SIP/2.0\r\n"
              "Via: SIP/2.0/UDP 192.168.1.50:5060;rport;branch=z9hG4bKnat2\r\n"
              "From: <sip:nat@192.168.1.50>;tag=n1\r\nTo: <sip:1000@127.0.0.1>\r\nCall-ID: nat2\r\n"
              "CSeq: 1 INVITE\r\nContact: <sip:nat@192.168.1.50:5060>\r\n"
              f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n{body}")
    s.sendto(invite.encode(), h.address)
    call = h.expect(ev.IncomingCall)
    call.call.answer(LocalMedia("127.0.0.1", 40000))
    to_tag = None
    while to_tag is None:
        msg = s.recv(8000).decode()
        if msg.startswith("SIP/2.0 200"):
            m = re.search(r"\r\nTo: [^\r]*;tag=([^;\r]+)", msg)
            assert m is not None
            to_tag = m.group(1)
    ack = ("ACK sip:1000@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.1.50:5060;rport;branch=z9hG4bKnat3\r\n"
           f"From: <sip:nat@192.168.1.50>;tag=n1\r\nTo: <sip:1000@127.0.0.1>;tag={to_tag}\r\n"
           "Call-ID: nat2\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n")
    s.sendto(ack.encode(), h.address)
    call.call.hangup(CauseFact(16))
    while True:
        msg = s.recv(8000).decode()
        if msg.startswith("BYE "):
            break
    s.close()
    assert msg.startswith("BYE sip:nat@127.0.0.1:")
