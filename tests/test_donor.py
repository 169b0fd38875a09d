"""The donor scenario: the Donor Game's rules, cultural evolution, metrics and a full run."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from societas.analysis.compare import first_difference
from societas.engine import Progress, RunInterrupted, prepare_resume, prepare_run, run_sync
from societas.engine.figures import run_figures
from societas.scenarios import get_scenario, load_spec
from societas.scenarios.donor import DonorConfig, DonorScenario
from societas.scenarios.donor.actions import Donate, DonateOrPunish, WriteStrategy
from societas.scenarios.donor.metrics import donor_metrics
from societas.scenarios.donor.scripted import Rule, donor_policy
from societas.scenarios.donor.world import DonorWorld, authors_round_pairs, round_pairs
from societas.store import RunStore
from societas.typing import Action, Event, LLMRequest, Observation, OutcomeEvent, ReflectionEvent

DOCS = Path(__file__).resolve().parents[1] / "docs"


class ListRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def emit(self, event_type: type, /, **fields: Any) -> int:
        self.events.append((event_type.__name__, fields))
        return len(self.events) - 1

    def outcomes(self, phase: str) -> list[dict[str, Any]]:
        return [f["data"] for k, f in self.events if k == "OutcomeEvent" and f["phase"] == phase]


def world(**cfg: Any) -> DonorWorld:
    """A world under ``schedule: paper_text`` (the tests written before 0.2) unless given."""
    cfg.setdefault("schedule", "paper_text")
    config = DonorConfig.model_validate(cfg)
    w, _ = DonorScenario().build(config, np.random.default_rng(0))
    return w


Policy = Callable[[Observation], Action]


def give_share(share: float) -> Policy:
    return lambda o: Donate(amount=share * float(o.fields["resources"]))


def play(
    w: DonorWorld, tick: int, policy: Policy, rng: np.random.Generator, rec: ListRecorder
) -> dict[str, dict[str, Observation]]:
    """One tick: every phase's observations, decisions by ``policy``, resolution."""
    seen: dict[str, dict[str, Observation]] = {}
    for phase in w.phases(tick):
        obs = {a: w.observe(a, tick, phase) for a in w.agent_ids()}
        live = {a: o for a, o in obs.items() if o is not None}
        seen[phase.name] = live
        if phase.name == "strategy":
            actions: dict[str, Action] = {a: WriteStrategy(strategy=f"plan of {a}") for a in live}
        else:
            actions = {a: policy(o) for a, o in live.items()}
        w.resolve(tick, phase, actions, rng, rec)
    return seen


# -- pairing -------------------------------------------------------------------------------


@pytest.mark.parametrize("half", [1, 2, 3, 6])
def test_pairing_everyone_once_roles_alternate_no_repeats(half: int) -> None:
    first = [f"a{i}" for i in range(half)]
    second = [f"b{i}" for i in range(half)]
    ordered: list[tuple[str, str]] = []
    for r in range(1, 2 * half + 1):
        pairs = round_pairs((first, second), r, game=1)
        donors = {d for d, _ in pairs}
        assert donors == set(first if r % 2 == 1 else second)  # roles alternate
        assert sorted(a for p in pairs for a in p) == sorted(first + second)  # each agent once
        ordered += pairs
    assert len(set(ordered)) == len(ordered) == 2 * half * half  # no ordered pair twice
    early = [frozenset(p) for r in range(1, half + 1) for p in round_pairs((first, second), r, 1)]
    assert len(set(early)) == len(early)  # first `half` rounds: nobody meets twice
    for r in range(1, 5):  # the second game reverses every pair
        game2 = round_pairs((first, second), r, game=2)
        assert game2 == [(b, a) for a, b in round_pairs((first, second), r, game=1)]


def test_config_needs_an_even_population() -> None:
    with pytest.raises(ValidationError, match="even"):
        DonorConfig(agents=5)


