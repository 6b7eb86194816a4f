"""libpri on a real DAHDI D-channel: plain ``pri_new(fd, node, switch)``.

The binding in ``appliance.demo.libpri`` (re-exported by ``tests.peers.libpri``) runs libpri over a socketpair with
``pri_new_cb``.  In the VM libpri does what chan_dahdi lets it do on a card:
it reads and writes the ``dchan=`` channel's file descriptor itself, and
DAHDI's HDLC adds and checks the FCS (libpri writes 2 placeholder octets and
expects 2 trailing octets on read, which is DAHDI's convention).  This class
reuses the harness's ctypes bindings, event decoding and call methods; only
construction and ``poll()`` differ.
"""

from __future__ import annotations

import contextlib
import ctypes as C
import os
import select
import time
from collections import deque

from appliance.demo.libpri import _LOGS, LIB, Event, LibPri, Node, Switch, decode_event
from tests.vm.dahdi_vm import drain_events

LIB.pri_new.restype = C.c_void_p
LIB.pri_new.argtypes = [C.c_int, C.c_int, C.c_int]


class DahdiLibPri(LibPri):
    """libpri owning a DAHDI D-channel fd (``pri_new``); the caller keeps the fd open."""

    def __init__(self, fd: int, node: Node, switch: Switch, *, debug: int = 0,
                 timers: dict[str, int] | None = None) -> None:
        self.node, self.switch = node, switch
        self.fd = fd
        self.sent: list[bytes] = []
        self.received: list[bytes] = []
        self._pending: bytes | None = None
        self._backlog: deque[bytes] = deque()  # unused: libpri writes the fd itself
        self.pri = LIB.pri_new(fd, int(node), int(switch))
        if not self.pri:
            raise RuntimeError("pri_new failed")
        self.log: list[str] = []
        _LOGS[self.pri] = self.log
        self._closed = False
        #: DAHDI events fetched for libpri (as chan_dahdi does: libpri cannot).
        self.dahdi_events: list[int] = []
        if debug:
            self.set_debug(debug)
        LIB.pri_facility_enable(self.pri)
        for name, value in (timers or {}).items():
            self.set_timer(name, value)

    def poll(self) -> list[Event]:
        """Let libpri read every frame DAHDI has for it, then run its due timers."""
        events: list[Event] = []
        p = select.poll()
        p.register(self.fd, select.POLLIN | select.POLLPRI)
        for _ in range(64):
            got = p.poll(0)
            if got and got[0][1] & select.POLLPRI:
                # An event (alarm, HDLC abort...) is pending: read() fails with ELAST until
                # DAHDI_GETEVENT fetches it, which libpri itself never does.
                self.dahdi_events += drain_events(self.fd)
                continue
            if not got or not got[0][1] & select.POLLIN:
                break
            ev = decode_event(LIB.pri_check_event(self.pri))
            if ev:
                events.append(ev)
        events += self.run_timers()
        return events

    def wait(self, timeout: float = 0.05) -> None:
        """Sleep until the fd is readable or libpri's next timer is due (at most ``timeout``)."""
        due = self.next_timer()
        if due is not None:
            timeout = max(0.0, min(timeout, due - time.time()))
        p = select.poll()
        p.register(self.fd, select.POLLIN)
        p.poll(timeout * 1000)

    def close(self, destroy: bool = False) -> None:
        if self._closed:
            return
        self._closed = True
        if destroy:
            LIB.pri_link_destroy(self.pri)
        _LOGS.pop(self.pri, None)


def run_until(pris: list[DahdiLibPri], want: object, timeout: float = 20.0) -> list[Event]:
    """Poll every libpri until one returns an event whose ``e`` is ``want``; all events
    seen (tagged by instance index in ``fields['_src']``) are returned."""
    seen: list[Event] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for i, pri in enumerate(pris):
            for ev in pri.poll():
                ev.fields["_src"] = i
                seen.append(ev)
                if ev.e == want:
                    return seen
        pris[0].wait(0.02)
    raise AssertionError(f"no {want!r} within {timeout} s; saw {[(e.name, e.fields.get('_src')) for e in seen]}"
                         f"; logs: {[p.log[-5:] for p in pris]}")


def close_fd(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


__all__ = ["DahdiLibPri", "Node", "Switch", "close_fd", "run_until"]
