"""The whole gateway configuration: one TOML file, overridable from the environment."""

from __future__ import annotations

from contextvars import ContextVar
from pathlib import Path
from typing import Any

from pydantic import model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from .fields import Apply, rule_error, setting, setting_list
from .sections import (
    ConsoleConfig,
    CtiConfig,
    HealthConfig,
    LoggingConfig,
    MediaConfig,
    RoutesConfig,
    RuntimeConfig,
    SipConfig,
)
from .spans import SpanConfig, check_spans

ENV_PREFIX = "TDMGW_"
ENV_DELIMITER = "__"

# The parsed TOML document handed to the file source of the model being built.
_FILE_DATA: ContextVar[dict[str, Any] | None] = ContextVar("tdmgw_config_file_data", default=None)


class _FileSource(PydanticBaseSettingsSource):
    """The already parsed TOML file, below the environment in priority."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        data = _FILE_DATA.get() or {}
        return data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_FILE_DATA.get() or {})


class GatewayConfig(BaseSettings):
    """The root of tdmgw.toml."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_DELIMITER,
        extra="forbid",
        frozen=True,
        case_sensitive=False,
        env_parse_none_str="null",
    )

    spans: list[SpanConfig] = setting_list(
        apply=Apply.DAEMON,
        doc="`[[spans]]`: the T1/E1 PRI spans. Adding or removing one needs a daemon restart; "
        "a changed span applies on that span's restart.",
    )
    sip: SipConfig = setting(SipConfig(), apply=Apply.DAEMON, doc="`[sip]`.")
    routes: RoutesConfig = setting(RoutesConfig(), apply=Apply.LIVE, doc="`[routes]`.")
    cti: CtiConfig = setting(CtiConfig(), apply=Apply.DAEMON, doc="`[cti]`.")
    console: ConsoleConfig = setting(ConsoleConfig(), apply=Apply.DAEMON, doc="`[console]`.")
    logging: LoggingConfig = setting(LoggingConfig(), apply=Apply.LIVE, doc="`[logging]`.")
    health: HealthConfig = setting(HealthConfig(), apply=Apply.DAEMON, doc="`[health]`.")
    media: MediaConfig = setting(MediaConfig(), apply=Apply.LIVE, doc="`[media]`.")
    runtime: RuntimeConfig = setting(RuntimeConfig(), apply=Apply.DAEMON, doc="`[runtime]`.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _FileSource(settings_cls))

    @model_validator(mode="after")
    def _cross_section(self) -> GatewayConfig:
        p = check_spans(self.spans)
        span_names = {s.name for s in self.spans}
        trunk_names: set[str] = set()
        for i, t in enumerate(self.sip.trunks):
            if t.name in trunk_names:
                p.append((f"sip.trunks[{i}].name", t.name, "a name no other trunk has"))
            trunk_names.add(t.name)
        rules: list[tuple[str, int, str, list[str]]] = [
            ("inbound", i, r.name, r.spans) for i, r in enumerate(self.routes.inbound)
        ] + [("outbound", i, r.name, r.spans) for i, r in enumerate(self.routes.outbound)]
        names: set[tuple[str, str]] = set()
        for kind, i, rule_name, rule_spans in rules:
            where = f"routes.{kind}[{i}]"
            if (kind, rule_name) in names:
                p.append((f"{where}.name", rule_name, f"a name no other {kind} route has"))
            names.add((kind, rule_name))
            for span_name in rule_spans:
                if span_name not in span_names:
                    p.append((f"{where}.spans", span_name,
                              f"a configured span ({_names(span_names)})"))
        for i, ir in enumerate(self.routes.inbound):
            if ir.target not in trunk_names:
                p.append((f"routes.inbound[{i}].target", ir.target,
                          f"a trunk in [[sip.trunks]] ({_names(trunk_names)})"))
        for i, orule in enumerate(self.routes.outbound):
            for trunk_name in orule.trunks:
                if trunk_name not in trunk_names:
                    p.append((f"routes.outbound[{i}].trunks", trunk_name,
                              f"a trunk in [[sip.trunks]] ({_names(trunk_names)})"))
        if self.health.listen == self.console.listen:
            p.append(("health.listen", str(self.health.listen), "an address other than console.listen"))
        if p:
            raise rule_error(p)
        return self

    def span(self, name: str) -> SpanConfig:
        """The span of that name (KeyError if none)."""
        for s in self.spans:
            if s.name == name:
                return s
        raise KeyError(name)

    def warnings(self) -> list[str]:
        """Legal but suspicious settings."""
        w: list[str] = []
        for s in self.spans:
            w.extend(s.warnings())
        if not self.spans:
            w.append("spans: none configured; the gateway carries no calls")
        files: list[tuple[str, Path | None]] = [
            ("console.tls_cert", self.console.tls_cert),
            ("console.tls_key", self.console.tls_key),
            ("cti.ami.secret_file", self.cti.ami.secret_file),
        ]
        files += [(f"sip.trunks[{t.name}].password_file", t.password_file) for t in self.sip.trunks]
        files += [(f"cti.webhooks[{i}].secret_file", h.secret_file)
                  for i, h in enumerate(self.cti.webhooks)]
        for key, path in files:
            if path is not None and not path.exists():
                w.append(f"{key} = {str(path)!r}: no such file on this machine")
        return w

    def event_socket(self) -> Path:
        """Where the CTI process receives events and status."""
        return self.cti.event_socket or self.runtime.dir / "cti.sock"

    def core_socket(self) -> Path:
        """Where the core receives heartbeats from the other processes."""
        return self.runtime.dir / "core.sock"

    def console_socket(self) -> Path:
        """Where the console process receives status snapshots."""
        return self.runtime.dir / "console.sock"


def _names(names: set[str]) -> str:
    return ", ".join(sorted(names)) if names else "none configured"


def build(file_data: dict[str, Any]) -> GatewayConfig:
    """Validate a parsed TOML document with the environment overrides on top."""
    token = _FILE_DATA.set(file_data)
    try:
        return GatewayConfig()
    finally:
        _FILE_DATA.reset(token)
