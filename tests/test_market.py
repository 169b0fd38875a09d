"""The market scenario (Magentic Marketplace): data, search, utility, scripted baselines."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from societas.engine import RunOptions, prepare_run, run_sync
from societas.experiments import load_experiment
from societas.scenarios.market import MarketConfig, MarketScenario
from societas.scenarios.market.data import BUNDLED, DATASETS, load_dataset
from societas.scenarios.market.metrics import prediction_accuracy
from societas.scenarios.market.search import search, shingle_overlap
from societas.scenarios.market.tactics import TACTICS
from societas.scenarios.market.utility import customer_utility, deterministic_baselines
from societas.scenarios.market.world import MarketWorld, Offer, Shopper
from societas.store import RunStore
from societas.typing import (
    ConfigError,
    LLMCall,
    OutcomeEvent,
    PlanEvent,
    PredictionEvent,
    VetoEvent,
)

SHARED = Path(__file__).resolve().parents[2] / "shared/data/marketplace"  # ../shared
EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


def run(tmp_path: Path, name: str = "r", **settings: Any) -> tuple[dict[str, float], list[Any]]:
    config = MarketConfig(**settings)
    out = tmp_path / name
    metrics = run_sync(prepare_run(MarketScenario(), config, RunOptions(model="scripted"), out))
    events = RunStore.open(out, readonly=True).events()
    return dict(metrics), list(events)


@pytest.mark.skipif(not SHARED.exists(), reason="shared/data/marketplace not beside the repo")
@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_datasets_are_the_shared_copies(name: str) -> None:
    """The bundled files are byte-identical to the checked copies of the original's data."""
    ours = sorted(p.relative_to(DATASETS / name) for p in (DATASETS / name).rglob("*.*"))
    theirs = sorted(p.relative_to(SHARED / name) for p in (SHARED / name).rglob("*.*"))
    assert ours == theirs
    for rel in ours:
        a = hashlib.sha256((DATASETS / name / rel).read_bytes()).hexdigest()
        assert a == hashlib.sha256((SHARED / name / rel).read_bytes()).hexdigest()


def test_dataset_loads_with_baselines() -> None:
    data = load_dataset("mexican_3_9")
    assert (len(data.customers), len(data.businesses)) == (3, 9)
    assert data.baselines is not None
    assert data.baselines.pick_cheapest == pytest.approx(63.78)
    assert data.customers[0].menu_features["Savory Pumpkin Empanadas"] == 9.49


def test_unknown_dataset_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="dataset"):
        load_dataset("no_such_market")


def test_shingle_overlap() -> None:
    # Character 4-shingles of " taco " are " tac", "taco", "aco ": all in the document.
    assert shingle_overlap("Taco!", "Best taco place") == 1.0
    assert shingle_overlap("taco", "burrito") == 0.0
    assert 0 < shingle_overlap("taco bowl", "a taco") < 1


def test_search_algorithms() -> None:
    data = load_dataset("mexican_3_9")
    customer = data.customers[0]
    docs = {b.id: b.searchable_text() for b in data.businesses}
    kw: dict[str, Any] = {"customer": customer, "docs": docs, "limit": 4}
    simple = search("simple", "anything", data.businesses, **kw)
    assert simple.ids == [b.id for b in data.businesses[:4]]
    assert simple.total == 9
    assert simple.pages == 3
    optimal = search("optimal", "", data.businesses, **kw)
    assert all(data.business(b).has_items(list(customer.menu_features)) for b in optimal.ids)
    assert optimal.total == 3
    name = data.businesses[4].name
    assert search("filtered", name, data.businesses, **kw).ids == [data.businesses[4].id]
    lexical = search("lexical", name, data.businesses, **kw)
    assert lexical.ids[0] == data.businesses[4].id
    assert lexical.total == 9
    with_amenity = search("filtered", "", data.businesses, amenities=["Free Wifi"], **kw)
    assert all(data.business(b).amenity_features["Free Wifi"] for b in with_amenity.ids)


