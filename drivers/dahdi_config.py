"""DAHDI configuration from the gateway config: system.conf, span-types.conf, assigned-spans.conf.

Syntax as documented in DAHDI's own samples (Debian's ``dahdi`` package,
/usr/share/doc/dahdi/examples/*.sample):

* ``system.conf``: ``span=<span>,<timing>,<lbo>,<framing>,<coding>[,crc4][,yellow]``,
  then ``bchan=<channels>`` and ``hardhdlc=<channel>`` (cards whose driver
  does HDLC in hardware) or ``dchan=<channel>`` (DAHDI's software HDLC with
  FCS).  Timing: line-timed spans get priorities 1, 2, ... in span order;
  spans that provide the clock get 0 ("never a timing source").  No
  ``echocanceller=`` lines: tdmgw cancels echo itself.
* ``span-types.conf``: ``<id> <local_spanno>:<E1|T1>`` per configured span.
* ``assigned-spans.conf``: ``<id> <local_spanno>:<spanno>:<basechan>`` for
  every span of every DAHDI device found in sysfs, as
  ``dahdi_span_assignments dumpconfig`` writes it; ``<id>`` is the
  device's hardware_id, else ``@location``, else its sysfs path (the same
  preference and character clean-up as dahdi_span_assignments).

Span numbers and channels: DAHDI span numbers are handed out in device
order (sorted by location, i.e. PCI bus and slot) then local span order,
so gateway span ``number = n`` is the n-th span found; channels are
numbered contiguously (24 per T1, 31 per E1) unless a span sets
``[spans.dahdi] basechan``.

Per-PBX interop profiles are TOML files (firmware_configs/profiles/), found
by name along :func:`profile_dirs`.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .dahdi_cards import Card, identify
from .span import SpanParams, SpanType, Timing, resolve_timing

SYSFS_DEVICES = "/sys/bus/dahdi_devices/devices"
CHANNELS = {SpanType.T1: 24, SpanType.E1: 31}
FILES = ("system.conf", "span-types.conf", "assigned-spans.conf")


class DahdiConfigError(ValueError):
    """The gateway config cannot be turned into DAHDI configuration (says why)."""


# ---------------------------------------------------------------- profiles


@dataclass(frozen=True)
class Profile:
    """A per-PBX interop profile (see firmware_configs/profiles/generic.toml)."""

    name: str
    description: str
    lbo: int = 0
    yellow: bool = True
    switchtypes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    pbx_notes: tuple[str, ...] = ()
    source: str = ""

    @classmethod
    def from_toml(cls, text: str, source: str) -> Profile:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise DahdiConfigError(f"{source}: {e}") from e
        dahdi = data.get("dahdi", {})
        lbo = dahdi.get("lbo", 0)
        if not isinstance(lbo, int) or not 0 <= lbo <= 7:
            raise DahdiConfigError(f"{source}: dahdi.lbo = {lbo!r}: expected 0..7 (system.conf LBO table)")
        yellow = dahdi.get("yellow", True)
        if not isinstance(yellow, bool):
            raise DahdiConfigError(f"{source}: dahdi.yellow = {yellow!r}: expected true or false")
        line = data.get("line", {})
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise DahdiConfigError(f"{source}: name: expected the profile's name")
        return cls(name=name, description=str(data.get("description", "")), lbo=lbo, yellow=yellow,
                   switchtypes={k: tuple(v) for k, v in line.items()},
                   pbx_notes=tuple(data.get("pbx", {}).get("notes", ())), source=source)


def profile_dirs() -> list[Path]:
    """Where profiles are looked up, first match wins."""
    dirs = [Path(p) for p in os.environ.get("TDMGW_PROFILES", "").split(":") if p]
    dirs += [Path("/etc/tdmgw/profiles"), Path("/usr/share/tdmgw/profiles"),
             Path(__file__).resolve().parents[1] / "firmware_configs" / "profiles"]
    return dirs


def load_profile(name: str, dirs: Iterable[Path] | None = None) -> Profile:
    dirs = list(dirs) if dirs is not None else profile_dirs()
    for d in dirs:
        p = d / f"{name}.toml"
        if p.is_file():
            prof = Profile.from_toml(p.read_text(), str(p))
            if prof.name != name:
                raise DahdiConfigError(f"{p}: name = {prof.name!r} but the file is named {name!r}")
            return prof
    known = sorted({p.stem for d in dirs if d.is_dir() for p in d.glob("*.toml")})
    raise DahdiConfigError(f"profile {name!r} not found in {', '.join(map(str, dirs))}; "
                           f"known: {', '.join(known) or 'none'}")


# ---------------------------------------------------------------- sysfs


def attr_clean(text: str) -> str:
    """dahdi_span_assignments' attr_clean: '!' to '/', other odd characters to '_'."""
    text = text.replace("\n", "").replace("!", "/")
    return re.sub(r"[^a-zA-Z0-9/:.\-]", "_", text)


