"""Fuzzing the command line with bad input: every case is exit 2 and one clear line.

Generated scenario files and ``--set`` items go through ``societas run`` in-process. Each
generated config carries at least one element that is invalid by construction (a top-level
key that is no setting), so none can start a simulation; the error may name that element or
any other bad one, but it must name its source (the file or the ``--set`` item), never show
a traceback, and exit 2. Broken run stores get the same treatment from the commands that
read them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
import typer.testing
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from societas.cli.main import app
from societas.engine import RunOptions
from societas.scenarios.commons import CommonsConfig
from societas.store import DB_NAME

SENTINEL = "zz_not_a_setting"
COMMONS_FIELDS = sorted(CommonsConfig.model_fields)
RUN_FIELDS = sorted(RunOptions.model_fields)
EXAMPLES = {"documents": 350, "fields": 300, "sets": 300, "raw": 200}
FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
COUNTS: dict[str, int] = dict.fromkeys(EXAMPLES, 0)


def _one_line(text: str) -> str:
    """How errors show user input: control characters escaped (``societas.typing.errors``)."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module", autouse=True)
def _command_built_once() -> Iterator[None]:
    """``CliRunner.invoke`` rebuilds the click command from the typer app on every call (half
    the cost of a failing ``run``); build it once for the thousand calls here."""
    command = typer.main.get_command(app)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(typer.testing, "_get_command", lambda _app: command)
        yield


def _run(workdir: Path, target: Path, sets: list[str]) -> Result:
    args = ["run", str(target), "-q", "--model", "scripted", "--out", str(workdir / "out")]
    for item in sets:
        args += ["--set", item]
    return CliRunner().invoke(app, args)


def _error_line(result: Result, sources: list[str]) -> str:
    """Exit 2, one line on stderr naming one of ``sources``, no traceback, nothing on stdout."""
    report = (result.exit_code, result.stdout, result.stderr, repr(result.exception))
    assert result.exit_code == 2, report
    assert "Traceback" not in result.stdout + result.stderr, report
    assert result.stdout == "", report
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, report
    line = lines[0]
    assert line.startswith("error: "), report
    assert any(source in line for source in sources), (sources, line)
    return line


def _check(workdir: Path, target: Path, sets: list[str], kind: str) -> str:
    result = _run(workdir, target, sets)
    line = _error_line(result, [str(target), *(f"--set {_one_line(item)}" for item in sets)])
    assert not (workdir / "out").exists()  # nothing started
    COUNTS[kind] += 1
    return line


# -- strategies -----------------------------------------------------------------------------

_specials = st.sampled_from(
    [
        "commons", "scripted", "replay", "greedy", "stochastic", "run", "scenario", "",
        "[/]", "[red]x[/red]", "[bold]", ":thumbs_up:", "\x00", "\x1b[31m", "\u202e", "\ufeff",
        "${HOME}", "$(rm -rf /)", "`id`", "'); DROP TABLE runs; --", "~", "null", ".nan",
        ".inf", "1e999", "0x1F", "0o17", "1_000", "2001-01-01", "2001-02-30", "yes", "{{x}}",
        "%s%n",
        "a" * 500,
    ]
)  # fmt: skip
_huge_ints = st.integers(min_value=10**18, max_value=10**300) | st.integers(
    min_value=-(10**300), max_value=-(10**18)
)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | _huge_ints
    | st.floats()
    | st.text(max_size=20)
    | _specials
)
_keys = (
    st.sampled_from([*COMMONS_FIELDS, "run", "scenario", SENTINEL])
    | st.text(max_size=10)
    | st.integers(min_value=-5, max_value=5)
    | st.booleans()
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=20,
)


def _dump(value: Any) -> str:
    return yaml.safe_dump(value, allow_unicode=True, sort_keys=False)


def _write(workdir: Path, name: str, data: str | bytes) -> Path:
    path = workdir / name
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


# -- generated documents --------------------------------------------------------------------