def test_personas_for_every_generation_with_stable_ids() -> None:
    config = DonorConfig()
    w, personas = DonorScenario().build(config, np.random.default_rng(0))
    ids = [p.id for p in personas]
    assert len(ids) == 12 + 9 * 6 == len(set(ids))
    assert ids == config.all_agent_ids()
    assert set(w.agent_ids()) == {f"g1_a{k}" for k in range(1, 13)}
    assert w.observe("g2_a1", 0, w.donate_phase) is None  # not alive yet
    assert w.num_ticks() == 10 * 2 * 12


# -- rules ---------------------------------------------------------------------------------


def test_payout_with_multiplier_and_resources_never_negative() -> None:
    w = world(agents=2, rounds=4, games_per_generation=1, generations=1, multiplier=3.0)
    rec = ListRecorder()
    rng = np.random.default_rng(0)
    (donor, recipient), *_ = w.pairs(0)
    seen = play(w, 0, lambda o: Donate(amount=4.0), rng, rec)
    assert set(seen["donate"]) == {donor}  # only the donor decides
    assert w.resources == {donor: 6.0, recipient: 22.0}  # 10 - 4 and 10 + 3 x 4
    out = rec.outcomes("donate")[-1]
    assert (out["given"], out["received"], out["fraction"]) == (4.0, 12.0, 0.4)
    # Asking for more than one has is invalid, as in the authors' code: nothing moves.
    play(w, 1, lambda o: Donate(amount=1000.0), rng, rec)
    assert w.resources == {donor: 6.0, recipient: 22.0}
    assert rec.outcomes("donate")[-1]["valid"] is False
    play(w, 2, give_share(1.0), rng, rec)  # giving everything leaves exactly 0
    assert w.resources[donor] == 0.0
    assert w.resources[recipient] == 22.0 + 18.0
    assert min(w.resources.values()) >= 0


def test_everyone_giving_everything_reaches_the_papers_maximum() -> None:
    # Section 4.1: "If all donors always donate 100% of their resources, average final
    # resources reaches its maximum possible value of 30,720." (12 agents, 12 rounds, 2x.)
    w = world(games_per_generation=1, generations=1)
    rec = ListRecorder()
    rng = np.random.default_rng(0)
    for tick in range(12):
        play(w, tick, give_share(1.0), rng, rec)
    (end,) = rec.outcomes("game_end")
    assert np.mean(list(end["resources"].values())) == pytest.approx(30720.0)


def test_trace_recurses_through_partners_and_is_capped() -> None:
    w = world(agents=6, rounds=6, games_per_generation=1, generations=1, trace_length=3)
    rec = ListRecorder()
    rng = np.random.default_rng(0)
    shares = {a: 0.1 * (i + 1) for i, a in enumerate(w.agent_ids())}
    lengths = []

    def policy(o: Observation) -> Action:
        return Donate(amount=round(shares[o.agent_id] * float(o.fields["resources"]), 2))

    for tick in range(6):
        donors = play(w, tick, policy, rng, rec)["donate"]
        traces = [o.fields["trace"] for o in donors.values()]
        lengths.append({len(t) for t in traces})
        for t in traces:  # most recent first, one round further back each step,
            assert [e["round"] for e in t] == list(range(tick, tick - len(t), -1))
            for newer, older in itertools.pairwise(t):  # through the partner chain
                assert newer["recipient"] == older["donor"]
        for o in donors.values():  # the first entry is what this recipient did last
            recipient = w.names[next(r for d, r in w.pairs(tick) if d == o.agent_id)]
            assert o.fields["recipient"] == recipient
            if tick > 0:
                assert o.fields["trace"][0]["donor"] == recipient
                assert f"In round {tick}, {recipient} gave up" in o.text
            else:
                assert f"{recipient} has no previous interactions." in o.text
    assert lengths == [{0}, {1}, {2}, {3}, {3}, {3}]  # 0, 1, 2, then 3 for all later rounds
    gifts = {(d["round"], w.names[d["donor"]]): d["given"] for d in rec.outcomes("donate")}
    for t in w.traces.values():  # trace entries report the actual gifts
        for e in t:
            assert e["amount"] == gifts[(e["round"], e["donor"])]


