"""Human views of a configuration: the check-config summary, reload diffs, the reference.

`diff(old, new)` lists every changed key with its apply class; the SIGHUP
reload applies the live ones and reports the rest as waiting for a restart.
`reference_markdown()` renders the README's configuration reference from
the models themselves, so the documentation cannot drift from the code.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, SecretStr
from pydantic_core import PydanticUndefined

from .fields import Apply, HostPort, apply_of, format_timeslots
from .load import LoadedConfig
from .model import GatewayConfig


@dataclass(frozen=True)
class Change:
    """One changed setting between two configurations."""

    key: str
    apply: Apply
    old: Any
    new: Any

    def __str__(self) -> str:
        return f"{self.key}: {_show(self.old)} -> {_show(self.new)} ({self.apply.value})"


def diff(old: GatewayConfig, new: GatewayConfig) -> list[Change]:
    """Every changed setting, with when it applies."""
    out: list[Change] = []
    old_names = [s.name for s in old.spans]
    new_names = [s.name for s in new.spans]
    if old_names != new_names:
        out.append(Change("spans", Apply.DAEMON, old_names, new_names))
    else:
        for i, (a, b) in enumerate(zip(old.spans, new.spans, strict=True)):
            _diff_model(a, b, f"spans[{i}]", out)
    for name in GatewayConfig.model_fields:
        if name != "spans":
            _diff_value(getattr(old, name), getattr(new, name), name,
                        apply_of(GatewayConfig.model_fields[name]), out)
    return out


def _diff_model(a: BaseModel, b: BaseModel, path: str, out: list[Change]) -> None:
    for name, info in type(a).model_fields.items():
        _diff_value(getattr(a, name), getattr(b, name), f"{path}.{name}", apply_of(info), out)


def _diff_value(a: Any, b: Any, path: str, apply: Apply, out: list[Change]) -> None:
    if isinstance(a, BaseModel) and isinstance(b, BaseModel) and type(a) is type(b):
        _diff_model(a, b, path, out)
    elif _plain(a) != _plain(b):
        out.append(Change(path, apply, a, b))


def _plain(v: Any) -> Any:
    if isinstance(v, SecretStr):
        return v.get_secret_value()
    if isinstance(v, BaseModel):
        return v.model_dump()
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def _show(v: Any) -> str:
    if isinstance(v, BaseModel):
        return "{...}"
    if isinstance(v, list) and v and isinstance(v[0], BaseModel):
        return f"[{len(v)} entries]"
    if isinstance(v, tuple) and all(isinstance(x, int) for x in v):
        return format_timeslots(v)
    if isinstance(v, SecretStr):
        return "'********'"
    return repr(str(v) if isinstance(v, Path | HostPort) else v)


def summary(loaded: LoadedConfig) -> str:
    """The one-screen summary check-config prints for a valid file."""
    c = loaded.config
    lines = [f"{loaded.source}: valid"]
    if loaded.env_overrides:
        lines.append("environment overrides: " + ", ".join(sorted(loaded.env_overrides)))
    lines.append(f"spans ({len(c.spans)}):")
    for s in c.spans:
        l1 = f"{s.framing}/{s.coding}" + (f"/crc4={'on' if s.crc4 else 'off'}" if s.type == "E1" else "")
        timing = s.effective_timing + (" (auto)" if s.timing == "auto" else "")
        lines.append(
            f"  {s.name:<10} {s.driver} #{s.number}  {s.type} {l1}  {s.switchtype} {s.side}  "
            f"timing {timing}  B {format_timeslots(s.bchannels)} D {s.dchannel}  {s.law}  "
            f"hunt {s.hunting}" + (f"  profile {s.profile}" if s.profile else "")
        )
    trunks = ", ".join(f"{t.name} -> {t.host}:{t.port}" for t in c.sip.trunks) or "none"
    lines.append(f"sip: {c.sip.transport} {c.sip.bind}:{c.sip.port}; trunks: {trunks}")
    lines.append(f"routes: {len(c.routes.inbound)} inbound, {len(c.routes.outbound)} outbound")
    ami = f"ami {c.cti.ami.listen}" if c.cti.ami.enabled else "ami off"
    ws = f"websocket {c.cti.websocket.listen}" if c.cti.websocket.enabled else "websocket off"
    lines.append(f"cti: events {c.event_socket()}; {ami}; {ws}; {len(c.cti.webhooks)} webhooks")
    tls = "TLS" if c.console.tls_cert else "no TLS"
    lines.append(f"console: {c.console.listen} ({tls})")
    lines.append(f"health: http://{c.health.listen}/healthz")
    lines.append(f"logging: {c.logging.level}, {'journald' if c.logging.journald else 'stderr'}")
    m = c.media
    lines.append(f"media: ptime {m.ptime_ms} ms, jitter {m.jitter_min_ms}-{m.jitter_max_ms} ms, "
                 f"RTP ports {m.rtp_port_min}-{m.rtp_port_max}")
    lines.append(f"runtime: {c.runtime.dir}")
    if loaded.warnings:
        lines.append(f"warnings ({len(loaded.warnings)}):")
        lines += [f"  {w}" for w in loaded.warnings]
    return "\n".join(lines)


# -- reference ---------------------------------------------------------------


def reference_markdown() -> str:
    """The configuration reference, one table per section, from the models."""
    out = [
        "One TOML file: `--config PATH`, else `$TDMGW_CONFIG`, else `/etc/tdmgw/tdmgw.toml`. "
        "Any setting can be overridden from the environment as `TDMGW_SECTION__KEY` "
        "(e.g. `TDMGW_LOGGING__LEVEL=debug`; lists such as `TDMGW_SPANS` take JSON). "
        "Unknown keys are errors. `tdmgw check-config PATH` validates a file (exit 2 on "
        "errors). *Applies* says when a change takes effect after `systemctl reload tdmgw-core` "
        "(SIGHUP): **live**, on a **span restart**, or on a **daemon restart**; the reload "
        "logs what waits for a restart.",
        "",
        "Per-PBX examples are in `firmware_configs/` (Avaya CM T1 NI-2, Cisco T1 5ESS, Mitel "
        "E1 QSIG, generic E1 EuroISDN); `tdmgw check-config --embedded` shows the built-in "
        "default that `make run` uses.",
        "",
    ]
    for name, info in GatewayConfig.model_fields.items():
        model = _model_of(info.annotation)
        if model is None:
            continue
        is_list = typing.get_origin(info.annotation) is list
        _section(out, f"[[{name}]]" if is_list else f"[{name}]", model, info.description or "")
    return "\n".join(out).rstrip() + "\n"


def _section(out: list[str], header: str, model: type[BaseModel], doc: str) -> None:
    out += [f"### `{header}`", ""]
    text = (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else ""
    if text:
        out += [text, ""]
    out += ["| key | type | default | applies | meaning |", "|---|---|---|---|---|"]
    subs: list[tuple[str, type[BaseModel], str]] = []
    for key, info in model.model_fields.items():
        sub = _model_of(info.annotation)
        inner = header.strip("[]")
        if sub is not None:
            is_list = typing.get_origin(info.annotation) is list
            subs.append((f"[[{inner}.{key}]]" if is_list else f"[{inner}.{key}]", sub,
                         info.description or ""))
            continue
        out.append(f"| `{key}` | {_type_name(info.annotation)} | {_default(info)} | "
                   f"{apply_of(info).value} | {(info.description or '').replace('|', '/')} |")
    out.append("")
    for sub_header, sub, sub_doc in subs:
        _section(out, sub_header, sub, sub_doc)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        m = _model_of(arg)
        if m is not None:
            return m
    return None


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        return " / ".join(f"`{a}`" for a in args)
    if origin in (types.UnionType, typing.Union):
        parts = [_type_name(a) for a in args if a is not type(None)]
        return " or ".join(parts) + " (optional)"
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is tuple:
        return "timeslots"
    if annotation is HostPort:
        return "\"ADDR:PORT\""
    if isinstance(annotation, type):
        return {"str": "string", "int": "integer", "bool": "boolean", "Path": "path",
                "SecretStr": "secret string", "HttpUrl": "URL"}.get(annotation.__name__,
                                                                    annotation.__name__)
    return str(annotation)


def _default(info: Any) -> str:
    extra = info.json_schema_extra
    if isinstance(extra, dict) and isinstance(extra.get("default_doc"), str):
        return str(extra["default_doc"])
    if info.default is PydanticUndefined and info.default_factory is None:
        return "required"
    if info.default_factory is not None:
        return "`[]`"
    d = info.default
    if d is None:
        return "unset"
    if isinstance(d, list):
        return "`" + str(d).replace("'", '"') + "`"
    if isinstance(d, bool):
        return f"`{str(d).lower()}`"
    return f"`{d}`"