@dataclass(frozen=True)
class HwSpan:
    local_spanno: int
    spantype: str = ""  # T1/E1 as the device reports it now
    spanno: int | None = None  # assigned now, if it is
    basechan: int | None = None


@dataclass(frozen=True)
class HwDevice:
    devpath: str
    hardware_id: str
    location: str
    manufacturer: str
    type: str
    spans: tuple[HwSpan, ...]

    @property
    def key(self) -> str:
        """The assignment key: hardware_id, else @location, else the sysfs path."""
        if self.hardware_id:
            return self.hardware_id
        if self.location:
            return "@" + self.location
        return self.devpath

    @property
    def card(self) -> Card | None:
        return identify(self.type)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def scan_sysfs(root: str | Path = SYSFS_DEVICES) -> list[HwDevice]:
    """The DAHDI devices under ``root`` (/sys/bus/dahdi_devices/devices), by location."""
    base = Path(root)
    if not base.is_dir():
        return []
    devices = []
    for dev in sorted(base.iterdir()):
        spans: dict[int, HwSpan] = {}
        for item in _read(dev / "dahdi_spantype").split() or _read(dev / "spantype").split():
            local, _, kind = item.partition(":")
            if local.isdigit():
                spans[int(local)] = HwSpan(int(local), kind)
        for sd in sorted(dev.glob("span-*")):
            local = _read(sd / "local_spanno").strip()
            if not local.isdigit():
                continue
            base_s = _read(sd / "basechan").strip()
            num = sd.name.removeprefix("span-")
            spans[int(local)] = HwSpan(int(local), _read(sd / "spantype").strip() or
                                       spans.get(int(local), HwSpan(0)).spantype,
                                       int(num) if num.isdigit() else None,
                                       int(base_s) if base_s.isdigit() else None)
        if not spans:
            count = _read(dev / "span_count").strip()
            spans = {i: HwSpan(i) for i in range(1, int(count) + 1)} if count.isdigit() else {}
        devices.append(HwDevice(
            devpath=str(dev.resolve()), hardware_id=attr_clean(_read(dev / "hardware_id")),
            location=attr_clean(_read(dev / "location")),
            manufacturer=_read(dev / "manufacturer").strip(), type=_read(dev / "type").strip(),
            spans=tuple(spans[k] for k in sorted(spans))))
    devices.sort(key=lambda d: (d.location, d.devpath))
    return devices


# ---------------------------------------------------------------- generation


@dataclass(frozen=True)
class Placement:
    """Where one DAHDI span number lives: device, local span, channels."""

    spanno: int
    device: HwDevice | None
    local_spanno: int
    basechan: int
    channels: int
    span: SpanParams | None  # the gateway span configured on it, if any


@dataclass
class DahdiFiles:
    system_conf: str
    span_types_conf: str
    assigned_spans_conf: str
    warnings: list[str]

    def as_dict(self) -> dict[str, str]:
        return dict(zip(FILES, (self.system_conf, self.span_types_conf, self.assigned_spans_conf),
                        strict=True))


def channel_list(chans: Sequence[int]) -> str:
    """1,2,3,5,7,8 -> '1-3,5,7-8' (system.conf channel list syntax)."""
    out: list[str] = []
    run: list[int] = []
    for c in sorted(chans):
        if run and c == run[-1] + 1:
            run.append(c)
            continue
        if run:
            out.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
        run = [c]
    if run:
        out.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
    return ",".join(out)