def test_trace_length_one_and_zero() -> None:
    for length in (0, 1):
        w = world(agents=4, rounds=4, games_per_generation=1, generations=1, trace_length=length)
        rec = ListRecorder()
        rng = np.random.default_rng(0)
        for tick in range(3):
            play(w, tick, give_share(0.5), rng, rec)
        obs = [w.observe(a, 3, w.donate_phase) for a in w.agent_ids()]
        traces = [o.fields["trace"] for o in obs if o is not None]
        assert {len(t) for t in traces} == {length}
        if length == 0:
            assert all("previous interactions" not in o.text for o in obs if o is not None)


def test_second_game_resets_and_reverses() -> None:
    w = world(agents=4, rounds=2, games_per_generation=2, generations=1)
    rec = ListRecorder()
    rng = np.random.default_rng(0)
    play(w, 0, give_share(0.5), rng, rec)
    play(w, 1, give_share(0.5), rng, rec)
    assert rec.outcomes("game_end")[0]["game"] == 1
    assert set(w.resources.values()) == {10.0}  # reset for game 2
    assert all(t == [] for t in w.traces.values())
    assert w.pairs(2) == [(r, d) for d, r in w.pairs(0)]
    assert [p.name for p in w.phases(2)] == ["donate"]  # no new strategies within a generation


def test_selection_keeps_the_richer_half_and_newcomers_write_strategies() -> None:
    w = world(agents=4, rounds=2, games_per_generation=1, generations=3)
    rec = ListRecorder()
    rng = np.random.default_rng(0)
    first_gen = list(w.agent_ids())
    generous = {first_gen[0], first_gen[1]}
    seen = play(w, 0, lambda o: Donate(amount=5.0 if o.agent_id in generous else 0.0), rng, rec)
    assert set(seen["strategy"]) == set(first_gen)  # generation 1: everyone writes one
    assert "Based on the description of the game" in seen["strategy"][first_gen[0]].text
    play(w, 1, lambda o: Donate(amount=5.0 if o.agent_id in generous else 0.0), rng, rec)
    (end,) = rec.outcomes("game_end")
    final = end["resources"]
    (sel,) = rec.outcomes("selection")
    richest = sorted(final, key=lambda a: -final[a])
    assert final[richest[1]] > final[richest[2]]  # the split is not a tie here
    assert set(sel["survivors"]) == set(richest[:2])
    assert set(sel["removed"]) == set(richest[2:])
    assert sel["newcomers"] == ["g2_a1", "g2_a2"]
    assert set(w.agent_ids()) == set(richest[:2]) | {"g2_a1", "g2_a2"}
    assert w.generation == 2
    assert [p.name for p in w.phases(2)] == ["strategy", "donate"]
    survivor = richest[0]
    assert w.observe(survivor, 2, w.strategy_phase) is None  # survivors keep their strategy
    newcomer = w.observe("g2_a1", 2, w.strategy_phase)
    assert newcomer is not None
    assert f"plan of {survivor}" in newcomer.text  # the survivors' strategies are transmitted
    assert {e["id"] for e in newcomer.fields["elders"]} == set(richest[:2])
    assert w.observe(richest[3], 2, w.donate_phase) is None  # the removed are gone
    seen = play(w, 2, give_share(0.5), rng, rec)
    assert set(seen["strategy"]) == {"g2_a1", "g2_a2"}
    strategies = [(k, f) for k, f in rec.events if k == "ReflectionEvent"]
    assert [f["actor"] for _, f in strategies][-2:] == ["g2_a1", "g2_a2"]
    assert all(f["phase"] == "strategy" for _, f in strategies)
    assert w.strategies[survivor] == f"plan of {survivor}"


def test_selection_ties_are_broken_by_the_rng() -> None:
    picks = set()
    for seed in range(8):
        w = world(agents=4, rounds=1, games_per_generation=1, generations=2)
        rec = ListRecorder()
        play(w, 0, lambda o: Donate(amount=0.0), np.random.default_rng(seed), rec)
        picks.add(frozenset(rec.outcomes("selection")[0]["survivors"]))
    assert len(picks) > 1


