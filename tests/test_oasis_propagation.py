"""OASIS's propagation measures (camel-ai/oasis, visualization/twitter_simulation/
align_with_real_world/code/graph.py and result_ana_mse.py), on hand-computed cascades and on
the real False_Business_0 series."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from societas.analysis.oasis_propagation import (
    PropagationTree,
    load_real_series,
    nrmse,
    propagation_series,
    repost_tree,
)
from societas.typing import ConfigError, Event, PopulationStepEvent

DATA = Path("/work/shared/data/oasis/false_business_0_real_series.json")
POST, REPOST, COMMENT = 1, 2, 4


def step(seq: int, tick: int, rows: list[tuple[int, int, int, int, int]]) -> Event:
    """rows: (post, actor, action, parent, root)."""
    post, actor, action, parent, root = (list(c) for c in zip(*rows, strict=True))
    return PopulationStepEvent(
        seq=seq,
        run_id="r",
        tick=tick,
        wall_time=0.0,
        phase="crowd",
        columns={"post": post, "actor": actor, "action": action, "parent": parent, "root": root},
    )


def test_series_follow_graph_py_minute_by_minute() -> None:
    tree = PropagationTree(root=0)
    tree.add(1, 0, 3.0)  # 1 reposts the root at minute 3
    tree.add(2, 1, 6.0)  # 2 reposts 1's repost at minute 6
    tree.add(3, 0, 6.0)
    tree.add(3, 2, 9.0)  # a user enters once (graph.py line 95)
    s = propagation_series(tree)
    # minutes 0..(6 + 3) - 1, then the last value to 300, cut to 150
    assert s["scale"][:10].tolist() == [1, 1, 1, 2, 2, 2, 4, 4, 4, 4]
    assert s["depth"][:10].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 2]
    assert s["max_breadth"][:10].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 2]
    assert all(len(v) == 150 for v in s.values())
    assert s["scale"][-1] == 4


def test_no_repost_counts_as_zeros() -> None:
    s = propagation_series(PropagationTree(root=5))
    assert all(not v.any() for v in s.values())  # result_ana_mse.py lines 55-60


def test_nrmse_is_rmse_over_the_real_maximum() -> None:
    real = np.arange(150, dtype=float)
    sim = real + 3.0
    assert nrmse(sim, real) == pytest.approx(3.0 / 149.0)
    assert nrmse(np.zeros(200), np.full(200, 2.0)) == pytest.approx(1.0)


def test_repost_tree_from_population_steps() -> None:
    events = [
        step(0, 0, [(0, 7, POST, -1, 0), (1, 9, POST, -1, 1)]),  # the source (0) and another
        step(1, 0, [(2, 3, REPOST, 0, 0), (3, 4, COMMENT, 0, 0), (4, 5, REPOST, 1, 1)]),
        step(2, 1, [(5, 6, REPOST, 2, 0), (-1, 8, 3, 0, 0)]),  # 6 reposts 3's repost; a like
    ]
    tree = repost_tree(events, source_post=0, root_author=7, minutes_per_tick=3.0)
    assert tree.minute == {7: 0.0, 3: 3.0, 6: 6.0}  # comments, likes, other cascades left out
    assert tree.depth == {7: 0, 3: 1, 6: 2}


@pytest.mark.skipif(not DATA.is_file(), reason="the shared OASIS data is not on this machine")
def test_real_false_business_0_series() -> None:
    real = load_real_series(DATA, "False_Business_0")
    assert real["scale"][:4].tolist() == [1, 11, 15, 23]
    assert real["scale"].max() == 95  # within the first 150 minutes (104 by the end)
    assert len(real["depth"]) == 150
    with pytest.raises(ConfigError, match="False_Business_1"):
        load_real_series(DATA, "False_Business_1")
