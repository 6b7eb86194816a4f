"""Helpers for SIP tests: an endpoint on 127.0.0.1:0 whose events land in a queue."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from appliance.sip import events as ev
from appliance.sip.endpoint import SipEndpoint
from appliance.sip.trunks import EndpointSettings, TrunkSpec

E = TypeVar("E")


class Harness:
    """One SipEndpoint; `expect(Type)` waits for the next event of that type."""

    def __init__(self, settings: EndpointSettings) -> None:
        self.q: queue.Queue[Any] = queue.Queue()
        self.seen: list[Any] = []
        self.wire: list[str] = []
        self._lock = threading.Lock()
        self.endpoint = SipEndpoint(settings, None, self.q.put, trace=self._trace)
        self.address = self.endpoint.start()

    def _trace(self, text: str) -> None:
        with self._lock:
            self.wire.append(text)

    def sent(self, start: str) -> list[str]:
        """Messages we sent whose first line starts with `start` (e.g. "UPDATE ")."""
        with self._lock:
            out = []
            for t in self.wire:
                if t.startswith("SENDING message"):
                    body = t.split(":\n", 1)[1] if ":\n" in t else t
                    if body.startswith(start):
                        out.append(body)
            return out

    def wait_sent(self, start: str, count: int = 1, timeout: float = 10.0) -> list[str]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            got = self.sent(start)
            if len(got) >= count:
                return got
            time.sleep(0.02)
        raise AssertionError(f"sent {len(self.sent(start))} of {count} {start!r}")

    def expect(self, kind: type[E], timeout: float = 10.0) -> E:
        end = time.monotonic() + timeout
        for e in self.seen:
            if isinstance(e, kind):
                self.seen.remove(e)
                return e
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {kind.__name__} within {timeout} s; saw {self.seen}")
            try:
                e = self.q.get(timeout=left)
            except queue.Empty:
                continue
            if isinstance(e, kind):
                return e
            self.seen.append(e)

    def events(self) -> list[Any]:
        while True:
            try:
                self.seen.append(self.q.get_nowait())
            except queue.Empty:
                return list(self.seen)

    def close(self) -> None:
        self.endpoint.close()


@pytest.fixture
def harness() -> Iterator[Any]:
    made: list[Harness] = []

    def make(*trunks: TrunkSpec, **kw: Any) -> Harness:
        h = Harness(EndpointSettings(bind="127.0.0.1", port=0, trunks=trunks, **kw))
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()


@pytest.fixture
def sipp_dir(tmp_path: Path) -> Path:
    return tmp_path


__all__ = ["Harness", "ev"]
