"""A token budget for the model calls of one tick (in ``teams``, one task), which the Gateway
enforces: the matched-budget design of Kim et al. 2025 ("Towards a Science of Scaling Agent
Systems") and of the budgeted phase-transition analysis, where every organisation of agents
gets the same total tokens per task.

Calls of a phase run at once, so a call reserves what it may cost before it starts: its
prompt (estimated from its characters, ``CHARS_PER_TOKEN``, on the high side) plus its
completion, whose ``max_tokens`` is cut to what is left. A call that cannot get at least
``MIN_COMPLETION`` tokens is refused (the decision falls back with reason ``budget``). When a
call ends its reservation is replaced by the tokens it really used, as the backend counted
them. The run-level budget (``run.budget``, money and calls over a whole run) is separate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from societas.typing import LLMRequest

__all__ = ["CHARS_PER_TOKEN", "MIN_COMPLETION", "TickBudget", "prompt_estimate"]

# English BPE vocabularies average about four characters a token; three over-counts the prompt,
# so reservations err on the side of the budget.
CHARS_PER_TOKEN = 3
MIN_COMPLETION = 16


def prompt_estimate(request: LLMRequest) -> int:
    chars = sum(len(m.content) for m in request.messages)
    return math.ceil(chars / CHARS_PER_TOKEN)


@dataclass
class TickBudget:
    """Tokens (prompt + completion) that all calls of one tick may use together."""

    tokens: int
    spent: int = 0
    reserved: int = 0
    refused: int = 0

    @property
    def left(self) -> int:
        return self.tokens - self.spent - self.reserved

    def admit(self, request: LLMRequest) -> tuple[LLMRequest, int] | None:
        """The request with its ``max_tokens`` cut to what is left, and the tokens reserved
        for it; None when it cannot get ``MIN_COMPLETION`` tokens (refused)."""
        prompt = prompt_estimate(request)
        room = self.left - prompt
        if room < MIN_COMPLETION:
            self.refused += 1
            return None
        completion = min(request.sampling.max_tokens, room)
        if completion < request.sampling.max_tokens:
            sampling = request.sampling.model_copy(update={"max_tokens": completion})
            request = request.model_copy(update={"sampling": sampling})
        self.reserved += prompt + completion
        return request, prompt + completion

    def settle(self, reservation: int, used: int) -> None:
        """A call ended: its reservation becomes the tokens it used."""
        self.reserved -= reservation
        self.spent += used
