"""B-channel pool: hunting, exclusive/preferred selection, glare take-over, restart, service."""

from __future__ import annotations

import pytest

from appliance.isdn.cc.channels import (
    ChannelInvariantError,
    ChannelPool,
    ChannelState,
    ChannelUnavailable,
    Hunting,
)
from appliance.isdn.cc.variants import E1_B_CHANNELS, T1_B_CHANNELS
from appliance.isdn.q931 import ServiceStatus


def test_hunting_orders() -> None:
    assert ChannelPool(T1_B_CHANNELS, Hunting.ASCENDING).hunt() == 1
    assert ChannelPool(T1_B_CHANNELS, Hunting.DESCENDING).hunt() == 23
    e1 = ChannelPool(E1_B_CHANNELS, Hunting.DESCENDING)
    assert e1.hunt() == 31 and 16 not in e1


@pytest.mark.parametrize("hunting,first", [(Hunting.ROUND_ROBIN_ASCENDING, [1, 2, 3, 4]),
                                           (Hunting.ROUND_ROBIN_DESCENDING, [23, 22, 21, 20])])
def test_round_robin_moves_on_after_release(hunting: Hunting, first: list[int]) -> None:
    pool = ChannelPool(T1_B_CHANNELS, hunting)
    got = []
    for owner in range(4):
        n = pool.hunt()
        assert n is not None
        pool.seize(n, owner)
        pool.release(n, owner)  # freed at once: plain hunting would pick it again
        got.append(n)
    assert got == first


def test_exclusive_and_preferred_selection() -> None:
    pool = ChannelPool(T1_B_CHANNELS, Hunting.ASCENDING)
    pool.seize(5, 100)
    with pytest.raises(ChannelUnavailable) as e:
        pool.select((5,), exclusive=True)
    assert e.value.cause == 44
    assert pool.select((5,), exclusive=False) == 1  # preferred: hunt instead
    with pytest.raises(ChannelUnavailable) as e:
        pool.select((40,), exclusive=True)
    assert e.value.cause == 82
    for n in T1_B_CHANNELS:
        if pool.usable(n):
            pool.seize(n, 1000 + n)
    with pytest.raises(ChannelUnavailable) as e:
        pool.select((), exclusive=False)
    assert e.value.cause == 34


def test_service_states_are_skipped() -> None:
    pool = ChannelPool(T1_B_CHANNELS, Hunting.ASCENDING)
    pool.set_service(1, ServiceStatus.OUT_OF_SERVICE, far=True)
    pool.set_service(2, ServiceStatus.MAINTENANCE, far=False)
    assert pool.hunt() == 3
    with pytest.raises(ChannelUnavailable):
        pool.select((1,), exclusive=True)
    pool.set_service(1, ServiceStatus.IN_SERVICE, far=True)
    assert pool.hunt() == 1


def test_glare_take_over_and_invariants() -> None:
    pool = ChannelPool(T1_B_CHANNELS, Hunting.DESCENDING)
    pool.reserve(23, 1)
    assert pool.take_over(23, 2) == 1
    assert pool.owner(23) == 2 and pool.state(23) is ChannelState.IN_USE
    pool.check({2: 23, 1: None})
    with pytest.raises(ChannelInvariantError):
        pool.check({})  # channel 23 held by a call that is gone
    with pytest.raises(ChannelInvariantError):
        pool.release(23, 1)  # the loser cannot free the winner's channel


def test_restart_lifecycle() -> None:
    pool = ChannelPool(T1_B_CHANNELS, Hunting.ASCENDING)
    pool.seize(1, 7)
    with pytest.raises(ChannelInvariantError):
        pool.begin_restart([1])  # the call must be cleared first
    pool.release(1, 7)
    pool.begin_restart([1, 2])
    assert pool.restarting() == (1, 2) and pool.hunt() == 3
    pool.end_restart([1])
    pool.restart_failed([2])
    assert pool.all_idle() and not pool.usable(2) and pool.usable(1)