def test_rnr_search_retrieves_by_embedding(tmp_path: Path) -> None:
    metrics, events = run(tmp_path, search="rnr", embedder="hashing")
    searches = [
        e.data for e in events if isinstance(e, OutcomeEvent) and e.data["event"] == "search"
    ]
    assert searches
    assert all(s["algorithm"] == "rnr" and s["total"] == 9 for s in searches)
    assert metrics["welfare"] == pytest.approx(63.78)


def test_utility_as_the_original() -> None:
    data = load_dataset("mexican_3_9")
    businesses = {b.id: b for b in data.businesses}
    customer = data.customers[0]  # wants 2 items, WTP 3.99 + 9.49, Outdoor Seating
    b1 = data.business("business_0001")  # has both items and Outdoor Seating

    def offer(items: dict[str, float], business: str = "business_0001") -> Offer:
        return Offer(
            id="P1",
            business=business,
            customer=customer.id,
            items=items,
            total=round(sum(items.values()), 2),
            tick=0,
            order=1,
        )

    full = {i: b1.menu_features[i] for i in customer.menu_features}
    assert customer_utility(customer, [offer(full)], businesses) == (
        round(2 * (3.99 + 9.49) - sum(full.values()), 2),
        True,
    )
    # Overpaying lowers utility one for one; paying twice counts both payments, the match once.
    dear = {k: v + 5 for k, v in full.items()}
    assert customer_utility(customer, [offer(dear)], businesses)[0] == pytest.approx(
        2 * (3.99 + 9.49) - sum(dear.values())
    )
    two = customer_utility(customer, [offer(full), offer(full)], businesses)
    assert two[0] == pytest.approx(2 * (3.99 + 9.49) - 2 * sum(full.values()))
    # A missing item: the payment is lost, nothing is gained.
    part = {"Savory Pumpkin Empanadas": 10.78}
    assert customer_utility(customer, [offer(part)], businesses) == (-10.78, False)
    # Items not on the seller's menu do not count.
    fake = {**part, "Pineapple Jalapeno Agua Fresca": 1.0}
    no_agua = next(
        b for b in data.businesses if "Pineapple Jalapeno Agua Fresca" not in b.menu_features
    )
    assert customer_utility(customer, [offer(fake, no_agua.id)], businesses)[1] is False
    assert customer_utility(customer, [], businesses) == (0.0, False)


@pytest.mark.parametrize(
    ("dataset", "rule", "baseline"),
    [
        ("mexican_3_9", "pick_cheapest", "pick_cheapest"),
        ("mexican_3_9", "pick_optimal", "pick_optimal"),
        ("mexican_10_30", "pick_cheapest", "pick_cheapest"),
        ("mexican_10_30", "pick_optimal", "pick_optimal"),
        ("mexican_33_99", "pick_optimal", "pick_optimal"),
    ],
)
def test_scripted_assistants_reproduce_the_shipped_baselines(
    tmp_path: Path, dataset: str, rule: str, baseline: str
) -> None:
    """The shipped constants (baseline_utilities.json) come back when the scripted assistants
    use the same rule: 63.78 for pick-cheapest on mexican_3_9."""
    metrics, _ = run(tmp_path, dataset=dataset, assistant_rule=rule, search="optimal")
    expected = getattr(load_dataset(dataset).baselines, baseline)
    assert metrics["welfare"] == pytest.approx(expected, abs=0.005)
    assert metrics[f"welfare_vs_{baseline}"] == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("dataset", BUNDLED)
def test_the_baseline_rules_give_the_shipped_constants(dataset: str) -> None:
    data = load_dataset(dataset)
    assert data.baselines is not None
    cheapest, optimal = deterministic_baselines(data.customers, data.businesses)
    assert cheapest == pytest.approx(data.baselines.pick_cheapest, abs=0.005)
    assert optimal == pytest.approx(data.baselines.pick_optimal, abs=0.005)


