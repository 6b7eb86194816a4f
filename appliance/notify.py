"""systemd notifications (sd_notify(3)) through systemd-python.

READY=1 once a process serves, STATUS= lines for `systemctl status`,
WATCHDOG=1 at half of WATCHDOG_USEC, RELOADING=1/READY=1 around a SIGHUP
reload, STOPPING=1 on shutdown.  Without NOTIFY_SOCKET (not under systemd)
every call does nothing and returns False.
"""

from __future__ import annotations

import os
from collections.abc import Mapping


class Notifier:
    """Sends sd_notify states for this process."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ
        self.sent = 0

    @property
    def enabled(self) -> bool:
        """True when a notification socket is set (the process runs under systemd)."""
        return bool(self._environ.get("NOTIFY_SOCKET"))

    def send(self, *states: str) -> bool:
        """Send one datagram with the given `KEY=value` lines."""
        if not self.enabled:
            return False
        from systemd import daemon

        ok = bool(daemon.notify("\n".join(states)))
        self.sent += ok
        return ok

    def ready(self, status: str | None = None) -> bool:
        return self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={text}")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def reloading(self) -> bool:
        return self.send("RELOADING=1")

    def stopping(self, status: str | None = None) -> bool:
        return self.send("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def watchdog_interval(self) -> float | None:
        """Seconds between WATCHDOG=1 pings (half of WATCHDOG_USEC), or None if not asked.

        WATCHDOG_PID, when set, must be this process (sd_watchdog_enabled(3)).
        """
        usec = self._environ.get("WATCHDOG_USEC")
        if not usec or not self.enabled:
            return None
        pid = self._environ.get("WATCHDOG_PID")
        if pid and pid.isdigit() and int(pid) != os.getpid():
            return None
        try:
            value = int(usec)
        except ValueError:
            return None
        return value / 2 / 1e6 if value > 0 else None
