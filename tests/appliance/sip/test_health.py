"""Target health from OPTIONS and calls, and the failover order."""

from __future__ import annotations

from appliance.sip.health import TrunkHealth, should_fail_over

A, B = ("10.0.0.1", 5060), ("10.0.0.2", 5060)


def test_pings_are_due_per_interval_with_injected_time() -> None:
    h = TrunkHealth.of("ai", [A, B], 30.0, now=0.0)
    assert [(t.host, t.port) for t in h.due(0.0)] == [A, B]
    assert h.due(1.0) == [] and h.get_timer() is None  # both in flight
    h.result(*A, 200, now=0.5)
    assert h.get_timer() == 30.5 and h.due(30.0) == [] and len(h.due(30.5)) == 1


def test_down_on_timeout_and_back_on_answer_returns_calls_to_primary() -> None:
    h = TrunkHealth.of("ai", [A, B], 30.0, now=0.0)
    h.due(0.0)
    assert h.result(*A, 408, now=1.0) is False
    assert h.order() == [B, A]
    assert h.result(*A, 404, now=31.0) is True  # any answer proves it is alive (RFC 3261 s11)
    assert h.order() == [A, B]
    assert any("down" in line for line in h.log) and any("up" in line for line in h.log)


def test_call_outcomes_count_and_zero_interval_disables_pings() -> None:
    h = TrunkHealth.of("ai", [A, B], 0.0, now=0.0)
    assert h.due(100.0) == [] and h.get_timer() is None
    assert h.call_result(*A, 503) is False and h.order() == [B, A]
    assert h.call_result(*A, 486) is True


def test_failover_statuses() -> None:
    assert should_fail_over(408) and should_fail_over(503)
    assert not should_fail_over(486) and not should_fail_over(404) and not should_fail_over(500)
