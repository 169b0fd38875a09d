"""Customer utility exactly as Magentic Marketplace computes it.

Source: microsoft/multi-agent-marketplace,
``packages/magentic-marketplace/src/magentic_marketplace/experiments/run_analytics.py``
(snapshot ``fdaf34d``): ``calculate_customer_utility`` (lines 384-442),
``filter_valid_proposal_items`` (lines 337-382, default ``fuzzy_match_distance = 0``: exact
names) and ``check_amenity_match`` (lines 295-315).

For each payment the proposal's total price is paid. The customer's needs are met if some paid
proposal holds every wanted item among the items that are on the seller's menu and the seller
offers every required amenity. Utility = (2 x the sum of the willingness to pay, if the needs
were met, once) - the sum of the payments, rounded to cents. Welfare (``total_utility``, lines
653-678) is the sum over customers; a customer who paid nothing has utility 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from societas.scenarios.market.data import Business, Customer

__all__ = ["PaidProposal", "customer_utility", "deterministic_baselines"]


class PaidProposal(Protocol):
    @property
    def business(self) -> str: ...

    @property
    def items(self) -> dict[str, float]: ...

    @property
    def total(self) -> float: ...


def customer_utility(
    customer: Customer, paid: Iterable[PaidProposal], businesses: Mapping[str, Business]
) -> tuple[float, bool]:
    """(utility, needs met) of one customer given the proposals it paid."""
    wanted = set(customer.menu_features)
    payments = 0.0
    needs_met = False
    for proposal in paid:
        business = businesses.get(proposal.business)
        if business is None:  # as the original: a payment to no known seller is skipped
            continue
        payments += proposal.total
        valid = set(proposal.items) & set(business.menu_features)
        if wanted <= valid and business.has_amenities(customer.amenity_features):
            needs_met = True
    score = 2 * sum(customer.menu_features.values()) if needs_met else 0.0
    return round(score - payments, 2), needs_met


def deterministic_baselines(
    customers: Iterable[Customer], businesses: Iterable[Business]
) -> tuple[float, float]:
    """(pick_cheapest, pick_optimal) welfare of these customers, by the rules of the original's
    ``data/data_generation_scripts/baseline_utilities.py`` (lines 14-30 and 97-134): among the
    businesses with every wanted item, a choice has utility 2 x sum(willingness to pay) -
    price if the business has every required amenity, else -price; pick_cheapest adds the
    utility of each business at the lowest price (ties all count, line 117), pick_optimal the
    best utility. A customer no business can serve adds nothing (the original asserts there is
    none). For the whole dataset these are the shipped constants; for a subset of customers
    (``customers: N``) they are the subset's."""
    sellers = list(businesses)
    cheapest = optimal = 0.0
    for customer in customers:
        wanted = list(customer.menu_features)
        worth = 2 * sum(customer.menu_features.values())
        offers = [
            (sum(b.menu_features[i] for i in wanted), b) for b in sellers if b.has_items(wanted)
        ]
        if not offers:
            continue
        lowest = min(price for price, _ in offers)
        utilities = [
            (worth - price if b.has_amenities(customer.amenity_features) else -price, price)
            for price, b in offers
        ]
        cheapest += sum(u for u, price in utilities if price == lowest)
        optimal += max(u for u, _ in utilities)
    return round(cheapest, 2), round(optimal, 2)