def place(spans: Sequence[SpanParams], devices: Sequence[HwDevice]) -> list[Placement]:
    """Give every hardware span a DAHDI span number and channels; put the gateway spans on them."""
    by_number = {s.number: s for s in spans}
    if len(by_number) != len(spans):
        raise DahdiConfigError("two dahdi spans have the same number")
    slots: list[tuple[HwDevice | None, int, str]] = [
        (d, hs.local_spanno, hs.spantype) for d in devices for hs in d.spans]
    top = max([len(slots), *by_number]) if (slots or by_number) else 0
    if devices and top > len(slots):
        missing = sorted(n for n in by_number if n > len(slots))
        raise DahdiConfigError(f"span number(s) {missing} configured but only {len(slots)} DAHDI "
                               f"span(s) found in sysfs")
    while len(slots) < top:  # no hardware to be found (building an image): numbering alone
        slots.append((None, 0, ""))
    out: list[Placement] = []
    nextchan = 1
    used: dict[int, int] = {}
    for i, (dev, local, hwtype) in enumerate(slots, start=1):
        sp = by_number.get(i)
        kind = sp.type if sp else (SpanType(hwtype) if hwtype in ("T1", "E1") else SpanType.T1)
        n = CHANNELS[kind]
        base = sp.dahdi.basechan if sp and sp.dahdi and sp.dahdi.basechan else nextchan
        for c in range(base, base + n):
            if c in used:
                raise DahdiConfigError(f"span {i}: channel {c} is also span {used[c]}'s")
            used[c] = i
        out.append(Placement(i, dev, local, base, n, sp))
        nextchan = max(nextchan, base + n)
    return out


def _header(source: str, what: str) -> list[str]:
    return [f"# {what}", f"# Generated by `tdmgw dahdi-config` from {source}.",
            "# Do not edit: change the gateway config and generate again.", ""]


def generate(spans: Sequence[SpanParams], devices: Sequence[HwDevice],
             profiles: dict[str, Profile], source: str = "the gateway config") -> DahdiFiles:
    """The three files for the ``dahdi`` spans in ``spans`` on ``devices``."""
    spans = [s for s in spans if s.driver == "dahdi"]
    placements = place(spans, devices)
    warnings: list[str] = []
    sysc = [
        *_header(source, "DAHDI system.conf (dahdi_cfg)"),
        "# span=<span>,<timing>,<lbo>,<framing>,<coding>[,crc4][,yellow]",
        "# timing: 1, 2... = take the clock from this line (in that order); 0 = never.",
        "# No echocanceller= lines: tdmgw cancels echo itself.", ""]
    stc = [*_header(source, "DAHDI span-types.conf (dahdi_span_types)"),
           "# <id> <local_spanno>:<type>"]
    asc = [*_header(source, "DAHDI assigned-spans.conf (dahdi_span_assignments)"),
           "# <id> <local_spanno>:<spanno>:<basechan>"]
    priority = 0
    for pl in placements:
        sp = pl.span
        if sp is None:
            continue
        prof = profiles.get(sp.profile) or profiles.get("generic")
        if prof is None:
            raise DahdiConfigError(f"span {sp.name}: profile {sp.profile!r} not loaded")
        allowed = prof.switchtypes.get(str(sp.type))
        if allowed and sp.switchtype not in allowed:
            warnings.append(f"span {sp.name}: switchtype {sp.switchtype} is not one profile "
                            f"{prof.name} expects on {sp.type} ({', '.join(allowed)})")
        timing = sp.effective_timing
        if timing is Timing.LINE:
            priority += 1
        card = pl.device.card if pl.device else None
        if pl.device and card is None:
            warnings.append(f"span {sp.name}: device {pl.device.key} ({pl.device.type or 'no type'}) "
                            "is not a card tdmgw knows; using dchan= (software HDLC)")
        keyword = card.dchannel_keyword if card else "dchan"
        opts = [str(pl.spanno), str(priority if timing is Timing.LINE else 0), str(prof.lbo),
                sp.framing, sp.coding]
        if sp.type is SpanType.E1 and sp.crc4:
            opts.append("crc4")
        if prof.yellow:
            opts.append("yellow")
        where = (f"{pl.device.type or pl.device.key} [{pl.device.key}] local span {pl.local_spanno}"
                 if pl.device else "no device found in sysfs")
        sysc += [f"# {sp.name}: {sp.type} {sp.side} side, {timing} timing, {sp.switchtype}, "
                 f"profile {prof.name}; {where}",
                 "span=" + ",".join(opts),
                 "bchan=" + channel_list([pl.basechan + ts - 1 for ts in sp.bchannels])]
        if sp.dchannel:
            sysc.append(f"{keyword}={pl.basechan + sp.dchannel - 1}")
        sysc += [f"#   PBX: {note}" for note in prof.pbx_notes] + [""]
        if pl.device:
            stc.append(f"{pl.device.key:<30} {pl.local_spanno}:{sp.type}")
    if not any(pl.span for pl in placements):
        sysc.append("# (no dahdi spans configured)")
    if devices:
        for dev in devices:
            asc += ["", f"# Device: [{dev.hardware_id}] @{dev.location} {dev.devpath}"]
            asc += [f"{dev.key:<30} {pl.local_spanno}:{pl.spanno}:{pl.basechan}"
                    for pl in placements if pl.device is dev]
    else:
        asc += ["", "# No DAHDI devices found in sysfs: spans are assigned automatically,",
                "# in the order the drivers register them."]
        stc += ["", "# No DAHDI devices found in sysfs: line types come from the drivers' defaults."]
        if spans:
            warnings.append("no DAHDI devices in sysfs: assigned-spans.conf and span-types.conf "
                            "are empty; generate again on the box itself")
    for sp in spans:
        _, twarn = resolve_timing(sp.side, sp.timing)
        if twarn:
            warnings.append(f"span {sp.name}: {twarn}")
    return DahdiFiles("\n".join(sysc).rstrip() + "\n", "\n".join(stc).rstrip() + "\n",
                      "\n".join(asc).rstrip() + "\n", warnings)


