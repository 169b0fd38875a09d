"""Interventions and surveys: experiment steps declared in the ``run:`` block.

```yaml
run:
  interventions:
    - tick: 3                      # applied at the start of tick 3
      set: {regen_factor: 1.5}     # world settings (the scenario decides which may change)
    - tick: 5
      message: "A storm has damaged half of the boats."   # told to the agents (memory)
      to: [fisher_1, fisher_2]     # default: everyone
    - tick: 6
      remove: [fisher_2]           # agents that stop observing and acting from this tick
      add:                         # new agents (Persona fields), taking part from this tick
        - {id: fisher_9, name: Ada, attributes: {disposition: greedy}}
  surveys:
    - tick: 6                      # asked at the end of tick 6, after its phases
      name: wellbeing
      agents: null                 # default: everyone
      questions:
        - {id: trust, type: likert, scale: 5, text: "How much do you trust the other fishers?"}
        - {id: plan, type: numeric, min: 0, max: 100, text: "How many tons next month?"}
        - {id: blame, type: choice, options: [nobody, me, others], text: "Who is to blame?"}
        - {id: feeling, type: text, text: "How do you feel about the lake?"}
```
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from societas.typing import Action, Persona

__all__ = [
    "Intervention",
    "Survey",
    "SurveyQuestion",
    "answer_model",
]


class Intervention(BaseModel):
    """Applied at the start of ``tick``, in this order: ``set``, ``remove``, ``add``,
    ``message`` (so agents added at a tick hear that tick's news)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tick: int = Field(ge=0, description="applied at the start of this tick")
    set: dict[str, Any] = Field(default_factory=dict, description="world settings to change")
    message: str | None = Field(default=None, max_length=2000, description="news for agents")
    to: list[str] | None = Field(default=None, description="agent ids told (default: all)")
    add: list[Persona] = Field(
        default_factory=list, max_length=10_000, description="new agents, from this tick on"
    )
    remove: list[str] = Field(
        default_factory=list, max_length=10_000, description="agent ids that leave at this tick"
    )

    @model_validator(mode="after")
    def _does_something(self) -> Self:
        if not self.set and self.message is None and not self.add and not self.remove:
            raise ValueError("an intervention needs 'set', 'message', 'add' or 'remove'")
        added = [p.id for p in self.add]
        if len(set(added)) != len(added):
            raise ValueError("'add' lists an agent id twice")
        if len(set(self.remove)) != len(self.remove):
            raise ValueError("'remove' lists an agent id twice")
        both = set(added) & set(self.remove)
        if both:
            raise ValueError(f"an id both added and removed: {sorted(both)[0]}")
        return self


class SurveyQuestion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64)
    text: str = Field(min_length=1, max_length=1000)
    type: Literal["likert", "numeric", "choice", "text"]
    scale: int = Field(default=5, ge=2, le=11, description="likert points, 1..scale")
    min: float | None = None
    max: float | None = None
    options: list[str] | None = None

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.type == "choice" and not self.options:
            raise ValueError("a choice question needs options")
        if self.type == "numeric" and (self.min is None or self.max is None):
            raise ValueError("a numeric question needs min and max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not exceed max")
        return self

    def hint(self) -> str:
        if self.type == "likert":
            return f"Answer with a whole number from 1 (not at all) to {self.scale} (completely)."
        if self.type == "numeric":
            return f"Answer with a number from {self.min:g} to {self.max:g}."
        if self.type == "choice":
            return "Answer with exactly one of: " + ", ".join(self.options or []) + "."
        return "Answer in one or two sentences, in character."


class Survey(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tick: int = Field(ge=0, description="asked at the end of this tick")
    name: str = Field(default="survey", pattern=r"^[A-Za-z0-9_\-]+$", max_length=64)
    agents: list[str] | None = Field(default=None, description="agent ids asked (default: all)")
    questions: list[SurveyQuestion] = Field(min_length=1)


class SurveyAnswer(Action):
    """Base of the per-question answer models."""

    action_type: ClassVar[str] = "survey_answer"


def answer_model(question: SurveyQuestion) -> type[SurveyAnswer]:
    """A typed answer model whose JSON schema constrains the model's reply."""
    field: Any
    if question.type == "likert":
        field = (int, Field(ge=1, le=question.scale))
    elif question.type == "numeric":
        field = (float, Field(ge=question.min, le=question.max))
    elif question.type == "choice":
        options = tuple(question.options or ())
        field = (Literal[options], ...)
    else:
        field = (str, Field(max_length=500))
    model: type[SurveyAnswer] = create_model(
        f"Answer_{question.id}", __base__=SurveyAnswer, answer=field
    )
    return model
