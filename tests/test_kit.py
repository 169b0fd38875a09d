"""The scenario kit: a world written on it (the guide's public-goods game) gets per-tick
metrics, run-level figures, personas from YAML, interventions and exact resume."""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from guide import guide_code
from societas.analysis.compare import first_difference
from societas.analysis.interview import prepare_interview
from societas.engine import RunInterrupted, RunOptions, prepare_resume, prepare_run, run_sync
from societas.engine.figures import RUN_FIGURES
from societas.scenarios import get_scenario, load_spec
from societas.store import RunStore
from societas.typing import ConfigError, LLMRequest, Persona


def guide_module() -> types.ModuleType:
    module = types.ModuleType("public_goods")
    exec(compile(guide_code(), "public_goods.py", "exec"), module.__dict__)
    return module


PG = guide_module()


def policy(request: LLMRequest, rng: np.random.Generator) -> str:
    """Contributions drawn within the bounds the schema tells."""
    high = request.json_schema["properties"]["amount"]["maximum"] if request.json_schema else 0
    return json.dumps({"amount": int(rng.integers(0, int(high) + 1))})


class Scripted(PG.PublicGoodsScenario):  # type: ignore[misc, name-defined]
    def scripted_policy(self, config: Any) -> Any:
        return policy


def run(out: Path, *, personas: list[Persona] | None = None, **options: Any) -> Path:
    handle = prepare_run(
        Scripted(),
        PG.PublicGoodsConfig(),
        RunOptions(model="scripted", **options),
        out,
        personas=personas or [],
    )
    run_sync(handle)
    return out


def stream(out: Path) -> list[Any]:
    with RunStore.open(out, readonly=True) as store:
        return store.events()


def test_per_tick_metrics_are_stored_with_their_tick_and_final_metrics_read_them(
    tmp_path: Path,
) -> None:
    out = run(tmp_path / "run")
    with RunStore.open(out, readonly=True) as store:
        frame = store.metrics_df()
        final = store.final_metrics()
        events = store.events(["metric"])
    per_tick = frame[frame["tick"] >= 0]
    assert sorted(set(per_tick["name"])) == ["free_rider_share", "mean_contribution", "mean_payoff"]
    assert sorted(set(per_tick["tick"])) == list(range(10))
    payoff = per_tick[per_tick["name"] == "mean_payoff"].set_index("tick")["value"]
    assert final["final_mean_payoff"] == pytest.approx(payoff[9])
    assert set(RUN_FIGURES) <= set(final)
    assert final["llm_calls"] == 40.0  # 4 players x 10 rounds, one call each
    assert final["fallback_rate"] == 0.0
    # one metric event per per-tick metric, at its tick, in the event stream too
    tick_events = [e for e in events if e.name in ("mean_contribution", "mean_payoff")]
    assert [(e.tick, e.name) for e in tick_events][:2] == [
        (0, "mean_contribution"),
        (0, "mean_payoff"),
    ]


def test_the_action_schema_carries_the_configured_bounds(tmp_path: Path) -> None:
    out = run(tmp_path / "run")
    with RunStore.open(out, readonly=True) as store:
        amounts = [e.data["amount"] for e in store.events(["action"])]
    assert max(amounts) <= 20
    assert min(amounts) >= 0
    assert len(set(amounts)) > 5


def test_same_seed_same_events_and_resume_after_a_stop_matches(tmp_path: Path) -> None:
    a = run(tmp_path / "a")
    b = run(tmp_path / "b")
    assert first_difference(stream(a), stream(b)) is None
    # stop after tick 4, then resume: the same events as the uninterrupted run
    out = tmp_path / "c"
    handle = prepare_run(Scripted(), PG.PublicGoodsConfig(), RunOptions(model="scripted"), out)
    handle.simulation.on_progress = lambda p: (
        handle.simulation.request_stop() if p.tick == 4 else None
    )
    with pytest.raises(RunInterrupted):
        run_sync(handle)
    run_sync(prepare_resume(out, Scripted()))
    assert first_difference(stream(out), stream(a)) is None


def test_personas_override_by_id_and_add_agents(tmp_path: Path) -> None:
    file = tmp_path / "players.csv"
    file.write_text(
        "id,name,traits,backstory,team\n"
        "player_1,Ada,generous;patient,A retired teacher.,red\n"
        "player_9,Bo,suspicious,,blue\n",
        encoding="utf-8",
    )
    spec_file = tmp_path / "pg.yaml"
    spec_file.write_text("scenario: commons\npersonas: players.csv\n", encoding="utf-8")
    spec = load_spec(str(spec_file))
    personas = spec.personas
    assert [p.id for p in personas] == ["player_1", "player_9"]
    assert personas[0].traits == ("generous", "patient")
    assert personas[0].attributes == {"team": "red"}

    out = run(tmp_path / "run", personas=personas)
    with RunStore.open(out, readonly=True) as store:
        actors = {e.actor for e in store.events(["action"])}
        info = store.run_info()
    assert actors == {"player_1", "player_2", "player_3", "player_4", "player_9"}
    assert info["config"]["personas"][0]["name"] == "Ada"
    # interviews rebuild the agents from the stored personas too
    setup = prepare_interview(out, "player_1", "Who are you?", scenario=Scripted())
    assert "You are Ada" in setup.request.messages[0].content
    # a run from the same personas has the same events
    assert first_difference(stream(out), stream(run(tmp_path / "again", personas=personas))) is None