def test_a_subset_of_customers_is_measured_against_its_own_baselines(tmp_path: Path) -> None:
    metrics, _ = run(
        tmp_path,
        dataset="mexican_10_30",
        customers=4,
        assistant_rule="pick_optimal",
        search="optimal",
    )
    data = load_dataset("mexican_10_30")
    cheapest, optimal = deterministic_baselines(data.customers[:4], data.businesses)
    assert optimal < data.baselines.pick_optimal  # type: ignore[union-attr]
    assert metrics["baseline_pick_optimal"] == optimal
    assert metrics["baseline_pick_cheapest"] == cheapest
    assert metrics["welfare"] == pytest.approx(optimal, abs=0.005)
    assert metrics["welfare_vs_pick_optimal"] == pytest.approx(1.0, abs=1e-4)
    assert "welfare_vs_pick_any" not in metrics


def test_pick_cheapest_on_the_default_market_is_63_78(tmp_path: Path) -> None:
    metrics, _ = run(tmp_path)  # lexical search, 10 results: all 9 businesses
    assert metrics["welfare"] == 63.78
    assert metrics["purchases"] == 3
    assert metrics["needs_met_share"] == 1.0
    assert metrics["proposals_per_purchase"] == 3.0


def test_first_proposal_bias_and_its_cost(tmp_path: Path) -> None:
    first, _ = run(
        tmp_path, "first", assistant_rule="pick_first", dataset="mexican_10_30", search="optimal"
    )
    best, _ = run(
        tmp_path, "best", assistant_rule="pick_optimal", dataset="mexican_10_30", search="optimal"
    )
    assert first["first_proposal_share"] == 1.0
    assert best["first_proposal_share"] < 1.0
    assert first["speed_cost"] > 0
    assert best["speed_cost"] == 0
    assert first["welfare"] == pytest.approx(best["welfare"] - first["speed_cost"], abs=0.01)


def test_wait_for_refuses_early_payments(tmp_path: Path) -> None:
    config = MarketConfig(wait_for=2)
    world = MarketWorld(
        config,
        MarketScenario().personas(config, np.random.default_rng(0)),
        np.random.default_rng(0),
    )
    shopper = Shopper(query="tacos", found=["business_0001", "business_0002"], offers=["P1"])
    shopper.contacted = ["business_0001"]
    assert not world.may_pay(shopper)  # one proposal, one business found but not asked
    shopper.contacted.append("business_0002")
    assert world.may_pay(shopper)  # every business found was asked
    assert world.may_pay(Shopper(offers=["P1", "P2"]))
    assert MarketWorld(MarketConfig(), [], np.random.default_rng(0)).may_pay(Shopper())
    # Scripted assistants ask everyone they found first, so the rule never stops them.
    assert run(tmp_path, search_limit=2, wait_for=5)[0]["purchases"] == 3


def test_wait_for_holds_a_hasty_shopper_back(tmp_path: Path) -> None:
    """A shopper that asks one seller at a time and buys as soon as it may takes the
    best-ranked seller's proposal (as pick_first does, for fewer calls); made to wait for three
    proposals it holds all the sellers of its items and reaches the optimum."""
    first, _ = run(tmp_path, "first", dataset="mexican_10_30", assistant_rule="pick_first")
    hasty, _ = run(tmp_path, "hasty", dataset="mexican_10_30", assistant_rule="hasty")
    assert hasty["welfare"] == first["welfare"] == pytest.approx(142.43, abs=0.005)
    assert hasty["proposals_per_purchase"] == 1.0
    assert hasty["calls_per_transaction"] < first["calls_per_transaction"]
    patient, events = run(
        tmp_path, "patient", dataset="mexican_10_30", assistant_rule="hasty", wait_for=3
    )
    assert patient["welfare"] == pytest.approx(185.61, abs=0.005)
    assert patient["proposals_per_purchase"] == 3.0
    assert patient["calls_per_transaction"] > hasty["calls_per_transaction"]
    outcomes = [e.data["event"] for e in events if isinstance(e, OutcomeEvent)]
    assert "payment_refused" not in outcomes  # it waits by itself; the world's rule agrees
    assert outcomes.count("payment") == 10


