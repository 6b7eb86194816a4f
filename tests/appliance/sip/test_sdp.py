"""SDP offer/answer (RFC 3264) over sippy's SdpBody parser."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.sip import sdp

LOCAL = sdp.LocalMedia("192.0.2.10", 30000, law="ulaw", session_id=7, version=1)


def test_offer_lists_span_law_first_with_telephone_event() -> None:
    text = sdp.offer(LOCAL)
    assert text == (
        "v=0\r\no=tdmgw 7 1 IN IP4 192.0.2.10\r\ns=tdmgw\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
        "m=audio 30000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n")
    alaw = sdp.offer(sdp.LocalMedia("192.0.2.10", 30000, law="alaw"))
    assert "m=audio 30000 RTP/AVP 8 0 101\r\n" in alaw


def test_offer_for_hold_and_ipv6() -> None:
    assert "a=sendonly\r\n" in sdp.offer(LOCAL, "sendonly")
    v6 = sdp.offer(sdp.LocalMedia("2001:db8::5", 4000))
    assert "c=IN IP6 2001:db8::5\r\n" in v6


PEER = ("v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n"
        "m=audio 5004 RTP/AVP 18 8 0 96\r\na=rtpmap:18 G729/8000\r\na=rtpmap:96 telephone-event/8000\r\n"
        "a=fmtp:96 0-16\r\na=ptime:30\r\na=sendonly\r\n")


def test_answer_takes_offerers_first_supported_codec_and_its_dtmf_type() -> None:
    text, remote = sdp.answer(PEER, LOCAL)
    assert remote.codec == "PCMA" and remote.payload_type == 8 and remote.dtmf_payload_type == 96
    assert remote.address == "198.51.100.7" and remote.port == 5004 and remote.ptime == 30
    assert "m=audio 30000 RTP/AVP 8 96\r\n" in text and "a=rtpmap:96 telephone-event/8000\r\n" in text
    assert "a=recvonly\r\n" in text  # RFC 3264 s6.1: sendonly offered, recvonly answered
    assert remote.on_hold


def test_answer_refuses_other_streams_with_port_zero() -> None:
    offer = PEER.replace("a=sendonly\r\n", "") + "m=video 5006 RTP/AVP 31\r\n"
    text, _ = sdp.answer(offer, LOCAL)
    assert text.endswith("m=video 0 RTP/AVP 31\r\n")


def test_no_common_codec_is_488() -> None:
    offer = PEER.replace("RTP/AVP 18 8 0 96", "RTP/AVP 18")
    with pytest.raises(sdp.SdpError) as err:
        sdp.answer(offer, LOCAL)
    assert err.value.status == 488


def test_old_style_hold_address() -> None:
    remote = sdp.remote_media(PEER.replace("c=IN IP4 198.51.100.7", "c=IN IP4 0.0.0.0")
                              .replace("a=sendonly\r\n", ""))
    assert remote.on_hold and remote.direction == "sendrecv"


def test_missing_mandatory_line_is_an_error() -> None:
    with pytest.raises(sdp.SdpError):
        sdp.remote_media(PEER.replace("t=0 0\r\n", ""))


@given(st.text(max_size=400))
def test_fuzz_parse_raises_only_sdp_error(text: str) -> None:
    with contextlib.suppress(sdp.SdpError):
        sdp.remote_media(text)


@given(st.lists(st.sampled_from(["v=0", "o=- 1 1 IN IP4 1.2.3.4", "s=-", "c=IN IP4 1.2.3.4",
                                 "t=0 0", "m=audio 4 RTP/AVP 0", "m=audio x RTP/AVP 0",
                                 "a=rtpmap:0", "a=sendonly", "m=video 0 RTP/AVP 31", "c=IN"]),
                max_size=12))
def test_fuzz_line_soup(lines: list[str]) -> None:
    with contextlib.suppress(sdp.SdpError):
        sdp.answer("\r\n".join(lines) + "\r\n", LOCAL)
