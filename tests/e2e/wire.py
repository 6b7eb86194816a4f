"""What crossed the virtual span's D-channel, decoded with our Q.921/Q.931 codecs.

`Tap.install(pbx)` wraps the simulated PBX's frame paths (gateway -> PBX:
`span_frame`; PBX -> gateway: `far.send_frame`) and keeps every Q.931 message
carried in an I or UI frame, so a test can assert the message sequence and
the causes and progress indicators libpri saw or sent, byte for byte from the
wire, not from either side's own bookkeeping.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

from appliance.isdn.q921_frames import FrameType, Side, decode
from appliance.isdn.q931 import MessageType, Q931Error
from appliance.isdn.q931.ies import Cause, ProgressIndicator
from appliance.isdn.q931.messages import Message, decode_message

Dir = Literal["to_pbx", "from_pbx"]


@dataclass(frozen=True)
class Seen:
    dir: Dir
    msg: Message
    at: float = field(default_factory=time.monotonic)

    @property
    def name(self) -> str:
        try:
            return MessageType(self.msg.type).name
        except ValueError:
            return f"0x{self.msg.type:02x}"

    @property
    def cause(self) -> int | None:
        c = self.msg.get(Cause)
        return None if c is None else c.value

    @property
    def progress(self) -> tuple[int, ...]:
        return tuple(p.description for p in self.msg.all(ProgressIndicator))


class Tap:
    def __init__(self) -> None:
        self.seen: list[Seen] = []

    def install(self, pbx: Any) -> Tap:
        to_pbx = pbx.span_frame
        from_pbx = pbx.far.send_frame

        def span_frame(span: Any, frame: bytes) -> None:
            self._add("to_pbx", frame, Side.NETWORK)
            to_pbx(span, frame)

        def send_frame(frame: bytes) -> Any:
            self._add("from_pbx", frame, Side.USER)
            return from_pbx(frame)

        pbx.span_frame = span_frame
        pbx.far.send_frame = send_frame
        return self

    def _add(self, d: Dir, frame: bytes, receiver: Side) -> None:
        try:
            f = decode(frame, receiver)
        except Exception:
            return
        if f.type not in (FrameType.I, FrameType.UI) or not f.info:
            return
        try:
            self.seen.append(Seen(d, decode_message(f.info)))
        except Q931Error:
            return

    def calls(self) -> list[Seen]:
        """Messages with a call reference (no RESTART / global ones)."""
        return [s for s in self.seen if not s.msg.is_global and not s.msg.is_maintenance]

    def names(self, d: Dir | None = None) -> list[str]:
        return [s.name for s in self.calls() if d is None or s.dir == d]

    def first(self, name: str, d: Dir | None = None) -> Seen:
        for s in self.calls():
            if s.name == name and (d is None or s.dir == d):
                return s
        raise AssertionError(f"no {name} {d or ''} on the wire: {self.describe()}")

    def describe(self) -> str:
        return ", ".join(f"{'>' if s.dir == 'to_pbx' else '<'}{s.name}"
                         f"{'' if s.cause is None else f'({s.cause})'}"
                         f"{'' if not s.progress else f'PI{list(s.progress)}'}"
                         for s in self.calls())
