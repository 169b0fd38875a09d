"""Scenario files and ``--set`` overrides: what loads, and the ConfigError for what does not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from societas.engine import RunOptions
from societas.scenarios import LoadedSpec, load_spec, parse_override
from societas.scenarios.commons.config import CommonsConfig
from societas.typing import ConfigError


def _write(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _error(target: str, overrides: list[str] | None = None, **kw: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_spec(target, overrides or [], **kw)
    err = info.value
    assert err.exit_code == 2
    assert err.source
    assert err.expected
    assert err.source in str(err)
    return err


# -- what loads ---------------------------------------------------------------------------


def test_scenario_name_gives_the_defaults() -> None:
    spec = load_spec("commons")
    assert isinstance(spec, LoadedSpec)
    assert spec.scenario.name == "commons"
    assert spec.config == CommonsConfig()
    assert spec.options == RunOptions()
    assert "commons" in spec.source


def test_model_and_seed_arguments_win() -> None:
    spec = load_spec("commons", ["run.seed=3", "run.model=local"], model="scripted", seed=11)
    assert spec.options.model == "scripted"
    assert spec.options.seed == 11


def test_yaml_file_with_run_block_and_settings(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
# a small commons game
scenario: commons
run:
  seed: 42
  model: scripted
  temperature: 0.2
  repair: false
agents: 3
months: 4
names: [Ann, Bob, Cy]
communication: false
regen_factor: 1.5
dispositions: [greedy]
""",
    )
    spec = load_spec(str(path))
    assert spec.source == str(path)
    assert spec.scenario.name == "commons"
    assert isinstance(spec.config, CommonsConfig)
    assert spec.config.agents == 3
    assert spec.config.months == 4
    assert spec.config.names == ["Ann", "Bob", "Cy"]
    assert spec.config.communication is False
    assert spec.config.regen_factor == 1.5
    assert spec.config.dispositions == ["greedy"]
    assert spec.config.capacity == 100  # untouched default
    assert spec.options.seed == 42
    assert spec.options.model == "scripted"
    assert spec.options.temperature == 0.2
    assert spec.options.repair is False


def test_yml_suffix_and_file_without_run_block(tmp_path: Path) -> None:
    path = _write(tmp_path, "scenario: commons\nmonths: 2\n", name="short.yml")
    spec = load_spec(str(path))
    assert spec.config.months == 2
    assert spec.options == RunOptions()


def test_set_overrides_a_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "scenario: commons\nrun:\n  seed: 1\n  model: scripted\nmonths: 4\n")
    spec = load_spec(
        str(path),
        [
            "run.seed=3",
            "months=6",
            "names=[x, y]",
            "agents=2",
            "communication=false",
            "universalization=true",
            "dispositions=[greedy, adaptive]",
            "run.temperature=1.5",
        ],
    )
    assert spec.options.seed == 3
    assert spec.options.model == "scripted"  # the rest of the run block stays
    assert spec.config.months == 6
    assert spec.config.names == ["x", "y"]
    assert spec.config.agents == 2
    assert spec.config.communication is False
    assert spec.config.universalization is True
    assert spec.config.dispositions == ["greedy", "adaptive"]
    assert spec.options.temperature == 1.5


def test_set_on_a_scenario_name_and_last_one_wins() -> None:
    spec = load_spec("commons", ["months=3", "months=5", "run.seed=3", "run.base_url="])
    assert spec.config.months == 5
    assert spec.options.seed == 3
    assert spec.options.base_url == ""


@pytest.mark.parametrize(
    ("item", "keys", "value"),
    [
        ("agents=10", ["agents"], 10),
        ("run.seed=3", ["run", "seed"], 3),
        ("names=[a, b]", ["names"], ["a", "b"]),
        ("communication=false", ["communication"], False),
        ("universalization=yes", ["universalization"], True),
        ("run.temperature=0.5", ["run", "temperature"], 0.5),
        ("run.model=openai:gpt-4o", ["run", "model"], "openai:gpt-4o"),
        ("run.base_url=http://h:8/v1?a=b", ["run", "base_url"], "http://h:8/v1?a=b"),
        ("run.cache=", ["run", "cache"], ""),
        (" months = 3", ["months"], 3),
        ("names=[unclosed", ["names"], "[unclosed"),
    ],
)
def test_parse_override(item: str, keys: list[str], value: object) -> None:
    assert parse_override(item) == (keys, value)


