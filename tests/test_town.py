"""The town scenario: map and clock, talk-only diffusion of the party, metrics, ablations."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

import societas.llm.scripted as scripted_backend
from societas.analysis.compare import first_difference
from societas.engine import RunInterrupted, RunOptions, prepare_run, run_sync
from societas.scenarios import load_spec, registry
from societas.scenarios.town import TownConfig, TownScenario
from societas.scenarios.town.actions import Talk
from societas.scenarios.town.config import PartyConfig
from societas.scenarios.town.metrics import diffusion_table, town_metrics
from societas.scenarios.town.scripted import knows_of_party, town_policy
from societas.scenarios.town.world import ACT, Town
from societas.store import RunStore
from societas.testing.context import RecordingContext
from societas.typing import (
    ChatMessage,
    ConfigError,
    Event,
    InterventionEvent,
    LLMRequest,
    MessageEvent,
    OutcomeEvent,
    SurveyAnswerEvent,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


ListRecorder = RecordingContext  # the phase context tests of world rules use


def make_town(config: TownConfig) -> Town:
    world, _ = TownScenario().build(config, np.random.default_rng(0))
    assert isinstance(world, Town)
    return world


@pytest.fixture
def town_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register ``town`` by name for the loader, as its entry point will."""
    found = registry._entry_points()
    if "town" not in found:
        ep = metadata.EntryPoint(
            name="town", value="societas.scenarios.town:TownScenario", group="societas.scenarios"
        )
        monkeypatch.setattr(registry, "_entry_points", lambda: {**found, "town": ep})


@contextmanager
def surveys_by_the_policy(config: TownConfig) -> Iterator[None]:
    """Let the town's scripted policy answer the party survey from the prompt, as a model
    would (the scripted backend otherwise answers survey questions at random)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(scripted_backend, "survey_answer", town_policy(config))
        yield


def town_run(out: Path, seed: int = 0, **settings: Any) -> dict[str, float]:
    """A scripted town run with the party survey answered by the policy."""
    config = TownConfig.model_validate(settings)
    options = RunOptions(model="scripted", seed=seed, surveys=config.party_surveys())
    with surveys_by_the_policy(config):
        return run_sync(prepare_run(TownScenario(), config, options, out))


@pytest.fixture
def run_basic(tmp_path: Path) -> Callable[..., tuple[Path, dict[str, float]]]:
    """A scripted run with the foundation's basic mind (``mind: null``): fast, for the
    world's properties, which do not depend on the mind. Returns (run dir, metrics)."""
    counter = {"n": 0}

    def _run(seed: int = 0, **settings: Any) -> tuple[Path, dict[str, float]]:
        counter["n"] += 1
        out = tmp_path / f"town{counter['n']}"
        return out, town_run(out, seed, **{"mind": None, **settings})

    return _run


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, float]]:
    """One day of the default town (generative minds), scripted, seed 0, with the survey."""
    out = tmp_path_factory.mktemp("town") / "default"
    start = time.process_time()
    metrics = town_run(out)
    metrics["_cpu_s"] = time.process_time() - start
    return out, metrics


def events_of(out: Path) -> list[Event]:
    with RunStore.open(out, readonly=True) as store:
        return store.events()


def request(text: str, *, actor: str = "klaus", **context: Any) -> LLMRequest:
    return LLMRequest(
        messages=(
            ChatMessage(role="system", content="You live in a small town."),
            ChatMessage(role="user", content=text),
        ),
        actor=actor,
        purpose=str(context.get("phase", "act")),
        context=context,
    )


# -- config: map, clock, party -----------------------------------------------------------


def test_default_town_has_the_papers_places_and_eight_residents() -> None:
    c = TownConfig()
    names = {p.name for p in c.places}
    assert {"Hobbs Cafe", "Johnson Park", "Oak Hill College", "The Rose and Crown Pub"} <= names
    kinds = {p.kind for p in c.places}
    assert {"home", "cafe", "park", "store", "college", "bar"} <= kinds
    assert len(c.agents) == 8
    assert all(a.home in names for a in c.agents)
    assert c.party.host == "isabella"
    assert c.party.place == "Hobbs Cafe"


