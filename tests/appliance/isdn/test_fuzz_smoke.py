"""A one-second run of the `make fuzz` ISDN fuzzer: it must find nothing."""

from __future__ import annotations

from tests.fuzz import fuzz_isdn


def test_fuzz_isdn_one_second() -> None:
    tried, failed = fuzz_isdn.run(1.0)
    assert tried > 500 and failed == 0
