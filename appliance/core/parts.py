"""How the runtime parts (ISDN, SIP, media, call control) plug into the core.

A part is built by a factory that receives the `Core` and returns an object
with `name` and `async start()`.  The factory wires itself up through the
core's interfaces: `core.spans.on_frame/on_block/send_frame` (span I/O),
`core.board` (status), `core.bus.publish` (events to CTI),
`core.shutdown.add(Phase.CALLS, ...)` (clear calls on SIGTERM),
`core.reload_hooks` (live configuration changes), `core.media` (the media
loop).  Parts are named as "module:callable" in `PARTS`, imported when the
core starts, and started in order after the spans; a part that cannot be
imported or started is logged and reported under `parts` in /healthz
(the gateway is then "degraded"), and the others still run.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .app import Core

PARTS: list[str] = ["appliance.gateway.runtime:GatewayPart"]
"""Factories the core starts, in order ("appliance.isdn.runtime:IsdnPart"...)."""


class Part(Protocol):
    name: str

    async def start(self) -> None:
        """Start the part (its shutdown hooks are registered by the factory)."""


PartFactory = Callable[["Core"], Part]


def resolve(spec: str) -> PartFactory:
    """The factory named by "module:callable"; ImportError/AttributeError if absent."""
    module, _, name = spec.partition(":")
    if not module or not name:
        raise ValueError(f"part {spec!r}: expected \"module:callable\"")
    factory = getattr(importlib.import_module(module), name)
    if not callable(factory):
        raise TypeError(f"part {spec!r} is not callable")
    return factory  # type: ignore[no-any-return]
