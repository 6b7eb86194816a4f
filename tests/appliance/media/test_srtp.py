"""SRTP through libsrtp with RFC 4568 SDES keys."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.media import srtp
from appliance.media.rtcp import ReceiverReport, encode
from appliance.media.rtp import RtpSender
from appliance.media.srtp import CryptoAttribute, CryptoError, SrtpContext, SrtpError

RFC4568_EXAMPLE = "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32"


def test_parse_rfc4568_s4_example() -> None:
    a = CryptoAttribute.parse("a=crypto:" + RFC4568_EXAMPLE)
    assert a.tag == 1 and a.suite == "AES_CM_128_HMAC_SHA1_80"
    assert a.key == base64.b64decode("PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR") and len(a.key) == 30
    assert a.lifetime == "2^20" and a.mki == (1, 32)
    assert str(a) == RFC4568_EXAMPLE
    assert not a.supported  # MKI: not with this binding


@pytest.mark.parametrize("bad", [
    "x AES_CM_128_HMAC_SHA1_80 inline:AAAA",
    "1 AES_CM_128_HMAC_SHA1_80 uri:http://x",
    "1 AES_CM_128_HMAC_SHA1_80 inline:***",
    "1 AES_CM_128_HMAC_SHA1_80 inline:AAAA",  # 3 bytes, not 30
    "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|zz",
])
def test_bad_attributes(bad: str) -> None:
    with pytest.raises(CryptoError):
        CryptoAttribute.parse(bad)


@given(st.text(max_size=80))
def test_fuzz_parse(text: str) -> None:
    try:
        a = CryptoAttribute.parse(text)
    except CryptoError:
        return
    assert CryptoAttribute.parse(str(a)) == a


def test_answer_picks_first_supported_with_its_tag() -> None:
    offers = [CryptoAttribute.parse(RFC4568_EXAMPLE),
              CryptoAttribute.parse("2 AES_CM_128_HMAC_SHA1_32 inline:" + base64.b64encode(bytes(30)).decode()),
              srtp.generate(3, "AEAD_AES_128_GCM")]
    chosen, ans = srtp.answer(offers)
    assert chosen.tag == 2 and ans.tag == 2 and ans.suite == "AES_CM_128_HMAC_SHA1_32"
    assert ans.key != chosen.key and len(ans.key) == 30
    with pytest.raises(CryptoError):
        srtp.answer(offers[:1])


@pytest.mark.parametrize("suite", list(srtp.SUITES))
def test_round_trip_tamper_and_replay(suite: str) -> None:
    a_key, b_key = srtp.generate(1, suite), srtp.generate(1, suite)
    a, b = SrtpContext(a_key, b_key), SrtpContext(b_key, a_key)
    s = RtpSender(0, ssrc=0x1234)
    pkts = [s.packet(bytes(range(160)), 160) for _ in range(5)]
    prot = [a.protect(p) for p in pkts]
    assert all(pp[12:172] != p[12:172] for pp, p in zip(prot, pkts, strict=True))  # encrypted
    assert [b.unprotect(p) for p in prot] == pkts
    with pytest.raises(SrtpError):
        b.unprotect(prot[2])  # replay (RFC 3711 s3.3.2)
    bad = bytearray(a.protect(s.packet(bytes(160), 160)))
    bad[20] ^= 1
    with pytest.raises(SrtpError):
        b.unprotect(bytes(bad))
    assert b.replays == 1 and b.auth_failures == 1
    rr = encode(ReceiverReport(0x1234))
    assert b.unprotect_rtcp(a.protect_rtcp(rr)) == rr