def test_manipulative_sellers(tmp_path: Path) -> None:
    metrics, _events = run(
        tmp_path,
        dataset="mexican_10_30",
        manipulative_share=0.2,
        tactic="mixed",
        assistant_rule="pick_optimal",
    )
    assert metrics["manipulative_seller_share"] == pytest.approx(6 / 30)
    # Scripted assistants never read descriptions: welfare is the optimum all the same.
    assert metrics["welfare"] == pytest.approx(185.61, abs=0.005)
    assert 0.0 <= metrics["manipulation_success_rate"] <= 1.0
    snap = RunStore.open(tmp_path / "r", readonly=True)
    state = snap.latest_snapshot()
    assert state is not None
    chosen = state[2]["world"]["state"]["manipulative"]
    assert len(chosen) == 6
    assert set(chosen.values()) == set(TACTICS)


def test_bad_setting_names_the_field() -> None:
    with pytest.raises(ValueError, match="search"):
        MarketConfig.model_validate({"search": "google"})


def test_same_seed_same_events(tmp_path: Path) -> None:
    _, a = run(tmp_path, "a", assistant_rule="pick_any", dataset="mexican_10_30")
    _, b = run(tmp_path, "b", assistant_rule="pick_any", dataset="mexican_10_30")
    strip = {"wall_time", "run_id", "latency_ms"}
    assert [{k: v for k, v in e.model_dump().items() if k not in strip} for e in a] == [
        {k: v for k, v in e.model_dump().items() if k not in strip} for e in b
    ]


def test_modes_apply_to_assistants_only(tmp_path: Path) -> None:
    metrics, events = run(tmp_path, assistant_mode="guardrail")
    vetoes = [e for e in events if isinstance(e, VetoEvent)]
    assert vetoes
    assert metrics["vetoes"] == len(vetoes)
    assert {e.actor for e in vetoes} <= {"customer_0001", "customer_0002", "customer_0003"}
    plans = [e for e in events if isinstance(e, PlanEvent)]
    assert plans
    assert all(str(e.actor).startswith("customer_") for e in plans)
    calls = [e for e in events if isinstance(e, LLMCall) and e.purpose.startswith("guardrail")]
    assert calls
    basic, _ = run(tmp_path, "basic")
    assert "vetoes" not in basic


def testprediction_accuracy_against_the_market_reply() -> None:
    base: dict[str, Any] = {"run_id": "r", "wall_time": 0.0, "tick": 2, "actor": "customer_0001"}
    step = OutcomeEvent(
        seq=1,
        phase="assistant",
        data={"event": "step", "step": "pay", "note": "PAYMENT COMPLETED SUCCESSFULLY for P3."},
        **base,
    )
    right = PredictionEvent(
        seq=2,
        phase="assistant",
        candidate={},
        predicted="The payment completed.",
        score=8,
        chosen=True,
        **base,
    )
    wrong = right.model_copy(update={"predicted": "The business refused; I must wait for more."})
    ignored = right.model_copy(update={"chosen": False, "predicted": "Search found nothing"})
    good = prediction_accuracy([step, right, ignored])
    bad = prediction_accuracy([step, wrong])
    assert good["predictions"] == 1
    assert good["prediction_outcome_accuracy"] == 1.0
    assert bad["prediction_outcome_accuracy"] == 0.0
    assert good["prediction_similarity"] > bad["prediction_similarity"]


def test_proposals_arrive_in_contact_order(tmp_path: Path) -> None:
    """A turn's proposals reach an assistant in the order it contacted their senders (the
    search ranking for the scripted assistant): order 1 is the highest-ranked proposer."""
    _, events = run(tmp_path, dataset="mexican_10_30", assistant_rule="pick_first")
    outcomes = [e for e in events if isinstance(e, OutcomeEvent)]
    searches = [e for e in outcomes if e.data["event"] == "search"]
    assert len(searches) == 10
    for search_event in searches:
        ranking = search_event.data["results"]
        offers = [
            e.data
            for e in outcomes
            if e.data["event"] == "proposal" and e.data["customer"] == search_event.actor
        ]
        assert offers
        by_rank = sorted(offers, key=lambda d: ranking.index(d["business"]))
        assert [d["order"] for d in by_rank] == list(range(1, len(offers) + 1))


