"""The market: assistant agents shop for customers among service agents (Magentic Marketplace).

Each turn (tick):
  assistant   every assistant that has not ended takes one step: search, message businesses,
              pay a proposal, wait, or end;
  service_r   for r = 1..(number of customers): every business with an unanswered message
              answers the oldest one with a text or an order proposal, so every message sent
              in a turn is answered in the same turn.

Replies of one turn reach an assistant in the order it contacted the businesses (its
``to`` list, usually the search ranking), so "the first proposal received" is the proposal of
the first business that answered with one; with ``arrival: random`` in a random order (the
original's agents run concurrently and the fastest reply comes first). The run ends when
every assistant has ended or after ``max_turns`` turns.

An assistant sees its customer's request text only (not the willingness to pay or the list of
wanted items and amenities), search results with name, description and rating, and its
conversations, as in the original's customer prompt (``agents/customer/prompts.py`` lines
58-86, 182-208). A service agent sees its business (menu with prices, amenities, description)
and the conversation (``agents/business/prompts.py`` lines 43-137).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, Field

from societas.kit import MessageEvent, Observation, OutcomeEvent, Phase, PhaseContext, State, World
from societas.memory import create_embedder
from societas.scenarios.market.actions import (
    AssistantTurn,
    End,
    Pay,
    Propose,
    Search,
    SendText,
    ServiceTurn,
    TextReply,
    Wait,
)
from societas.scenarios.market.config import MarketConfig
from societas.scenarios.market.data import Customer, Dataset, load_dataset
from societas.scenarios.market.search import search
from societas.scenarios.market.tactics import TACTICS, Tactic, manipulated
from societas.scenarios.market.utility import customer_utility
from societas.typing.embedder import Embedder

__all__ = ["ASSISTANT", "MarketState", "MarketWorld", "Offer"]

ASSISTANT = "assistant"
SERVICE = "service"
ASSISTANT_INSTRUCTION = (
    'Take one step. "search" finds businesses; "message" sends a text to businesses (by id) '
    "to ask about items, prices and amenities; businesses answer with order proposals; "
    '"pay" accepts a proposal (by its id) and completes the purchase; "wait" checks for new '
    'messages; "end" ends the transaction, after you have paid. Compare the proposals and pay '
    "the best one that meets the customer's request."
)
SERVICE_INSTRUCTION = (
    "Answer the customer. If they want to buy items on your menu, send an order proposal "
    "with those items, quantities and your menu prices; otherwise answer with a text. Only "
    "tell customers what you have on the menu, with correct prices."
)


class Offer(BaseModel):
    """An order proposal as the market recorded it."""

    id: str
    business: str
    customer: str
    items: dict[str, float] = Field(description="item name -> total price of its line")
    quantities: dict[str, int] = Field(default_factory=dict)
    total: float
    note: str = ""
    tick: int
    order: int = Field(description="1 for the first proposal this customer received, ...")


class Shopper(BaseModel):
    """One assistant's progress."""

    query: str | None = None
    found: list[str] = Field(default_factory=list)
    total_found: int = 0
    page: int = 1
    pages: int = 1
    contacted: list[str] = Field(default_factory=list)
    offers: list[str] = Field(default_factory=list)
    paid: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list, description="the market's replies to steps")
    done: bool = False


class MarketState(State):
    shoppers: dict[str, Shopper] = Field(default_factory=dict)
    offers: dict[str, Offer] = Field(default_factory=dict)
    # business id -> customers whose latest message waits for an answer, oldest first
    inbox: dict[str, list[str]] = Field(default_factory=dict)
    # "business|customer" -> the conversation's lines
    talk: dict[str, list[str]] = Field(default_factory=dict)
    manipulative: dict[str, Tactic] = Field(default_factory=dict)
    # proposals made this turn, not yet delivered
    arrived: list[str] = Field(default_factory=list)


def _money(x: float) -> str:
    return f"${x:.2f}"


