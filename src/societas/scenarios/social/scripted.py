"""The social scenario's scripted policy: rule-based users and groups for tests and baselines.

Weights over actions (before normalising), from the situation in the request's context:

  empty feed     post 15, idle 85
  otherwise      idle 45, like 25, post 12, repost 6, comment 6, follow 6
  rumour in feed repost = 6 * arousal * agreement, comment = 6 * arousal (* 1.5 if against),
                 arousal: calm 1, anxious 2, angry 1.7 (arousing content is shared more,
                 Berger & Milkman 2012); agreement: positive 2, neutral 1, negative 0.4.

A group answers with these weights; a single user draws one action from them with the
request's generator and, with a rumour in its feed, targets it half of the time.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from societas.scenarios.social.actions import ACTION_NAMES
from societas.typing import LLMRequest

__all__ = ["mix_weights", "social_policy"]

_AROUSAL = {"calm": 1.0, "anxious": 2.0, "angry": 1.7}
_AGREEMENT = {"positive": 2.0, "neutral": 1.0, "negative": 0.4}


def mix_weights(ctx: dict[str, Any]) -> dict[str, int]:
    if int(ctx.get("feed_len", 0)) == 0:
        return {"idle": 85, "post": 15, "repost": 0, "like": 0, "comment": 0, "follow": 0}
    w = {"idle": 45.0, "post": 12.0, "repost": 6.0, "like": 25.0, "comment": 6.0, "follow": 6.0}
    if ctx.get("rumour"):
        arousal = _AROUSAL.get(str(ctx.get("emotion", "calm")), 1.0)
        attitude = str(ctx.get("attitude", "neutral"))
        w["repost"] = 6.0 * arousal * _AGREEMENT.get(attitude, 1.0)
        w["comment"] = 6.0 * arousal * (1.5 if attitude == "negative" else 1.0)
    return {k: int(min(100, round(v))) for k, v in w.items()}


def social_policy(request: LLMRequest, rng: np.random.Generator) -> str:
    ctx = request.context
    weights = mix_weights(ctx)
    rumour = bool(ctx.get("rumour"))
    if "group" in ctx:
        text = "Has anyone else seen this? Worrying if true." if rumour else ""
        return json.dumps({**weights, "text": text})
    names = [n for n in ACTION_NAMES if weights[n] > 0]
    p = np.asarray([weights[n] for n in names], dtype=np.float64)
    action = names[int(rng.choice(len(names), p=p / p.sum()))]
    feed_len = max(1, int(ctx.get("feed_len", 1)))
    if rumour and rng.random() < 0.5:
        target = int(ctx.get("rumour_item", 1))
    else:
        ranks = 1.0 / np.arange(1, feed_len + 1)
        target = int(rng.choice(feed_len, p=ranks / ranks.sum())) + 1
    text = ""
    if action == "post":
        text = f"Feeling {ctx.get('emotion', 'calm')} about the news today."
    elif action == "comment":
        text = "Is this really true?" if ctx.get("attitude") == "negative" else "Wow. Sharing."
    return json.dumps({"action": action, "target": target, "text": text})
