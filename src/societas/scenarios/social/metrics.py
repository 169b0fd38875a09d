"""The social scenario's metrics, computed from a run's events (never from live objects).

The cascade table is rebuilt from the ``PopulationStepEvent`` columns (every post, repost and
comment, seeds included: ``post`` = post_id, ``actor`` = author, ``parent`` (-1 for an
original post), ``root``, and the event's tick); the seeds' post ids come from the
``OutcomeEvent``s of phase ``seed``. Cascade, power-law, polarization and socialization
measures are those of ``societas.analysis.social_metrics`` (docs/metrics/social.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from societas.analysis.social_metrics import (
    attitude_summary,
    cascade_stats,
    collective_consensus,
    fit_power_law,
    individual_inertia,
    influence_persistence,
    lexical_turnover,
    semantic_stabilization,
)
from societas.memory.embedders import HashingEmbedder
from societas.scenarios.social.actions import COMMENT, POST, REPOST
from societas.scenarios.social.config import SocialConfig
from societas.typing import (
    ActionEvent,
    ConfigError,
    Event,
    GroupDecisionEvent,
    LLMCall,
    OutcomeEvent,
    PopulationStepEvent,
    TickCompleted,
    WorldState,
)

__all__ = ["cascade_table", "post_texts", "seed_records", "social_metrics"]

_SPREAD = (POST, REPOST, COMMENT)


def cascade_table(events: Sequence[Event]) -> pd.DataFrame:
    """post_id, author, parent_post (NA for a root), root_post, tick: one row per post."""
    parts: list[pd.DataFrame] = []
    for e in events:
        if not isinstance(e, PopulationStepEvent) or not e.columns.get("post"):
            continue
        cols = e.columns
        action = np.asarray(cols["action"], dtype=np.int64)
        keep = np.isin(action, _SPREAD)
        if not keep.any():
            continue
        parent = np.asarray(cols["parent"], dtype=np.int64)[keep]
        parts.append(
            pd.DataFrame(
                {
                    "post_id": np.asarray(cols["post"], dtype=np.int64)[keep],
                    "author": np.asarray(cols["actor"], dtype=np.int64)[keep],
                    "parent_post": pd.arrays.IntegerArray(np.maximum(parent, 0), parent < 0),
                    "root_post": np.asarray(cols["root"], dtype=np.int64)[keep],
                    "tick": np.full(int(keep.sum()), e.tick, dtype=np.int64),
                }
            )
        )
    if not parts:
        return pd.DataFrame(
            {
                "post_id": pd.Series([], dtype=np.int64),
                "author": pd.Series([], dtype=np.int64),
                "parent_post": pd.Series([], dtype="Int64"),
                "root_post": pd.Series([], dtype=np.int64),
                "tick": pd.Series([], dtype=np.int64),
            }
        )
    return pd.concat(parts, ignore_index=True)


def seed_records(events: Sequence[Event]) -> list[dict[str, Any]]:
    """The seed posts: seed index, post_id, author, followers, label, topic, text, tick."""
    return [e.data for e in events if isinstance(e, OutcomeEvent) and e.phase == "seed"]


def post_texts(events: Sequence[Event]) -> pd.DataFrame:
    """author, tick, text of the texts written: full-mind users' posts and comments, and each
    group's typical post (author: -1 - group number) when it is used."""
    rows: list[tuple[int, int, str]] = []
    group_ids: dict[str, int] = {}
    for e in events:
        if isinstance(e, ActionEvent) and e.data.get("action") in ("post", "comment"):
            text = str(e.data.get("text", "")).strip()
            if text and e.actor:
                rows.append((int(e.actor.rsplit("_", 1)[1]), e.tick, text))
        elif isinstance(e, GroupDecisionEvent):
            text = str(e.data.get("text", "")).strip()
            if text and int(e.data.get("post", 0)) > 0:
                gid = group_ids.setdefault(e.key, len(group_ids))
                rows.append((-1 - gid, e.tick, text))
    return pd.DataFrame(rows, columns=["author", "tick", "text"])


