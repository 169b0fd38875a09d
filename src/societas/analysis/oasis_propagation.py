"""OASIS's propagation measures and their normalised RMSE against a real cascade.

Definitions follow camel-ai/oasis (commit 46cdc8d), ``visualization/twitter_simulation/
align_with_real_world/code/``:

- the propagation graph (``graph.py`` lines 33-99): the source post's author is the root
  (time 0); every repost "X repost from Y" adds the node X (time: the repost's creation
  minute, first appearance only) and the edge Y -> X;
- per minute t = 0 .. (last node's minute + 3) - 1 (``graph.py`` lines 101-105, 151-152,
  197-200), on the subgraph of the nodes whose time is <= t (``graph_utils.py`` lines
  32-46): **scale** is its number of nodes (``graph.py`` 201-210), **depth** the longest
  distance from the root (``graph_utils.get_dpeth``, lines 20-28), **max breadth** the
  largest number of nodes at one distance 1..depth from the root (``graph.py`` 235-260);
- each series is padded with its last value to 300 minutes and cut to the first 150
  (``result_ana_mse.py`` lines 38-46 and 94-96); a simulation without any repost counts as
  zeros (lines 55-60); the real series likewise (lines 64-71, padded and cut the same way);
- the loss of one topic is sqrt(mean((sim - real)^2)) / max(real) (lines 130-133), then
  averaged over topics (line 138).

Time: OASIS stamps a post of time step k (1-based) with minute 3k
(``examples/experiment/twitter_simulation/align_with_real_world/twitter_simulation_large.py``
lines 146-147); here a repost made in tick k (0-based) is at minute (k + 1) x
``minutes_per_tick``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from societas.typing import ConfigError, Event, PopulationStepEvent

__all__ = [
    "METRICS",
    "PropagationTree",
    "load_real_series",
    "nrmse",
    "propagation_series",
    "repost_tree",
]

METRICS = ("scale", "depth", "max_breadth")
PAD_TO = 300  # result_ana_mse.py line 40
MINUTES = 150  # result_ana_mse.py lines 94-96
_REPOST = 2  # societas.scenarios.social.actions.REPOST (kept here: analysis sits below)

FloatArray = npt.NDArray[np.float64]


class PropagationTree:
    """Users reached through reposts of one source post: minute and depth of each."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.minute: dict[int, float] = {root: 0.0}
        self.depth: dict[int, int] = {root: 0}

    def add(self, user: int, source_user: int, minute: float) -> None:
        """``user`` reposted from ``source_user`` at ``minute``; a user enters once."""
        if user in self.minute:
            return
        self.minute[user] = minute
        self.depth[user] = self.depth.get(source_user, 0) + 1

    @property
    def reposts(self) -> int:
        return len(self.minute) - 1


def repost_tree(
    events: Sequence[Event], *, source_post: int, root_author: int, minutes_per_tick: float
) -> PropagationTree:
    """The repost tree of ``source_post`` from a social run's ``PopulationStepEvent``s."""
    author_of: dict[int, int] = {source_post: root_author}
    tree = PropagationTree(root_author)
    for e in sorted((e for e in events if isinstance(e, PopulationStepEvent)), key=lambda e: e.seq):
        cols = e.columns
        posts = cols.get("post") or []
        if not posts:
            continue
        for post, actor, action, parent, root in zip(
            posts, cols["actor"], cols["action"], cols["parent"], cols["root"], strict=True
        ):
            if int(post) >= 0:
                author_of[int(post)] = int(actor)
            if int(action) == _REPOST and int(root) == source_post and int(parent) >= 0:
                source_user = author_of.get(int(parent), root_author)
                tree.add(int(actor), source_user, (e.tick + 1) * minutes_per_tick)
    return tree


def propagation_series(tree: PropagationTree) -> dict[str, FloatArray]:
    """Scale, depth and max breadth per minute, padded to 300 and cut to 150 minutes.

    Without any repost OASIS's graph building fails and the topic counts as zeros."""
    if tree.reposts == 0:
        return {m: np.zeros(MINUTES) for m in METRICS}
    users = list(tree.minute)
    minutes = np.asarray([tree.minute[u] for u in users], dtype=np.float64)
    depths = np.asarray([tree.depth[u] for u in users], dtype=np.int64)
    end = int(minutes.max() + 3)
    scale: list[float] = []
    depth: list[float] = []
    breadth: list[float] = []
    for t in range(end):
        inside = minutes <= t
        d = depths[inside]
        scale.append(float(inside.sum()))
        depth.append(float(d.max()) if d.size else 0.0)
        layers = np.bincount(d)[1:] if d.size else np.zeros(0)
        breadth.append(float(layers.max()) if layers.size else 0.0)
    return {
        "scale": _pad_cut(scale),
        "depth": _pad_cut(depth),
        "max_breadth": _pad_cut(breadth),
    }


def _pad_cut(values: Sequence[float]) -> FloatArray:
    out = list(values) + [values[-1]] * max(0, PAD_TO - len(values))
    return np.asarray(out[:MINUTES], dtype=np.float64)


def nrmse(simulated: FloatArray, real: FloatArray) -> float:
    """sqrt(mean((sim - real)^2)) / max(real) over the first 150 minutes."""
    sim = np.asarray(simulated, dtype=np.float64)[:MINUTES]
    ref = np.asarray(real, dtype=np.float64)[:MINUTES]
    return float(np.sqrt(np.mean((sim - ref) ** 2)) / ref.max())


def load_real_series(path: str | Path, topic: str) -> dict[str, FloatArray]:
    """The real series of ``topic`` from a JSON of OASIS's ``real_data_{metric}/{topic}.pkl``
    lists (keys ``{metric}__{topic}``), padded to 300 and cut to 150 minutes.

    Like ``result_ana_mse.py`` (lines 64-71) the list index is the minute; the ``_time``
    lists beside them are not used there, nor here."""
    file = Path(path)
    try:
        data: Mapping[str, Any] = json.loads(file.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(str(file), "", "a JSON file of real propagation series") from exc
    out: dict[str, FloatArray] = {}
    for metric in METRICS:
        key = f"{metric}__{topic}"
        values = data.get(key)
        if not isinstance(values, list) or not values:
            raise ConfigError(str(file), key, "a non-empty list of numbers", values)
        out[metric] = _pad_cut([float(v) for v in values])
    return out