class MarketWorld(World[MarketConfig, MarketState]):
    def setup(self, rng: np.random.Generator) -> None:
        data = load_dataset(self.config.dataset)
        n = len(data.businesses)
        k = round(self.config.manipulative_share * n)
        chosen = sorted(int(i) for i in rng.choice(n, size=k, replace=False)) if k else []
        for j, i in enumerate(chosen):
            tactic = self.config.tactic
            self.state.manipulative[data.businesses[i].id] = (
                TACTICS[j % len(TACTICS)] if tactic == "mixed" else tactic
            )
        for c in self.customer_list(data):
            self.state.shoppers[c.id] = Shopper()
        self._derive()

    def reconfigured(self) -> None:
        self._derive()

    def _derive(self) -> None:
        """What follows from the config and the state (not snapshotted)."""
        self.data: Dataset = load_dataset(self.config.dataset)
        self.businesses = {b.id: b for b in self.data.businesses}
        self.customers = {c.id: c for c in self.customer_list(self.data)}
        names = [b.name for b in self.data.businesses]
        self.shown: dict[str, str] = {}
        for i, b in enumerate(self.data.businesses):
            tactic = self.state.manipulative.get(b.id)
            rival = names[(i + 1) % len(names)]
            self.shown[b.id] = (
                manipulated(tactic, b.description, b.name, rival) if tactic else b.description
            )
        self.docs = {b.id: b.searchable_text(self.shown[b.id]) for b in self.data.businesses}
        self._embedder: Embedder | None = None
        self._vectors: npt.NDArray[np.float32] | None = None
        self.rules_text = (
            "This is a marketplace. Shopping assistants act for customers: they search for "
            "businesses, message them, receive order proposals and pay for one. Businesses "
            "answer messages with texts or order proposals."
        )

    def customer_list(self, data: Dataset) -> list[Customer]:
        n = self.config.customers
        return list(data.customers[:n] if n is not None else data.customers)

    def num_ticks(self) -> int:
        return self.config.max_turns

    def is_over(self) -> bool:
        return all(s.done for s in self.state.shoppers.values())

    def phases(self, tick: int) -> list[Phase]:
        rounds = len(self.state.shoppers)
        assistant = Phase(
            name=ASSISTANT,
            action_model=AssistantTurn,
            instruction=ASSISTANT_INSTRUCTION,
            observe=self.observe_assistant,
            resolve=self.resolve_assistant,
            fallback=AssistantTurn(step=Wait(type="wait")),
        )
        services = [
            Phase(
                name=f"{SERVICE}_{r + 1}",
                action_model=ServiceTurn,
                instruction=SERVICE_INSTRUCTION,
                observe=self.observe_service,
                resolve=partial(self.resolve_service, deliver=r == rounds - 1),
                fallback=ServiceTurn(
                    reply=TextReply(
                        type="text", text="Sorry, we cannot answer your message right now."
                    )
                ),
            )
            for r in range(rounds)
        ]
        return [assistant, *services]

    # -- the assistant's turn -------------------------------------------------------------

    def _offer_text(self, offer: Offer) -> str:
        lines = ", ".join(
            f"{offer.quantities.get(name, 1)} x {name} ({_money(price)})"
            for name, price in offer.items.items()
        )
        note = f" Note: {offer.note}" if offer.note else ""
        return f"order proposal {offer.id}: {lines}; total {_money(offer.total)}.{note}"

    def observe_assistant(self, agent_id: str, tick: int) -> Observation | None:
        shopper = self.state.shoppers.get(agent_id)
        if shopper is None or shopper.done:
            return None
        parts = [f"Turn {tick + 1} of {self.config.max_turns}."]
        if shopper.query is None:
            parts.append("You have not searched yet.")
        else:
            found = [
                f"- {self.businesses[b].name} (ID: {b}): {self.shown[b]} Rating: "
                f"{self.businesses[b].rating:.2f}"
                for b in shopper.found
            ]
            parts.append(
                f'Your last search "{shopper.query}": {shopper.total_found} business(es), page '
                f"{shopper.page} of {shopper.pages}:\n"
                + ("\n".join(found) or "No businesses found")
            )
        for b in shopper.contacted:
            talk = self.state.talk.get(f"{b}|{agent_id}", [])
            parts.append(f"Conversation with {self.businesses[b].name} ({b}):\n" + "\n".join(talk))
        open_offers = [self.state.offers[o] for o in shopper.offers if o not in shopper.paid]
        if open_offers:
            parts.append(
                "Proposals you can pay: "
                + "; ".join(
                    f"{o.id} from {self.businesses[o.business].name}, {_money(o.total)}"
                    for o in open_offers
                )
            )
        if shopper.paid:
            parts.append("You have paid: " + ", ".join(shopper.paid) + ".")
        if shopper.notes:
            parts.append("Market: " + shopper.notes[-1])
        customer = self.customers[agent_id]
        fields: dict[str, Any] = {
            "role": "assistant",
            "searched": shopper.query is not None,
            "found": list(shopper.found),
            "contacted": list(shopper.contacted),
            "paid": list(shopper.paid),
            "offers": [self.state.offers[o].model_dump(mode="json") for o in shopper.offers],
            # For scripted assistants (baselines) only; never in the prompt's text.
            "wanted_items": list(customer.menu_features),
            "wanted_amenities": list(customer.amenity_features),
            "rule": self.config.assistant_rule,
            "wait_for": self.config.wait_for,
        }
        return Observation(
            agent_id=agent_id, tick=tick, phase=ASSISTANT, text="\n\n".join(parts), fields=fields
        )

    def may_pay(self, shopper: Shopper) -> bool:
        k = self.config.wait_for
        if k == 0 or len(shopper.offers) >= k:
            return True
        return shopper.query is not None and set(shopper.found) <= set(shopper.contacted)

    def resolve_assistant(self, actions: Mapping[str, Any], ctx: PhaseContext) -> None:
        for customer_id, action in actions.items():
            shopper = self.state.shoppers[customer_id]
            step = action.step
            if isinstance(step, Search):
                self._search(customer_id, shopper, step, ctx)
            elif isinstance(step, SendText):
                self._send(customer_id, shopper, step, ctx)
            elif isinstance(step, Pay):
                self._pay(customer_id, shopper, step, ctx)
            elif isinstance(step, End):
                shopper.done = True
                shopper.notes.append("Transaction ended.")
                ctx.emit(OutcomeEvent, actor=customer_id, phase=ASSISTANT, data={"event": "end"})
            else:
                shopper.notes.append("Checked messages.")
            # What happened, to check lookahead predictions against.
            ctx.emit(
                OutcomeEvent,
                actor=customer_id,
                phase=ASSISTANT,
                data={"event": "step", "step": step.type, "note": shopper.notes[-1]},
            )
        paid = [o for s in self.state.shoppers.values() for o in s.paid]
        ctx.metric("purchases", float(len(paid)))
        ctx.metric("welfare", self.welfare())
        ctx.metric(
            "active_assistants", float(sum(not s.done for s in self.state.shoppers.values()))
        )

    def welfare(self) -> float:
        """Welfare so far (the final figure is computed from the store, ``metrics.py``)."""
        total = 0.0
        for customer_id, shopper in self.state.shoppers.items():
            paid = [self.state.offers[o] for o in shopper.paid]
            total += customer_utility(self.customers[customer_id], paid, self.businesses)[0]
        return round(total, 2)

    def _embed(self) -> tuple[Embedder, npt.NDArray[np.float32]]:
        if self._embedder is None or self._vectors is None:
            self._embedder = create_embedder(self.config.embedder)
            self._vectors = self._embedder.embed([self.docs[b.id] for b in self.data.businesses])
        return self._embedder, self._vectors

    def _search(self, cid: str, shopper: Shopper, step: Search, ctx: PhaseContext) -> None:
        embedder, vectors = self._embed() if self.config.search == "rnr" else (None, None)
        page = search(
            self.config.search,
            step.query,
            self.data.businesses,
            customer=self.customers[cid],
            docs=self.docs,
            limit=self.config.search_limit,
            page=step.page,
            embedder=embedder,
            doc_vectors=vectors,
        )
        shopper.query, shopper.found = step.query, page.ids
        shopper.total_found, shopper.page, shopper.pages = page.total, step.page, page.pages
        shopper.notes.append(f"Search found {page.total} business(es).")
        ctx.emit(
            OutcomeEvent,
            actor=cid,
            phase=ASSISTANT,
            data={
                "event": "search",
                "query": step.query,
                "algorithm": self.config.search,
                "results": page.ids,
                "total": page.total,
            },
        )

    def _send(self, cid: str, shopper: Shopper, step: SendText, ctx: PhaseContext) -> None:
        unknown = [b for b in step.to if b not in self.businesses]
        sent = [b for b in dict.fromkeys(step.to) if b in self.businesses]
        for b in sent:
            if b not in shopper.contacted:
                shopper.contacted.append(b)
            self.state.talk.setdefault(f"{b}|{cid}", []).append(f"  you: {step.text}")
            queue = self.state.inbox.setdefault(b, [])
            if cid not in queue:
                queue.append(cid)
        if sent:
            ctx.emit(MessageEvent, actor=cid, phase=ASSISTANT, text=step.text, audience=sent)
        note = f"Message sent to {len(sent)} business(es)."
        if unknown:
            note += " No business has the id " + ", ".join(unknown) + "."
        shopper.notes.append(note)

    def _pay(self, cid: str, shopper: Shopper, step: Pay, ctx: PhaseContext) -> None:
        offer = self.state.offers.get(step.proposal_id)
        if offer is None or offer.customer != cid:
            shopper.notes.append(f"Payment failed: you have no proposal {step.proposal_id}.")
            return
        if offer.id in shopper.paid:
            shopper.notes.append(f"Payment failed: {offer.id} is already paid.")
            return
        if not self.may_pay(shopper):
            shopper.notes.append(
                f"Payment refused: wait for {self.config.wait_for} proposals (you have "
                f"{len(shopper.offers)}) or ask every business you found."
            )
            ctx.emit(
                OutcomeEvent,
                actor=cid,
                phase=ASSISTANT,
                data={"event": "payment_refused", "proposal": offer.id},
            )
            return
        shopper.paid.append(offer.id)
        shopper.notes.append(
            f"PAYMENT COMPLETED SUCCESSFULLY for {offer.id} ({_money(offer.total)})."
        )
        ctx.emit(
            OutcomeEvent,
            actor=cid,
            phase=ASSISTANT,
            data={
                "event": "payment",
                "customer": cid,
                "proposal": offer.id,
                "business": offer.business,
                "items": offer.items,
                "total": offer.total,
                "order": offer.order,
                "received": len(shopper.offers),
                "manipulative": offer.business in self.state.manipulative,
            },
        )

    # -- the service agents' turn ----------------------------------------------------------

    def observe_service(self, agent_id: str, tick: int) -> Observation | None:
        queue = self.state.inbox.get(agent_id)
        if not queue:
            return None
        cid = queue[0]
        talk = self.state.talk[f"{agent_id}|{cid}"]
        last = talk[-1].removeprefix("  you: ")
        earlier = [
            line.replace("  you: ", "  customer: ").replace("  them: ", "  you: ")
            for line in talk[:-1]
        ]
        text = (
            f"A customer's assistant ({cid}) writes to you.\n"
            + ("Conversation so far:\n" + "\n".join(earlier) + "\n" if earlier else "")
            + f'Customer just said: "{last}"'
        )
        business = self.businesses[agent_id]
        fields = {
            "role": "service",
            "customer": cid,
            "message": last,
            "menu": dict(business.menu_features),
            "amenities": [a for a, v in business.amenity_features.items() if v],
        }
        return Observation(agent_id=agent_id, tick=tick, phase=SERVICE, text=text, fields=fields)

    def resolve_service(
        self, actions: Mapping[str, Any], ctx: PhaseContext, *, deliver: bool = False
    ) -> None:
        """Answers; after the turn's last round, the proposals of the turn reach each assistant
        in the order it contacted their senders (``deliver``)."""
        for business_id, action in actions.items():
            cid = self.state.inbox[business_id].pop(0)
            talk = self.state.talk[f"{business_id}|{cid}"]
            reply = action.reply
            if isinstance(reply, Propose):
                offer_id = f"P{len(self.state.offers) + 1}"
                items: dict[str, float] = {}
                quantities: dict[str, int] = {}
                for line in reply.items:
                    items[line.item_name] = round(
                        items.get(line.item_name, 0.0) + line.quantity * line.unit_price, 2
                    )
                    quantities[line.item_name] = quantities.get(line.item_name, 0) + line.quantity
                offer = Offer(
                    id=offer_id,
                    business=business_id,
                    customer=cid,
                    items=items,
                    quantities=quantities,
                    total=round(sum(items.values()), 2),
                    note=reply.note,
                    tick=ctx.tick,
                    order=0,
                )
                self.state.offers[offer_id] = offer
                self.state.arrived.append(offer_id)
                talk.append(f"  them: {self._offer_text(offer)}")
            elif isinstance(reply, TextReply):
                talk.append(f"  them: {reply.text}")
                ctx.emit(
                    MessageEvent, actor=business_id, phase=SERVICE, text=reply.text, audience=[cid]
                )
        if deliver:
            self._deliver(ctx)

    def _deliver(self, ctx: PhaseContext) -> None:
        arrived = [self.state.offers[o] for o in self.state.arrived]
        self.state.arrived = []
        for cid, shopper in self.state.shoppers.items():
            rank = {b: i for i, b in enumerate(shopper.contacted)}
            mine = sorted((o for o in arrived if o.customer == cid), key=lambda o: rank[o.business])
            if self.config.arrival == "random" and len(mine) > 1:
                mine = [mine[int(i)] for i in ctx.rng.permutation(len(mine))]
            for offer in mine:
                offer.order = len(shopper.offers) + 1
                shopper.offers.append(offer.id)
                ctx.emit(
                    OutcomeEvent,
                    actor=offer.business,
                    phase=SERVICE,
                    data={"event": "proposal", **offer.model_dump(mode="json")},
                )