@pytest.mark.parametrize(
    ("block", "field"),
    [
        ("[{id: 'bad id', name: X}]", "personas[0].id"),
        ("[{id: a, name: X}, {id: a, name: Y}]", "personas.id"),
        ("[{id: a}]", "personas[0].name"),
        ("7", "personas"),
    ],
)
def test_bad_personas_name_the_field(tmp_path: Path, block: str, field: str) -> None:
    spec_file = tmp_path / "x.yaml"
    spec_file.write_text(f"scenario: commons\npersonas: {block}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_spec(str(spec_file))
    assert err.value.field == field


def test_interventions_change_settings_and_membership_of_a_kit_world(tmp_path: Path) -> None:
    options = RunOptions.model_validate(
        {
            "model": "scripted",
            "interventions": [
                {"tick": 2, "set": {"endowment": 5}},
                {"tick": 3, "remove": ["player_2"]},
                {"tick": 4, "add": [{"id": "player_7", "name": "Cy"}]},
            ],
        }
    )
    out = tmp_path / "run"
    run_sync(prepare_run(Scripted(), PG.PublicGoodsConfig(), options, out))
    with RunStore.open(out, readonly=True) as store:
        actions = store.events(["action"])
    by_tick: dict[int, set[str]] = {}
    for e in actions:
        by_tick.setdefault(e.tick, set()).add(e.actor or "")
        if e.tick >= 2:
            assert e.data["amount"] <= 5
    assert "player_2" in by_tick[2]
    assert "player_2" not in by_tick[3]
    assert "player_7" not in by_tick[3]
    assert "player_7" in by_tick[4]
    with pytest.raises(ConfigError) as err:
        prepare_run(
            Scripted(),
            PG.PublicGoodsConfig(),
            RunOptions.model_validate(
                {"model": "scripted", "interventions": [{"tick": 1, "set": {"rounds": 0}}]}
            ),
            tmp_path / "bad",
        )
    assert err.value.field == "set.rounds"


class _EntryPoint:
    value = "plugin:Old"

    def __init__(self, factory: Any) -> None:
        self.factory = factory

    def load(self) -> Any:
        return self.factory


def test_a_registered_scenario_must_be_written_on_the_kit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert get_scenario("commons").name == "commons"

    class Old:  # a scenario written before the kit: no mind_config, no report_plots
        name = "old"
        config_model = PG.PublicGoodsConfig

        def build(self, config: Any, rng: Any) -> Any:
            raise AssertionError("never built")

        def metrics(self, config: Any, events: Any) -> dict[str, float]:
            return {}

    entries = {"old": _EntryPoint(Old)}
    monkeypatch.setattr("societas.scenarios.registry._entry_points", lambda: entries)
    with pytest.raises(ConfigError, match="scenario kit") as err:
        get_scenario("old")
    assert err.value.field == "scenario"


def test_unknown_settings_are_refused_even_when_the_config_model_ignores_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The guide's config is a plain BaseModel (pydantic ignores unknown keys by default).
    assert PG.PublicGoodsConfig.model_config.get("extra") is None
    monkeypatch.setattr("societas.scenarios.loader.get_scenario", lambda name, source: Scripted())
    with pytest.raises(ConfigError) as err:
        load_spec("public_goods", ["roundz=3"])
    assert err.value.field == "roundz"
    assert "known setting" in str(err.value)
    assert load_spec("public_goods", ["rounds=3"]).config.rounds == 3  # type: ignore[attr-defined]


class Introduced(PG.PublicGoods):  # type: ignore[misc, name-defined]
    """Rules that say who each player is (as GovSim's system prompt does)."""

    persona_in_rules = True

    def rules_for(self, agent_id: str) -> str:
        others = ", ".join(self.name_of(a) for a in self.members if a != agent_id)
        return f"You are {self.name_of(agent_id)}; you play with {others}. {self.rules_text}"


class IntroducedScenario(Scripted):
    world = Introduced


def systems(out: Path) -> dict[str, set[str]]:
    with RunStore.open(out, readonly=True) as store:
        calls = list(store.calls())
    found: dict[str, set[str]] = {}
    for call in calls:
        found.setdefault(call["actor"], set()).add(call["messages"][0]["content"])
    return found


def test_rules_for_an_agent_default_to_the_shared_rules_then_the_persona(tmp_path: Path) -> None:
    config = PG.PublicGoodsConfig()
    world, personas = Scripted().build(config, np.random.default_rng(0))
    assert not world.persona_in_rules
    assert all(world.rules_for(p.id) == world.rules_text for p in personas)
    found = systems(run(tmp_path / "run"))
    assert found == {p.id: {f"{world.rules_text}\n\n{p.describe()}"} for p in personas}


def test_a_world_with_rules_per_agent_is_the_whole_system_prompt(tmp_path: Path) -> None:
    """``World.rules_for`` and ``persona_in_rules``: each decision and each interview gets the
    agent's own rules, and no persona description after them."""
    world, personas = IntroducedScenario().build(PG.PublicGoodsConfig(), np.random.default_rng(0))
    expected = {p.id: world.rules_for(p.id) for p in personas}
    assert expected["player_1"].startswith("You are Player 1; you play with Player 2, Player 3")
    out = tmp_path / "run"
    run_sync(
        prepare_run(IntroducedScenario(), PG.PublicGoodsConfig(), RunOptions(model="scripted"), out)
    )
    assert systems(out) == {a: {text} for a, text in expected.items()}
    setup = prepare_interview(out, "player_2", "Who are you?", scenario=IntroducedScenario())
    assert setup.request.messages[0].content == expected["player_2"]
