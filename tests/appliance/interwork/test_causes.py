"""RFC 3398 cause <-> status tables, checked entry by entry."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.interwork.causes import cause_for_status, status_for_cause

# RFC 3398 s7.2.4.1, transcribed from the RFC's table.
ISUP_TO_SIP = [
    (1, 404), (2, 404), (3, 404), (17, 486), (18, 408), (19, 480), (20, 480),
    (21, 403), (22, 410), (23, 410), (26, 404), (27, 502), (28, 484), (29, 501),
    (31, 480), (34, 503), (38, 503), (41, 503), (42, 503), (47, 503), (55, 403),
    (57, 403), (58, 503), (65, 488), (70, 488), (79, 501), (87, 403), (88, 503),
    (102, 504), (111, 500), (127, 500),
]
# RFC 3398 s8.2.6.1.
SIP_TO_ISUP = [
    (400, 41), (401, 21), (402, 21), (403, 21), (404, 1), (405, 63), (406, 79),
    (407, 21), (408, 102), (410, 22), (413, 127), (414, 127), (415, 79), (416, 127),
    (420, 127), (421, 127), (423, 127), (480, 18), (481, 41), (482, 25), (483, 25),
    (484, 28), (485, 1), (486, 17), (500, 41), (501, 79), (502, 38), (503, 41),
    (504, 102), (505, 127), (513, 127), (600, 17), (603, 21), (604, 1),
]


@pytest.mark.parametrize(("cause", "status"), ISUP_TO_SIP)
def test_rfc3398_7_2_4_1_cause_to_status(cause: int, status: int) -> None:
    assert status_for_cause(cause) == status


@pytest.mark.parametrize(("status", "cause"), SIP_TO_ISUP)
def test_rfc3398_8_2_6_1_status_to_cause(status: int, cause: int) -> None:
    assert cause_for_status(status) == cause


def test_unlisted_causes_map_by_class() -> None:
    assert status_for_cause(30) == 480  # normal class
    assert status_for_cause(44) == 503  # resource unavailable
    assert status_for_cause(66) == 501  # not implemented
    assert status_for_cause(100) == 500  # invalid message / protocol
    assert cause_for_status(487) == 16
    assert cause_for_status(302) == 23
    assert cause_for_status(499) == 127


def test_trunk_overrides_win() -> None:
    assert status_for_cause(21, {21: 603}) == 603
    assert cause_for_status(503, {503: 34}) == 34


@pytest.mark.parametrize("bad", [-1, 128, 1000])
def test_cause_out_of_range_is_refused(bad: int) -> None:
    with pytest.raises(ValueError, match="outside"):
        status_for_cause(bad)


@given(st.integers(min_value=300, max_value=699))
def test_every_failure_status_maps_to_a_q850_cause(status: int) -> None:
    assert 1 <= cause_for_status(status) <= 127


@given(st.integers(min_value=0, max_value=127))
def test_every_cause_maps_to_a_failure_status(cause: int) -> None:
    assert 400 <= status_for_cause(cause) <= 699
