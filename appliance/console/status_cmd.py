"""`tdmgw status`: the health endpoint, summarised for a person at a terminal.

Exit status: 0 ok, 1 degraded, 3 down or unreachable (2 stays "bad
configuration", as for every tdmgw command).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from ..config import GatewayConfig

EXIT = {"ok": 0, "degraded": 1, "down": 3}


def health_url(config: GatewayConfig) -> str:
    """The URL the console wrote (port 0 picks one), else the configured address."""
    url_file = config.runtime.dir / "health.url"
    try:
        return url_file.read_text().strip()
    except OSError:
        return f"http://{config.health.listen}/healthz"


def fetch(url: str, timeout: float = 3.0) -> dict[str, Any]:
    """GET the health document (a 503 body too); raises OSError when unreachable."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
    try:
        with opener.open(url, timeout=timeout) as resp:
            body = resp.read()
    except urllib.error.HTTPError as exc:
        body = exc.read()
    doc = json.loads(body)
    if not isinstance(doc, dict):
        raise ValueError("health endpoint did not return a JSON object")
    return doc


def render(doc: dict[str, Any]) -> str:
    lines = [f"tdmgw {doc.get('version', '?')}: {doc.get('status', '?')}"
             + (f" ({doc['reason']})" if doc.get("reason") else "")]
    if "uptime_s" in doc:
        lines[0] += f", up {doc['uptime_s']:.0f} s"
    for name, p in sorted(doc.get("processes", {}).items()):
        age = p.get("last_heartbeat_s")
        seen = "never" if age is None else f"{age:.1f} s ago"
        lines.append(f"  {name:<8} pid {p.get('pid') or '-':<7} "
                     f"{'alive' if p.get('alive') else 'NOT ALIVE'}  heartbeat {seen}")
    for s in doc.get("spans", []):
        alarms = ",".join(s.get("alarms") or []) or "no alarms"
        lines.append(f"  span {s.get('name')}: {s.get('state')} ({alarms})")
    calls = doc.get("calls", {})
    if calls:
        lines.append(f"  calls: {calls.get('active', 0)} active, "
                     f"{calls.get('completed', 0)} completed")
    pending = doc.get("core", {}).get("pending_restart") if isinstance(doc.get("core"), dict) else None
    if pending:
        lines.append("  waiting for a restart: " + "; ".join(pending))
    return "\n".join(lines)


def status(config: GatewayConfig) -> tuple[int, str]:
    url = health_url(config)
    try:
        doc = fetch(url)
    except (OSError, ValueError) as exc:
        return 3, f"tdmgw: health endpoint {url} unreachable: {exc}"
    return EXIT.get(str(doc.get("status")), 3), render(doc)