def _power_law(sizes: np.ndarray[Any, Any]) -> tuple[float, float]:
    if sizes.size < 10 or np.unique(sizes).size < 2:
        return math.nan, math.nan
    try:
        fit = fit_power_law(sizes, min_tail=10)
    except ConfigError:
        return math.nan, math.nan
    return float(fit.alpha), float(fit.xmin)


def social_metrics(config: SocialConfig, events: Sequence[Event]) -> dict[str, float]:
    table = cascade_table(events)
    stats = cascade_stats(table)
    out: dict[str, float] = {}
    seeds = seed_records(events)
    roots = stats["root_post"].to_numpy(dtype=np.int64)  # sorted by cascade_stats
    columns = {
        c: stats[c].to_numpy(dtype=np.float64)
        for c in ("size", "depth", "max_breadth", "structural_virality")
    }
    seed_rows = np.searchsorted(roots, [int(s["post_id"]) for s in seeds])
    for s, row in zip(seeds, seed_rows.tolist(), strict=True):
        i = int(s["seed"])
        for c, values in columns.items():
            out[f"seed{i}_{c}"] = float(values[row])
    if seeds:
        out["seed_mean_size"] = float(columns["size"][seed_rows].mean())
        out["seed_mean_depth"] = float(columns["depth"][seed_rows].mean())
    sizes = stats["size"].to_numpy(dtype=np.int64)
    out["cascades"] = float(sizes.size)
    out["cascade_mean_size"] = float(sizes.mean()) if sizes.size else 0.0
    out["cascade_max_size"] = float(sizes.max()) if sizes.size else 0.0
    out["cascade_share_spread"] = float((sizes > 1).mean()) if sizes.size else 0.0
    alpha, xmin = _power_law(sizes)
    out["cascade_size_alpha"] = alpha
    out["cascade_size_xmin"] = xmin
    states = [e.state for e in events if isinstance(e, WorldState) and e.phase == "tick"]
    if states:
        last = states[-1]
        sample = np.asarray(last.get("attitude_sample", []), dtype=np.float64)
        if sample.size >= 4:
            summary = attitude_summary(sample)
            out["polarization"] = summary["polarization"]
            out["attitude_bimodality"] = summary["bimodality"]
        out["mean_attitude"] = float(last["mean_attitude"])
        out["sd_attitude"] = float(last["sd_attitude"])
        for name, share in dict(last["emotion"]).items():
            out[f"emotion_{name}"] = float(share)
        out["mean_active"] = float(np.mean([s["active"] for s in states]))
    if table.shape[0] and table["tick"].nunique() >= 2:
        out["influence_persistence"] = influence_persistence(table).summary
    texts = post_texts(events)
    if texts.shape[0] and texts["tick"].nunique() >= 2:
        out["lexical_turnover"] = lexical_turnover(texts).summary
        # The embedding-based socialization measures use the hashing embedder: deterministic,
        # no model files, the same in every process (docs/metrics/social.md).
        embedder = HashingEmbedder()
        for name, measure in (
            ("semantic_stabilization", semantic_stabilization),
            ("individual_inertia", individual_inertia),
            ("collective_consensus", collective_consensus),
        ):
            value = measure(texts, embedder).summary
            if not math.isnan(value):
                out[name] = value
    ticks = [e for e in events if isinstance(e, TickCompleted)]
    calls = sum(1 for e in events if isinstance(e, LLMCall))
    out["llm_calls"] = float(calls)
    out["llm_calls_per_tick"] = calls / len(ticks) if ticks else 0.0
    out["groups_per_tick"] = (
        sum(1 for e in events if isinstance(e, GroupDecisionEvent)) / len(ticks) if ticks else 0.0
    )
    return out
