"""The market scenario: Magentic Marketplace's two-sided market (Bansal et al. 2025).

Assistant agents shop for customers among service agents on the original's datasets; see
``docs/scenarios/market.md``.
"""

from __future__ import annotations

import numpy as np

from societas.kit import Persona, RunData, Scenario
from societas.mind.config import MindConfig
from societas.scenarios.market.config import MarketConfig
from societas.scenarios.market.data import Business, Customer, load_dataset
from societas.scenarios.market.metrics import market_metrics
from societas.scenarios.market.scripted import market_policy
from societas.scenarios.market.world import MarketWorld
from societas.typing.scenario import ScriptedPolicy

__all__ = ["MarketConfig", "MarketScenario", "MarketWorld", "assistant_persona", "service_persona"]


def assistant_persona(customer: Customer) -> Persona:
    """The assistant of a customer: it knows the request text only (the original's customer
    system prompt, ``agents/customer/prompts.py`` lines 58-63)."""
    return Persona(
        id=customer.id,
        name=f"agent-{customer.name} ({customer.id})",
        backstory=(
            f"You are an autonomous agent working for customer {customer.name} "
            f"({customer.id}). They have the following request: {customer.request} "
            "You do NOT have access to the customer directly; fulfil the request with the "
            "steps available to you."
        ),
        attributes={"role": "assistant"},
    )


def service_persona(business: Business) -> Persona:
    """The service agent of a business: its menu, amenities and description (the original's
    business prompt, ``agents/business/prompts.py`` lines 43-97)."""
    menu = "\n".join(f"  - {item}: ${price:.2f}" for item, price in business.menu_features.items())
    amenities = "\n".join(
        f"  - {a}: {'Yes' if v else 'No'}" for a, v in sorted(business.amenity_features.items())
    )
    return Persona(
        id=business.id,
        name=f"the owner of {business.name}",
        backstory=(
            "You are a business owner responding to customer inquiries. Be helpful, "
            f"professional, and try to make a sale.\nYour business: {business.name}. "
            f"Description: {business.description}\nAmenities:\n{amenities}\n"
            f"Menu items and prices:\n{menu}"
        ),
        attributes={"role": "service"},
    )


class MarketScenario(Scenario[MarketConfig]):
    name = "market"
    world = MarketWorld

    def personas(self, config: MarketConfig, rng: np.random.Generator) -> list[Persona]:
        data = load_dataset(config.dataset)
        customers = data.customers[: config.customers] if config.customers else data.customers
        return [assistant_persona(c) for c in customers] + [
            service_persona(b) for b in data.businesses
        ]

    def scripted_policy(self, config: MarketConfig) -> ScriptedPolicy:
        return market_policy

    def mind_config(self, config: MarketConfig) -> MindConfig | None:
        """Generative minds for the assistants in the chosen mode (none for ``basic``).
        Importance rating and reflection are off: a shopping trip is a few turns, and the
        observation already holds the whole conversation."""
        if config.assistant_mode == "basic":
            return None
        return MindConfig(
            mode=config.assistant_mode,
            roles=("assistant",),
            rate_importance=False,
            reflection=False,
            lookahead_k=config.lookahead_k,
            guardrail_policy=config.guardrail_policy,
        )

    def metrics(self, config: MarketConfig, run: RunData) -> dict[str, float]:
        return market_metrics(config, run.events)
