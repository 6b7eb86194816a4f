"""Loading tdmgw.toml: TOML parse, environment overrides, errors a person can act on.

Every problem names where it came from (the file and line, or the
environment variable), the key path (`spans[0].framing`), the value found
and what was expected.  A problem is never swallowed: the loader reports
them all at once, and the caller keeps its running configuration.
"""

from __future__ import annotations

import difflib
import os
import re
import time
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_settings import SettingsError

from .model import ENV_DELIMITER, ENV_PREFIX, GatewayConfig, build

DEFAULT_PATH = Path("/etc/tdmgw/tdmgw.toml")
CONFIG_ENV = "TDMGW_CONFIG"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a configuration."""

    source: str
    key: str
    value: Any
    expected: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        if not self.key:
            return f"{where}: {self.expected}"
        shown = "(missing)" if self.value is _MISSING else repr(_plain(self.value))
        return f"{where}: {self.key} = {shown}: expected {self.expected}"


class _Missing:
    def __repr__(self) -> str:
        return "(missing)"


_MISSING: Any = _Missing()


class ConfigError(Exception):
    """A configuration that cannot be used; `problems` lists every reason."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class LoadedConfig:
    """A validated configuration and where it came from."""

    config: GatewayConfig
    path: Path | None
    warnings: list[str] = field(default_factory=list)
    env_overrides: dict[str, str] = field(default_factory=dict)
    loaded_at: float = field(default_factory=time.time)

    @property
    def source(self) -> str:
        return str(self.path) if self.path is not None else "(embedded default)"


def default_path(environ: Mapping[str, str] | None = None) -> Path:
    """$TDMGW_CONFIG, else /etc/tdmgw/tdmgw.toml."""
    env = os.environ if environ is None else environ
    value = env.get(CONFIG_ENV)
    return Path(value) if value else DEFAULT_PATH


def load(path: Path) -> LoadedConfig:
    """Read, parse and validate the file at `path`, with TDMGW_* overrides on top."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(source, "", None, "the file does not exist")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(source, "", None, f"a readable UTF-8 file ({exc})")]) from None
    return loads(text, source=source, path=path)


def loads(text: str, *, source: str = "(text)", path: Path | None = None) -> LoadedConfig:
    """Parse and validate TOML text; `source` names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_syntax_problem(source, exc)]) from None
    return validate(data, source=source, path=path, lines=key_lines(text))


def validate(
    data: dict[str, Any],
    *,
    source: str,
    path: Path | None = None,
    lines: dict[str, int] | None = None,
) -> LoadedConfig:
    """Validate a parsed document against the model, with the environment on top."""
    env = env_overrides()
    problems = _unknown_env_sections(env)
    config: GatewayConfig | None = None
    try:
        config = build(data)
    except ValidationError as exc:
        problems += _problems(exc, source, env, lines or {})
    except SettingsError as exc:
        problems.append(_settings_problem(exc, env))
    if problems or config is None:
        raise ConfigError(problems)
    return LoadedConfig(config, path, config.warnings(), env)


def env_overrides(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The TDMGW_* variables that override settings (all but TDMGW_CONFIG)."""
    env = os.environ if environ is None else environ
    return {
        k: v for k, v in env.items()
        if k.upper().startswith(ENV_PREFIX) and k.upper() != CONFIG_ENV
    }


def _env_key(var: str) -> str:
    parts = var[len(ENV_PREFIX):].lower().split(ENV_DELIMITER)
    return ".".join(parts)


def _unknown_env_sections(env: dict[str, str]) -> list[Problem]:
    known = set(GatewayConfig.model_fields)
    out = []
    for var in env:
        section = _env_key(var).split(".")[0]
        if section not in known:
            hint = difflib.get_close_matches(section, known, n=1)
            exp = f"a setting section ({', '.join(sorted(known))})"
            if hint:
                exp += f"; did you mean {ENV_PREFIX}{hint[0].upper()}?"
            out.append(Problem(f"environment {var}", section, env[var], exp))
    return out


def _settings_problem(exc: SettingsError, env: dict[str, str]) -> Problem:
    """pydantic-settings could not decode a variable (JSON for a list or table)."""
    m = re.search(r'field "([^"]+)"', str(exc))
    section = m.group(1) if m else ""
    for var, value in env.items():
        if _env_key(var).split(".")[0] == section:
            return Problem(f"environment {var}", _env_key(var), value,
                           "JSON for a list or table setting (e.g. '[{...}]')")
    return Problem("environment", "", None, f"valid TDMGW_* overrides ({exc})")


def _syntax_problem(source: str, exc: tomllib.TOMLDecodeError) -> Problem:
    msg = str(exc)
    m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
    line = int(m.group(1)) if m else None
    text = re.sub(r"\s*\(at line \d+, column \d+\)", "", msg) if m else msg
    if m:
        text += f" at column {m.group(2)}"
    return Problem(source, "", None, f"TOML syntax error: {text}", line)


def loc_path(loc: tuple[int | str, ...]) -> str:
    """("spans", 0, "virtual", "playout_ms") -> "spans[0].virtual.playout_ms"."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _problems(
    exc: ValidationError, source: str, env: dict[str, str], lines: dict[str, int]
) -> list[Problem]:
    env_paths = {_env_key(var): var for var in env}
    out: list[Problem] = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p and "function" in p))
        ctx = err.get("ctx") or {}
        triples: list[tuple[str, Any, str]]
        if err["type"] == "rule" and "problems" in ctx:
            base = loc_path(loc)
            triples = [(f"{base}.{key}" if base else key, value, expected)
                       for key, value, expected in ctx["problems"]]
        else:
            triples = [(loc_path(loc), _value(err), _expected(err, loc))]
        for key, value, expected in triples:
            origin = _env_origin(key, env_paths)
            if origin is not None:
                out.append(Problem(f"environment {origin}", key, value, expected))
            else:
                out.append(Problem(source, key, value, expected, _line_of(key, lines)))
    return out


