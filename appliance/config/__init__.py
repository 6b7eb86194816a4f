"""tdmgw configuration: one TOML file, validated by pydantic, TDMGW_* env overrides.

    from appliance.config import load, GatewayConfig, SpanConfig, ConfigError
    loaded = load(Path("/etc/tdmgw/tdmgw.toml"))   # raises ConfigError
    for span in loaded.config.spans: ...
"""

from .fields import Apply, HostPort, apply_of, format_timeslots, parse_timeslots
from .load import (
    CONFIG_ENV,
    DEFAULT_PATH,
    ConfigError,
    LoadedConfig,
    Problem,
    default_path,
    load,
    loads,
    validate,
)
from .model import GatewayConfig
from .sections import (
    AmiConfig,
    ConsoleConfig,
    CtiConfig,
    HealthConfig,
    InboundRoute,
    LoggingConfig,
    MediaConfig,
    OutboundRoute,
    RoutesConfig,
    RuntimeConfig,
    SipConfig,
    SipTrunk,
    Webhook,
    WebSocketConfig,
)
from .spans import DahdiSpanConfig, SpanConfig, VirtualSpanConfig

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_PATH",
    "AmiConfig",
    "Apply",
    "ConfigError",
    "ConsoleConfig",
    "CtiConfig",
    "DahdiSpanConfig",
    "GatewayConfig",
    "HealthConfig",
    "HostPort",
    "InboundRoute",
    "LoadedConfig",
    "LoggingConfig",
    "MediaConfig",
    "OutboundRoute",
    "Problem",
    "RoutesConfig",
    "RuntimeConfig",
    "SipConfig",
    "SipTrunk",
    "SpanConfig",
    "VirtualSpanConfig",
    "WebSocketConfig",
    "Webhook",
    "apply_of",
    "default_path",
    "format_timeslots",
    "load",
    "loads",
    "parse_timeslots",
    "validate",
]