# -- errors: source, field, expected ------------------------------------------------------


def test_unknown_key_in_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "scenario: commons\nagnets: 3\n")
    err = _error(str(path))
    assert err.source == str(path)
    assert err.field == "agnets"
    assert "known setting" in err.expected


def test_unknown_key_in_run_block(tmp_path: Path) -> None:
    path = _write(tmp_path, "scenario: commons\nrun:\n  sed: 3\n")
    err = _error(str(path))
    assert err.source == str(path)
    assert err.field == "run.sed"
    assert "known setting" in err.expected


def test_unknown_key_in_set() -> None:
    err = _error("commons", ["run.sed=3"])
    assert err.source == "--set run.sed=3"
    assert err.field == "run.sed"
    assert "known setting" in err.expected


def test_wrong_type_in_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "scenario: commons\nmonths: twelve\n")
    err = _error(str(path))
    assert err.source == str(path)
    assert err.field == "months"
    assert "integer" in err.expected
    assert err.got == "twelve"


def test_wrong_type_in_set() -> None:
    err = _error("commons", ["run.seed=abc"])
    assert err.source == "--set run.seed=abc"
    assert err.field == "run.seed"
    assert "integer" in err.expected
    err = _error("commons", ["communication=maybe"])
    assert err.source == "--set communication=maybe"
    assert err.field == "communication"
    assert "bool" in err.expected
    err = _error("commons", ["names=3"])
    assert err.field == "names"
    assert "list" in err.expected


def test_wrong_type_in_a_list_item_names_the_index(tmp_path: Path) -> None:
    path = _write(tmp_path, "scenario: commons\nagents: 2\nnames: [Ann, [nested]]\n")
    err = _error(str(path))
    assert err.field == "names.1"
    assert "string" in err.expected


@pytest.mark.parametrize(
    ("value", "bound"), [("0", "greater than or equal to 1"), (str(10**12), "less than or equal")]
)
def test_agents_out_of_range(tmp_path: Path, value: str, bound: str) -> None:
    err = _error("commons", [f"agents={value}"])
    assert err.source == f"--set agents={value}"
    assert err.field == "agents"
    assert bound in err.expected
    assert err.got == int(value)
    path = _write(tmp_path, f"scenario: commons\nagents: {value}\n")
    err = _error(str(path))
    assert err.source == str(path)
    assert err.field == "agents"
    assert bound in err.expected


def test_run_option_out_of_range() -> None:
    err = _error("commons", ["run.seed=-1"])
    assert err.field == "run.seed"
    assert "greater than or equal to 0" in err.expected
    err = _error("commons", ["run.temperature=9"])
    assert err.field == "run.temperature"
    assert "less than or equal to 2" in err.expected


def test_names_length_mismatch_in_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "scenario: commons\nagents: 3\nnames: [Ann, Bob]\n")
    err = _error(str(path))
    assert err.source == str(path)
    assert "3 names, one per agent (got 2)" in err.expected


def test_names_length_mismatch_names_the_field_and_the_set() -> None:
    err = _error("commons", ["names=[a, b]"])
    assert err.field == "names"
    assert err.source == "--set names=[a, b]"


def test_set_below_a_scalar_names_the_set() -> None:
    err = _error("commons", ["run.seed.x=1"])
    assert err.field == "run.seed"
    assert err.source == "--set run.seed.x=1"


def test_missing_scenario_key(tmp_path: Path) -> None:
    path = _write(tmp_path, "agents: 3\nmonths: 2\n")
    err = _error(str(path))
    assert err.source == str(path)
    assert err.field == "scenario"
    assert "scenario" in err.expected


def test_scenario_key_that_is_not_a_string(tmp_path: Path) -> None:
    path = _write(tmp_path, "scenario: [commons]\n")
    err = _error(str(path))
    assert err.field == "scenario"
    assert err.got == ["commons"]