def _value(err: Any) -> Any:
    if err["type"] == "missing":
        return _MISSING
    return err.get("input")


def _expected(err: Any, loc: tuple[int | str, ...]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        valid = _fields_at(loc[:-1])
        name = str(loc[-1]) if loc else ""
        hint = difflib.get_close_matches(name, valid, n=1)
        text = "no such setting"
        if hint:
            text += f"; did you mean {hint[0]!r}?"
        if valid:
            text += f" (valid here: {', '.join(valid)})"
        return text
    if kind == "missing":
        return "a value: this setting is required"
    msg: str = err["msg"]
    msg = re.sub(r"^(Input should be|Value error, |Assertion failed, )\s*", "", msg)
    return msg[0].lower() + msg[1:] if msg else kind


def _fields_at(loc: tuple[int | str, ...]) -> list[str]:
    """The valid keys of the model at a location (for "did you mean")."""
    model: type[BaseModel] = GatewayConfig
    for part in loc:
        if isinstance(part, int):
            continue
        info = model.model_fields.get(part)
        if info is None:
            return []
        inner = _model_in(info.annotation)
        if inner is None:
            return []
        model = inner
    return sorted(model.model_fields)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _env_origin(key: str, env_paths: dict[str, str]) -> str | None:
    dotted = re.sub(r"\[\d+\]", "", key)
    for path, var in env_paths.items():
        if dotted == path or dotted.startswith(path + ".") or path.startswith(dotted + "."):
            return var
    return None


def _line_of(key: str, lines: dict[str, int]) -> int | None:
    probe = key
    while probe:
        if probe in lines:
            return lines[probe]
        shorter = re.sub(r"(\.[^.\[]+|\[\d+\])$", "", probe)
        if shorter == probe:
            break
        probe = shorter
    return None


_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\" -]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\"-][A-Za-z0-9_.\" -]*?)\s*=")


def key_lines(text: str) -> dict[str, int]:
    """Map key paths ("spans[1].framing", "sip") to the line they are written on.

    A small line scanner, only used to point error messages at a line; the
    document itself is parsed by tomllib.  Keys it cannot place get no line.
    """
    out: dict[str, int] = {}
    counts: dict[str, int] = {}
    table = ""
    in_multiline = False
    for no, raw in enumerate(text.splitlines(), start=1):
        if raw.count('"""') % 2 or raw.count("'''") % 2:
            in_multiline = not in_multiline
            if not in_multiline:
                continue
        elif in_multiline:
            continue
        m = _HEADER.match(raw)
        if m:
            parts = [p.strip().strip('"') for p in m.group(2).split(".")]
            resolved = ""
            for i, part in enumerate(parts):
                resolved = f"{resolved}.{part}" if resolved else part
                is_last = i == len(parts) - 1
                if m.group(1) == "[[" and is_last:
                    counts[resolved] = counts.get(resolved, -1) + 1
                    resolved += f"[{counts[resolved]}]"
                elif resolved in counts:
                    resolved += f"[{counts[resolved]}]"
            table = resolved
            out.setdefault(table, no)
            continue
        k = _KEY.match(raw)
        if k:
            key = ".".join(p.strip().strip('"') for p in k.group(1).split("."))
            out.setdefault(f"{table}.{key}" if table else key, no)
    return out


class _Table:
    def __repr__(self) -> str:
        return "{...}"


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return _Table()
    return value
