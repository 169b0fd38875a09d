"""Cluster inference: one model call per behaviour cluster, answered as a transition distribution.

After PhysicsAgentABM (Venkatesh, He, Li and Cui, "PhysicsAgentABM: Physics-Guided Generative
Agent-Based Modeling", arXiv 2602.06030, 2026), which moves inference from individual agents to
behaviourally coherent clusters: each cluster gets a distribution over the states its members
move to, and every member then realises its own transition by a draw. Here the states are a
person's behaviour in the coming week, ``isolate``, ``work`` (goes to the workplace in person)
or ``home`` (neither), and the clusters are unions of archetypes:

* **Which archetypes merge.** Every archetype (a cell of the chosen ``archetype_keys``) has a
  behaviour profile: the fixed rule's distribution over the three states for that cell (the
  mechanistic prior); a cell whose members have no job by its keys (occupation "none", income
  unemployed or outside the labour force) never works, so its profile is (isolate, 0, home).
  Cells with the same profile are one point; when there are more distinct points than
  ``clusters``, Ward's agglomerative clustering (``scipy.cluster.hierarchy``) merges them into
  at most ``clusters`` groups. The map is a pure function of the configuration (no random draw
  at all, so it is the same for every seed, shard and resume); clusters are numbered by their
  smallest archetype code.
* **What is asked.** Each week, one query per non-empty cluster: who is in it (the values of
  each key among its members) and what its representative sees (borough, cases, trend): the
  most numerous archetype with a job, or the most numerous one if nobody in it has a job.
* **How the answer is applied.** The answer (isolate, work, home), three shares that need not
  add up exactly (elicited shares often do not) but must not all be 0, is normalised and
  becomes the archetype tables the week already draws from:
  P(isolate) = isolate and P(work | a job, not isolating) = work / (work + home). A member with no
  job (or whose workplace is shut) who would "work" stays home. Every member of a cluster draws
  from the same row: the transition does not depend on last week's state.

This differs from PhysicsAgentABM in what it leaves out: ANCHOR, its clustering, probes an LLM
with cross-contextual scenarios and trains embeddings with a contrastive loss; here the
behaviour profile comes from the fixed rule, with no call. There is no neural transition model
or epistemic fusion: the model's answer is used as it is (the fixed rule is only the fallback).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import numpy as np
from numpy.typing import NDArray
from pydantic import Field, model_validator
from scipy.cluster.hierarchy import fcluster, linkage

from societas.kit import Action, Observation
from societas.scenarios.epidemic.behaviour import heuristic_action, week_situation

__all__ = [
    "Transition",
    "cluster_map",
    "cluster_persona",
    "cluster_question",
    "rule_transition",
    "transition_fallback",
    "transition_tables",
]

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]


class Transition(Action):
    """A cluster's answer: the share of its members in each behaviour state this week."""

    action_type = "transition"
    isolate: float = Field(ge=0.0, le=1.0, description="share who isolate at home this week")
    work: float = Field(ge=0.0, le=1.0, description="share who go to their workplace in person")
    home: float = Field(ge=0.0, le=1.0, description="share who stay home without isolating")

    @model_validator(mode="after")
    def _some_share(self) -> Self:
        # Any other answer within the bounds is a distribution once normalised, so every
        # schema-valid answer but this one is usable (a schema-filling test model included).
        if self.isolate + self.work + self.home <= 0.0:
            raise ValueError("isolate, work and home are all 0: at least one share must be > 0")
        return self

    def normalised(self) -> tuple[float, float, float]:
        total = self.isolate + self.work + self.home
        return self.isolate / total, self.work / total, self.home / total


def rule_transition(p_isolate: F64, p_work: F64) -> F64:
    """The fixed rule's (isolate, work, home) per row, from P(isolate) and P(work | a job)."""
    stay = 1.0 - p_isolate
    out: F64 = np.stack([p_isolate, stay * p_work, stay * (1.0 - p_work)], axis=1)
    return out


def transition_tables(dist: F64) -> tuple[F64, F64]:
    """P(isolate) and P(work | a job, not isolating) per row of (isolate, work, home)."""
    iso = dist[:, 0]
    rest = dist[:, 1] + dist[:, 2]
    work = np.divide(dist[:, 1], rest, out=np.zeros_like(rest), where=rest > 0)
    return iso, work


def cluster_map(profiles: F64, clusters: int) -> I64:
    """The cluster of every archetype code (rows of ``profiles``): identical profiles share a
    cluster; more distinct profiles than ``clusters`` are merged by Ward linkage. Clusters
    are numbered 0.. by their smallest code."""
    rounded = np.round(profiles, 9)
    points, inverse = np.unique(rounded, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    if points.shape[0] <= clusters:
        label = inverse
    else:
        tree = linkage(points, method="ward")
        label = np.asarray(fcluster(tree, t=clusters, criterion="maxclust"), dtype=np.int64)[
            inverse
        ]
    # Renumber by the smallest code in each cluster.
    found, first = np.unique(label, return_index=True)
    rank = np.empty(found.shape[0], dtype=np.int64)
    rank[np.argsort(first)] = np.arange(found.shape[0])
    out: I64 = rank[np.searchsorted(found, label)]
    return out


def cluster_persona(spans: dict[str, list[tuple[str, int]]], size: int) -> str:
    """Who the cluster is: for each key, the values among its members (most numerous first)."""
    parts = [f"{size} people in New York City"]
    words = {
        "age": "aged",
        "borough": "living in",
        "occupation": "occupation",
        "trend": "local cases",
        "income": "income situation",
    }
    for key, values in spans.items():
        shown = ", ".join(f"{v} ({n})" for v, n in values[:6])
        more = f" and {len(values) - 6} more" if len(values) > 6 else ""
        parts.append(f"{words[key]}: {shown}{more}")
    return "You speak for a group of " + "; ".join(parts) + "."


def cluster_question(week: int, place: str, per_100k: float, trend: str) -> str:
    return week_situation(week, place, per_100k, trend) + (
        "Split your group's members with a job into three shares for this week: those who "
        "isolate at home (isolate), those who go to work in person (work) and those who stay "
        "home without isolating (home). Answer with three numbers between 0 and 1 that sum "
        "to 1."
    )


def transition_fallback(observation: Observation) -> Transition:
    """The fixed rule for the cluster's representative archetype."""
    return rule_action(dict(observation.fields))


def rule_action(fields: dict[str, Any]) -> Transition:
    rule = heuristic_action(fields)
    dist = rule_transition(np.asarray([rule.isolate]), np.asarray([rule.work]))[0]
    iso, work = round(float(dist[0]), 4), round(float(dist[1]), 4)
    return Transition(isolate=iso, work=work, home=round(1.0 - iso - work, 4))


def spans(
    cols: dict[str, I64], sizes: I64, labels: dict[str, Sequence[str]], keys: Sequence[str]
) -> dict[str, list[tuple[str, int]]]:
    """For each key, the (value, members) among the given archetypes, most numerous first."""
    out: dict[str, list[tuple[str, int]]] = {}
    for key in keys:
        counts = np.bincount(cols[key], weights=sizes, minlength=len(labels[key]))
        order = np.argsort(-counts, kind="stable")
        out[key] = [(labels[key][i], int(counts[i])) for i in order if counts[i] > 0]
    return out
