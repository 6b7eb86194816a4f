"""The rigs' span ports (tests/e2e/ports.py): outside the kernel's ephemeral range, free,
not handed out twice in a row, and the next one when one is taken."""

from __future__ import annotations

import socket

import pytest

from tests.e2e import ports


def test_ports_come_from_the_workers_slice_below_the_ephemeral_range(monkeypatch: pytest.MonkeyPatch) -> None:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        ephemeral_lo = int(f.read().split()[0])
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    got = [ports.span_udp_port() for _ in range(4)]
    assert all(ports.BASE + ports.SLICE <= p < ports.BASE + 2 * ports.SLICE for p in got)
    assert max(got) < ephemeral_lo
    assert len(set(got)) == 4


def test_a_taken_port_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw2")
    first = ports.span_udp_port()
    lo = ports.BASE + 2 * ports.SLICE
    nxt = lo + (first - lo + 1) % ports.SLICE
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", nxt))  # another test holds the next one
        assert ports.span_udp_port() not in (first, nxt)
