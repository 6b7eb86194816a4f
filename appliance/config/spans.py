"""The `[[spans]]` section: one T1/E1 ISDN PRI span each, DAHDI or virtual.

Layer 1 follows ANSI T1.403 (T1: ESF or D4 framing, B8ZS or AMI) and ITU-T
G.703/G.704 (E1: HDB3, CRC-4 multiframe, CCS in timeslot 16).  An ISDN PRI
carries its D-channel in timeslot 24 on T1 and 16 on E1 (ITU-T I.431 s5.1.3),
and its B-channels in the rest.  Defaults follow the line type, so a minimal
span is `number`, `driver`, `type`, `switchtype` and `side`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import model_validator

from .fields import (
    NAME_PATTERN,
    Apply,
    HostPortField,
    Section,
    Timeslots,
    format_timeslots,
    rule_error,
    setting,
)

LineType = Literal["T1", "E1"]
Framing = Literal["esf", "d4", "cas", "ccs"]
Coding = Literal["b8zs", "ami", "hdb3"]
Timing = Literal["line", "internal", "auto"]
SwitchType = Literal["ni2", "4ess", "5ess", "dms100", "euroisdn_e1", "euroisdn_t1", "qsig"]
Side = Literal["user", "network"]
Law = Literal["mulaw", "alaw"]
Hunting = Literal["ascending", "descending", "roundrobin"]

TIMESLOTS = {"T1": 24, "E1": 31}
DEFAULT_DCHANNEL = {"T1": 24, "E1": 16}
DEFAULT_FRAMING = {"T1": "esf", "E1": "ccs"}
DEFAULT_CODING = {"T1": "b8zs", "E1": "hdb3"}
DEFAULT_LAW = {"T1": "mulaw", "E1": "alaw"}
FRAMINGS = {"T1": ("esf", "d4"), "E1": ("ccs", "cas")}
CODINGS = {"T1": ("b8zs", "ami"), "E1": ("hdb3", "ami")}
SWITCHTYPES = {
    "T1": ("ni2", "4ess", "5ess", "dms100", "euroisdn_t1", "qsig"),
    "E1": ("euroisdn_e1", "qsig"),
}


class VirtualSpanConfig(Section):
    """A virtual span: the D-channel over a unix socket, B-channels over UDP on loopback."""

    dchannel_socket: Path = setting(
        apply=Apply.SPAN, doc="Unix socket path carrying the D-channel (LAPD frames)."
    )
    bchannel_local: HostPortField = setting(
        apply=Apply.SPAN, doc="Local UDP address for B-channel audio, e.g. \"127.0.0.1:40000\"."
    )
    bchannel_remote: HostPortField = setting(
        apply=Apply.SPAN, doc="The far end's UDP address for B-channel audio."
    )
    frames_per_packet: int = setting(
        8, apply=Apply.SPAN, ge=1, le=160,
        doc="8-sample frames (1 ms each, as DAHDI chunks) sent per B-channel packet.",
    )
    playout_ms: int = setting(
        4, apply=Apply.SPAN, ge=0, le=200,
        doc="Receive playout delay in ms that absorbs loopback scheduling jitter.",
    )


class DahdiSpanConfig(Section):
    """Settings only a DAHDI span has."""

    basechan: int | None = setting(
        None, apply=Apply.SPAN, ge=1,
        doc="First DAHDI channel number of the span; unset: taken from DAHDI at start.",
    )
    blocksize: int = setting(
        40, apply=Apply.SPAN, ge=16, le=1024, multiple_of=8,
        doc="Samples per read/write on each channel (DAHDI_SET_BLOCKSIZE); 40 = 5 ms; DAHDI refuses fewer than 16.",
    )


class SpanConfig(Section):
    """One T1/E1 PRI span."""

    name: str = setting(
        "", default_doc="span<number>", apply=Apply.DAEMON, pattern=r"^$|" + NAME_PATTERN,
        doc="Name used in logs, routes and the journal; unset: \"span<number>\".",
    )
    number: int = setting(
        apply=Apply.DAEMON, ge=1, le=128,
        doc="Span number (DAHDI span number for `dahdi`, any unique number for `virtual`).",
    )
    driver: Literal["dahdi", "virtual"] = setting(
        apply=Apply.DAEMON, doc="`dahdi` for a card, `virtual` for a span over loopback sockets."
    )
    type: LineType = setting(apply=Apply.SPAN, doc="Line type: `T1` or `E1`.")
    framing: Framing = setting(
        "esf", default_doc="by type", apply=Apply.SPAN,
        doc="T1: `esf` (default) or `d4`; E1: `ccs` (default; `cas` cannot carry a PRI).",
    )
    coding: Coding = setting(
        "b8zs", default_doc="by type", apply=Apply.SPAN, doc="T1: `b8zs` (default) or `ami`; E1: `hdb3` (default) or `ami`."
    )
    crc4: bool | None = setting(
        None, default_doc="by type", apply=Apply.SPAN, doc="E1 only: CRC-4 multiframe (G.704 s2.3.3); default true on E1."
    )
    timing: Timing = setting(
        "auto", apply=Apply.SPAN,
        doc="Clock source: `line` (recover from the PBX), `internal` (provide it), "
        "`auto` (user side takes line timing, network side provides the clock).",
    )
    switchtype: SwitchType = setting(
        apply=Apply.SPAN,
        doc="Q.931 variant: T1 `ni2` `4ess` `5ess` `dms100` `euroisdn_t1` `qsig`; "
        "E1 `euroisdn_e1` `qsig`.",
    )
    side: Side = setting(
        apply=Apply.SPAN,
        doc="Our ISDN role: `user` (TE, the PBX is network) or `network` (NT, the PBX is user).",
    )
    bchannels: Timeslots = setting(
        (), default_doc="by type", apply=Apply.SPAN,
        doc="B-channel timeslots, e.g. \"1-23\" or [1, 2, \"5-9\"]; default all but the D-channel.",
    )
    dchannel: int = setting(
        0, default_doc="by type", apply=Apply.SPAN, ge=0, le=31, doc="D-channel timeslot; default 24 on T1, 16 on E1."
    )
    law: Law = setting(
        "mulaw", default_doc="by type", apply=Apply.SPAN, doc="G.711 companding: `mulaw` (T1 default) or `alaw` (E1 default)."
    )
    hunting: Hunting = setting(
        "descending", default_doc="by side", apply=Apply.LIVE,
        doc="B-channel order for outgoing calls; default `descending` on the user side and "
        "`ascending` on the network side, so the two ends rarely pick the same channel (glare).",
    )
    profile: str | None = setting(
        None, apply=Apply.SPAN, pattern=NAME_PATTERN,
        doc="Name of a per-PBX interop profile (timers, IE quirks); unset: the switchtype's defaults.",
    )
    virtual: VirtualSpanConfig | None = setting(
        None, apply=Apply.SPAN, doc="Sub-section `[spans.virtual]`, required for `virtual` spans."
    )
    dahdi: DahdiSpanConfig | None = setting(
        None, apply=Apply.SPAN, doc="Sub-section `[spans.dahdi]`, only for `dahdi` spans."
    )

    @model_validator(mode="before")
    @classmethod
    def _defaults_by_type(cls, data: Any) -> Any:
        """Fill the defaults that depend on the line type and side."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        given = data.get("type")
        kind = given if isinstance(given, str) and given in TIMESLOTS else "T1"
        data.setdefault("framing", DEFAULT_FRAMING[kind])
        data.setdefault("coding", DEFAULT_CODING[kind])
        data.setdefault("law", DEFAULT_LAW[kind])
        if kind == "E1":
            data.setdefault("crc4", True)
        data.setdefault("dchannel", DEFAULT_DCHANNEL[kind])
        if "bchannels" not in data:
            d = data["dchannel"] if isinstance(data["dchannel"], int) else DEFAULT_DCHANNEL[kind]
            data["bchannels"] = [t for t in range(1, TIMESLOTS[kind] + 1) if t != d]
        data.setdefault("hunting", "ascending" if data.get("side") == "network" else "descending")
        number = data.get("number")
        if not data.get("name") and isinstance(number, int) and not isinstance(number, bool):
            data["name"] = f"span{data['number']}"
        if data.get("driver") == "dahdi" and "dahdi" not in data:
            data["dahdi"] = {}
        return data

    @model_validator(mode="after")
    def _rules(self) -> SpanConfig:
        p: list[tuple[str, Any, str]] = []
        t = self.type
        if self.framing not in FRAMINGS[t]:
            p.append(("framing", self.framing, f"one of {', '.join(FRAMINGS[t])} on {t}"))
        elif self.framing == "cas":
            p.append(("framing", "cas", "ccs: CAS framing leaves no D-channel for an ISDN PRI"))
        if self.coding not in CODINGS[t]:
            p.append(("coding", self.coding, f"one of {', '.join(CODINGS[t])} on {t}"))
        if t == "T1" and self.crc4 is not None:
            p.append(("crc4", self.crc4, "no crc4 on T1: CRC-4 is an E1 (G.704) option"))
        if self.switchtype not in SWITCHTYPES[t]:
            p.append(("switchtype", self.switchtype, f"one of {', '.join(SWITCHTYPES[t])} on {t}"))
        n = TIMESLOTS[t]
        if t == "E1" and self.dchannel != 16:
            p.append(("dchannel", self.dchannel, "16: an E1 PRI signals in timeslot 16 (G.704, I.431)"))
        elif not 1 <= self.dchannel <= n:
            p.append(("dchannel", self.dchannel, f"a timeslot in 1..{n} on {t}"))
        outside = [s for s in self.bchannels if not 1 <= s <= n]
        if outside:
            p.append(("bchannels", format_timeslots(self.bchannels), f"timeslots in 1..{n} on {t}"))
        if self.dchannel in self.bchannels:
            p.append(("bchannels", format_timeslots(self.bchannels),
                      f"not the D-channel timeslot {self.dchannel}"))
        if self.driver == "virtual" and self.virtual is None:
            p.append(("virtual", None, "a [spans.virtual] sub-section for a virtual span"))
        if self.driver == "virtual" and self.dahdi is not None:
            p.append(("dahdi", "{...}", "no [spans.dahdi] sub-section on a virtual span"))
        if self.driver == "dahdi" and self.virtual is not None:
            p.append(("virtual", "{...}", "no [spans.virtual] sub-section on a dahdi span"))
        if p:
            raise rule_error(p)
        return self

    @property
    def effective_timing(self) -> Literal["line", "internal"]:
        """The clock source `auto` resolves to: line on the user side, internal on network."""
        if self.timing != "auto":
            return self.timing
        return "line" if self.side == "user" else "internal"

    def warnings(self) -> list[str]:
        """Legal but suspicious settings, reported by check-config and at load."""
        w: list[str] = []
        where = f"spans[{self.name}]"
        if self.timing == "internal" and self.side == "user":
            w.append(f"{where}.timing = internal on the user side: the PBX normally provides "
                     "the clock; two clock masters cause slips")
        if self.timing == "line" and self.side == "network":
            w.append(f"{where}.timing = line on the network side: we normally provide the clock; "
                     "make sure the PBX is set to provide it")
        if self.type == "T1" and self.coding == "ami":
            w.append(f"{where}.coding = ami: B-channels lose 64 kbit/s clear channel; "
                     "the PBX must match")
        if self.type == "T1" and self.framing == "d4":
            w.append(f"{where}.framing = d4: PRI normally runs on ESF")
        if self.law != DEFAULT_LAW[self.type]:
            w.append(f"{where}.law = {self.law} on {self.type}: unusual, the PBX must match")
        if self.virtual is not None:
            for key in ("bchannel_local", "bchannel_remote"):
                addr = getattr(self.virtual, key)
                if not addr.is_loopback:
                    w.append(f"{where}.virtual.{key} = {addr}: not a loopback address")
        return w


def check_spans(spans: list[SpanConfig]) -> list[tuple[str, Any, str]]:
    """Rules across spans: unique names, numbers and sockets."""
    p: list[tuple[str, Any, str]] = []
    seen_names: set[str] = set()
    seen_numbers: set[tuple[str, int]] = set()
    seen_paths: set[str] = set()
    seen_ports: set[str] = set()
    for i, s in enumerate(spans):
        if s.name in seen_names:
            p.append((f"spans[{i}].name", s.name, "a name no other span has"))
        seen_names.add(s.name)
        if (s.driver, s.number) in seen_numbers:
            p.append((f"spans[{i}].number", s.number, f"a number no other {s.driver} span has"))
        seen_numbers.add((s.driver, s.number))
        if s.virtual is not None:
            path = str(s.virtual.dchannel_socket)
            if path in seen_paths:
                p.append((f"spans[{i}].virtual.dchannel_socket", path, "a socket of its own"))
            seen_paths.add(path)
            local = str(s.virtual.bchannel_local)
            if s.virtual.bchannel_local.port != 0 and local in seen_ports:
                p.append((f"spans[{i}].virtual.bchannel_local", local, "a port of its own"))
            seen_ports.add(local)
    return p
