"""The `tdmgw` command.

    tdmgw run [--config PATH | --embedded]       all three processes, supervised
    tdmgw core|cti|console [--config PATH | --embedded]   one process (systemd units)
    tdmgw check-config [PATH | --embedded]       validate; exit 2 on errors
    tdmgw status [--config PATH | --embedded]    /healthz in brief (exit 0 ok, 1 degraded, 3 down)
    tdmgw config-reference                       the configuration reference (Markdown)
    tdmgw install-systemd [--root DIR]           units, sysusers.d, tmpfiles.d
    tdmgw dahdi-config [--config PATH] [--write DIR]   DAHDI system.conf and friends

The configuration is `--config PATH`, else $TDMGW_CONFIG, else
/etc/tdmgw/tdmgw.toml; TDMGW_SECTION__KEY variables override single settings.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

from . import __version__
from .config import ConfigError, LoadedConfig, default_path, load
from .config.embedded import embedded_runtime_dir, load_embedded

EXIT_CONFIG = 2


def _config_args(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--config", type=Path, help="configuration file (default: $TDMGW_CONFIG "
                   "or /etc/tdmgw/tdmgw.toml)")
    g.add_argument("--embedded", action="store_true",
                   help="use the built-in default (a virtual span on loopback)")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tdmgw", description="T1/E1 ISDN PRI to SIP gateway")
    p.add_argument("--version", action="version", version=f"tdmgw {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for name, text in (("run", "run core, cti and console, supervised (by hand)"),
                       ("core", "the core process (spans, ISDN, SIP, media)"),
                       ("cti", "the CTI process (events to AMI, WebSocket, webhooks)"),
                       ("console", "the console process (health endpoint, web console)")):
        _config_args(sub.add_parser(name, help=text))
    _config_args(sub.add_parser("status", help="summarise /healthz (exit 0 ok, 1 degraded, "
                                "3 down)"))
    chk = sub.add_parser("check-config", help="validate a configuration file")
    chk.add_argument("path", nargs="?", type=Path, help="file to check (default as for run)")
    chk.add_argument("--embedded", action="store_true", help="check and show the embedded default")
    sub.add_parser("config-reference", help="print the configuration reference (Markdown)")
    inst = sub.add_parser("install-systemd", help="install the systemd units and set-up files")
    inst.add_argument("--root", type=Path, default=Path("/"), help="install below this root")
    inst.add_argument("--bin", type=Path, default=None,
                      help="path of the tdmgw executable the units run (default: this one)")
    dc = sub.add_parser("dahdi-config", help="print (or --write) DAHDI's system.conf, "
                        "span-types.conf and assigned-spans.conf for the dahdi spans")
    _config_args(dc)
    dc.add_argument("--write", type=Path, metavar="DIR", help="write the files into DIR "
                    "(e.g. /etc/dahdi) instead of printing them")
    dc.add_argument("--sysfs", default="/sys/bus/dahdi_devices/devices",
                    help="where to find the DAHDI devices (default: %(default)s)")
    return p


def _dahdi_config(args: argparse.Namespace) -> int:
    from drivers.dahdi_config import run_cli

    source, config_args = _source(args)
    try:
        loaded = source()
    except ConfigError as exc:
        _print_problems(exc)
        return EXIT_CONFIG
    return run_cli(loaded.config, " ".join(config_args), args.write, args.sysfs)


def _source(args: argparse.Namespace) -> tuple[Callable[[], LoadedConfig], list[str]]:
    """A function that (re)loads the chosen configuration, and the args naming it."""
    if args.embedded:
        runtime = embedded_runtime_dir()
        return (lambda: load_embedded(runtime)), ["--embedded"]
    path: Path = args.config if args.config is not None else default_path()
    return (lambda: load(path)), ["--config", str(path)]


def _print_problems(exc: ConfigError) -> None:
    for problem in exc.problems:
        print(problem, file=sys.stderr)
    print(f"{len(exc.problems)} error(s)", file=sys.stderr)


def _check(args: argparse.Namespace) -> int:
    from .config.embedded import embedded_text
    from .config.report import summary

    try:
        if args.embedded:
            print(embedded_text().rstrip() + "\n")
            loaded = load_embedded()
        else:
            loaded = load(args.path if args.path is not None else default_path())
    except ConfigError as exc:
        _print_problems(exc)
        return EXIT_CONFIG
    print(summary(loaded))
    return 0


def _process(args: argparse.Namespace) -> int:
    from . import logs

    source, config_args = _source(args)
    try:
        loaded = source()
    except ConfigError as exc:
        _print_problems(exc)
        return EXIT_CONFIG
    cfg = loaded.config
    if args.command == "status":
        from .console.status_cmd import status

        code, text = status(cfg)
        print(text)
        return code
    if args.command == "run":
        from .supervisor import run_supervisor

        logs.setup("supervisor", level=cfg.logging.level, journald=False, queued=False)
        return run_supervisor(loaded, config_args)
    setup = logs.setup(args.command, level=cfg.logging.level, journald=cfg.logging.journald,
                       queued=args.command == "core")
    log = logs.get_logger(args.command)
    for w in loaded.warnings:
        log.warning("config: %s", w)
    try:
        if args.command == "core":
            from .core.app import run_core

            return run_core(loaded, source, setup)
        if args.command == "cti":
            from .cti.process import CtiProcess

            return asyncio.run(CtiProcess(loaded, source, logs=setup).run())
        from .console.process import ConsoleProcess

        return asyncio.run(ConsoleProcess(loaded, source, logs=setup).run())
    except KeyboardInterrupt:
        return 0
    except Exception:
        log.exception("%s failed", args.command)
        return 1
    finally:
        setup.stop()


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "check-config":
        return _check(args)
    if args.command == "config-reference":
        from .config.report import reference_markdown

        sys.stdout.write(reference_markdown())
        return 0
    if args.command == "dahdi-config":
        return _dahdi_config(args)
    if args.command == "install-systemd":
        from .systemd.install import install

        for path in install(args.root, args.bin):
            print(path)
        return 0
    return _process(args)


if __name__ == "__main__":
    sys.exit(main())