@st.composite
def _documents(draw: st.DrawFn) -> Any:
    """Any YAML document; a mapping (the usual case) always holds the unknown key."""
    if draw(st.integers(0, 9)) == 0:
        top = draw(_values)  # a scalar, a list or a mapping at the top
        if isinstance(top, dict):
            top[SENTINEL] = 0
        return top
    doc: dict[Any, Any] = draw(st.dictionaries(_keys, _values, max_size=6))
    if draw(st.integers(0, 3)):
        doc["scenario"] = "commons"
    if draw(st.booleans()):
        doc["run"] = draw(
            st.dictionaries(st.sampled_from(RUN_FIELDS) | st.text(max_size=6), _values, max_size=4)
            | _values
        )
    doc[SENTINEL] = draw(_values)
    return doc


@settings(FUZZ, max_examples=EXAMPLES["documents"])
@given(doc=_documents())
def test_random_documents(workdir: Path, doc: Any) -> None:
    path = _write(workdir, "document.yaml", _dump(doc))
    _check(workdir, path, [], "documents")


@st.composite
def _field_cases(draw: st.DrawFn) -> tuple[str, Any, bool]:
    """A known field (commons or ``run.``), any value, in the file or as a ``--set``."""
    in_run = draw(st.booleans())
    name = draw(st.sampled_from(RUN_FIELDS if in_run else COMMONS_FIELDS))
    value = draw(_values | _huge_ints | st.text(max_size=40))
    return (f"run.{name}" if in_run else name), value, draw(st.booleans())


@settings(FUZZ, max_examples=EXAMPLES["fields"])
@given(case=_field_cases())
def test_wrong_values_for_known_fields(workdir: Path, case: tuple[str, Any, bool]) -> None:
    field, value, as_set = case
    doc: dict[str, Any] = {"scenario": "commons", "months": 1, SENTINEL: 1}
    sets: list[str] = []
    if as_set:
        sets.append(f"{field}={json.dumps(value, ensure_ascii=False, allow_nan=True)}")
    elif field.startswith("run."):
        doc["run"] = {field[4:]: value}
    else:
        doc[field] = value
    path = _write(workdir, "fields.yaml", _dump(doc))
    line = _check(workdir, path, sets, "fields")
    assert "field '" in line
    named = line.split("field '", 1)[1].split("'", 1)[0]
    # The field itself (or an item of it), the unknown key, or the stock its capacity bounds.
    assert (
        named in (field, SENTINEL)
        or named.startswith(field + ".")
        or (field == "capacity" and named == "initial_stock")
    ), (field, line)


_set_keys = st.sampled_from(
    [
        *COMMONS_FIELDS,
        *(f"run.{f}" for f in RUN_FIELDS),
        "run",
        "scenario",
        "names.0",
        "run.seed.x",
        "a..b",
        ".x",
        "1x",
        "",
        " ",
        "run.",
        "ünïcode",
        "a-b",
    ]
) | st.text(max_size=12)
_set_values = (
    st.text(max_size=30)
    | st.integers().map(str)
    | _huge_ints.map(str)
    | st.integers(min_value=1, max_value=5000).map(lambda n: "[" * n + "]" * n)
    | st.integers(min_value=1, max_value=5000).map(lambda n: "{a: " * n + "1" + "}" * n)
    | st.integers(min_value=4301, max_value=4400).map(lambda n: "9" * n)
    | st.sampled_from(
        [
            "[a, b]",
            "{a: 1}",
            "[1",
            "&x [*x]",
            "*nowhere",
            "!!binary x",
            "'unterminated",
            "!!python/object/apply:os.system ['echo pwned']",
            "!!set {a}",
            "? a",
            "- a",
            "|",
            "{}",
            "[]",
            "~",
            ".nan",
            "-.inf",
            "0b101",
            "1:2:3",
            "@",
            "%TAG",
            "---",
            "...",
            "#",
        ]
    )
    | _specials
)
_set_items = st.tuples(_set_keys, _set_values).map(lambda kv: f"{kv[0]}={kv[1]}") | st.text(
    max_size=20
)


