"""Inbound trust: source networks and digest (RFC 2617 / RFC 7616), rate-limited logging."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st
from sippy.SipWWWAuthenticate import SipWWWAuthenticate

from appliance.sip.security import (
    Gatekeeper,
    InboundPeer,
    RateLimitedLog,
    digest_response,
    parse_auth_params,
)

PEERS = [InboundPeer("ai", (ipaddress.ip_network("10.1.0.0/16"),)),
         InboundPeer("pbx2", (), "alice", "secret")]


def test_rfc2617_section_3_5_vector() -> None:
    # RFC 2617 s3.5 (the Mufasa example), qop=auth, MD5.
    assert digest_response("MD5", "Mufasa", "testrealm@host.com", "Circle Of Life", "GET",
                           "/dir/index.html", "dcd98b7102dd2f0e8b11d0f600bfb0c093", "auth",
                           "00000001", "0a4f113b") == "6629fae49393a05397450978507c4ef1"


def test_trusted_network_accepts_without_credentials() -> None:
    gate = Gatekeeper(PEERS)
    assert gate.check("10.1.2.3", "INVITE", None, 100.0).trunk == "ai"


def test_untrusted_gets_challenge_then_sippy_credentials_pass() -> None:
    gate = Gatekeeper(PEERS, realm="tdmgw")
    first = gate.check("203.0.113.9", "INVITE", None, 100.0)
    assert first.status == 401 and first.challenge is not None
    # sippy's own client code answers the challenge: an independent implementation.
    ch = SipWWWAuthenticate(first.challenge)
    ch.parse()
    _, qop = ch.supportedAlgorithm()
    auth = ch.genAuthHF("alice", "secret", "INVITE", "sip:1000@gw", None, qop)
    verdict = gate.check("203.0.113.9", "INVITE", str(auth), 110.0)
    assert verdict.trunk == "pbx2", verdict.why
    wrong = ch.genAuthHF("alice", "guess", "INVITE", "sip:1000@gw", None, qop)
    assert gate.check("203.0.113.9", "INVITE", str(wrong), 110.0).status == 403
    stale = gate.check("203.0.113.9", "INVITE", str(auth), 100.0 + 301)
    assert stale.status == 401 and stale.challenge is not None and "stale=true" in stale.challenge


def test_forged_nonce_and_unknown_user() -> None:
    gate = Gatekeeper(PEERS)
    forged = ('Digest username="alice", realm="tdmgw", nonce="abc:def", uri="sip:x", '
              'response="00000000000000000000000000000000"')
    assert gate.check("203.0.113.9", "INVITE", forged, 1.0).status == 401
    other = forged.replace("alice", "mallory")
    assert gate.check("203.0.113.9", "INVITE", other, 1.0).status == 403


def test_no_digest_accounts_means_403() -> None:
    gate = Gatekeeper(PEERS[:1])
    v = gate.check("203.0.113.9", "INVITE", None, 1.0)
    assert v.status == 403 and "203.0.113.9" in v.why


def test_parse_auth_params_quotes_and_commas() -> None:
    p = parse_auth_params('Digest username="a\\"b", realm="x,y", nc=00000001, qop=auth')
    assert p == {"username": 'a"b', "realm": "x,y", "nc": "00000001", "qop": "auth"}


@given(st.text(max_size=200))
def test_fuzz_credentials_never_crash(value: str) -> None:
    v = Gatekeeper(PEERS).check("203.0.113.9", "INVITE", value, 5.0)
    assert v.status in (400, 401, 403)


def test_rate_limited_log_counts_what_it_drops() -> None:
    rl = RateLimitedLog(window_s=60, burst=2)
    assert rl.allow("1.2.3.4", 0.0) == (True, 0)
    assert rl.allow("1.2.3.4", 1.0) == (True, 0)
    assert rl.allow("1.2.3.4", 2.0) == (False, 0)
    assert rl.allow("1.2.3.4", 3.0) == (False, 0)
    assert rl.allow("5.6.7.8", 3.0) == (True, 0)
    assert rl.allow("1.2.3.4", 61.0) == (True, 2)
