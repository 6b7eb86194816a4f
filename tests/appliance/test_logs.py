"""Logging: journald entries carry TDMGW_* fields; without a journal, plain stderr lines."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from appliance import logs

REPO = Path(__file__).resolve().parents[2]
JOURNALD = Path("/lib/systemd/systemd-journald")


def test_fallback_line_format_when_no_journal_socket(tmp_path: Path) -> None:
    out = io.StringIO()
    setup = logs.setup("core", journald=True, socket_path=tmp_path / "none", stream=out,
                       queued=False)
    try:
        assert setup.target == "stderr" and setup.where() == "stderr"
        logs.get_logger("isdn").warning("DISCONNECT sent", extra={"span": 1, "channel": 5,
                                                                  "call": "c-7", "cause": 16})
    finally:
        setup.stop()
    line = out.getvalue().strip()
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z tdmgw-core\[\d+\] WARNING isdn: DISCONNECT sent "
        r"span=1 channel=5 call=c-7 cause=16", line), line


def test_queued_handler_drops_and_counts_instead_of_blocking(tmp_path: Path) -> None:
    out = io.StringIO()
    setup = logs.setup("core", journald=False, stream=out, queued=True, queue_size=2)
    assert setup.listener is not None
    setup.listener.stop()  # nobody drains the queue now
    setup.listener = None
    try:
        for i in range(10):
            logs.get_logger("media").info("record %d", i)
        assert setup.dropped == 8
    finally:
        setup.stop()


def test_record_fields_map_extra_keys() -> None:
    import logging

    rec = logging.LogRecord("tdmgw.sip", logging.INFO, __file__, 1, "x", None, None)
    rec.__dict__.update(span=2, sip_status=486, journal={"custom_key": "v"})
    assert logs.record_fields(rec) == {"TDMGW_SPAN": "2", "SIP_STATUS": "486", "CUSTOM_KEY": "v"}


INNER = textwrap.dedent("""
    import json, os, subprocess, sys, time
    from pathlib import Path
    def sh(*a): subprocess.run(a, check=True)
    sh("mount", "-t", "tmpfs", "tmpfs", "/run")
    if Path("/var/log/journal").is_dir():
        sh("mount", "-t", "tmpfs", "tmpfs", "/var/log/journal")
    os.makedirs("/run/systemd/journal"); os.makedirs("/run/log/journal")
    jd = subprocess.Popen([sys.argv[1]], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if Path("/run/systemd/journal/socket").is_socket():
                break
            time.sleep(0.05)
        from appliance import logs
        ident = sys.argv[2]
        setup = logs.setup("core", journald=True)
        assert setup.target == "journald", setup.target
        setup.identifier = ident
        setup.handler.identifier = ident
        logs.get_logger("isdn").warning("call cleared", extra={
            "span": 1, "channel": 5, "call": "c-42", "cause": 16})
        setup.stop()
        from systemd import journal
        for _ in range(100):
            r = journal.Reader(path="/run/log/journal")
            r.add_match(SYSLOG_IDENTIFIER=ident)
            entries = [{k: str(v) for k, v in e.items()} for e in r]
            if entries:
                print(json.dumps(entries[0]))
                break
            time.sleep(0.05)
    finally:
        jd.terminate(); jd.wait(5)
""")


def test_journald_entry_carries_fields(tmp_path: Path) -> None:
    """Read back through systemd.journal.Reader from a real journald.

    With a journal running on the machine, the entry is written there; without
    one (containers, CI), a private journald runs in its own mount namespace.
    """
    ident = f"tdmgw-test-{uuid.uuid4().hex[:8]}"
    if logs.journal_available():
        from systemd import journal

        setup = logs.setup("core", journald=True, queued=False)
        setup.handler.identifier = ident  # type: ignore[attr-defined]
        logs.get_logger("isdn").warning("call cleared", extra={
            "span": 1, "channel": 5, "call": "c-42", "cause": 16})
        setup.stop()
        import time

        found: list[dict[str, str]] = []
        for _ in range(100):
            r = journal.Reader()
            r.add_match(SYSLOG_IDENTIFIER=ident)
            found = [{k: str(v) for k, v in e.items()} for e in r]
            if found:
                break
            time.sleep(0.05)
        assert found, "entry not found in the journal"
        entry = found[0]
    else:
        if os.geteuid() != 0 or not JOURNALD.exists() or shutil.which("unshare") is None:
            pytest.skip("no journal, and no root/unshare/systemd-journald for a private one")
        script = tmp_path / "inner.py"
        script.write_text(INNER)
        proc = subprocess.run(
            ["unshare", "-m", "--propagation", "private", sys.executable, str(script),
             str(JOURNALD), ident],
            capture_output=True, text=True, timeout=60, cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)})
        if proc.returncode != 0 and "unshare" in proc.stderr and "Operation not permitted" in proc.stderr:
            pytest.skip("unshare not permitted here")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip(), proc.stderr
        entry = json.loads(proc.stdout.strip().splitlines()[-1])
    assert entry["MESSAGE"] == "call cleared"
    assert entry["PRIORITY"] == "4"
    assert entry["TDMGW_SPAN"] == "1"
    assert entry["TDMGW_CHANNEL"] == "5"
    assert entry["TDMGW_CALL"] == "c-42"
    assert entry["Q850_CAUSE"] == "16"
    assert entry["TDMGW_PART"] == "isdn"
    assert entry["TDMGW_PROCESS"] == "core"
