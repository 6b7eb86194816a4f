"""DAHDI configuration generation, checked against DAHDI's documented syntax and dahdi_cfg.

The syntax rules are read from the samples Debian's `dahdi` package ships
(/usr/share/doc/dahdi/examples/*.sample), not restated here; every
generated system.conf is also parsed by DAHDI's own dahdi_cfg in test mode
(`-t`), run in a private mount namespace with a stand-in /dev/dahdi/ctl,
since there is no DAHDI kernel module on a build machine.  The known-good
examples in firmware_configs/dahdi/ are regenerated and compared.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from appliance.config import loads
from drivers.dahdi_cards import CARDS, identify
from drivers.dahdi_config import (
    DahdiConfigError,
    attr_clean,
    channel_list,
    from_config,
    load_profile,
    run_cli,
    scan_sysfs,
)
from tests.drivers.sysfs_tree import build

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p for p in (ROOT / "firmware_configs" / "dahdi").iterdir() if p.is_dir())
SAMPLES = Path("/usr/share/doc/dahdi/examples")
SYSFS = "/sys/bus/dahdi_devices/devices"


def sample(name: str) -> str:
    p = SAMPLES / name
    if not p.exists():
        pytest.fail(f"{p} missing: apt-get install dahdi")
    return p.read_text()


def documented_system_conf() -> dict[str, object]:
    """What system.conf.sample documents: span= fields, framings, codings, LBO, keywords."""
    text = sample("system.conf.sample")
    span_fmt = re.search(r"^#\s+span=(<span num>,<timing source>,<line build out \(LBO\)>,"
                         r"<framing>,<coding>\[,yellow\])", text, re.M)
    assert span_fmt, "system.conf.sample no longer documents span= as expected"
    framings = set(re.findall(r"'(d4|esf|cas|ccs)'", text))
    codings = set(re.findall(r"'(ami|b8zs|hdb3)'", text))
    lbos = {int(n) for n in re.findall(r"^#\s+(\d):\s", text, re.M)}
    keywords = set(re.findall(r"^# (\w+)::\s*$", text, re.M))
    assert "crc4" in text and {"bchan", "dchan", "hardhdlc"} <= keywords
    return {"framings": framings, "codings": codings, "lbos": lbos, "keywords": keywords}


def check_system_conf(text: str) -> list[str]:
    """Every line is a comment, blank, span= or a documented channel keyword: return errors."""
    doc = documented_system_conf()
    errors = []
    chan = r"\d+(-\d+)?(,\d+(-\d+)?)*"
    for n, line in enumerate(text.splitlines(), 1):
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        if key == "span":
            f = value.split(",")
            ok = (len(f) >= 5 and f[0].isdigit() and f[1].isdigit() and f[2].isdigit()
                  and int(f[2]) in doc["lbos"] and f[3] in doc["framings"] and f[4] in doc["codings"]  # type: ignore[operator]
                  and all(x in ("crc4", "yellow") for x in f[5:]))
            if f[5:] and "crc4" in f[5:] and f[3] not in ("ccs", "cas"):
                ok = False  # crc4 is an E1 option
        elif key in doc["keywords"]:  # type: ignore[operator]
            ok = re.fullmatch(chan, value) is not None
        else:
            ok = False
        if not ok:
            errors.append(f"line {n}: {line}")
    return errors


def check_table(text: str, spec: str) -> list[str]:
    errors = []
    for n, line in enumerate(text.splitlines(), 1):
        if line and not line.startswith("#") and not re.fullmatch(spec, line):
            errors.append(f"line {n}: {line}")
    return errors


SPAN_TYPES_LINE = r"\S+\s+\d+:(E1|T1|J1)"
ASSIGNED_LINE = r"\S+\s+\d+:\d+:\d+"


def test_table_formats_are_the_documented_ones() -> None:
    st = sample("span-types.conf.sample")
    assert "<id>    <local_spanno>:<type>" in st and "E1, T1 or J1" in st
    asg = sample("assigned-spans.conf.sample")
    assert "<local_spanno>:<assigned_spanno>:<base_channo>" in asg
    # the sample's own (commented-out) example lines match our line patterns
    assert re.fullmatch(SPAN_TYPES_LINE, "usb:INT03165\t\t*:E1".replace("*", "1"))
    examples = [ln[1:] for ln in asg.splitlines() if re.match(r"#(usb|@usb)", ln)]
    assert examples and all(re.match(ASSIGNED_LINE, e) for e in examples)


def generate_example(example: Path, tmp_path: Path) -> tuple[dict[str, str], list[str]]:
    sysfs = build(tmp_path, (example / "sysfs.toml").read_text())
    loaded = loads((example / "tdmgw.toml").read_text(), source=str(example / "tdmgw.toml"))
    files = from_config(loaded.config, sysfs=sysfs, source=f"{example.name}/tdmgw.toml")
    out = {k: v.replace(str(sysfs.resolve()), SYSFS) for k, v in files.as_dict().items()}
    return out, files.warnings


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_known_good_examples(example: Path, tmp_path: Path) -> None:
    files, _ = generate_example(example, tmp_path)
    for name, text in files.items():
        if os.environ.get("REGENERATE_DAHDI_EXAMPLES"):
            (example / name).write_text(text)
        want = (example / name).read_text().splitlines()
        assert text.splitlines() == want, f"{example.name}/{name} differs"
    assert check_system_conf(files["system.conf"]) == []
    assert check_table(files["span-types.conf"], SPAN_TYPES_LINE) == []
    assert check_table(files["assigned-spans.conf"], ASSIGNED_LINE) == []


def test_te420_avaya_lines(tmp_path: Path) -> None:
    files, warnings = generate_example(ROOT / "firmware_configs/dahdi/te420-avaya-t1", tmp_path)
    lines = [ln for ln in files["system.conf"].splitlines() if ln and not ln.startswith("#")]
    assert lines == ["span=1,1,0,esf,b8zs,yellow", "bchan=1-23", "hardhdlc=24",
                     "span=2,2,0,esf,b8zs,yellow", "bchan=25-47", "hardhdlc=48"]
    assert "echocanceller" not in files["system.conf"].replace("No echocanceller= lines", "")
    asg = [ln for ln in files["assigned-spans.conf"].splitlines() if ln and not ln.startswith("#")]
    assert [ln.split() for ln in asg] == [["@PCI_Bus_03_Slot_04", f"{i}:{i}:{1 + 24 * (i - 1)}"]
                                         for i in range(1, 5)]
    st = [ln.split() for ln in files["span-types.conf"].splitlines() if ln and not ln.startswith("#")]
    assert st == [["@PCI_Bus_03_Slot_04", "1:T1"], ["@PCI_Bus_03_Slot_04", "2:T1"]]
    assert warnings == []


def test_te133_e1_network_side_uses_dchan_and_no_timing(tmp_path: Path) -> None:
    files, _ = generate_example(ROOT / "firmware_configs/dahdi/te133-mitel-e1", tmp_path)
    lines = [ln for ln in files["system.conf"].splitlines() if ln and not ln.startswith("#")]
    assert lines == ["span=1,0,0,ccs,hdb3,crc4,yellow", "bchan=1-15,17-31", "dchan=16"]
    assert "1TE133F-A12345                 1:1:1" in files["assigned-spans.conf"]


def test_te820_mixed(tmp_path: Path) -> None:
    files, warnings = generate_example(ROOT / "firmware_configs/dahdi/te820-cisco-mixed", tmp_path)
    lines = [ln for ln in files["system.conf"].splitlines() if ln and not ln.startswith("#")]
    assert lines == ["span=1,1,0,esf,b8zs,yellow", "bchan=1-23", "hardhdlc=24",
                     "span=2,0,0,esf,b8zs,yellow", "bchan=25-36", "hardhdlc=48",
                     "span=3,0,0,ccs,hdb3,crc4,yellow", "bchan=201-215,217-231", "hardhdlc=216"]
    st = [ln.split() for ln in files["span-types.conf"].splitlines() if ln and not ln.startswith("#")]
    assert ["1TE820F-B00042", "3:E1"] in st
    asg = [ln.split()[1] for ln in files["assigned-spans.conf"].splitlines()
           if ln and not ln.startswith("#")]
    assert asg == ["1:1:1", "2:2:25", "3:3:201", "4:4:232", "5:5:256", "6:6:280", "7:7:304", "8:8:328"]
    assert any("timing 'internal' on the user side" in w for w in warnings)


def _dahdi_cfg(conf: Path) -> subprocess.CompletedProcess[str]:
    script = ("mount -t tmpfs tdmgw-test /dev && mkdir /dev/dahdi && touch /dev/dahdi/ctl && "
              f"exec dahdi_cfg -t -vv -c {conf}")
    return subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True,
                          timeout=30)


@pytest.fixture(scope="module")
def can_run_dahdi_cfg(tmp_path_factory: pytest.TempPathFactory) -> None:
    if not shutil.which("dahdi_cfg"):
        pytest.fail("dahdi_cfg missing: apt-get install dahdi")
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("dahdi_cfg -t needs a private mount namespace (root and unshare)")
    probe = tmp_path_factory.mktemp("probe") / "system.conf"
    probe.write_text("span=1,0,0,esf,b8zs\nbchan=1-23\ndchan=24\n")
    r = _dahdi_cfg(probe)
    if "Unable to open master device" in r.stdout + r.stderr or "unshare" in r.stderr:
        pytest.skip(f"no private mount namespace here: {r.stderr.strip()}")


@pytest.mark.peer
@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_dahdi_cfg_parses_every_example(example: Path, can_run_dahdi_cfg: None) -> None:
    r = _dahdi_cfg(example / "system.conf")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "error" not in (r.stdout + r.stderr).lower().replace("0 error", "")
    text = r.stdout + r.stderr
    for m in re.finditer(r"^(hardhdlc|dchan)=(\d+)$", (example / "system.conf").read_text(), re.M):
        want = "Hardware assisted D-channel" if m.group(1) == "hardhdlc" else "D-channel"
        assert re.search(rf"Channel {int(m.group(2)):02d}: {want}", text), (m.group(0), text)


@pytest.mark.peer
def test_dahdi_cfg_check_can_fail(tmp_path: Path, can_run_dahdi_cfg: None) -> None:
    bad = tmp_path / "system.conf"
    bad.write_text("span=1,0,0,esf,hdb4\n")
    r = _dahdi_cfg(bad)
    assert r.returncode != 0 and "Coding must be one of" in r.stdout + r.stderr
    assert check_system_conf("span=1,0,0,esf,hdb4\n") == ["line 1: span=1,0,0,esf,hdb4"]
    assert check_system_conf("span=1,0,0,esf,b8zs,crc4\n")  # crc4 on T1
    assert check_system_conf("echocanceller=mg2,1-8\n")  # not a documented channel keyword


def test_without_sysfs_numbering_is_contiguous(tmp_path: Path) -> None:
    loaded = loads((ROOT / "firmware_configs/dahdi/te420-avaya-t1/tdmgw.toml").read_text())
    files = from_config(loaded.config, sysfs=tmp_path / "none")
    assert "span=2,2,0,esf,b8zs,yellow\nbchan=25-47\ndchan=48" in files.system_conf
    assert any("no DAHDI devices in sysfs" in w for w in files.warnings)


def test_errors_name_the_problem(tmp_path: Path) -> None:
    sysfs = build(tmp_path, (ROOT / "firmware_configs/dahdi/te133-mitel-e1/sysfs.toml").read_text())
    text = (ROOT / "firmware_configs/dahdi/te133-mitel-e1/tdmgw.toml").read_text()
    loaded = loads(text.replace("number = 1", "number = 2"))
    with pytest.raises(DahdiConfigError, match=r"span number\(s\) \[2\] configured but only 1"):
        from_config(loaded.config, sysfs=sysfs)
    loaded = loads(text.replace('profile = "mitel-mivoice"', 'profile = "nortel"'))
    with pytest.raises(DahdiConfigError, match=r"profile 'nortel' not found.*known: avaya-cm, cisco"):
        from_config(loaded.config, sysfs=sysfs)


def test_cli_prints_and_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from appliance.cli import main

    ex = ROOT / "firmware_configs/dahdi/te420-avaya-t1"
    sysfs = build(tmp_path, (ex / "sysfs.toml").read_text())
    assert main(["dahdi-config", "--config", str(ex / "tdmgw.toml"), "--sysfs", str(sysfs)]) == 0
    out = capsys.readouterr().out
    assert "==> /etc/dahdi/system.conf <==" in out and "hardhdlc=48" in out
    assert "==> /etc/dahdi/assigned-spans.conf <==" in out
    dest = tmp_path / "etc-dahdi"
    assert main(["dahdi-config", "--config", str(ex / "tdmgw.toml"), "--sysfs", str(sysfs),
                 "--write", str(dest)]) == 0
    assert sorted(p.name for p in dest.iterdir()) == ["assigned-spans.conf", "span-types.conf",
                                                      "system.conf"]
    assert "bchan=25-47" in (dest / "system.conf").read_text()
    err = io.StringIO()
    loaded = loads((ex / "tdmgw.toml").read_text().replace('"avaya-cm"', '"nope"'))
    assert run_cli(loaded.config, "x", sysfs=sysfs, out=io.StringIO(), err=err) == 2
    assert "profile 'nope' not found" in err.getvalue()


def test_sysfs_scan_and_keys(tmp_path: Path) -> None:
    sysfs = build(tmp_path, (ROOT / "firmware_configs/dahdi/te133-mitel-e1/sysfs.toml").read_text())
    (dev,) = scan_sysfs(sysfs)
    assert dev.key == "1TE133F-A12345" and dev.card is not None and dev.card.family == "TE1xx"
    assert dev.spans[0].spanno == 1 and dev.spans[0].basechan == 1 and dev.spans[0].spantype == "E1"
    assert attr_clean("PCI Bus 03 Slot 04\n") == "PCI_Bus_03_Slot_04"
    assert attr_clean("usb:INT03165!x y") == "usb:INT03165/x_y"


@pytest.mark.parametrize(("devicetype", "family", "hardhdlc"), [
    ("Wildcard TE820 (5th Gen)", "TE8xx", True), ("Wildcard TE420 (5th Gen)", "TE4xx", True),
    ("Wildcard TE410P/TE405P (1st Gen)", "TE4xx", True), ("Wildcard TE435", "TE4xx", False),
    ("Wildcard TE220 (4th Gen) (VPMOCT064)", "TE2xx", True), ("Wildcard TE235", "TE2xx", False),
    ("Wildcard TE131/TE133", "TE1xx", False), ("Wildcard TE122", "TE1xx", False),
    ("Wildcard TE120P", "TE1xx", False),
])
def test_card_table(devicetype: str, family: str, hardhdlc: bool) -> None:
    card = identify(devicetype)
    assert card is not None and card.family == family and card.hardhdlc is hardhdlc
    assert identify("Wildcard TDM410P") is None
    assert {c.family for c in CARDS} == {"TE1xx", "TE2xx", "TE4xx", "TE8xx"}


def test_hardhdlc_drivers_are_the_ones_dahdi_marks(dahdi_source: Path) -> None:
    """hardhdlc= only where the driver source sets DAHDI_SIG_HARDHDLC (dahdi-source tarball)."""
    drivers = dahdi_source / "drivers" / "dahdi"
    for card in CARDS:
        src = [p for p in (drivers / f"{card.driver}/base.c", drivers / f"{card.driver}-base.c",
                           drivers / f"{card.driver}.c") if p.is_file()]
        assert src, card.driver
        assert ("DAHDI_SIG_HARDHDLC" in src[0].read_text("latin-1")) is card.hardhdlc, card.driver


def test_channel_list_and_profiles() -> None:
    assert channel_list([1, 2, 3, 5, 7, 8]) == "1-3,5,7-8"
    assert channel_list([16]) == "16"
    for name in ("generic", "avaya-cm", "cisco", "mitel-mivoice"):
        prof = load_profile(name)
        assert prof.name == name and 0 <= prof.lbo <= 7 and set(prof.switchtypes) == {"T1", "E1"}
