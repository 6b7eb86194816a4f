"""Configuration: errors name the source, key path, value and expectation; examples pass."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.cli import main
from appliance.config import Apply, ConfigError, load, loads
from appliance.config.embedded import load_embedded
from appliance.config.report import diff, reference_markdown

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "firmware_configs").glob("*.toml"))

SPAN = """
[[spans]]
number = 1
driver = "virtual"
type = "{type}"
switchtype = "{switchtype}"
side = "user"
{extra}
[spans.virtual]
dchannel_socket = "/tmp/tdmgw-test.d"
bchannel_local = "127.0.0.1:0"
bchannel_remote = "127.0.0.1:9"
"""


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for k in list(os.environ):
        if k.upper().startswith("TDMGW_"):
            monkeypatch.delenv(k)


def span(type: str = "T1", switchtype: str = "ni2", extra: str = "") -> str:
    return SPAN.format(type=type, switchtype=switchtype, extra=extra)


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        loads(text, source="t.toml")
    return [str(p) for p in info.value.problems]


def test_t1_defaults_follow_the_line_type() -> None:
    s = loads(span()).config.spans[0]
    assert (s.name, s.framing, s.coding, s.crc4, s.law) == ("span1", "esf", "b8zs", None, "mulaw")
    assert s.bchannels == tuple(range(1, 24)) and s.dchannel == 24
    assert s.hunting == "descending" and s.effective_timing == "line"


def test_e1_defaults_follow_the_line_type() -> None:
    s = loads(span("E1", "euroisdn_e1")).config.spans[0]
    assert (s.framing, s.coding, s.crc4, s.law, s.dchannel) == ("ccs", "hdb3", True, "alaw", 16)
    assert s.bchannels == (*range(1, 16), *range(17, 32))


def test_network_side_provides_the_clock_and_hunts_ascending() -> None:
    text = span().replace('side = "user"', 'side = "network"')
    s = loads(text).config.spans[0]
    assert s.effective_timing == "internal" and s.hunting == "ascending"


def test_timeslot_ranges_and_lists() -> None:
    s = loads(span(extra='bchannels = [1, 2, "5-7"]')).config.spans[0]
    assert s.bchannels == (1, 2, 5, 6, 7)


def test_wrong_type_names_key_value_and_expectation() -> None:
    out = problems(span() + '\n[sip]\nport = "abc"\n')
    assert any("t.toml:" in p and "sip.port = 'abc': expected a valid integer" in p for p in out)


def test_out_of_range_value() -> None:
    out = problems(span() + "playout_ms = 999\n")
    assert out == ["t.toml:13: spans[0].virtual.playout_ms = 999: expected less than or equal to 200"]


def test_unknown_key_is_an_error_with_a_suggestion() -> None:
    out = problems(span() + '\n[logging]\nlevle = "debug"\n')
    assert len(out) == 1
    assert "logging.levle = 'debug': expected no such setting; did you mean 'level'?" in out[0]
    assert out[0].startswith("t.toml:15:")


def test_unknown_section_is_an_error() -> None:
    out = problems("[spam]\nx = 1\n")
    assert "spam = {...}: expected no such setting" in out[0]


def test_bad_toml_reports_its_line() -> None:
    out = problems('[sip]\nport = 5060\nbind = "0.0.0.0\n')
    assert len(out) == 1 and out[0].startswith("t.toml:3: TOML syntax error: ") and "column 16" in out[0]


@pytest.mark.parametrize(
    ("extra", "type", "switchtype", "needle"),
    [
        ("crc4 = true", "T1", "ni2", "spans[0].crc4 = True: expected no crc4 on T1"),
        ('framing = "ccs"', "T1", "ni2", "spans[0].framing = 'ccs': expected one of esf, d4 on T1"),
        ('framing = "cas"', "E1", "qsig", "spans[0].framing = 'cas': expected ccs"),
        ('coding = "b8zs"', "E1", "qsig", "spans[0].coding = 'b8zs': expected one of hdb3, ami"),
        ("", "E1", "ni2", "spans[0].switchtype = 'ni2': expected one of euroisdn_e1, qsig on E1"),
        ('bchannels = "1-24"', "T1", "ni2", "expected not the D-channel timeslot 24"),
        ('bchannels = "1-25"', "T1", "ni2", "expected timeslots in 1..24 on T1"),
        ("dchannel = 1", "E1", "qsig", "spans[0].dchannel = 1: expected 16"),
        ('bchannels = "1-3,2"', "T1", "ni2", "timeslots listed twice: [2]"),
    ],
)
def test_cross_field_span_rules(extra: str, type: str, switchtype: str, needle: str) -> None:
    out = problems(span(type, switchtype, extra))
    assert any(needle in p for p in out), out


def test_route_to_unknown_trunk_and_span() -> None:
    text = span() + """