def test_costly_punishment_costs_x_and_takes_loss_times_x() -> None:
    w = world(agents=2, rounds=4, games_per_generation=1, generations=1, punishment=True)
    assert w.donate_phase.action_model is DonateOrPunish
    assert "punish" in w.rules_text
    rec = ListRecorder()
    rng = np.random.default_rng(0)
    (donor, recipient), *_ = w.pairs(0)
    play(w, 0, lambda o: DonateOrPunish(choice="punish", amount=3.0), rng, rec)
    assert w.resources == {donor: 7.0, recipient: 4.0}  # spends 3, takes 2 x 3
    out = rec.outcomes("donate")[-1]
    assert (out["punish_spent"], out["punish_taken"], out["given"]) == (3.0, 6.0, 0.0)
    assert out["fraction"] == 0.0  # a punishment is no donation
    # round 2: the other donates; round 3: punishing beyond what the recipient has stops at 0
    play(w, 1, lambda o: DonateOrPunish(choice="donate", amount=0.0), rng, rec)
    play(w, 2, lambda o: DonateOrPunish(choice="punish", amount=5.0), rng, rec)
    assert w.resources == {donor: 2.0, recipient: 0.0}
    obs = w.observe(recipient, 3, w.donate_phase)
    assert obs is not None
    assert f"{w.names[donor]} spent 5 units" in obs.text


def test_snapshot_restore_continues_identically() -> None:
    cfg: dict[str, Any] = {"agents": 4, "rounds": 3, "games_per_generation": 2, "generations": 3}
    a, b = world(**cfg), world(**cfg)
    rng_a, rng_b = np.random.default_rng(1), np.random.default_rng(1)
    rec = ListRecorder()
    for tick in range(8):
        play(a, tick, give_share(0.3), rng_a, rec)
        play(b, tick, give_share(0.3), rng_b, rec)
    fresh = world(**cfg)
    fresh.restore(a.snapshot())
    assert fresh.snapshot() == a.snapshot()
    for tick in range(8, 18):
        play(fresh, tick, give_share(0.3), rng_a, ListRecorder())
        play(b, tick, give_share(0.3), rng_b, ListRecorder())
    assert fresh.snapshot() == b.snapshot()


# -- scripted policy -----------------------------------------------------------------------


def request(phase: str, **fields: Any) -> LLMRequest:
    return LLMRequest(messages=(), context={"phase": phase, **fields})


def test_scripted_rules_round_trip_and_depend_on_the_trace() -> None:
    rule = Rule(base=40, high=70, low=5, threshold=50, punish_below=10, punish_share=20)
    assert Rule.parse(rule.text(punishment=True)) == rule
    assert Rule.parse("My strategy will be to be nice.") is None
    text = rule.text(punishment=False)
    rng = np.random.default_rng(0)

    def amount(trace: list[dict[str, Any]]) -> float:
        out = donor_policy(request("donate", strategy=text, resources=10.0, trace=trace), rng)
        return float(Donate.model_validate_json(out).amount)

    def entry(amount: float) -> dict[str, Any]:
        return {"round": 1, "action": "donate", "amount": amount, "resources": 10.0}

    assert amount([]) == 4.0  # base
    assert amount([entry(6.0)]) == 7.0  # they gave 60% >= 50%: high
    assert amount([entry(1.0)]) == 0.5  # they gave 10%: low
    out = donor_policy(
        request(
            "donate", strategy=rule.text(True), resources=10.0, trace=[entry(0.0)], punishment=True
        ),
        rng,
    )
    decision = DonateOrPunish.model_validate_json(out)
    assert (decision.choice, decision.amount) == ("punish", 2.0)


def test_scripted_newcomers_inherit_and_mutate_a_survivors_rule() -> None:
    parent = Rule(base=40, high=70, low=5, threshold=50)
    elders = [{"id": "g1_a1", "name": "1_1", "strategy": parent.text(False), "score": 9.0}]
    out = donor_policy(request("strategy", elders=elders), np.random.default_rng(3))
    child = Rule.parse(WriteStrategy.model_validate_json(out).strategy)
    assert child is not None
    assert abs(child.base - parent.base) <= 10
    assert abs(child.threshold - parent.threshold) <= 10
    fresh = {donor_policy(request("strategy"), np.random.default_rng(s)) for s in range(5)}
    assert len(fresh) > 1  # generation 1 draws varied strategies


