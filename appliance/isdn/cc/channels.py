"""B-channel pool of one PRI: hunting, glare, service states, restart.

Q.931 (05/98) 5.1.2 and 5.2.3 (channel selection, exclusive or preferred),
5.7 (channel selection conflict: glare), 5.5 (restart), and the SERVICE
procedure of T1.607 / GR-4434 (NI-2, 4ESS, 5ESS, DMS-100).

A channel is in exactly one of four call states: IDLE, RESERVED (named in a
SETUP not yet answered, so a glare can still take it), IN_USE (bound to a
call) and RESTARTING (RESTART sent, waiting for RESTART ACKNOWLEDGE).
Independently it has a near-end and a far-end service status; only channels
IDLE and in service on both ends are given to new calls.  `check()` verifies
the invariant the controller relies on: a channel is RESERVED or IN_USE
exactly when a live call holds it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum

from appliance.isdn.cause import CauseValue
from appliance.isdn.q931.codes import ServiceStatus


class ChannelState(Enum):
    IDLE = "idle"
    RESERVED = "reserved"
    IN_USE = "in-use"
    RESTARTING = "restarting"


class Hunting(Enum):
    """Order in which a free channel is picked when the request leaves the choice."""

    ASCENDING = "ascending"  # network side default (avoids glare with the user)
    DESCENDING = "descending"  # user side default
    ROUND_ROBIN_ASCENDING = "round-robin-ascending"
    ROUND_ROBIN_DESCENDING = "round-robin-descending"


class ChannelUnavailable(Exception):
    """No channel can be given; `cause` is what to send back (34, 44 or 82)."""

    def __init__(self, cause: int, detail: str) -> None:
        super().__init__(f"cause {cause}: {detail}")
        self.cause = cause


class ChannelInvariantError(AssertionError):
    """The pool and the calls disagree (a bug, never remote input)."""


@dataclass
class Channel:
    number: int
    state: ChannelState = ChannelState.IDLE
    owner: int | None = None  # call id
    near_service: ServiceStatus = ServiceStatus.IN_SERVICE
    far_service: ServiceStatus = ServiceStatus.IN_SERVICE
    needs_restart: bool = False  # cleared locally while the far end could not be told

    @property
    def in_service(self) -> bool:
        return (self.near_service == ServiceStatus.IN_SERVICE
                and self.far_service == ServiceStatus.IN_SERVICE)


class ChannelPool:
    """The B-channels of one interface."""

    def __init__(self, numbers: Iterable[int], hunting: Hunting) -> None:
        nums = sorted(set(numbers))
        if not nums:
            raise ValueError("a PRI needs at least one B-channel")
        self._channels: dict[int, Channel] = {n: Channel(n) for n in nums}
        self._order = nums
        self.hunting = hunting
        self._last: int | None = None

    # -- queries ---------------------------------------------------------------
    def __contains__(self, number: object) -> bool:
        return number in self._channels

    def __getitem__(self, number: int) -> Channel:
        return self._channels[number]

    def numbers(self) -> tuple[int, ...]:
        return tuple(self._order)

    def state(self, number: int) -> ChannelState:
        return self._channels[number].state

    def owner(self, number: int) -> int | None:
        return self._channels[number].owner

    def usable(self, number: int) -> bool:
        ch = self._channels.get(number)
        return ch is not None and ch.state is ChannelState.IDLE and ch.in_service

    def idle_numbers(self) -> tuple[int, ...]:
        return tuple(n for n in self._order if self._channels[n].state is ChannelState.IDLE)

    def busy_numbers(self) -> tuple[int, ...]:
        return tuple(n for n in self._order
                     if self._channels[n].state in (ChannelState.RESERVED, ChannelState.IN_USE))

    def all_idle(self) -> bool:
        """True when no channel is reserved, in use or restarting."""
        return all(c.state is ChannelState.IDLE for c in self._channels.values())

    # -- selection (Q.931 5.1.2, 5.2.3) ------------------------------------------
    def hunt(self, exclude: Iterable[int] = ()) -> int | None:
        """A free channel in the configured order, or None."""
        skip = set(exclude)
        order = self._order
        descending = self.hunting in (Hunting.DESCENDING, Hunting.ROUND_ROBIN_DESCENDING)
        seq = list(reversed(order)) if descending else list(order)
        if self.hunting in (Hunting.ROUND_ROBIN_ASCENDING, Hunting.ROUND_ROBIN_DESCENDING) \
                and self._last is not None and self._last in seq:
            i = seq.index(self._last) + 1
            seq = seq[i:] + seq[:i]
        for n in seq:
            if n not in skip and self.usable(n):
                return n
        return None

    def select(self, requested: tuple[int, ...], exclusive: bool,
               exclude: Iterable[int] = ()) -> int:
        """The channel for a call that asks for `requested` (empty: any channel).

        Exclusive: that channel or cause 44 (82 if it does not exist).  Preferred
        or any: the requested one if free, else the next free one in hunting
        order, else cause 34 (Q.931 5.1.2 c/d, 5.2.3.1).
        """
        skip = set(exclude)
        for n in requested:
            if n in skip:
                continue
            if n not in self._channels and exclusive:
                raise ChannelUnavailable(CauseValue.IDENTIFIED_CHANNEL_DOES_NOT_EXIST,
                                         f"channel {n} does not exist")
            if self.usable(n):
                return n
        if exclusive and requested:
            raise ChannelUnavailable(CauseValue.REQUESTED_CIRCUIT_CHANNEL_NOT_AVAILABLE,
                                     f"channel(s) {requested} not available")
        got = self.hunt(skip)
        if got is None:
            raise ChannelUnavailable(CauseValue.NO_CIRCUIT_CHANNEL_AVAILABLE,
                                     "no B-channel free")
        return got

    # -- ownership ---------------------------------------------------------------
    def reserve(self, number: int, owner: int) -> None:
        """Name `number` in an outgoing SETUP for call `owner` (glare can still take it)."""
        ch = self._need(number)
        if ch.state is not ChannelState.IDLE:
            raise ChannelInvariantError(f"reserve {number}: it is {ch.state.value}")
        ch.state, ch.owner = ChannelState.RESERVED, owner
        self._last = number

    def seize(self, number: int, owner: int) -> None:
        """Bind `number` to call `owner` for good (idle, or already reserved by it)."""
        ch = self._need(number)
        if ch.state is ChannelState.RESERVED and ch.owner == owner:
            ch.state = ChannelState.IN_USE
            return
        if ch.state is not ChannelState.IDLE:
            raise ChannelInvariantError(f"seize {number}: it is {ch.state.value} ({ch.owner})")
        ch.state, ch.owner = ChannelState.IN_USE, owner
        self._last = number

    def take_over(self, number: int, owner: int) -> int | None:
        """Glare (Q.931 5.7): give a RESERVED channel to `owner`; return the loser's id."""
        ch = self._need(number)
        if ch.state is not ChannelState.RESERVED:
            raise ChannelInvariantError(f"take over {number}: it is {ch.state.value}")
        loser = ch.owner
        ch.state, ch.owner = ChannelState.IN_USE, owner
        return loser

    def release(self, number: int, owner: int) -> None:
        """Call `owner` is gone: its channel is idle again."""
        ch = self._need(number)
        if ch.owner != owner or ch.state not in (ChannelState.RESERVED, ChannelState.IN_USE):
            raise ChannelInvariantError(
                f"release {number} by {owner}: it is {ch.state.value} ({ch.owner})")
        ch.state, ch.owner = ChannelState.IDLE, None

    # -- restart (Q.931 5.5) -----------------------------------------------------
    def begin_restart(self, numbers: Iterable[int]) -> None:
        """RESTART sent for `numbers` (their calls already cleared)."""
        for n in numbers:
            ch = self._need(n)
            if ch.state in (ChannelState.RESERVED, ChannelState.IN_USE):
                raise ChannelInvariantError(f"restart {n}: call {ch.owner} still holds it")
            ch.state = ChannelState.RESTARTING
            ch.needs_restart = False

    def end_restart(self, numbers: Iterable[int]) -> None:
        """RESTART acknowledged (or received): the channels are idle."""
        for n in numbers:
            ch = self._need(n)
            if ch.state is ChannelState.RESTARTING:
                ch.state = ChannelState.IDLE

    def restart_failed(self, numbers: Iterable[int]) -> None:
        """No RESTART ACK after the retries: idle but out of service here (Q.931 5.5.1)."""
        for n in numbers:
            ch = self._need(n)
            if ch.state is ChannelState.RESTARTING:
                ch.state = ChannelState.IDLE
                ch.near_service = ServiceStatus.OUT_OF_SERVICE

    def restarting(self) -> tuple[int, ...]:
        return tuple(n for n in self._order
                     if self._channels[n].state is ChannelState.RESTARTING)

    def mark_needs_restart(self, number: int) -> None:
        self._need(number).needs_restart = True

    def needing_restart(self) -> tuple[int, ...]:
        return tuple(n for n in self._order if self._channels[n].needs_restart)

    # -- service (T1.607 SERVICE) --------------------------------------------------
    def set_service(self, number: int, status: ServiceStatus, *, far: bool) -> None:
        ch = self._need(number)
        if far:
            ch.far_service = status
        else:
            ch.near_service = status

    # -- invariant -----------------------------------------------------------------
    def check(self, holders: Mapping[int, int | None]) -> None:
        """Raise unless channel ownership matches `holders` (call id -> channel)."""
        for n, ch in self._channels.items():
            held = ch.state in (ChannelState.RESERVED, ChannelState.IN_USE)
            if held != (ch.owner is not None):
                raise ChannelInvariantError(f"channel {n} {ch.state.value} owner {ch.owner}")
            if held and holders.get(ch.owner) != n:  # type: ignore[arg-type]
                raise ChannelInvariantError(f"channel {n} held by gone call {ch.owner}")
        for call_id, held_n in holders.items():
            if held_n is not None and self._channels[held_n].owner != call_id:
                raise ChannelInvariantError(f"call {call_id} thinks it holds {held_n}")

    def _need(self, number: int) -> Channel:
        try:
            return self._channels[number]
        except KeyError:
            raise ChannelUnavailable(CauseValue.IDENTIFIED_CHANNEL_DOES_NOT_EXIST,
                                     f"channel {number} does not exist") from None
