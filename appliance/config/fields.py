"""Building blocks of the configuration models: apply classes, value types, helpers.

Every setting says when a change to it takes effect (`Apply`): live on SIGHUP,
on a restart of the span it belongs to, or only on a daemon restart.  The
class is stored in the field's JSON-schema extra, read back by the SIGHUP
reload (to report what waits for a restart) and by the reference renderer
(README "Configuration reference").
"""

from __future__ import annotations

import ipaddress
import re
import warnings
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    PlainSerializer,
)
from pydantic.fields import FieldInfo
from pydantic_core import CoreSchema, PydanticCustomError, core_schema


class Apply(StrEnum):
    """When a changed setting takes effect."""

    LIVE = "live"
    SPAN = "span restart"
    DAEMON = "daemon restart"


def setting(
    default: Any = ..., *, apply: Apply, doc: str, default_doc: str | None = None, **kwargs: Any
) -> Any:
    """A pydantic `Field` carrying its apply class and its documentation.

    `default_doc` describes a default that depends on other settings (the
    reference shows it instead of the placeholder default).
    """
    extra: dict[str, Any] = {"apply": apply.value}
    if default_doc is not None:
        extra["default_doc"] = default_doc
    return Field(default, description=doc, json_schema_extra=extra, **kwargs)


def setting_list(*, apply: Apply, doc: str) -> Any:
    """A list-valued setting that defaults to empty."""
    return Field(default_factory=list, description=doc, json_schema_extra={"apply": apply.value})


def apply_of(info: FieldInfo) -> Apply:
    """The apply class stored on a field (daemon restart if none was given)."""
    extra = info.json_schema_extra
    if isinstance(extra, dict):
        value = extra.get("apply")
        if isinstance(value, str):
            return Apply(value)
    return Apply.DAEMON


class Section(BaseModel):
    """Base of every configuration section: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def rule_error(problems: list[tuple[str, Any, str]]) -> PydanticCustomError:
    """A cross-field validation error.

    `problems` holds (key, value, expectation) triples; the loader expands
    them into one message per key, with the key appended to the model's path.
    """
    text = "; ".join(f"{key} = {value!r}: {expected}" for key, value, expected in problems)
    return PydanticCustomError("rule", "{text}", {"text": text, "problems": problems})


# -- host:port ---------------------------------------------------------------


class HostPort:
    """An IP literal and a port, written "127.0.0.1:5038" or "[::1]:5038"."""

    __slots__ = ("host", "port")

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def __repr__(self) -> str:
        return f"HostPort({self.host!r}, {self.port})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HostPort) and (self.host, self.port) == (other.host, other.port)

    def __hash__(self) -> int:
        return hash((self.host, self.port))

    @property
    def is_loopback(self) -> bool:
        return ipaddress.ip_address(self.host).is_loopback

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        # A plain class, not a tuple: pydantic-settings then takes "ADDR:PORT"
        # from the environment as a string instead of trying to decode JSON.
        return core_schema.no_info_plain_validator_function(
            _parse_hostport,
            serialization=core_schema.plain_serializer_function_ser_schema(str),
            json_schema_input_schema=core_schema.str_schema(),
        )


_HOSTPORT = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<v4>[0-9.]+)):(?P<port>\d{1,5})$")


def _parse_hostport(value: Any) -> Any:
    if isinstance(value, HostPort):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError(
            "hostport", "expected a string \"ADDRESS:PORT\", got {kind}", {"kind": type(value).__name__}
        )
    m = _HOSTPORT.match(value.strip())
    if m is None:
        raise PydanticCustomError(
            "hostport", "expected \"ADDRESS:PORT\" with an IP literal, e.g. \"127.0.0.1:5038\"", {}
        )
    host = m.group("v6") or m.group("v4") or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise PydanticCustomError("hostport", "{host} is not an IP address", {"host": host}) from None
    port = int(m.group("port"))
    if port > 65535:
        raise PydanticCustomError("hostport", "port {port} is above 65535", {"port": port})
    return HostPort(host, port)


HostPortField = HostPort


def _ip_literal(value: Any) -> Any:
    if not isinstance(value, str):
        raise PydanticCustomError("ip", "expected an IP address string", {})
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise PydanticCustomError("ip", "{value} is not an IP address", {"value": value}) from None


IpAddress = Annotated[str, BeforeValidator(_ip_literal)]


# -- timeslot lists ----------------------------------------------------------


MAX_TIMESLOT = 31


def parse_timeslots(value: Any) -> tuple[int, ...]:
    """Timeslots from "1-15,17-31", [1, 2, "5-9"] or [1, 2, 3]: sorted, no repeats."""
    items: list[Any]
    if isinstance(value, str):
        items = [p for p in value.split(",") if p.strip()]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise PydanticCustomError(
            "timeslots", "expected \"1-23\" style ranges or a list of timeslot numbers", {}
        )
    out: list[int] = []
    for item in items:
        if isinstance(item, bool):
            raise PydanticCustomError("timeslots", "{item!r} is not a timeslot", {"item": item})
        if isinstance(item, int):
            if not 0 <= item <= MAX_TIMESLOT:
                raise PydanticCustomError("timeslots", "timeslot {item} is outside 0..{max}",
                                          {"item": item, "max": MAX_TIMESLOT})
            out.append(item)
            continue
        if not isinstance(item, str):
            raise PydanticCustomError("timeslots", "{item} is not a timeslot", {"item": repr(item)})
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", item)
        if m is None:
            raise PydanticCustomError(
                "timeslots", "{item!r} is neither a number nor a range like 1-23", {"item": item}
            )
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) else lo
        if hi < lo:
            raise PydanticCustomError("timeslots", "range {item!r} runs backwards", {"item": item})
        if hi > MAX_TIMESLOT:
            raise PydanticCustomError("timeslots", "timeslot {hi} is above {max} (E1 has 31)",
                                      {"hi": hi, "max": MAX_TIMESLOT})
        out.extend(range(lo, hi + 1))
    if len(set(out)) != len(out):
        dup = sorted({t for t in out if out.count(t) > 1})
        raise PydanticCustomError("timeslots", "timeslots listed twice: {dup}", {"dup": dup})
    if not out:
        raise PydanticCustomError("timeslots", "at least one timeslot is needed", {})
    return tuple(sorted(out))


def format_timeslots(slots: tuple[int, ...]) -> str:
    """The compact range form of a timeslot list: (1, 2, 3, 5) -> "1-3,5"."""
    parts: list[str] = []
    start = prev = None
    for s in slots:
        if start is None:
            start = prev = s
        elif prev is not None and s == prev + 1:
            prev = s
        else:
            parts.append(f"{start}-{prev}" if start != prev else f"{start}")
            start = prev = s
    if start is not None:
        parts.append(f"{start}-{prev}" if start != prev else f"{start}")
    return ",".join(parts)


Timeslots = Annotated[
    tuple[int, ...], BeforeValidator(parse_timeslots), PlainSerializer(format_timeslots)
]

NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]{0,31}$"
"""Names of spans, trunks, routes and profiles: a letter, then up to 31 of [A-Za-z0-9_.-]."""


def check_regex(value: str) -> str:
    """A Python regular expression, compiled once to prove it is valid."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # FutureWarning on "[[": not the user's concern here
            re.compile(value)
    except re.error as exc:
        raise PydanticCustomError(
            "regex", "not a valid regular expression: {err}", {"err": str(exc)}
        ) from None
    return value


Regex = Annotated[str, BeforeValidator(lambda v: check_regex(v) if isinstance(v, str) else v)]