def from_config(config: Any, sysfs: str | Path = SYSFS_DEVICES, source: str = "the gateway config",
                profile_path: Iterable[Path] | None = None) -> DahdiFiles:
    """Generate from a loaded appliance.config GatewayConfig (or anything with ``.spans``)."""
    spans = [SpanParams.from_config(s) for s in config.spans if getattr(s, "driver", "") == "dahdi"]
    dirs = list(profile_path) if profile_path is not None else None
    names = {"generic", *(s.profile for s in spans)}
    profiles = {n: load_profile(n, dirs) for n in names}
    return generate(spans, scan_sysfs(sysfs), profiles, source)


def write(files: DahdiFiles, outdir: str | Path) -> list[Path]:
    """Write the three files into ``outdir`` (each replaced atomically)."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.as_dict().items():
        tmp = out / f".{name}.tmp"
        tmp.write_text(text)
        os.replace(tmp, out / name)
        written.append(out / name)
    return written


def run_cli(config: Any, source: str, outdir: Path | None = None,
            sysfs: str | Path = SYSFS_DEVICES, out: Any = None, err: Any = None) -> int:
    """`tdmgw dahdi-config`: print the three files, or write them into ``outdir``.

    Returns the exit status: 0, or 2 when the config cannot be turned into
    DAHDI configuration (the reason goes to ``err``).
    """
    import sys

    out = out or sys.stdout
    err = err or sys.stderr
    try:
        files = from_config(config, sysfs=sysfs, source=source)
    except DahdiConfigError as e:
        print(f"dahdi-config: {e}", file=err)
        return 2
    for w in files.warnings:
        print(f"warning: {w}", file=err)
    if outdir is not None:
        for path in write(files, outdir):
            print(path, file=out)
        print("then: dahdi_span_types set; dahdi_span_assignments add; dahdi_cfg", file=err)
        return 0
    for i, (name, text) in enumerate(files.as_dict().items()):
        print(("\n" if i else "") + f"==> /etc/dahdi/{name} <==", file=out)
        out.write(text)
    return 0
