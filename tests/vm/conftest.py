"""In-guest tests: real DAHDI modules, two dynamic spans back to back.

These tests run inside the tdmgw test VM (``make vm-test``; image/vm/).  On
the host (``make test``) every test here is skipped: there is no
``/dev/dahdi`` and ``TDMGW_IN_VM`` is unset.

The ``pair`` fixture configures the two spans with dahdi_cfg, once per line
type (T1, then E1), and destroys them afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.vm import dahdi_vm as dv


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if dv.in_vm():
        return
    skip = pytest.mark.skip(reason="in-guest DAHDI test: runs in the VM (make vm-test)")
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(skip)


@dataclass
class Pair:
    """Two dynamic spans joined by dahdi_dynamic_loc: end 0 ("a") and end 1 ("b")."""

    plan: dv.Plan
    base: dict[int, int] = field(default_factory=dict)
    spanno: dict[int, int] = field(default_factory=dict)

    def chan(self, end: int, pos: int) -> int:
        """Channel number of position ``pos`` (1-based timeslot) on ``end``."""
        return self.base[end] + pos - 1

    def dchan(self, end: int) -> int:
        return self.chan(end, self.plan.dchan)

    def bchan(self, end: int, index: int = 0) -> int:
        return self.chan(end, self.plan.bchans[index])

    def _read_sysfs(self, ends: tuple[int, ...]) -> None:
        spans = dv.sysfs_spans()
        for end in ends:
            s = spans.get(dv.span_name(end))
            if s is None:
                raise AssertionError(f"span {dv.span_name(end)} not registered: {spans}")
            assert s.channels == self.plan.numchans, s
            self.base[end] = s.basechan
            self.spanno[end] = s.spanno

    def start(self, ends: tuple[int, ...] = (0, 1)) -> None:
        """Create the spans ``ends`` and configure their channels (two dahdi_cfg runs:
        the first learns the channel numbers DAHDI assigns, the second uses them)."""
        dv.dahdi_cfg(dv.system_conf(self.plan, ends))
        self._read_sysfs(ends)
        before = dict(self.base)
        dv.dahdi_cfg(dv.system_conf(self.plan, ends, self.base))
        self._read_sysfs(ends)
        assert self.base == before, f"channel numbers moved: {before} -> {self.base}"

    def stop(self, ends: tuple[int, ...]) -> None:
        """Destroy the spans ``ends`` (``dahdi_cfg -s``; their channels must be closed)."""
        conf = "\n".join(f"dynamic=loc,{dv.LOC_KEY}:{e},{self.plan.numchans},0" for e in ends)
        dv.dahdi_cfg(conf + "\n", "-s", check=False)
        names = {dv.span_name(e) for e in ends}
        dv.wait_for(f"{names} destroyed", lambda: not names & set(dv.sysfs_spans()), 5.0)
        for e in ends:
            self.spanno.pop(e, None)


@pytest.fixture(scope="module", params=["T1", "E1"])
def pair(request: pytest.FixtureRequest) -> Iterator[Pair]:
    p = Pair(dv.PLANS[request.param])
    p.start()
    try:
        yield p
    finally:
        p.stop(tuple(p.spanno))
