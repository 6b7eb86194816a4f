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


def _answer(gate: Gatekeeper, now: float, password: str = "secret") -> tuple[object, str]:
    ch = SipWWWAuthenticate(gate.check("203.0.113.9", "INVITE", None, now).challenge)
    ch.parse()
    _, qop = ch.supportedAlgorithm()
    return ch, str(ch.genAuthHF("alice", password, "INVITE", "sip:1000@gw", None, qop))


def test_replayed_credentials_are_refused_rfc7616_s3_3() -> None:
    """The same Authorization (same nonce, same nc) twice: the second is a replay, refused
    with a fresh challenge, inside the nonce's lifetime."""
    gate = Gatekeeper(PEERS)
    _, auth = _answer(gate, 100.0)
    assert gate.check("203.0.113.9", "INVITE", auth, 101.0).trunk == "pbx2"
    again = gate.check("203.0.113.9", "INVITE", auth, 102.0)
    assert again.status == 401 and again.trunk is None and "replayed" in again.why
    assert again.challenge is not None and "stale" not in again.challenge


def test_nonce_count_must_increase() -> None:
    """nc 00000001, then 00000003 (a higher count is fine, RFC 7616 s3.4), then 00000002
    (lower: a replay) and 00000003 again (equal: a replay)."""
    gate = Gatekeeper(PEERS, realm="tdmgw")
    nonce = gate.nonce(100.0)

    def creds(nc: str) -> str:
        r = digest_response("MD5", "alice", "tdmgw", "secret", "INVITE", "sip:1000@gw", nonce,
                            "auth", nc, "c0ffee")
        return (f'Digest username="alice", realm="tdmgw", nonce="{nonce}", uri="sip:1000@gw", '
                f'response="{r}", qop=auth, nc={nc}, cnonce="c0ffee", algorithm=MD5')
    assert gate.check("203.0.113.9", "INVITE", creds("00000001"), 101.0).accepted
    assert gate.check("203.0.113.9", "INVITE", creds("00000003"), 102.0).accepted
    assert gate.check("203.0.113.9", "INVITE", creds("00000002"), 103.0).status == 401
    assert gate.check("203.0.113.9", "INVITE", creds("00000003"), 104.0).status == 401
    assert not gate.check("203.0.113.9", "INVITE", creds("1"), 104.0).accepted  # not 8 digits


def test_without_qop_a_nonce_is_good_once() -> None:
    gate = Gatekeeper(PEERS, realm="tdmgw")
    nonce = gate.nonce(100.0)
    r = digest_response("MD5", "alice", "tdmgw", "secret", "INVITE", "sip:1000@gw", nonce)
    creds = (f'Digest username="alice", realm="tdmgw", nonce="{nonce}", uri="sip:1000@gw", '
             f'response="{r}", algorithm=MD5')
    assert gate.check("203.0.113.9", "INVITE", creds, 101.0).accepted
    assert gate.check("203.0.113.9", "INVITE", creds, 102.0).status == 401


def test_nonce_count_memory_is_bounded() -> None:
    gate = Gatekeeper(PEERS, max_nonces=64)
    for i in range(300):
        _, auth = _answer(gate, 100.0 + i)
        assert gate.check("203.0.113.9", "INVITE", auth, 100.0 + i).accepted
    assert len(gate._nc) <= 64


def test_a_restarted_gatekeeper_does_not_take_old_nonces() -> None:
    _, auth = _answer(Gatekeeper(PEERS), 100.0)
    assert Gatekeeper(PEERS).check("203.0.113.9", "INVITE", auth, 101.0).status == 401
