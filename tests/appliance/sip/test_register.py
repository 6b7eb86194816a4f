"""Registration timing: Expires honoured, refresh well before expiry, back-off."""

from __future__ import annotations

from appliance.sip.register import RegistrationTimer, RegState


def test_refresh_before_expiry_and_backoff() -> None:
    r = RegistrationTimer(expires=3600, retry_base_s=5, retry_max_s=60)
    assert r.handle_timer(0.0) and r.state is RegState.REGISTERING
    assert r.get_timer() is None and not r.handle_timer(1.0)
    r.on_response(200, 3600, now=1.0)
    assert r.get_timer() == 1.0 + 1800  # half the grant, far from the edge
    r.on_response(200, 80, now=0.0)
    assert r.get_timer() == 40.0  # min(80/2, 80-32)
    r.on_response(200, 6, now=0.0)
    assert r.get_timer() == 3.0
    delays = []
    for _ in range(6):
        r.on_response(403, None, now=0.0)
        delays.append(r.get_timer())
    assert delays == [5, 10, 20, 40, 60, 60]
    r.on_response(200, None, now=0.0)
    assert r.granted == 3600 and r.failures == 0
