"""The memory stream: retrieval by recency, importance and relevance under a token budget.

Scoring follows Generative Agents (Park et al. 2023, "Generative Agents: Interactive Simulacra
of Human Behavior", UIST '23, section 4.1): for each candidate record

    score = w_r * recency + w_i * importance + w_v * relevance

where recency = decay ** (sim hours since the record was last retrieved), with decay 0.995 in
the paper; importance is the 1-10 poignancy rating; relevance is the cosine similarity of the
record's and the query's embeddings. Each of the three is min-max normalised to [0, 1] over
the candidates before weighting; the paper sets every weight to 1.

Storage is columnar numpy: one preallocated float32 matrix of shape ``(dim, capacity)`` (one
column per record, grown by doubling) plus arrays for times, importance, tick, kind and token
cost. Relevance is one matrix-vector product over the stored columns; when the query vector is
sparse (the hashing embedder's are: a few dozen non-zero dimensions out of 384) only the rows
of those dimensions are read.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from societas.memory.record import MemoryRecord, approx_tokens
from societas.typing import ConfigError, Embedder, SocietasError

__all__ = ["MemoryInput", "MemoryStream", "ReadOnlyMemoryError"]

SNAPSHOT_FORMAT = 1
SECONDS_PER_HOUR = 3600.0
_INITIAL_CAPACITY = 256
# Fewer non-zero query dimensions than this fraction of ``dim``: read only those rows.
_SPARSE_FRACTION = 0.25
# Per-record arrays besides the embedding matrix.
_COLUMNS = ("_created", "_accessed", "_importance32", "_tick", "_kind", "_cost")


class ReadOnlyMemoryError(SocietasError):
    """A write to a read-only view of a memory stream (``MemoryStream.as_of``)."""


@dataclass(frozen=True)
class MemoryInput:
    """One record to add with ``MemoryStream.add_many`` (a mapping with these keys works too)."""

    text: str
    kind: str
    tick: int
    sim_time: float
    importance: float
    evidence: tuple[int, ...] = ()


def _scaled(
    values: npt.NDArray[np.float32], weight: float, *, out: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """``weight`` x the min-max normalisation of ``values`` to [0, 1], written into ``out``.

    A constant vector normalises to 0.5 everywhere (it cannot change a ranking).
    """
    lo = float(values.min())
    hi = float(values.max())
    if hi - lo <= 1e-12:
        out.fill(0.5 * weight)
        return out
    np.subtract(values, lo, out=out)
    np.multiply(out, weight / (hi - lo), out=out)
    return out


def _as_input(item: MemoryInput | Mapping[str, Any]) -> MemoryInput:
    if isinstance(item, MemoryInput):
        return item
    return MemoryInput(
        text=str(item["text"]),
        kind=str(item["kind"]),
        tick=int(item["tick"]),
        sim_time=float(item["sim_time"]),
        importance=float(item["importance"]),
        evidence=tuple(int(e) for e in item.get("evidence", ())),
    )


class MemoryStream:
    """An agent's memory stream (Park et al. 2023) with bounded, scored retrieval."""

    def __init__(
        self,
        embedder: Embedder,
        *,
        top_k: int = 12,
        token_budget: int = 600,
        decay: float = 0.995,
        weights: tuple[float, float, float] = (1.0, 1.0, 1.0),
        max_records: int | None = None,
    ) -> None:
        if top_k < 1:
            raise ConfigError("memory", "top_k", "an integer >= 1", top_k)
        if token_budget < 1:
            raise ConfigError("memory", "token_budget", "an integer >= 1", token_budget)
        if not 0.0 < decay <= 1.0:
            raise ConfigError("memory", "decay", "a number in (0, 1]", decay)
        if len(weights) != 3 or any(not math.isfinite(w) or w < 0 for w in weights):
            raise ConfigError(
                "memory", "weights", "three finite numbers >= 0 (recency, importance, relevance)"
            )
        if max_records is not None and max_records < 1:
            raise ConfigError("memory", "max_records", "null or an integer >= 1", max_records)
        self.embedder = embedder
        self.top_k = top_k
        self.token_budget = token_budget
        self.decay = decay
        self.weights = (float(weights[0]), float(weights[1]), float(weights[2]))
        self.max_records = max_records
        self.read_only = False
        self._dim = int(embedder.dim)
        self._clear()

    # ------------------------------------------------------------------ storage

    def _clear(self) -> None:
        self._n = 0
        self._cap = 0
        self._emb = np.zeros((self._dim, 0), dtype=np.float32)
        self._created = np.zeros(0, dtype=np.float64)
        self._accessed = np.zeros(0, dtype=np.float64)
        self._importance32 = np.zeros(0, dtype=np.float32)
        self._tick = np.zeros(0, dtype=np.int64)
        self._kind = np.zeros(0, dtype=np.int32)
        self._cost = np.zeros(0, dtype=np.int64)
        self._s_rel = np.zeros(0, dtype=np.float32)
        self._s_tmp = np.zeros(0, dtype=np.float32)
        self._s_rec = np.zeros(0, dtype=np.float32)
        self._records: list[MemoryRecord] = []
        self._pos: dict[int, int] = {}
        self._kinds: dict[str, int] = {}
        self._next_id = 0
        self._since_reflection = 0.0

    def _reserve(self, extra: int) -> None:
        need = self._n + extra
        if need <= self._cap:
            return
        cap = max(_INITIAL_CAPACITY, self._cap)
        while cap < need:
            cap *= 2
        n = self._n
        emb = np.zeros((self._dim, cap), dtype=np.float32)
        emb[:, :n] = self._emb[:, :n]
        self._emb = emb

        def grow(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
            b = np.zeros(cap, dtype=a.dtype)
            b[:n] = a[:n]
            return b

        self._created = grow(self._created)
        self._accessed = grow(self._accessed)
        self._importance32 = grow(self._importance32)
        self._tick = grow(self._tick)
        self._kind = grow(self._kind)
        self._cost = grow(self._cost)
        self._cap = cap
        # Scratch buffers for scoring (see ``_score``).
        self._s_rel = np.zeros(cap, dtype=np.float32)
        self._s_tmp = np.zeros(cap, dtype=np.float32)
        self._s_rec = np.zeros(cap, dtype=np.float32)

    def _kind_code(self, kind: str) -> int:
        code = self._kinds.get(kind)
        if code is None:
            code = len(self._kinds)
            self._kinds[kind] = code
        return code

    def _append(self, record: MemoryRecord, vector: npt.NDArray[np.float32]) -> None:
        i = self._n
        # Stored at float16 precision so that a snapshot (float16) restores bit-identically.
        self._emb[:, i] = vector.astype(np.float16).astype(np.float32)
        self._created[i] = record.created
        self._accessed[i] = record.last_accessed
        self._importance32[i] = record.importance
        self._tick[i] = record.tick
        self._kind[i] = self._kind_code(record.kind)
        self._cost[i] = approx_tokens(record.text)
        self._records.append(record)
        self._pos[record.id] = i
        self._n += 1

    def _check_writable(self) -> None:
        if self.read_only:
            raise ReadOnlyMemoryError(
                "this memory stream is a read-only view (as_of); add to the live stream instead"
            )

    def _evict(self) -> None:
        """Forget the oldest records when over ``max_records`` (a tenth at a time, amortised)."""
        if self.max_records is None or self._n <= self.max_records:
            return
        drop = max(self._n - self.max_records, self.max_records // 10)
        drop = min(drop, self._n)
        keep = np.arange(drop, self._n)
        self._compact(keep)

    def _compact(self, keep: npt.NDArray[np.intp]) -> None:
        n = len(keep)
        self._emb[:, :n] = self._emb[:, keep]
        for name in _COLUMNS:
            arr = getattr(self, name)
            arr[:n] = arr[keep]
        self._records = [self._records[int(i)] for i in keep]
        self._pos = {r.id: j for j, r in enumerate(self._records)}
        self._n = n

    # ------------------------------------------------------------------ writing

    def add(
        self,
        text: str,
        *,
        kind: str,
        tick: int,
        sim_time: float,
        importance: float,
        evidence: Iterable[int] = (),
    ) -> MemoryRecord:
        """Add one record (embedded now); returns it with its id."""
        item = MemoryInput(text, kind, tick, sim_time, importance, tuple(evidence))
        return self.add_many([item])[0]

    def add_many(self, items: Iterable[MemoryInput | Mapping[str, Any]]) -> list[MemoryRecord]:
        """Add records in order, embedding all their texts in one batch."""
        self._check_writable()
        inputs = [_as_input(i) for i in items]
        if not inputs:
            return []
        records = [
            MemoryRecord(
                id=self._next_id + j,
                text=item.text,
                kind=item.kind,
                tick=item.tick,
                created=item.sim_time,
                last_accessed=item.sim_time,
                importance=item.importance,
                evidence=item.evidence,
            )
            for j, item in enumerate(inputs)
        ]
        vectors = self._embed([r.text for r in records])
        self._reserve(len(records))
        for record, vector in zip(records, vectors, strict=True):
            self._append(record, vector)
            if record.kind != "reflection":
                self._since_reflection += record.importance
        self._next_id += len(records)
        self._evict()
        return records

    def _embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        vectors = np.asarray(self.embedder.embed(list(texts)), dtype=np.float32)
        if vectors.shape != (len(texts), self._dim):
            raise ConfigError(
                f"embedder {self.embedder.name}",
                "embed",
                f"an array of shape ({len(texts)}, {self._dim})",
                vectors.shape,
            )
        return vectors

    # ------------------------------------------------------------------ reading

    def __len__(self) -> int:
        return self._n

    def __iter__(self) -> Iterator[MemoryRecord]:
        return iter(list(self._records))

    def get(self, record_id: int) -> MemoryRecord:
        """The record with this id; ``KeyError`` if it is not (or no longer) in the stream."""
        return self._records[self._pos[record_id]]

    def __contains__(self, record_id: object) -> bool:
        return record_id in self._pos

    def recent(self, n: int) -> list[MemoryRecord]:
        """The ``n`` most recently added records, oldest first."""
        if n <= 0:
            return []
        return list(self._records[-n:])

    def importance_since_reflection(self) -> float:
        """Sum of the importance of records (other than reflections) since the last reflection."""
        return self._since_reflection

    def mark_reflected(self) -> None:
        self._check_writable()
        self._since_reflection = 0.0

    def scores(
        self, query: str, *, sim_time: float, kinds: Iterable[str] | None = None
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]:
        """Positions of the candidates and their scores (the formula in the module doc)."""
        cand = self._candidates(kinds)
        if self._n == 0 or len(cand) == 0:
            return cand, np.zeros(0)
        score = self._score(self._embed([query])[0], sim_time, cand)
        return cand, score.astype(np.float64)

    def _score(
        self, q: npt.NDArray[np.float32], sim_time: float, cand: npt.NDArray[np.intp]
    ) -> npt.NDArray[np.float32]:
        """Scores of ``cand`` (float32; may be a view of a scratch buffer, valid until the
        next call). Works in place on preallocated buffers: at 100k records, temporaries
        would cost more than the arithmetic."""
        n = self._n
        rel, tmp, rec = self._s_rel[:n], self._s_tmp[:n], self._s_rec[:n]
        nz = np.flatnonzero(q)
        if len(nz) == 0:
            rel.fill(0.0)
        elif len(nz) < _SPARSE_FRACTION * self._dim:
            # Sparse query (hashing embedder): read only the rows of its non-zero dimensions.
            np.multiply(self._emb[nz[0], :n], q[nz[0]], out=rel)
            for d in nz[1:]:
                np.multiply(self._emb[d, :n], q[d], out=tmp)
                np.add(rel, tmp, out=rel)
        else:
            # matmul, not dot: np.dot takes a slow path on the strided (dim, n) slice.
            np.matmul(self._emb[:, :n].T, q, out=rel)
        # recency = decay ** hours = exp(hours * ln(decay)), hours since last access.
        np.subtract(sim_time, self._accessed[:n], out=rec, casting="unsafe")
        np.maximum(rec, 0.0, out=rec)
        np.multiply(rec, math.log(self.decay) / SECONDS_PER_HOUR, out=rec)
        np.exp(rec, out=rec)
        imp = self._importance32[:n]
        if len(cand) < n:
            rel, rec, imp = rel[cand], rec[cand], imp[cand]
            tmp = tmp[: len(cand)]
        w_r, w_i, w_v = self.weights
        score = _scaled(rec, w_r, out=rec)
        score += _scaled(imp, w_i, out=tmp)
        score += _scaled(rel, w_v, out=tmp)
        return score

    def _candidates(self, kinds: Iterable[str] | None) -> npt.NDArray[np.intp]:
        n = self._n
        if kinds is None:
            return np.arange(n)
        codes = [self._kinds[k] for k in set(kinds) if k in self._kinds]
        if not codes:
            return np.zeros(0, dtype=np.intp)
        return np.flatnonzero(np.isin(self._kind[:n], codes))

    def retrieve(
        self,
        query: str,
        *,
        sim_time: float,
        top_k: int | None = None,
        token_budget: int | None = None,
        kinds: Iterable[str] | None = None,
    ) -> list[MemoryRecord]:
        """The best-scoring records that fit ``top_k`` and the token budget, oldest first.

        Records are taken in order of score (ties: the newer first); one that does not fit the
        remaining budget is skipped and the next is tried. The chosen records' ``last_accessed``
        becomes ``sim_time`` (not in a read-only view).
        """
        k = self.top_k if top_k is None else top_k
        budget = self.token_budget if token_budget is None else token_budget
        if k <= 0 or budget <= 0 or self._n == 0:
            return []
        cand = self._candidates(kinds)
        if len(cand) == 0:
            return []
        score = self._score(self._embed([query])[0], sim_time, cand)
        chosen = self._select(cand, score, k, budget)
        chosen.sort(key=lambda p: (self._created[p], self._records[p].id))
        if self.read_only:
            return [self._records[p] for p in chosen]
        out: list[MemoryRecord] = []
        for p in chosen:
            record = self._records[p]
            if sim_time > record.last_accessed:
                record = record.model_copy(update={"last_accessed": float(sim_time)})
                self._records[p] = record
                self._accessed[p] = sim_time
            out.append(record)
        return out

    def _select(
        self, cand: npt.NDArray[np.intp], score: npt.NDArray[np.float32], k: int, budget: int
    ) -> list[int]:
        m = min(len(cand), max(4 * k, 64))
        if m < len(cand):
            head = np.argpartition(score, len(cand) - m)[len(cand) - m :]
        else:
            head = np.arange(len(cand))
        # Sort by score descending, ties by position descending (newer first).
        order = head[np.lexsort((-cand[head], -score[head]))]
        chosen: list[int] = []
        used = 0
        seen = 0
        for idx in order:
            seen += 1
            p = int(cand[idx])
            cost = int(self._cost[p])
            if used + cost > budget:
                continue
            chosen.append(p)
            used += cost
            if len(chosen) >= k:
                return chosen
        if m < len(cand) and used < budget:
            # Rare: long records filled the budget checks; go on through the full ranking.
            rest = np.lexsort((-cand, -score))
            taken = set(chosen)
            skipped = {int(cand[i]) for i in order}
            for idx in rest:
                p = int(cand[idx])
                if p in taken or p in skipped:
                    continue
                cost = int(self._cost[p])
                if used + cost > budget:
                    continue
                chosen.append(p)
                used += cost
                if len(chosen) >= k:
                    break
        return chosen

    # ------------------------------------------------------------------ views and state

    def _empty_like(self) -> MemoryStream:
        return MemoryStream(
            self.embedder,
            top_k=self.top_k,
            token_budget=self.token_budget,
            decay=self.decay,
            weights=self.weights,
            max_records=self.max_records,
        )

    def as_of(self, tick: int) -> MemoryStream:
        """A read-only copy holding the records of ticks <= ``tick`` (for interviews).

        Times of last access are the current ones (past access times are not kept); retrieval
        from the view does not change them.
        """
        view = self._empty_like()
        n = self._n
        keep = np.flatnonzero(self._tick[:n] <= tick)
        view._reserve(len(keep))
        m = len(keep)
        view._emb[:, :m] = self._emb[:, keep]
        for name in _COLUMNS:
            getattr(view, name)[:m] = getattr(self, name)[keep]
        view._records = [self._records[int(i)] for i in keep]
        view._pos = {r.id: j for j, r in enumerate(view._records)}
        view._kinds = dict(self._kinds)
        view._n = m
        view._next_id = self._next_id
        view._since_reflection = self._since_reflection
        view.read_only = True
        return view

    def snapshot(self, *, embeddings: bool = True) -> dict[str, Any]:
        """JSON-safe state. Embeddings go as base64 float16 (the precision they are stored at);
        with ``embeddings=False`` they are recomputed through the embedder on restore."""
        n = self._n
        state: dict[str, Any] = {
            "format": SNAPSHOT_FORMAT,
            "embedder": self.embedder.name,
            "dim": self._dim,
            "next_id": self._next_id,
            "since_reflection": self._since_reflection,
            "records": [
                {
                    "id": r.id,
                    "text": r.text,
                    "kind": r.kind,
                    "tick": r.tick,
                    "created": r.created,
                    "last_accessed": r.last_accessed,
                    "importance": r.importance,
                    "evidence": list(r.evidence),
                }
                for r in self._records
            ],
            "embeddings": None,
        }
        if embeddings and n:
            blob = np.ascontiguousarray(self._emb[:, :n].T).astype("<f2").tobytes()
            state["embeddings"] = base64.b64encode(blob).decode("ascii")
        return state

    def restore(self, state: Mapping[str, Any]) -> None:
        """Replace the contents with a ``snapshot()``; stored embeddings are used when they
        come from an embedder of the same name, otherwise the texts are embedded again."""
        self._check_writable()
        if state.get("format") != SNAPSHOT_FORMAT:
            raise ConfigError(
                "memory snapshot", "format", f"{SNAPSHOT_FORMAT}", state.get("format")
            )
        records = [MemoryRecord.model_validate(r) for r in state.get("records", [])]
        n = len(records)
        vectors: npt.NDArray[np.float32] | None = None
        blob = state.get("embeddings")
        if (
            blob
            and state.get("embedder") == self.embedder.name
            and int(state.get("dim", -1)) == self._dim
        ):
            raw = np.frombuffer(base64.b64decode(blob), dtype="<f2")
            if raw.size != n * self._dim:
                raise ConfigError(
                    "memory snapshot", "embeddings", f"{n} x {self._dim} float16 values", raw.size
                )
            vectors = raw.reshape(n, self._dim).astype(np.float32)
        elif n:
            vectors = self._embed([r.text for r in records])
        self._clear()
        self._reserve(n)
        if vectors is not None:
            for record, vector in zip(records, vectors, strict=True):
                self._append(record, vector)
        self._next_id = max(int(state.get("next_id", 0)), (records[-1].id + 1) if records else 0)
        self._since_reflection = float(state.get("since_reflection", 0.0))
