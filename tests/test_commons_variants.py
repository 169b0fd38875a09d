"""GovSim's three framings of the commons (fishery, pasture, pollution) and the newcomer."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from societas.analysis.compare import first_difference
from societas.engine import prepare_resume, prepare_run, run_sync
from societas.engine.figures import run_figures
from societas.llm.gateway import Gateway
from societas.mind.mind import schema_hint
from societas.scenarios import get_scenario, load_spec
from societas.scenarios.commons import CommonsConfig, CommonsScenario
from societas.scenarios.commons.metrics import commons_metrics
from societas.store import RunStore
from societas.typing import ConfigError, LanguageModel, LLMRequest, LLMResponse

RESOURCES = ("fishery", "pasture", "pollution")

# Words each framing must use in its prompts, and words of the others it must not use.
OWN = {
    "fishery": ("fisher", "lake", "tons"),
    "pasture": ("shepherd", "pasture", "hectares of grass", "flocks of sheep"),
    "pollution": ("factory owner", "river", "pallets of widgets", "unpolluted"),
}
FOREIGN = {
    "fishery": ("shepherd", "hectare", "widget", "river", "pallet"),
    "pasture": ("fish", "lake", "tons", "widget", "river", "pallet"),
    "pollution": ("fish", "lake", "tons", "shepherd", "hectare", "sheep"),
}
FIELD = {"fishery": "catch", "pasture": "flocks", "pollution": "pallets"}


def spec_for(*sets: str, seed: int = 0) -> Any:
    return load_spec(
        "commons",
        ["protocol=societas", "months=4", "discussion_rounds=1", *sets],
        seed=seed,
        model="scripted",
    )


def recorded_prompts(handle: Any) -> list[LLMRequest]:
    """Wrap the run's model so every request it is sent is kept."""
    seen: list[LLMRequest] = []
    inner = handle.simulation.gateway.model

    class Recording:
        model_id = inner.model_id

        async def generate(self, request: LLMRequest) -> LLMResponse:
            seen.append(request)
            return await inner.generate(request)

        async def aclose(self) -> None:
            await inner.aclose()

    recording: LanguageModel = Recording()
    gateway: Gateway = handle.simulation.gateway
    gateway.model = recording
    return seen


def run(tmp_path: Path, name: str, *sets: str, seed: int = 0) -> tuple[Path, list[LLMRequest]]:
    spec = spec_for(*sets, seed=seed)
    handle = prepare_run(spec.scenario, spec.config, spec.options, tmp_path / name)
    seen = recorded_prompts(handle)
    run_sync(handle)
    return tmp_path / name, seen


def outcomes(run_dir: Path) -> list[dict[str, Any]]:
    with RunStore.open(run_dir, readonly=True) as store:
        return [e.data for e in store.events(["outcome"])]


# -- framings -----------------------------------------------------------------------------


def test_fishery_text_is_unchanged() -> None:
    lake, _ = CommonsScenario().build(CommonsConfig(protocol="societas"), np.random.default_rng(0))
    assert lake.rules_text == (
        "You are a fisher. You and 4 other fishers share a lake. The lake can hold at most 100 "
        "tons of fish. Each month every fisher decides how many tons to catch. After the catch, "
        "the fish left in the lake multiply by 2, up to 100 tons. If fewer than 5 tons are left "
        "after a catch, the lake collapses and nobody can fish again. Each ton you catch earns "
        "you money. The simulation runs for 12 months."
    )
    phase = lake.phases(0)[0]
    assert phase.instruction == "Decide how many tons you catch this month. Give a short reason."
    assert list(phase.action_model.model_json_schema()["properties"]) == ["catch", "reason"]


@pytest.mark.parametrize("resource", RESOURCES)
def test_every_prompt_speaks_its_framing(tmp_path: Path, resource: str) -> None:
    _, seen = run(tmp_path, resource, f"resource={resource}", "universalization=true")
    assert seen
    by_phase = {r.purpose: r for r in seen if r.actor == seen[0].actor and r.context["tick"] == 1}
    assert set(by_phase) == {"harvest", "discuss_1", "reflect"}
    for request in by_phase.values():
        text = "\n".join(m.content for m in request.messages)
        low = text.lower()
        for word in OWN[resource]:
            assert word in low, (resource, request.purpose, word)
        for word in FOREIGN[resource]:
            assert word not in low, (resource, request.purpose, word)
    harvest = by_phase["harvest"]
    assert next(iter(harvest.json_schema["properties"])) == FIELD[resource]
    assert f'"{FIELD[resource]}": integer from 0 to 100' in harvest.messages[-1].content
    # GovSim's universalization sentence in the framing's words
    assert "Given the current situation, if" in harvest.messages[-1].content


