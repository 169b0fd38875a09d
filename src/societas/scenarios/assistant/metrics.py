"""The assistant scenario's final metrics, from a run's events (never from live objects).

ProactiveBench's definitions (thunlp/ProactiveAgent, ``eval/calculate_agent_performance.py``
lines 5-44), turn-based: each assistant-tick is one judged event; an offer judged acceptable is
a true positive (TP), one judged unacceptable a false positive (FP); silence judged right is a
true negative (TN), silence when help was needed a false negative (FN). Then

  recall = TP / (TP + FN)       precision = TP / (TP + FP)
  accuracy = (TP + TN) / all    false_alarm = FP / (TP + FP)
  f1 = 2 P R / (P + R)          accept_rate = accepted offers / offers

with the original's epsilon (1e-8) in every denominator, so an empty ratio is 0. In the
original a reward model stands in for the user, so its accept rate equals its precision; here
the judgement is the ground truth (an offer meets a need active at that tick) and
``accept_rate`` is what the simulated user decided, so they differ when the user is a model.
Beside them: ``false_alarms_per_day`` (FP per user-day), ``needs_met_share`` (hidden needs
for which help was offered and accepted while they were active), ``user_agreement`` (offers
where the user's decision equals the ground truth), ``offers_per_day`` and
``calls_per_user_day``. Lookahead: ``prediction_accuracy``, over the offers taken whose
imagined outcome says whether the user accepts (words: accept, agree, thank, yes; decline,
reject, refuse, ignore, not accept), the share where that was what the user did
(``predictions_read`` of them).
"""

from __future__ import annotations

from collections.abc import Sequence

from societas.scenarios.assistant.world import AssistantConfig
from societas.typing import Event, LLMCall, OutcomeEvent, PredictionEvent

__all__ = ["EPS", "assistant_metrics", "predicts_acceptance", "proactivebench_scores"]

EPS = 1e-8  # eval/calculate_agent_performance.py line 5 (eps=1e-8), line 41 (F1's 1e-8)


def proactivebench_scores(tp: int, fp: int, tn: int, fn: int) -> dict[str, float]:
    """The original's turn-based scores (lines 29-32 and 41)."""
    recall = tp / (tp + fn + EPS)
    precision = tp / (tp + fp + EPS)
    return {
        "recall": recall,
        "precision": precision,
        "accuracy": (tp + tn) / (tp + tn + fp + fn + EPS),
        "false_alarm": fp / (tp + fp + EPS),
        "f1": 2 * precision * recall / (precision + recall + EPS),
    }


_NO = ("declin", "reject", "refuse", "ignore", "not accept", "won't accept", "annoy")
_YES = ("accept", "agree", "thank", "yes", "happy", "appreciat")


def predicts_acceptance(text: str) -> bool | None:
    """What an imagined outcome says the user does: True (accepts), False, or None (neither)."""
    low = text.lower()
    if any(word in low for word in _NO):
        return False
    if any(word in low for word in _YES):
        return True
    return None


def assistant_metrics(config: AssistantConfig, events: Sequence[Event]) -> dict[str, float]:
    judged = [e.data for e in events if isinstance(e, OutcomeEvent) and e.phase == "judge"]
    days = [e.data for e in events if isinstance(e, OutcomeEvent) and e.phase == "day"]
    count = {label: sum(d["label"] == label for d in judged) for label in ("tp", "fp", "tn", "fn")}
    offers = [d for d in judged if d["offered"] is not None]
    accepted = sum(bool(d["accepted"]) for d in offers)
    needs = sum(len(d["needs"]) for d in days)
    met = sum(d["label"] == "tp" and bool(d["accepted"]) for d in judged)
    user_days = max(1, len(days))
    calls = sum(isinstance(e, LLMCall) for e in events)
    out = proactivebench_scores(count["tp"], count["fp"], count["tn"], count["fn"])
    out.update(
        {
            "accept_rate": accepted / (len(offers) + EPS),
            "false_alarms_per_day": count["fp"] / user_days,
            "offers_per_day": len(offers) / user_days,
            "needs_met_share": met / needs if needs else 0.0,
            "calls_per_user_day": calls / user_days,
            "judged": float(len(judged)),
        }
    )
    if offers:
        agree = sum(bool(d["accepted"]) == (d["label"] == "tp") for d in offers)
        out["user_agreement"] = agree / len(offers)
    for label, value in count.items():
        out[label] = float(value)
    if config.assistant_mode == "lookahead":
        answered = {(d["tick"], d["assistant"]): d for d in judged if d["offered"] is not None}
        read = []
        for e in events:
            if not isinstance(e, PredictionEvent) or not e.chosen:
                continue
            judged_offer = answered.get((e.tick, e.actor))
            said = predicts_acceptance(e.predicted)
            if judged_offer is not None and said is not None:
                read.append(said == bool(judged_offer["accepted"]))
        out["predictions_read"] = float(len(read))
        if read:
            out["prediction_accuracy"] = sum(read) / len(read)
    return out