# -- metrics -------------------------------------------------------------------------------


def outcome(seq: int, phase: str, **data: Any) -> Event:
    return OutcomeEvent(seq=seq, run_id="r", tick=0, wall_time=time.time(), phase=phase, data=data)


def donation(seq: int, generation: int, had: float, given: float, spent: float = 0.0) -> Event:
    return outcome(
        seq,
        "donate",
        generation=generation,
        donor="d",
        recipient="r",
        donor_resources=had,
        given=given,
        punish_spent=spent,
        valid=True,
    )


def test_metrics_match_hand_computed_values() -> None:
    events: list[Event] = [
        donation(0, 1, had=10.0, given=5.0),  # 0.5
        donation(1, 1, had=10.0, given=1.0),  # 0.1
        donation(2, 1, had=0.0, given=0.0),  # left out: nothing to give
        outcome(3, "game_end", generation=1, game=1, resources={"a": 10.0, "b": 30.0}),
        outcome(4, "game_end", generation=1, game=2, resources={"a": 0.0, "b": 40.0}),
        donation(5, 2, had=20.0, given=0.0, spent=4.0),  # a punishment: fraction 0
        donation(6, 2, had=8.0, given=6.0),  # 0.75
        outcome(7, "game_end", generation=2, game=1, resources={"a": 12.0, "c": 4.0}),
        ReflectionEvent(seq=8, run_id="r", tick=0, wall_time=0.0, phase="strategy", text="x"),
    ]
    m = donor_metrics(DonorConfig(), events)
    assert m["gen1_mean_resources"] == pytest.approx((20.0 + 20.0) / 2)
    assert m["gen1_donation_fraction"] == pytest.approx((0.5 + 0.1) / 2)
    assert m["gen1_punishments"] == 0
    assert m["gen2_mean_resources"] == pytest.approx(8.0)
    assert m["gen2_donation_fraction"] == pytest.approx((0.0 + 0.75) / 2)
    assert m["gen2_punishments"] == 1
    assert m["gen2_punishment_spent"] == 4.0
    assert m["final_mean_resources"] == pytest.approx(8.0)
    assert m["mean_donation_fraction"] == pytest.approx((0.5 + 0.1 + 0.0 + 0.75) / 4)
    assert m["punishments"] == 1
    assert m["punishment_spent"] == 4.0
    assert m["generations_played"] == 2
    assert m["invalid_action_rate"] == 0.0


def test_metrics_of_an_empty_run() -> None:
    m = donor_metrics(DonorConfig(initial_endowment=7.0), [])
    assert m["final_mean_resources"] == 7.0
    assert m["mean_donation_fraction"] == 0.0
    assert m["generations_played"] == 0


# -- end to end ----------------------------------------------------------------------------

SMALL = ["agents=4", "generations=3", "rounds=4"]


@pytest.fixture
def run_donor(tmp_path: Path) -> Callable[..., Path]:
    counter = {"n": 0}

    def _run(*sets: str, seed: int = 0) -> Path:
        if not any(s.startswith("schedule=") for s in sets):
            sets = ("schedule=paper_text", *sets)
        counter["n"] += 1
        out = tmp_path / f"run{counter['n']}"
        spec = load_spec("donor", list(sets), model="scripted", seed=seed)
        handle = prepare_run(spec.scenario, spec.config, spec.options, out)
        try:
            run_sync(handle)
        finally:
            handle.close()
        return out

    return _run