def test_unknown_scenario_name(tmp_path: Path) -> None:
    err = _error("fishery")
    assert err.field == "scenario"
    assert err.got == "fishery"
    assert "commons" in err.expected  # lists what is available
    path = _write(tmp_path, "scenario: fishery\n")
    err = _error(str(path))
    assert err.source == str(path)
    assert err.field == "scenario"
    assert "commons" in err.expected


def test_missing_yaml_file(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.yaml")
    err = _error(missing)
    assert err.source == missing
    assert "scenario file" in err.expected


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "~\n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    path = _write(tmp_path, text)
    err = _error(str(path))
    assert err.source == str(path)
    assert "scenario" in err.expected
    assert err.got == "an empty file"


def test_yaml_syntax_error_gives_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "scenario: commons\nagents: 3\nnames: [Ann, Bob\nmonths: 2\n")
    err = _error(str(path))
    assert err.source == str(path)
    assert "YAML" in err.expected
    assert "line 4" in err.expected
    path = _write(tmp_path, "scenario: commons\n  agents: 3\n\tmonths: 1\n", name="tabs.yaml")
    err = _error(str(path))
    assert "line " in err.expected


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe",
        b"scenario: commons\n\x00\x01\x02",
        bytes(range(256)),
    ],
)
def test_binary_file(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_bytes(data)
    err = _error(str(path))
    assert err.source == str(path)
    assert "text" in err.expected
    assert err.got == "binary data"


def test_binary_file_without_yaml_suffix(tmp_path: Path) -> None:
    path = tmp_path / "scenario.bin"
    path.write_bytes(b"\x00\xff" * 100)
    err = _error(str(path))
    assert err.source == str(path)


@pytest.mark.parametrize(
    ("text", "got"),
    [("- scenario: commons\n- agents: 3\n", "list"), ("commons\n", "str"), ("42\n", "int")],
)
def test_file_that_is_not_a_mapping(tmp_path: Path, text: str, got: str) -> None:
    path = _write(tmp_path, text)
    err = _error(str(path))
    assert err.source == str(path)
    assert "mapping" in err.expected
    assert err.got == got


@pytest.mark.parametrize(("key", "field"), [("1", "1"), ("null", "None"), ("true", "True")])
def test_non_string_keys(tmp_path: Path, key: str, field: str) -> None:
    path = _write(tmp_path, f"scenario: commons\n{key}: 2\n")
    err = _error(str(path))
    assert err.source == str(path)
    assert err.field == field
    assert "string keys" in err.expected


def test_non_string_key_in_run_block(tmp_path: Path) -> None:
    path = _write(tmp_path, "scenario: commons\nrun:\n  1: 2\n")
    err = _error(str(path))
    assert err.source == str(path)
    assert err.field.startswith("run")


@pytest.mark.parametrize("item", ["agents", "agents10", "", "=3", "  =3"])
def test_set_without_key_or_equals(item: str) -> None:
    err = _error("commons", [item])
    assert err.source == f"--set {item}"
    assert "KEY=VALUE" in err.expected


@pytest.mark.parametrize("item", ["a..b=1", "run.=1", "1x=2", "a-b=3", ".=1"])
def test_set_with_a_bad_dotted_name(item: str) -> None:
    err = _error("commons", [item])
    assert err.source == f"--set {item}"
    assert "dotted name" in err.expected


def test_run_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = _write(tmp_path, "scenario: commons\nrun: fast\n")
    err = _error(str(path))
    assert err.source == str(path)
    assert err.field == "run"
    assert "mapping" in err.expected
    assert err.got == "fast"
    path = _write(tmp_path, "scenario: commons\nrun: [seed, 3]\n", name="list.yaml")
    assert _error(str(path)).field == "run"
    err = _error("commons", ["run=3"])
    assert err.source == "--set run=3"
    assert err.field == "run"
    assert "mapping" in err.expected


def test_set_through_a_scalar() -> None:
    err = _error("commons", ["run.seed=3", "run.seed.x=3"])
    assert err.source == "--set run.seed.x=3"
    assert err.field == "run.seed.x"
    assert "mapping" in err.expected


def test_error_message_is_one_line_naming_everything(tmp_path: Path) -> None:
    path = _write(tmp_path, "scenario: commons\nmonths: 0\n")
    err = _error(str(path))
    text = str(err)
    assert "\n" not in text
    assert str(path) in text
    assert "'months'" in text
    assert "greater than or equal to 1" in text


def test_error_for_a_set_with_a_newline_is_one_line() -> None:
    err = _error("commons", ["agents=\n0"])
    assert err.field == "agents"
    assert "\n" not in str(err)


def test_deeply_nested_set_value_is_a_config_error() -> None:
    depth = 1000
    with pytest.raises(ConfigError):
        load_spec("commons", ["names=" + "[" * depth + "]" * depth])


def test_deeply_nested_file_is_a_config_error(tmp_path: Path) -> None:
    depth = 1000
    path = _write(tmp_path, "scenario: commons\nnames: " + "[" * depth + "]" * depth + "\n")
    err = _error(str(path))
    assert err.source == str(path)


# -- property: anything loads or is a ConfigError -----------------------------------------

_FIELDS = [
    "agents",
    "months",
    "capacity",
    "initial_stock",
    "regen_factor",
    "names",
    "dispositions",
    "communication",
    "allocation",
    "scenario",
    "run",
    "run.seed",
    "run.model",
    "run.temperature",
    "run.max_tokens",
    "run.cache",
    "run.seed.x",
    "names.0",
]

_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["commons", "scripted", "greedy", "stochastic", "run"])
)
_keys = st.sampled_from([f for f in _FIELDS if "." not in f]) | st.text(max_size=8)
_values = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_keys, children, max_size=4),
    max_leaves=16,
)
_set_values = (
    st.text(max_size=16)
    | st.integers().map(str)
    | st.sampled_from(["[a, b]", "true", "no", "~", "{a: 1}", "[1", "&x [*x]", "!!binary x", ""])
)
_sets = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(_FIELDS) | st.text(max_size=8), _set_values).map(
            lambda kv: f"{kv[0]}={kv[1]}"
        ),
        st.text(max_size=16),
    ),
    max_size=3,
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(value=_values, overrides=_sets)
def test_any_file_and_sets_load_or_raise_config_error(
    tmp_path: Path, value: object, overrides: list[str]
) -> None:
    if isinstance(value, dict):
        value = {**value, "scenario": "commons"}
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(value, allow_unicode=True), encoding="utf-8")
    try:
        spec = load_spec(str(path), overrides)
    except ConfigError as exc:
        err = exc
    else:
        assert isinstance(spec.config, CommonsConfig)
        assert isinstance(spec.options, RunOptions)
        return
    assert err.source
    assert err.expected
    assert isinstance(err.field, str)


