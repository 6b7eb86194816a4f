"""Two `Controller`s, user side and network side, joined back to back.

Messages go through the codec (`Controller.encode` -> `receive_bytes`) so the
wire binding is exercised too; time is a number the test moves.  Nothing
sleeps.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from appliance.isdn.cc import events as E
from appliance.isdn.cc.controller import Controller
from appliance.isdn.cc.msg import Msg
from appliance.isdn.cc.variants import VariantProfile, profile
from appliance.isdn.q931 import Variant

CALL_METHODS = frozenset({"info", "setup_ack", "proceeding", "alerting", "progress", "connect",
                          "disconnect", "release", "notify", "facility", "status_enquiry"})


class Side:
    def __init__(self, name: str, ctl: Controller) -> None:
        self.name, self.ctl = name, ctl
        self.events: list[E.Event] = []
        self.sent: list[Msg] = []

    def of(self, cls: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, cls)]

    def last(self, cls: type[Any]) -> Any:
        got = self.of(cls)
        assert got, f"{self.name}: no {cls.__name__} in {self.events}"
        return got[-1]

    def clear(self) -> None:
        self.events.clear()
        self.sent.clear()


class Pair:
    def __init__(self, variant: Variant | VariantProfile = Variant.NI2, *, wire: bool = True,
                 user: dict[str, Any] | None = None, net: dict[str, Any] | None = None) -> None:
        prof = variant if isinstance(variant, VariantProfile) else profile(variant)
        self.user = Side("user", Controller(prof, network=False, **(user or {})))
        self.net = Side("net", Controller(prof, network=True, **(net or {})))
        self.now = 0.0
        self.wire = wire
        self.queue: deque[tuple[Side, Msg]] = deque()
        self.drop_to: set[str] = set()  # side names whose incoming messages are lost
        self.link = False

    def other(self, side: Side) -> Side:
        return self.net if side is self.user else self.user

    def take(self, side: Side, out: E.Output) -> E.Output:
        side.events.extend(out.events)
        side.sent.extend(out.messages)
        for m in out.messages:
            if self.link:
                self.queue.append((self.other(side), m))
        return out

    def pump(self, limit: int = 1000) -> None:
        for _ in range(limit):
            if not self.queue:
                return
            dst, m = self.queue.popleft()
            if dst.name in self.drop_to:
                continue
            src = self.other(dst)
            if self.wire:
                self.take(dst, dst.ctl.receive_bytes(src.ctl.encode(m), self.now))
            else:
                self.take(dst, dst.ctl.receive(m, self.now))
        raise AssertionError("message loop")

    def up(self) -> None:
        self.link = True
        self.take(self.user, self.user.ctl.l2_up(self.now))
        self.take(self.net, self.net.ctl.l2_up(self.now))
        self.pump()

    def down(self) -> None:
        self.link = False
        self.queue.clear()
        self.take(self.user, self.user.ctl.l2_down(self.now))
        self.take(self.net, self.net.ctl.l2_down(self.now))

    def advance(self, dt: float) -> None:
        """Move time on by `dt`, firing each side's timers when due."""
        end = self.now + dt
        while True:
            due = [(t, s) for s in (self.user, self.net)
                   if (t := s.ctl.get_timer()) is not None and t <= end]
            if not due:
                break
            t, s = min(due, key=lambda x: x[0])
            self.now = max(self.now, t)
            self.take(s, s.ctl.handle_timer(self.now))
            self.pump()
        self.now = end
        self.pump()

    def do(self, side: Side, fn: str, *args: Any, **kw: Any) -> Any:
        f = getattr(side.ctl, fn)
        res = f(args[0], self.now, *args[1:], **kw) if fn in CALL_METHODS else \
            f(self.now, *args, **kw)
        if isinstance(res, tuple):
            call_id, out = res
            self.take(side, out)
            self.pump()
            return call_id
        self.take(side, res)
        self.pump()
        return res

    def check(self) -> None:
        self.user.ctl.check()
        self.net.ctl.check()

    def assert_lifecycles(self) -> None:
        """Every call that showed up ends with exactly one Released, and nothing after it."""
        for s in (self.user, self.net):
            released: set[int] = set()
            for e in s.events:
                cid = getattr(e, "call_id", None)
                if cid is None:
                    continue
                assert cid not in released or isinstance(e, E.ProtocolError), \
                    (s.name, "event after Released", e)
                if isinstance(e, E.Released):
                    released.add(cid)
            live = set(s.ctl.calls())
            seen = {e.call_id for e in s.events if isinstance(e, E.IncomingCall)}
            assert seen - live <= released, (s.name, seen - live - released)

    def assert_idle(self) -> None:
        self.assert_lifecycles()
        self.check()
        for s in (self.user, self.net):
            assert not s.ctl.calls(), f"{s.name} still has calls {s.ctl.calls()}"
            assert s.ctl.pool.all_idle(), (s.name, s.ctl.pool.busy_numbers(),
                                           s.ctl.pool.restarting())
