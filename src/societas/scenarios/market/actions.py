"""The market's typed actions, after Magentic Marketplace's protocol.

Source: microsoft/multi-agent-marketplace,
``packages/magentic-marketplace/src/magentic_marketplace/marketplace/actions/actions.py``
(``Search`` lines 73-83, ``SendMessage`` lines 15-22, ``FetchMessages`` lines 25-43) and
``actions/messaging.py`` (``TextMessage`` lines 18-22, ``OrderProposal`` with ``OrderItem`` lines
9-43, ``Payment`` referencing a proposal lines 46-62); the customer's tools are
``search_businesses``, ``send_messages`` (text or pay), ``check_messages`` and
``end_transaction`` (``agents/customer/prompts.py`` lines 65-69).

An assistant takes one step a turn: search, message businesses, pay a proposal, wait (check
messages) or end. A service agent answers one conversation a turn with a text or an order
proposal; the proposal's total is the sum of its lines (the original asks the model for it).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from societas.typing import Action

__all__ = [
    "AssistantTurn",
    "End",
    "Pay",
    "ProposalItem",
    "Propose",
    "Search",
    "SendText",
    "ServiceTurn",
    "TextReply",
    "Wait",
]


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Search(_Step):
    """Search the market's businesses."""

    type: Literal["search"]
    query: str = Field(max_length=500, description="what to search for")
    page: int = Field(default=1, ge=1, le=100, description="result page")


class SendText(_Step):
    """Send a text message to one or more businesses (by id)."""

    type: Literal["message"]
    to: list[Annotated[str, Field(max_length=64)]] = Field(
        min_length=1, max_length=100, description="business ids"
    )
    text: str = Field(min_length=1, max_length=1000)


class Pay(_Step):
    """Accept a proposal by paying it."""

    type: Literal["pay"]
    proposal_id: str = Field(min_length=1, max_length=64, description="id of the proposal to pay")


class Wait(_Step):
    """Check messages: wait for the businesses' replies."""

    type: Literal["wait"]


class End(_Step):
    """End the transaction."""

    type: Literal["end"]


class AssistantTurn(Action):
    action_type = "assistant_turn"

    step: Annotated[Search | SendText | Pay | Wait | End, Field(discriminator="type")]


class ProposalItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_name: str = Field(min_length=1, max_length=200)
    quantity: int = Field(default=1, ge=1, le=20)
    unit_price: float = Field(ge=0, le=100_000)


class TextReply(_Step):
    """Answer with a text message."""

    type: Literal["text"]
    text: str = Field(min_length=1, max_length=1000)


class Propose(_Step):
    """Send an order proposal: items with quantities and unit prices."""

    type: Literal["proposal"]
    items: list[ProposalItem] = Field(min_length=1, max_length=20)
    note: str = Field(default="", max_length=500, description="special instructions, notes")


class ServiceTurn(Action):
    action_type = "service_turn"

    reply: Annotated[TextReply | Propose, Field(discriminator="type")]