def test_scripted_run_end_to_end_metrics_come_from_the_store(
    run_donor: Callable[..., Path],
) -> None:
    out = run_donor(*SMALL, "punishment=true")
    store = RunStore.open(out, readonly=True)
    info = store.run_info()
    assert info["status"] == "completed"
    assert info["ticks_completed"] == 3 * 2 * 4
    stored = store.final_metrics()
    config = DonorConfig(agents=4, generations=3, rounds=4, punishment=True)
    events = store.events()
    assert stored == pytest.approx({**run_figures(events), **donor_metrics(config, events)})
    assert stored["generations_played"] == 3
    assert {"gen1_mean_resources", "gen3_donation_fraction", "gen2_punishments"} <= set(stored)
    assert stored["final_mean_resources"] == stored["gen3_mean_resources"]
    assert 0 < stored["mean_donation_fraction"] < 1
    # strategies: 4 in generation 1, then 2 newcomers per generation
    strategies = [e for e in events if isinstance(e, ReflectionEvent)]
    assert [e.actor for e in strategies][4:] == ["g2_a1", "g2_a2", "g3_a1", "g3_a2"]
    assert all(e.text.startswith("My strategy will be") for e in strategies)
    # calls: strategies + one decision per donor per round
    assert stored["llm_calls"] == 8 + 3 * 2 * 4 * 2
    assert stored["fallback_rate"] == 0.0
    store.close()


def test_same_seed_same_events(run_donor: Callable[..., Path]) -> None:
    a = RunStore.open(run_donor(*SMALL, seed=5), readonly=True)
    b = RunStore.open(run_donor(*SMALL, seed=5), readonly=True)
    assert first_difference(a.events(), b.events()) is None
    c = RunStore.open(run_donor(*SMALL, seed=6), readonly=True)
    assert first_difference(a.events(), c.events()) is not None
    for s in (a, b, c):
        s.close()


@pytest.mark.parametrize("stop_after", [5, 8])  # mid-generation; right after a selection
def test_resume_matches_an_uninterrupted_run(
    run_donor: Callable[..., Path], tmp_path: Path, stop_after: int
) -> None:
    out = tmp_path / "stopped"
    spec = load_spec("donor", SMALL, model="scripted", seed=2)
    handle = prepare_run(spec.scenario, spec.config, spec.options, out)

    def stop(p: Progress) -> None:
        if p.tick == stop_after:
            handle.simulation.request_stop()

    handle.simulation.on_progress = stop
    with pytest.raises(RunInterrupted):
        run_sync(handle)
    resumed = prepare_resume(out, get_scenario("donor"))
    assert resumed.start_tick == stop_after
    run_sync(resumed)
    a = RunStore.open(out, readonly=True)
    b = RunStore.open(run_donor(*SMALL, "schedule=authors_code", seed=2), readonly=True)
    assert first_difference(a.events(), b.events()) is None
    assert a.final_metrics() == b.final_metrics()
    a.close()
    b.close()


def test_every_donor_setting_is_documented() -> None:
    text = (DOCS / "scenarios" / "donor.md").read_text(encoding="utf-8")
    missing = [name for name in DonorConfig.model_fields if f"`{name}`" not in text]
    assert missing == []


# -- schedule: authors_code (aronvallinder/llm-donor-game, the notebook) -------------------


def authors(**cfg: Any) -> DonorWorld:
    return world(schedule="authors_code", **cfg)


def test_authors_schedule_is_the_default() -> None:
    assert DonorConfig().schedule == "authors_code"


def test_authors_roles_are_ababab_then_bababa_and_pairs_meet_twice() -> None:
    first, second = ["a1", "a2", "a3"], ["b1", "b2", "b3"]
    sides = []
    for r in range(1, 7):
        pairs = authors_round_pairs((first, second), r, game=1)
        sides.append("A" if pairs[0][0] in first else "B")
        # bipartiteRoundRobin (cell 10): B rotated by i = (r - 1) % 3
        i = (r - 1) % 3
        rotated = second[-i:] + second[:-i] if i else second
        assert sorted(frozenset(p) for p in pairs) == sorted(
            frozenset(p) for p in zip(first, rotated, strict=True)
        )
    assert "".join(sides) == "ABABAB"[:3] + "BAB"  # 3 per half: A B A, then B A B
    six = [authors_round_pairs((first, second), r, 1) for r in range(1, 7)]
    for i in range(3):  # extendRounds: round i + 3 is round i with the roles swapped
        assert six[i + 3] == [(r, d) for d, r in six[i]]
    for r in range(1, 7):  # the second game reverses every pair (cell 14, line 74)
        game2 = authors_round_pairs((first, second), r, 2)
        assert game2 == [(b, a) for a, b in six[r - 1]]