def test_run_options_split_into_parts_by_concern() -> None:
    """Every ``run.X`` setting but the seed belongs to exactly one part (engine/settings.py),
    and a part carries the values the file gave; the file's surface stays the flat block."""
    import dataclasses

    from societas.engine.settings import PARTS, ModelSettings, Schedule, Spending

    owners: dict[str, list[str]] = {}
    for part in PARTS:
        for f in dataclasses.fields(part):
            owners.setdefault(f.name, []).append(part.__name__)
    assert set(owners) == set(RunOptions.model_fields) - {"seed"}
    assert all(len(names) == 1 for names in owners.values()), owners
    spec = load_spec(
        "commons",
        [
            "run.temperature=0.3",
            'run.human=["fisher_2"]',
            "run.budget.calls=9",
            "run.surveys=[]",
            'run.models=[{"agents": ["fisher_1"], "model": "test"}]',
        ],
        model="scripted",
    )
    models = spec.options.part(ModelSettings)
    assert models.sampling.temperature == 0.3
    assert [(r.agents, r.model) for r in models.routes()] == [
        (["fisher_2"], "human"),
        (["fisher_1"], "test"),
    ]
    assert spec.options.part(Spending).budget.calls == 9
    assert spec.options.part(Schedule).surveys == []
    for part in PARTS:
        got = spec.options.part(part)
        for f in dataclasses.fields(part):
            assert getattr(got, f.name) == getattr(spec.options, f.name)
