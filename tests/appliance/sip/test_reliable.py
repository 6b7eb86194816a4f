"""RFC 3262 reliable provisionals and RFC 4028 session timers on injected time."""

from __future__ import annotations

import pytest

from appliance.sip.reliable import (
    PrackState,
    ReliableProvisional,
    SessionParams,
    SessionTimer,
    check_require,
    parse_session_expires,
    uas_negotiate,
)


def test_rseq_increments_and_retransmits_doubling_until_prack() -> None:
    r = ReliableProvisional(rseq=10)
    assert r.send(0.0) == 11
    with pytest.raises(RuntimeError):
        r.send(0.1)  # RFC 3262 s3: one outstanding at a time
    times = []
    now = 0.0
    for _ in range(3):
        now = r.get_timer() or 0.0
        assert r.handle_timer(now) == "retransmit"
        times.append(now)
    assert times == [0.5, 1.5, 3.5]
    assert not r.prack("11 5 INVITE", invite_cseq=4)  # wrong CSeq
    assert not r.prack("10 4 INVITE", invite_cseq=4)  # wrong RSeq
    assert r.prack("11 4 INVITE", invite_cseq=4)
    assert r.get_timer() is None and r.send(4.0) == 12


def test_no_prack_in_64_t1_gives_up() -> None:
    r = ReliableProvisional(rseq=1)
    r.send(0.0)
    action = None
    while action != "give_up":
        t = r.get_timer()
        assert t is not None and t <= 64
        action = r.handle_timer(t)
    assert r.get_timer() is None


def test_uac_prack_only_new_rseq() -> None:
    p = PrackState()
    assert p.needs_prack("tag1", 5) and not p.needs_prack("tag1", 5) and p.needs_prack("tag1", 6)
    assert p.needs_prack("tag2", 1)  # a forked early dialog has its own sequence


def test_require_check() -> None:
    assert check_require(["100rel, timer"]) == []
    assert check_require(["100rel, x-foo", "precondition"]) == ["x-foo", "precondition"]


def test_session_expires_parse_and_negotiate() -> None:
    assert parse_session_expires("1800;refresher=uac") == SessionParams(1800, "uac")
    assert parse_session_expires("90") == SessionParams(90, "uas")
    with pytest.raises(ValueError):
        parse_session_expires("soon")
    assert uas_negotiate("60", None, True, 1800, 90) == (422, None)
    assert uas_negotiate("3600;refresher=uas", None, True, 1800, 90) == (200, SessionParams(1800, "uas"))
    assert uas_negotiate("600", "300", True, 1800, 90) == (200, SessionParams(600, "uac"))
    assert uas_negotiate(None, None, False, 1800, 90) == (200, None)


def test_refresher_refreshes_at_half_and_other_side_expires() -> None:
    t = SessionTimer(SessionParams(120, "uac"), we_refresh=True, started=0.0)
    assert t.get_timer() == 60.0 and t.handle_timer(59.0) is None and t.handle_timer(60.0) == "refresh"
    o = SessionTimer(SessionParams(120, "uac"), we_refresh=False, started=0.0)
    assert o.get_timer() == 120 - 32  # RFC 4028 s10: interval - min(32, interval/3)
    o.refreshed(50.0)
    assert o.handle_timer(100.0) is None and o.handle_timer(138.0) == "expire"