def test_authors_full_donation_caps_at_15360() -> None:
    # 12 agents, 12 rounds: ABABAB BABABA makes the B side donate in rounds 6 and 7 running,
    # so full donation doubles 11 times, not 12: 30 * 2**10 on one side, 0 on the other.
    w = authors(games_per_generation=1, generations=1)
    rec = ListRecorder()
    rng = np.random.default_rng(0)
    for tick in range(12):
        play(w, tick, give_share(1.0), rng, rec)
    (end,) = rec.outcomes("game_end")
    assert np.mean(list(end["resources"].values())) == pytest.approx(15360.0)
    assert max(end["resources"].values()) == pytest.approx(30720.0)


def test_authors_selection_ranks_twice_the_second_game() -> None:
    w = authors(agents=4, rounds=4, generations=2)
    rec = ListRecorder()
    rng = np.random.default_rng(0)
    keep = w.agent_ids()[0]

    def policy(o: Observation) -> Action:  # keep gives nothing in game 1, all in game 2
        game = int(o.fields["game"])
        if o.agent_id == keep:
            return Donate(amount=0.0 if game == 1 else float(o.fields["resources"]))
        return Donate(amount=0.5 * float(o.fields["resources"]))

    for tick in range(8):
        play(w, tick, policy, rng, rec)
    ends = {d["game"]: d["resources"] for d in rec.outcomes("game_end")}
    (selection,) = rec.outcomes("selection")
    assert selection["scores"] == {a: pytest.approx(2 * v) for a, v in ends[2].items()}
    ranked = sorted(ends[2], key=lambda a: -ends[2][a])
    assert set(selection["survivors"]) == set(ranked[:2])


def test_authors_newcomers_see_strategies_without_names_or_scores() -> None:
    w = authors(agents=4, rounds=4, generations=2)
    rec = ListRecorder()
    rng = np.random.default_rng(0)
    for tick in range(8):
        play(w, tick, give_share(0.5), rng, rec)
    (selection,) = rec.outcomes("selection")
    seen = play(w, 8, give_share(0.5), rng, rec)["strategy"]
    assert sorted(seen) == sorted(selection["newcomers"])
    text = next(iter(seen.values())).text
    for aid in selection["survivors"]:
        assert f"- plan of {aid}" in text
        assert w.names[aid] not in text
    assert "(" not in text.split("final scores.")[1]  # no "(score)" beside a strategy


def test_authors_invalid_amount_copies_the_recipients_trace() -> None:
    w = authors(agents=4, rounds=4, games_per_generation=1, generations=1)
    rec = ListRecorder()
    rng = np.random.default_rng(0)
    play(w, 0, give_share(0.5), rng, rec)
    play(w, 1, give_share(0.5), rng, rec)
    cheat = w.pairs(2)[0][0]
    recipient = w.pairs(2)[0][1]
    before = list(w.traces[recipient])

    def policy(o: Observation) -> Action:
        if o.agent_id == cheat:
            return Donate(amount=float(o.fields["resources"]) + 5)
        return Donate(amount=0.5 * float(o.fields["resources"]))

    play(w, 2, policy, rng, rec)
    invalid = [d for d in rec.outcomes("donate") if not d["valid"]]
    assert [d["donor"] for d in invalid] == [cheat]
    assert w.traces[cheat] == before  # no entry of its own (cell 13, lines 166-182)
    text = "\n".join(o.text for o in play(w, 3, give_share(0.5), rng, rec)["donate"].values())
    assert "tried to give more" not in text


def test_a_snapshot_from_before_the_schedule_option_resumes_under_paper_text() -> None:
    state = world(schedule="paper_text").snapshot()
    assert state.pop("schedule") == "paper_text"  # what a run of 0.1 stored
    w = authors()
    w.restore(state)
    assert w.config.schedule == "paper_text"
    w2 = authors()
    w2.restore(authors().snapshot())
    assert w2.config.schedule == "authors_code"