def test_clock_ticks_follow_minutes_per_tick_and_days() -> None:
    c = TownConfig()
    assert c.num_ticks() == 16  # 07:00 to 23:00 in hours
    assert c.minute_of(0) == 7 * 60
    assert c.minute_of(15) == 22 * 60
    assert c.party_ticks() == [10, 11]  # 17:00 and 18:00
    assert c.survey_ticks() == [3, 7, 11, 15]
    half = TownConfig(minutes_per_tick=30)
    assert half.num_ticks() == 32
    assert half.party_ticks() == [20, 21, 22, 23]
    two = TownConfig(days=2)
    assert two.num_ticks() == 32
    assert two.day_of(16) == 2
    assert two.minute_of(16) == 7 * 60
    assert two.sim_seconds(16) == (24 * 60 + 7 * 60) * 60
    world = make_town(two)
    assert world.sim_time(1) - world.sim_time(0) == 3600.0


@pytest.mark.parametrize(
    ("settings", "needle"),
    [
        ({"party": {"host": "nobody"}}, "host"),
        ({"party": {"place": "Moore house"}}, "public place"),
        ({"party": {"place": "Mars"}}, "public place"),
        ({"party": {"start": "19:00", "end": "17:00"}}, "end after"),
        ({"party": {"start": "7pm"}}, "HH:MM"),
        ({"party": {"description": "a get-together"}}, "keywords"),
        ({"party": {"day": 3}}, "after the last day"),
        ({"isolated": ["ghost"]}, "isolated"),
        ({"relationships": [{"a": "klaus", "b": "klaus"}]}, "two different"),
        ({"day_start": "22:30"}, "at least one tick"),
    ],
)
def test_bad_config_is_refused(settings: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        TownConfig.model_validate(settings)


def test_bad_setting_through_the_loader_names_the_field(town_registered: None) -> None:
    with pytest.raises(ConfigError) as err:
        load_spec("town", ["party.start=25:99"])
    assert "party.start" in str(err.value)


def test_act_model_bounds_place_to_the_map() -> None:
    world = make_town(TownConfig())
    model = world.act_phase.action_model
    schema = model.json_schema()
    assert schema["properties"]["place"]["enum"] == [p.name for p in TownConfig().places]
    model.model_validate({"place": "Hobbs Cafe", "activity": "coffee"})
    with pytest.raises(ValidationError):
        model.model_validate({"place": "Mars", "activity": "coffee"})


def test_only_the_host_persona_mentions_the_party() -> None:
    c = TownConfig()
    world, personas = TownScenario().build(c, np.random.default_rng(0))
    mentions = {p.id for p in personas if c.party.mentions(p.describe())}
    assert mentions == {"isabella"}
    assert not c.party.mentions(world.rules_text)


# -- world: places, talk, percepts ---------------------------------------------------------


def _act(world: Town, rec: ListRecorder, tick: int, places: dict[str, str]) -> Any:
    model = world.act_phase.action_model
    actions = {
        aid: model.model_validate({"place": places.get(aid, world.homes[aid]), "activity": "x"})
        for aid in world.ids
    }
    return world.act_phase.resolve_actions(actions, rec.at(tick))


def test_homes_are_private_and_isolated_residents_stay_home() -> None:
    world = make_town(TownConfig(isolated=["sam"]))
    rec = ListRecorder()
    _act(world, rec, 0, {"klaus": "Moore house", "sam": "Hobbs Cafe", "maria": "Hobbs Cafe"})
    assert world.where["klaus"] == "Oak Hill dorm"  # someone else's home: stays at his
    assert world.where["sam"] == "Moore house"  # isolated
    assert world.where["maria"] == "Hobbs Cafe"
    outcome = next(f for name, f in rec.events if name == "OutcomeEvent")
    assert outcome["data"]["redirected"] == {"klaus": "Moore house", "sam": "Hobbs Cafe"}


def test_talk_reaches_only_the_people_present_and_becomes_their_memory() -> None:
    world = make_town(TownConfig())
    rec = ListRecorder()
    _act(world, rec, 2, {"isabella": "Hobbs Cafe", "klaus": "Hobbs Cafe", "maria": "Hobbs Cafe"})
    phase = world.talk_phase(1)
    observing = [a for a in world.ids if phase.observation(a, 2) is not None]
    # The three at the cafe and the two Lins at home with each other (Eddy is at his home).
    assert set(observing) == {"isabella", "klaus", "maria", "john", "mei", "eddy"}
    assert phase.observation("sam", 2) is None  # alone at home
    actions = {a: Talk(message="") for a in observing}
    actions["isabella"] = Talk(message="Come to my party tonight!")
    percepts = phase.resolve_actions(actions, rec.at(2))
    messages = [f for name, f in rec.events if name == "MessageEvent"]
    assert messages == [
        {
            "actor": "isabella",
            "phase": "talk_1",
            "text": "Come to my party tonight!",
            "audience": ["klaus", "maria"],
        }
    ]
    assert set(percepts) == {"isabella", "klaus", "maria"}
    assert "Isabella Rodriguez said" in percepts["klaus"][0].text
    # A second round sees the first round's words at that place only.
    obs = world.talk_phase(2).observation("maria", 2)
    assert obs is not None
    assert "Come to my party tonight!" in obs.text
    lin = world.talk_phase(2).observation("john", 2)
    assert lin is not None
    assert "party" not in lin.text


def test_act_observation_shows_who_is_present_but_not_what_they_do() -> None:
    world = make_town(TownConfig())
    rec = ListRecorder()
    model = world.act_phase.action_model
    actions = {
        aid: model.model_validate({"place": "Hobbs Cafe", "activity": "planning the party"})
        for aid in ("isabella", "klaus")
    }
    for aid in world.ids:
        actions.setdefault(aid, model.model_validate({"place": world.homes[aid]}))
    percepts = world.act_phase.resolve_actions(actions, rec.at(3))
    klaus = " ".join(p.text for p in percepts["klaus"])
    assert "Isabella Rodriguez" in klaus
    assert "party" in klaus  # his own activity
    assert "party" not in world.act_phase.observation("klaus", 4).text  # type: ignore[union-attr]


def test_snapshot_restore_round_trip() -> None:
    world = make_town(TownConfig())
    rec = ListRecorder()
    _act(world, rec, 0, {"isabella": "Hobbs Cafe", "klaus": "Hobbs Cafe"})
    actions = {a: Talk(message="hello") for a in ("isabella", "klaus")}
    world.talk_phase(1).resolve_actions(actions, rec.at(0))
    world.apply_settings({"talk_rounds": 3})
    state = json.loads(json.dumps(world.snapshot()))
    other = make_town(TownConfig())
    other.restore(state)
    assert other.where == world.where
    assert other.said == world.said
    assert len(other.phases(1)) == 4


def test_interventions_may_change_only_some_settings() -> None:
    world = make_town(TownConfig())
    world.apply_settings({"talk": False})
    assert [p.name for p in world.phases(0)] == [ACT]
    with pytest.raises(ConfigError, match="days"):
        world.apply_settings({"days": 3})
    with pytest.raises(ConfigError, match="isolated"):
        world.apply_settings({"isolated": ["ghost"]})


# -- scripted policy -----------------------------------------------------------------------


def test_scripted_knowledge_comes_from_the_prompt_not_the_question() -> None:
    c = TownConfig()
    question = {"id": "heard", "type": "choice", "options": ["yes", "no"], "text": "A party?"}
    plain = request("An interviewer asks you: A party?", phase="survey", question=question)
    told = request(
        '- Isabella Rodriguez said: "party at the cafe"\nAn interviewer asks you: A party?',
        phase="survey",
        question=question,
    )
    assert not knows_of_party(plain, c.party)
    assert knows_of_party(told, c.party)
    policy = town_policy(c)
    rng = np.random.default_rng(0)
    survey = {"phase": "survey:party:heard", "question": question}
    ask = plain.model_copy(update={"purpose": "survey:party:heard", "context": survey})
    yes = told.model_copy(update={"purpose": "survey:party:heard", "context": survey})
    assert json.loads(policy(ask, rng)) == {"answer": "no"}
    assert json.loads(policy(yes, rng)) == {"answer": "yes"}


def test_scripted_resident_goes_to_the_party_only_if_told() -> None:
    c = TownConfig()
    policy = town_policy(c)
    ctx: dict[str, Any] = {
        "phase": "act",
        "day": 1,
        "minute": 17 * 60,
        "routine_place": "Johnson Park",
    }
    unaware = request("It is 17:00 on day 1.", **ctx)
    aware = request('Isabella said: "a Valentine\'s Day party"\nIt is 17:00 on day 1.', **ctx)
    rng = np.random.default_rng(0)
    assert json.loads(policy(unaware, rng))["place"] == "Johnson Park"
    assert json.loads(policy(aware, rng))["place"] == "Hobbs Cafe"
    early = aware.model_copy(update={"context": {**ctx, "minute": 9 * 60}})
    assert json.loads(policy(early, rng))["place"] == "Johnson Park"


# -- runs ---------------------------------------------------------------------------------


def test_one_day_scripted_run_is_fast_and_deterministic(
    default_run: tuple[Path, dict[str, float]], tmp_path: Path
) -> None:
    out, metrics = default_run
    # CPU time of this process (the run is in-process), so other load cannot fail it.
    assert metrics["_cpu_s"] < 15.0, f"a scripted day took {metrics['_cpu_s']:.1f} s of CPU"
    again = town_run(tmp_path / "again")
    assert {k: v for k, v in metrics.items() if k != "_cpu_s"} == again
    assert first_difference(events_of(out), events_of(tmp_path / "again")) is None
    assert metrics["ticks_played"] == 16
    assert metrics["messages"] > 0
    assert metrics["exposed_final"] > 1  # the party spread through talk
    assert metrics["party_attendance"] >= 1
    assert metrics["reflections"] > 0
    assert metrics["plans"] > 0
    # Another seed, another morning (compared over the first four ticks, to stay fast).
    town_run(tmp_path / "seed1", seed=1, day_end="11:00")

    def said(run: Path) -> list[tuple[int, str | None, str]]:
        return [
            (e.tick, e.actor, e.text)
            for e in events_of(run)
            if isinstance(e, MessageEvent) and e.tick < 4
        ]

    assert said(out)
    assert said(tmp_path / "seed1") != said(out)


def test_party_spreads_only_through_talk(
    run_basic: Callable[..., tuple[Path, dict[str, float]]],
) -> None:
    _, silent = run_basic(talk=False)
    assert silent["exposed_final"] == 1
    assert silent["messages"] == 0
    assert silent["party_attendance"] == 1
    assert silent["party_guests"] == 0
    assert silent["aware_final"] == 1  # only the host says she heard of it
    assert silent["density_after"] == silent["density_before"]
    out, isolated = run_basic(isolated=["isabella"])
    assert isolated["exposed_final"] == 1
    assert isolated["party_attendance"] == 0  # the host is home
    assert isolated["messages"] > 0  # the others still talk, just not of the party
    table = diffusion_table(TownConfig(), events_of(out))
    assert (table["exposed"] == 1).all()
    _, talking = run_basic()
    assert talking["exposed_final"] > 1
    assert talking["party_guests"] > 0


def test_news_of_the_party_by_intervention_counts_as_exposure(tmp_path: Path) -> None:
    config = TownConfig(talk=False, mind=None)
    options = RunOptions(
        model="scripted",
        interventions=[{"tick": 2, "message": "Isabella is throwing a party!", "to": ["sam"]}],
    )
    run_sync(prepare_run(TownScenario(), config, options, tmp_path / "run"))
    table = diffusion_table(config, events_of(tmp_path / "run"))
    assert list(table["exposed"]) == [1, 1] + [2] * 14


def test_network_density_after_is_at_least_before(
    default_run: tuple[Path, dict[str, float]],
) -> None:
    _, m = default_run
    assert m["density_before"] == pytest.approx(8 / 28)
    assert m["density_after"] >= m["density_before"]
    assert m["talked_pairs"] > 0
    assert m["new_acquaintances"] > 0
    assert m["density_after"] == pytest.approx((8 + m["new_acquaintances"]) / 28)


def test_survey_awareness_never_exceeds_exposure(
    default_run: tuple[Path, dict[str, float]],
) -> None:
    """Whoever says they heard of the party was exposed to it; the host always says so."""
    out, metrics = default_run
    config = TownConfig()
    exposed = {"isabella"}
    said_yes: dict[int, set[str]] = {}
    for e in events_of(out):
        if isinstance(e, MessageEvent) and config.party.mentions(e.text):
            exposed.update(e.audience or [])
        if isinstance(e, SurveyAnswerEvent) and e.question == "heard" and e.answer == "yes":
            said_yes.setdefault(e.tick, set()).add(str(e.actor))
            assert e.actor in exposed, f"{e.actor} aware at tick {e.tick} without exposure"
    assert sorted(said_yes) == config.survey_ticks()
    assert all("isabella" in ids for ids in said_yes.values())
    assert max(len(ids) for ids in said_yes.values()) > 1
    assert 1 <= metrics["aware_final"] <= metrics["exposed_final"]


def test_resume_gives_the_same_events(tmp_path: Path) -> None:
    from societas.engine import prepare_resume

    full = tmp_path / "full"
    town_run(full, seed=1, day_end="13:00")
    config = TownConfig(day_end="13:00")
    options = RunOptions(model="scripted", seed=1, surveys=config.party_surveys())
    cut = tmp_path / "cut"
    with surveys_by_the_policy(config):
        handle = prepare_run(TownScenario(), config, options, cut)
        seen = {"n": 0}

        def stop_after_three(progress: Any) -> None:
            seen["n"] += 1
            if seen["n"] == 3:
                handle.simulation.request_stop()

        handle.simulation.on_progress = stop_after_three
        with pytest.raises(RunInterrupted):
            run_sync(handle)
        run_sync(prepare_resume(cut, TownScenario()))
    assert first_difference(events_of(full), events_of(cut)) is None


# -- metrics from synthetic events ---------------------------------------------------------

_N = {"n": 0}


def _ev(cls: type, tick: int, **fields: Any) -> Any:
    _N["n"] += 1
    return cls(seq=_N["n"], run_id="r", tick=tick, wall_time=0.0, **fields)


def _where(**places: str) -> dict[str, str]:
    homes = {a.id: a.home for a in TownConfig().agents}
    return {**homes, **places}


def test_attendance_counts_only_residents_at_the_party_place_in_the_window() -> None:
    c = TownConfig()
    events: list[Event] = [
        _ev(OutcomeEvent, 9, phase="act", data={"where": _where(klaus="Hobbs Cafe")}),
        _ev(OutcomeEvent, 10, phase="act", data={"where": _where(isabella="Hobbs Cafe")}),
        _ev(
            OutcomeEvent,
            11,
            phase="act",
            data={"where": _where(isabella="Hobbs Cafe", maria="Hobbs Cafe", sam="Johnson Park")},
        ),
        _ev(OutcomeEvent, 12, phase="act", data={"where": _where(eddy="Hobbs Cafe")}),
    ]
    m = town_metrics(c, events)
    assert m["party_attendance"] == 2  # isabella and maria; klaus too early, eddy too late
    assert m["party_guests"] == 1


def test_exposure_and_awareness_from_events() -> None:
    c = TownConfig()
    events: list[Event] = [
        _ev(OutcomeEvent, t, phase="act", data={"where": _where()}) for t in range(4)
    ]
    events += [
        _ev(MessageEvent, 1, actor="isabella", phase="talk_1", text="Hi!", audience=["klaus"]),
        _ev(
            MessageEvent,
            2,
            actor="isabella",
            phase="talk_1",
            text="My Valentine's do is at 5.",
            audience=["klaus", "maria"],
        ),
        _ev(InterventionEvent, 3, message="A PARTY at the cafe", to=["sam"]),
        _ev(MessageEvent, 3, actor="klaus", phase="talk_1", text="Party!", audience=["isabella"]),
    ]
    answers = {"isabella": "yes", "klaus": "yes", "maria": "no", "sam": "yes"}
    for aid, answer in answers.items():
        events.append(
            _ev(
                SurveyAnswerEvent,
                3,
                actor=aid,
                survey="party",
                question="heard",
                question_type="choice",
                answer=answer,
            )
        )
        events.append(
            _ev(
                SurveyAnswerEvent,
                3,
                actor=aid,
                survey="party",
                question="details",
                question_type="text",
                answer="at hobbs cafe" if aid != "sam" else "no idea",
            )
        )
    table = diffusion_table(c, events)
    assert list(table["exposed"]) == [1, 1, 3, 4]
    assert table.loc[3, "aware"] == 3
    assert table.loc[3, "aware_place"] == 2
    assert table["aware"].isna()[2]
    m = town_metrics(c, events)
    assert m["aware_final"] == 3
    assert m["exposed_final"] == 4
    assert m["talked_pairs"] == 2  # isabella-klaus, isabella-maria


# -- examples and ablations ------------------------------------------------------------------


ABLATIONS = {
    "town.yaml": {},
    "town-no-reflection.yaml": {"reflection": False},
    "town-no-planning.yaml": {"planning": False, "replanning": False},
    "town-no-memory.yaml": {"memory": False, "reflection": False},
}


@pytest.mark.parametrize("name", sorted(ABLATIONS))
def test_example_files_load_and_set_the_minds(town_registered: None, name: str) -> None:
    spec = load_spec(str(EXAMPLES / name), model="scripted")
    assert isinstance(spec.config, TownConfig)
    assert spec.options.surveys == spec.config.party_surveys()
    mind = TownScenario().mind_config(spec.config)
    assert mind is not None
    expected = {"memory": True, "reflection": True, "planning": True, "replanning": True}
    expected.update(ABLATIONS[name])
    assert {k: getattr(mind, k) for k in expected} == expected
    # The same ablation is one --set away from the default file.
    sets = [f"mind.{k}={str(v).lower()}" for k, v in ABLATIONS[name].items()]
    assert load_spec(str(EXAMPLES / "town.yaml"), sets).config == spec.config


def test_ablations_change_what_the_minds_do(town_registered: None, tmp_path: Path) -> None:
    counts: dict[str, dict[str, float]] = {}
    for name in ABLATIONS:
        spec = load_spec(
            str(EXAMPLES / name),
            ["day_end=14:00", "mind.reflection_threshold=60"],
            model="scripted",
        )
        counts[name] = run_sync(
            prepare_run(spec.scenario, spec.config, spec.options, tmp_path / name)
        )
    full = counts["town.yaml"]
    assert full["reflections"] > 0
    assert full["plans"] > 0
    assert counts["town-no-reflection.yaml"]["reflections"] == 0
    assert counts["town-no-reflection.yaml"]["plans"] > 0
    assert counts["town-no-planning.yaml"]["plans"] == 0
    assert counts["town-no-planning.yaml"]["reflections"] > 0
    assert counts["town-no-memory.yaml"]["reflections"] == 0
    # Fewer cognitive steps, fewer calls.
    for name in ("town-no-reflection.yaml", "town-no-planning.yaml", "town-no-memory.yaml"):
        assert counts[name]["llm_calls"] < full["llm_calls"]
    basic = load_spec(str(EXAMPLES / "town.yaml"), ["mind=null"], model="scripted")
    assert TownScenario().mind_config(basic.config) is None


def test_report_has_the_town_figures(
    town_registered: None, default_run: tuple[Path, dict[str, float]]
) -> None:
    from societas.analysis import write_report

    out, _ = default_run
    html = write_report(out).read_text()
    for name in ("town_diffusion.png", "town_attendance.png", "town_calls.png"):
        assert (out / "report" / name).read_bytes().startswith(b"\x89PNG")
        assert f'src="{name}"' in html


def test_every_setting_is_documented() -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "scenarios" / "town.md").read_text()
    missing = [name for name in TownConfig.model_fields if f"`{name}`" not in text]
    missing += [f"party.{n}" for n in PartyConfig.model_fields if f"`party.{n}`" not in text]
    assert missing == []