@pytest.mark.parametrize("resource", RESOURCES)
def test_ids_names_and_personas_follow_the_framing(resource: str) -> None:
    config = CommonsConfig(resource=resource, agents=6)  # type: ignore[arg-type]
    lake, personas = CommonsScenario().build(config, np.random.default_rng(0))
    prefix = {"fishery": "fisher", "pasture": "shepherd", "pollution": "owner"}[resource]
    assert list(lake.agent_ids()) == [f"{prefix}_{i}" for i in range(1, 7)]
    assert [p.name for p in personas][:5] == ["John", "Kate", "Jack", "Emma", "Luke"]
    role = {"fishery": "Fisher", "pasture": "Shepherd", "pollution": "Owner"}[resource]
    assert personas[5].name == f"{role}6"
    assert all(p.attributes["role"] in OWN[resource][0] for p in personas)


def test_same_mechanics_and_metrics_in_every_framing(tmp_path: Path) -> None:
    # No 'adaptive' agent, whose draws depend on agent ids: then the three framings must give
    # the same months, takes and metrics (units aside).
    sets = ("dispositions=[cooperative, greedy, greedy]", "months=6")
    months = {}
    metrics = {}
    for resource in RESOURCES:
        out, _ = run(tmp_path, resource, f"resource={resource}", *sets)
        months[resource] = [
            (d["stock_before"], sorted(d["wanted"].values()), d["stock_after"], d["collapsed"])
            for d in outcomes(out)
        ]
        with RunStore.open(out, readonly=True) as store:
            metrics[resource] = store.final_metrics()
            actions = [e for e in store.events(["action"]) if e.phase == "harvest"]
            assert all(FIELD[resource] in e.data for e in actions)
            assert not any(e.fallback for e in actions)
            recomputed = {
                **run_figures(store.events()),
                **commons_metrics(
                    CommonsConfig.model_validate(store.run_info()["config"]["scenario"]),
                    store.events(),
                ),
            }
            assert metrics[resource] == pytest.approx(recomputed)
    assert months["pasture"] == months["fishery"] == months["pollution"]
    # The same mechanics; only the prompts' token counts differ between framings.
    for figures in metrics.values():
        del figures["prompt_tokens"], figures["completion_tokens"]
    assert metrics["pasture"] == pytest.approx(metrics["fishery"])
    assert metrics["pollution"] == pytest.approx(metrics["fishery"])
    assert metrics["fishery"]["over_usage"] > 0
    assert metrics["fishery"]["invalid_answer_rate"] == 0


def test_pollution_with_another_capacity_states_units() -> None:
    config = CommonsConfig(
        resource="pollution", capacity=200, initial_stock=200, protocol="societas"
    )
    lake, _ = CommonsScenario().build(config, np.random.default_rng(0))
    obs = lake.phases(0)[0].observation("owner_1", 0)
    assert obs is not None
    assert "200 of 200 units unpolluted" in obs.text
    assert "%" not in lake.rules_text


def test_resource_cannot_change_mid_run(tmp_path: Path) -> None:
    spec = spec_for("run.interventions=[{tick: 1, set: {resource: pasture}}]")
    with pytest.raises(ConfigError) as info:
        prepare_run(spec.scenario, spec.config, spec.options, tmp_path / "x")
    assert info.value.field == "set.resource"


# -- newcomer -------------------------------------------------------------------------------


NEWCOMER = ("agents=4", "months=6", "dispositions=[cooperative]", "newcomer={join_month: 3}")