[[routes.inbound]]
name = "in"
target = "nope"
[[routes.outbound]]
name = "out"
spans = ["span9"]
"""
    out = problems(text)
    assert any("routes.inbound[0].target = 'nope': expected a trunk" in p for p in out)
    assert any("routes.outbound[0].spans = 'span9': expected a configured span (span1)" in p
               for p in out)


def test_duplicate_spans() -> None:
    two = span() + span().replace("tdmgw-test.d", "tdmgw-test2.d")
    out = problems(two)
    assert any("spans[1].name = 'span1'" in p for p in out)
    assert any("spans[1].number = 1" in p for p in out)


def test_health_must_be_loopback() -> None:
    out = problems('[health]\nlisten = "0.0.0.0:8089"\n')
    assert "health.listen = '0.0.0.0:8089': expected a loopback address" in out[0]


def test_env_override_applies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TDMGW_LOGGING__LEVEL", "debug")
    monkeypatch.setenv("TDMGW_HEALTH__LISTEN", "127.0.0.1:0")
    loaded = loads(span() + '[logging]\nlevel = "info"\n')
    assert loaded.config.logging.level == "debug"
    assert loaded.config.health.listen.port == 0
    assert set(loaded.env_overrides) == {"TDMGW_LOGGING__LEVEL", "TDMGW_HEALTH__LISTEN"}


def test_invalid_env_override_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TDMGW_LOGGING__JOURNALD", "maybe")
    out = problems(span())
    assert out == ["environment TDMGW_LOGGING__JOURNALD: logging.journald = 'maybe': "
                   "expected a valid boolean, unable to interpret input"]


def test_env_unknown_key_and_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TDMGW_LOGGING__LEVLE", "debug")
    monkeypatch.setenv("TDMGW_SPANZ", "1")
    out = problems(span())
    assert any(p.startswith("environment TDMGW_SPANZ:") and "did you mean TDMGW_SPANS?" in p
               for p in out)
    assert any(p.startswith("environment TDMGW_LOGGING__LEVLE:") and "no such setting" in p
               for p in out)


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load(Path("/nonexistent/tdmgw.toml"))


def test_warnings_for_timing_against_the_side() -> None:
    loaded = loads(span(extra='timing = "internal"'))
    assert any("timing = internal on the user side" in w for w in loaded.warnings)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_passes_check_config(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{path}: valid" in out and "spans (" in out
    assert len(out.splitlines()) <= 24  # one screen


def test_examples_cover_each_pbx() -> None:
    names = " ".join(p.name for p in EXAMPLES)
    for needle in ("avaya", "cisco", "mitel", "generic-e1"):
        assert needle in names


def test_check_config_exits_2_and_prints_every_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(span() + '\n[sip]\nport = 70000\n[logging]\nlevel = "loud"\n')
    assert main(["check-config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:15: sip.port = 70000" in err
    assert f"{bad}:17: logging.level = 'loud'" in err
    assert "2 error(s)" in err


def test_embedded_default_is_valid() -> None:
    loaded = load_embedded(Path("/tmp/x"))
    assert loaded.config.spans[0].driver == "virtual"
    assert loaded.config.health.listen.is_loopback


def test_diff_reports_apply_classes() -> None:
    a = loads(span()).config
    b = loads(span(extra='framing = "d4"\nhunting = "ascending"') + "[sip]\nport = 5070\n"
              "[logging]\nlevel = \"debug\"\n").config
    changes = {c.key: c.apply for c in diff(a, b)}
    assert changes == {"spans[0].framing": Apply.SPAN, "spans[0].hunting": Apply.LIVE,
                       "sip.port": Apply.DAEMON, "logging.level": Apply.LIVE}


def test_readme_reference_is_current() -> None:
    readme = (REPO / "README.md").read_text()
    assert reference_markdown().strip() in readme, "run: tdmgw config-reference (README)"


def test_installed_command_exits_2_on_errors(tmp_path: Path) -> None:
    import subprocess
    import sys

    bad = tmp_path / "bad.toml"
    bad.write_text("[spans\n")
    exe = Path(sys.executable).parent / "tdmgw"
    if not exe.exists():
        pytest.skip("tdmgw console script not installed in this environment")
    proc = subprocess.run([str(exe), "check-config", str(bad)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert f"{bad}:1: TOML syntax error" in proc.stderr


def test_tdmgw_config_names_the_default_file(monkeypatch: pytest.MonkeyPatch) -> None:
    from appliance.config import DEFAULT_PATH, default_path

    assert default_path({}) == DEFAULT_PATH == Path("/etc/tdmgw/tdmgw.toml")
    monkeypatch.setenv("TDMGW_CONFIG", "/srv/gw.toml")
    assert default_path() == Path("/srv/gw.toml")
    loads(span())  # TDMGW_CONFIG is not a setting override


def test_env_list_override_takes_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TDMGW_SPANS", '[{"number": 2, "driver": "dahdi", "type": "E1", '
                       '"switchtype": "qsig", "side": "user"}]')
    s = loads(span()).config.spans
    assert [(x.name, x.type, x.driver) for x in s] == [("span2", "E1", "dahdi")]
    monkeypatch.setenv("TDMGW_SPANS", '[{"number": 2,')
    out = problems(span())
    assert out == ["environment TDMGW_SPANS: spans = '[{\"number\": 2,': expected JSON for a "
                   "list or table setting (e.g. '[{...}]')"]


@settings(max_examples=150)
@given(st.randoms(use_true_random=False), st.integers(min_value=0, max_value=4))
def test_fuzz_mutated_configs_give_config_errors_only(rnd: random.Random, which: int) -> None:
    """Whatever the file holds, loading returns a config or raises ConfigError, and every
    problem renders with its source."""
    from tests.appliance.config_mutations import mutate, seeds

    pool = seeds()
    text = mutate(rnd, pool[which % len(pool)])
    try:
        loaded = loads(text, source="fuzz.toml")
    except ConfigError as exc:
        assert exc.problems
        for p in exc.problems:
            assert str(p).startswith(("fuzz.toml", "environment"))
    else:
        from appliance.config.report import summary

        assert summary(loaded)


def test_huge_timeslot_range_is_refused_quickly() -> None:
    """Found by the fuzzer: "1-99999999999" once expanded the whole range in memory."""
    out = problems(span(extra='bchannels = "1-99999999999"'))
    assert any("timeslot 99999999999 is above 31" in p for p in out)


def test_error_for_a_key_the_line_scanner_cannot_place() -> None:
    """Found by the fuzzer: a top-level key missing from the scanned lines once looped."""
    from appliance.config.load import _line_of

    assert _line_of("spam", {}) is None
    assert _line_of("sip.trunks[0].name", {"sip": 3}) == 3


def test_table_where_a_string_belongs() -> None:
    """Found by the fuzzer: `type = {a = 1}` once raised TypeError in the defaults step."""
    out = problems(span().replace('type = "T1"', "type = {a = 1}"))
    assert any("spans[0].type = {...}: expected 'T1' or 'E1'" in p for p in out), out