def test_random_arrival_shuffles_the_turns_proposals(tmp_path: Path) -> None:
    ranked, _ = run(tmp_path, "ranked", dataset="mexican_10_30", assistant_rule="pick_first")
    shuffled, events = run(
        tmp_path,
        "shuffled",
        dataset="mexican_10_30",
        assistant_rule="pick_first",
        arrival="random",
    )
    orders = [
        e.data["order"]
        for e in events
        if isinstance(e, OutcomeEvent) and e.data["event"] == "proposal"
    ]
    assert sorted(orders) != orders  # not in contact order any more
    assert shuffled["welfare"] != ranked["welfare"]
    best, _ = run(
        tmp_path, "best", dataset="mexican_10_30", assistant_rule="pick_optimal", arrival="random"
    )
    assert best["welfare"] == pytest.approx(185.61, abs=0.005)  # order does not matter to it


def test_messages_and_calls_per_transaction(tmp_path: Path) -> None:
    """mexican_3_9, pick-cheapest: each assistant searches, messages the 9 businesses in one
    message, pays, ends (4 calls); the 9 businesses answer each customer once (27 calls), the
    6 with none of its items by a text (18 texts), the 3 others by a proposal."""
    data = load_dataset("mexican_3_9")
    texts = sum(
        not set(c.menu_features) & set(b.menu_features)
        for c in data.customers
        for b in data.businesses
    )
    assert texts == 18
    metrics, events = run(tmp_path)
    assert metrics["purchases"] == 3
    assert metrics["proposals"] == 9
    assert metrics["messages_per_transaction"] == (3 + texts) / 3 == 7.0
    assert metrics["calls_per_transaction"] == (3 * 4 + 3 * 9) / 3 == 13.0
    assert metrics["calls_per_transaction"] == sum(isinstance(e, LLMCall) for e in events) / 3


def test_manipulation_success_rate_counts_payments_to_manipulative_sellers(
    tmp_path: Path,
) -> None:
    everyone, _ = run(tmp_path, "all", manipulative_share=1.0, tactic="authority")
    assert everyone["manipulative_seller_share"] == 1.0
    assert everyone["manipulation_success_rate"] == 1.0
    assert "manipulation_success_rate" not in run(tmp_path, "none")[0]
    metrics, events = run(
        tmp_path,
        "some",
        dataset="mexican_10_30",
        manipulative_share=0.34,
        tactic="mixed",
        assistant_rule="pick_first",
        arrival="random",
    )
    state = RunStore.open(tmp_path / "some", readonly=True).latest_snapshot()
    assert state is not None
    manipulative = set(state[2]["world"]["state"]["manipulative"])
    assert len(manipulative) == round(0.34 * 30)
    paid = [
        e.data["business"]
        for e in events
        if isinstance(e, OutcomeEvent) and e.data["event"] == "payment"
    ]
    assert paid
    share = sum(b in manipulative for b in paid) / len(paid)
    assert 0 < share < 1
    assert metrics["manipulation_success_rate"] == share


MARKET_FILES = sorted(EXPERIMENTS.glob("market-*.yaml"))


@pytest.mark.parametrize("path", MARKET_FILES, ids=lambda p: p.stem)
def test_every_market_experiment_file_is_a_valid_grid(path: Path) -> None:
    spec = load_experiment(path)
    assert spec.scenario == "market"
    for condition in spec.conditions():
        settings = {**spec.base, **condition.overrides}
        settings.pop("run", None)
        MarketConfig.model_validate(settings)


def test_every_condition_of_the_issue_has_a_scripted_experiment_file() -> None:
    """Dataset size, search, consideration set, proposals waited for, manipulative sellers
    and the assistants' mode each vary in a shipped experiment that runs on the scripted
    model (issue 16)."""
    varied: set[str] = set()
    for path in MARKET_FILES:
        spec = load_experiment(path)
        if spec.base.get("run", {}).get("model") == "scripted":
            varied |= set(spec.grid)
    assert varied >= {
        "dataset",
        "search",
        "search_limit",
        "wait_for",
        "manipulative_share",
        "assistant_mode",
        "assistant_rule",
    }