def test_newcomer_defaults_are_govsims() -> None:
    config = CommonsConfig(agents=4, months=15, newcomer={})  # type: ignore[arg-type]
    assert config.newcomer is not None
    assert config.newcomer.join_month == 4
    assert config.newcomer.disposition == "greedy"
    lake, personas = CommonsScenario().build(config, np.random.default_rng(0))
    newcomer = personas[-1]
    assert (newcomer.id, newcomer.name) == ("fisher_5", "Luke")
    assert "you just want to make money" in newcomer.backstory
    assert all("learned to fish from your family" in p.backstory for p in personas[:4])
    assert "fisher_5" not in lake.agent_ids()
    with pytest.raises(ConfigError):
        load_spec("commons", ["months=3", "newcomer={join_month: 4}"])


@pytest.mark.parametrize("resource", RESOURCES)
def test_newcomer_is_absent_before_and_acts_from_its_month(tmp_path: Path, resource: str) -> None:
    out, seen = run(tmp_path, resource, f"resource={resource}", *NEWCOMER)
    prefix = {"fishery": "fisher", "pasture": "shepherd", "pollution": "owner"}[resource]
    nid = f"{prefix}_5"
    with RunStore.open(out, readonly=True) as store:
        mine = [e for e in store.events() if e.actor == nid]
        population = [e for e in store.events(["world_state"]) if e.phase == "population"]
    assert mine
    assert min(e.tick for e in mine) == 2  # joins in month 3 = tick 2, never earlier
    assert not [r for r in seen if r.actor == nid and r.context["tick"] < 2]
    acted = {(e.tick, e.phase) for e in mine if e.kind == "action"}
    assert acted == {(t, p) for t in range(2, 6) for p in ("harvest", "discuss_1", "reflect")}
    months = outcomes(out)
    assert all(nid not in d["wanted"] for d in months[:2])
    for d in months[2:]:
        assert nid in d["wanted"]
        assert d["threshold"] == int(d["stock_before"] / 2) // 5  # f(t) over 5 agents now
        assert d["wanted"][nid] == max(1, 2 * d["threshold"])  # greedy under the script
    assert [d["threshold"] for d in months[:2]] == [12, 12]  # 50 // 4 before it joins
    assert [(e.tick, e.state["joined"]) for e in population] == [(2, [nid])]
    # its persona (GovSim's outsider) is in its prompts; the locals see a 5-agent world
    prompt = next(r for r in seen if r.actor == nid)
    assert "you just want to make money" in prompt.messages[0].content
    local = next(r for r in seen if r.actor == f"{prefix}_1" and r.context["tick"] == 2)
    assert "4 other" in local.messages[0].content
    local0 = next(r for r in seen if r.actor == f"{prefix}_1" and r.context["tick"] == 0)
    assert "3 other" in local0.messages[0].content


def test_newcomer_changes_the_outcome(tmp_path: Path) -> None:
    with_, _ = run(tmp_path, "with", *NEWCOMER)
    without, _ = run(tmp_path, "without", *NEWCOMER[:-1])
    a, b = outcomes(with_), outcomes(without)
    assert a[:2] == b[:2]
    assert a[2]["stock_after"] < b[2]["stock_after"]


def test_resume_across_the_join_month(tmp_path: Path) -> None:
    whole, _ = run(tmp_path, "whole", *NEWCOMER, seed=2)
    spec = spec_for(*NEWCOMER, seed=2)
    handle = prepare_run(spec.scenario, spec.config, spec.options, tmp_path / "cut")
    for tick in range(2):  # stop before the newcomer's month
        asyncio.run(handle.simulation.step(tick))
    handle.close()
    resumed = prepare_resume(tmp_path / "cut", get_scenario("commons"))
    assert resumed.start_tick == 2
    run_sync(resumed)
    with (
        RunStore.open(whole, readonly=True) as a,
        RunStore.open(tmp_path / "cut", readonly=True) as b,
    ):
        assert first_difference(a.events(), b.events()) is None


def test_schema_hint_names_the_framings_field() -> None:
    for resource in RESOURCES:
        config = CommonsConfig(resource=resource)  # type: ignore[arg-type]
        lake, _ = CommonsScenario().build(config, np.random.default_rng(0))
        hint = schema_hint(lake.phases(0)[0].action_model)
        assert hint.startswith('{"' + FIELD[resource] + '"')
        harvest = lake.phases(0)[0]
        observation = harvest.observation(lake.agent_ids()[0], 0)
        assert observation is not None
        fallback = harvest.fallback_for(observation)
        assert fallback.model_dump()[FIELD[resource]] == 0