@st.composite
def _set_cases(draw: st.DrawFn) -> list[str]:
    items = draw(st.lists(_set_items, max_size=4))
    bad = f"{SENTINEL}={draw(_set_values)}"
    items.insert(draw(st.integers(0, len(items))), bad)
    return items


@settings(FUZZ, max_examples=EXAMPLES["sets"])
@given(sets=_set_cases())
def test_random_set_items(workdir: Path, sets: list[str]) -> None:
    path = _write(workdir, "sets.yaml", "scenario: commons\nmonths: 1\n")
    _check(workdir, path, sets, "sets")


# -- files that are not configs at all ------------------------------------------------------


def _alias_bomb(levels: int) -> str:
    """A few hundred bytes of YAML whose value expands to 10**levels items."""
    lines = ["scenario: commons", "l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "\n".join([*lines, f"months: *l{levels - 1}", ""])


_raw_texts = st.sampled_from(
    [
        "", " ", "\n\n", "# comment only\n", "~\n", "---\n", "...\n", "\ufeff",
        "\ufeffscenario: commons\nzz: 1\n", "scenario: commons\n\tmonths: 1\n",
        "scenario: commons\nmonths: 1" + "0" * 5000 + "\n",
        "scenario: commons\nagents: " + "9" * 4400 + "\n",
        "scenario: commons\nnames: " + "[" * 5000 + "]" * 5000 + "\n",
        "scenario: commons\nx: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n",
        "scenario: commons\nrun:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 400)),
        "!!python/object/apply:os.system ['echo pwned']\n",
        "scenario: !!python/name:os.system\n",
        "scenario: commons\nmonths: &a [*a]\n",
        "scenario: [commons\n", "scenario: 'commons\n", "scenario: commons\nscenario: x\n",
        "- scenario: commons\n", "scenario:\n  - commons\n", "? [a, b]\n: c\n",
        "scenario: commons\n" + "x" * 20_000 + ": 1\n",
        "scenario: commons\nrun: " + "a" * 20_000 + "\n",
        _alias_bomb(7),
        "scenario: commons\nmonths: 2001-02-30\n",
    ]
)  # fmt: skip
_raw = (
    st.binary(max_size=300)
    | st.text(max_size=300)
    | _raw_texts
    | st.sampled_from(
        [
            "scenario: commons\n".encode("utf-16"),
            b"\xff\xfe\x00\x00",
            b"scenario: commons\n\x00",
            b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
            b"scenario: commons\nmonths: \xc3\x28\n",
            b"SQLite format 3\x00" + bytes(84),
        ]
    )
)


@settings(FUZZ, max_examples=EXAMPLES["raw"])
@given(data=_raw, suffix=st.sampled_from([".yaml", ".yml", ".txt", ""]))
def test_files_that_are_not_configs(workdir: Path, data: str | bytes, suffix: str) -> None:
    if isinstance(data, str) and "scenario: commons" in data and SENTINEL not in data:
        data = data + f"\n{SENTINEL}: 1\n"  # keep it invalid if it happens to parse
    path = _write(workdir, f"raw{suffix}", data)
    _check(workdir, path, [], "raw")


def test_at_least_a_thousand_bad_configs_were_tried() -> None:
    """Runs after the fuzz tests above (file order): they tried >= 1,000 configs in all."""
    ran = {kind for kind, n in COUNTS.items() if n}
    if ran != set(EXAMPLES):
        pytest.skip("only part of the fuzz tests ran")
    assert sum(EXAMPLES.values()) >= 1000
    assert sum(COUNTS.values()) >= 1000, COUNTS


# -- what the fuzzing found, pinned down ----------------------------------------------------

_FOUND = [
    # (file text, --set items, the source the error must name, text the line must hold)
    ("scenario: commons\nrun: {sed: 1}\n", ["run.seed=3"], "FILE", "field 'run.sed'"),
    ('scenario: commons\nrun: {"": 1}\n', [], "FILE", "field 'run.\"\"'"),
    ("scenario: commons\nmonths: 1\n", ["agents=[/]"], "--set agents=[/]", "got ['/']"),
    ("scenario: commons\nmonths: 1\n", ["names=[:thumbs_up:, '[red]']"], "--set", ":thumbs_up:"),
    ("scenario: commons\nagents: " + "9" * 4301 + "\n", [], "FILE", "4300 digits"),
    ("scenario: commons\nmonths: 1\n", ["agents=" + "9" * 4301], "--set agents=999", "agents"),
    ("scenario: commons\nmonths: 2001-02-30\n", [], "FILE", "day is out of range"),
    (_alias_bomb(7), [], "FILE", "field 'months'"),
    ("scenario: commons\nnames: " + "[" * 50_000 + "]" * 50_000, [], "FILE", "50000 levels"),
    ("scenario: commons\nmonths: 1\n", ["names=" + "{a: " * 50_000], "--set", "nested less"),
]


@pytest.mark.parametrize(("text", "sets", "source", "expected"), _FOUND)
def test_what_fuzzing_found(
    workdir: Path, text: str, sets: list[str], source: str, expected: str
) -> None:
    """A sibling's --set was blamed for a file's typo, an empty key blamed --model, markup in
    values was rendered or crashed, huge ints and bad dates were internal errors, an alias
    bomb was expanded in full to print 80 characters, deep brackets took quadratic time."""
    path = _write(workdir, "found.yaml", text)
    line = _error_line(_run(workdir, path, sets), [str(path), *(f"--set {s}" for s in sets)])
    assert (str(path) if source == "FILE" else source) in line
    assert expected in line
    assert len(line) < 400 + sum(len(s) for s in sets)


_BOMB = """
import resource
resource.setrlimit(resource.RLIMIT_AS, (2**31, 2**31))  # fail, do not swap, if it expands
from societas.typing import ConfigError
value = ["x"]
for _ in range(40):
    value = [value] * 10  # 10**40 items, 41 lists in memory
print(len(str(ConfigError("file.yaml", "months", "an integer", value))))
"""


def test_an_error_does_not_expand_a_shared_structure_to_show_it() -> None:
    """What an alias bomb becomes after YAML: the error shows its start without expanding it
    (in a child process with a memory and a time limit: a regression fails, it cannot hang)."""
    proc = subprocess.run(
        [sys.executable, "-c", _BOMB], capture_output=True, text=True, timeout=20, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 0 < int(proc.stdout) < 200


# -- commands that read a run store: missing or broken store ------------------------------


def _garbage(db: Path) -> None:
    db.write_bytes(b"\xde\xad\xbe\xef not a database " * 256)


def _zeroed_header(db: Path) -> None:
    db.write_bytes(bytes(100) + b"\x01" * 8192)


_BROKEN = {"garbage": _garbage, "zeroed-header": _zeroed_header}
_COMMANDS = {
    "summary": ["summary", "{dir}", "--json"],
    "resume": ["resume", "{dir}", "-q"],
    "export-jsonl": ["export", "{dir}", "--format", "jsonl"],
    "export-parquet": ["export", "{dir}", "--format", "parquet"],
    "report": ["report", "{dir}"],
    "check": ["check", "{dir}"],
}


def _store_error(run_dir: Path, command: str) -> str:
    args = [a.replace("{dir}", str(run_dir)) for a in _COMMANDS[command]]
    result = CliRunner().invoke(app, args)
    return _error_line(result, [str(run_dir)])


@pytest.mark.parametrize("command", list(_COMMANDS))
def test_missing_store(tmp_path: Path, command: str) -> None:
    line = _store_error(tmp_path / "nowhere", command)
    assert "no run store" in line
    assert not (tmp_path / "nowhere").exists()
    line = _store_error(tmp_path, command)  # a directory without run.db
    assert "no run store" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("damage", list(_BROKEN))
@pytest.mark.parametrize("command", list(_COMMANDS))
def test_corrupted_store(tmp_path: Path, command: str, damage: str) -> None:
    db = tmp_path / DB_NAME
    _BROKEN[damage](db)
    before = db.read_bytes()
    line = _store_error(tmp_path, command)
    assert str(db) in line
    assert "not" in line  # "not a readable run store" / "not an SQLite database"
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [DB_NAME]
