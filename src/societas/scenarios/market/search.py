"""The market's five search algorithms, after Magentic Marketplace.

Source: microsoft/multi-agent-marketplace,
``packages/magentic-marketplace/src/magentic_marketplace/marketplace/protocol/search/``:

simple    every business, by rating (descending), paginated (``simple.py`` lines 16-45);
filtered  businesses whose name or description contains the query (SQL ``like``), and that
          have every amenity and menu item of the constraints, by rating (``filtered.py``
          lines 19-99);
lexical   every business ranked by shingle overlap with the query: character 4-grams of the
          lower-cased text stripped of punctuation, padded with a space, |Q n D| / |Q|; ties
          keep the rating order (``lexical.py`` lines 16-58, ``lexical_algo.py`` lines
          12-102); the document is name, description and item names (``shared/models.py``
          ``get_searchable_text``, lines 40-78);
rnr       retrieve the 32 nearest businesses by embedding, then rerank them (``rnr_algo.py``:
          a bi-encoder ``multi-qa-MiniLM-L6-cos-v1`` retrieves ``top_k = 32``, a cross-encoder
          ``ms-marco-MiniLM-L6-v2`` reranks). Here the project's embedder retrieves (``hashing``
          or the bundled MiniLM) and, the cross-encoder not being bundled, the shingle overlap
          reranks; the businesses not retrieved follow in rating order (score -inf, lines
          226-240);
optimal   only businesses that have all the customer's wanted items, by rating (``optimal.py``
          lines 16-93). It reads the customer's hidden order, which no assistant knows: an
          upper bound on what search can do.

Ratings are all 1.0 in the shipped data, so "by rating" keeps the dataset's order.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

from societas.scenarios.market.data import Business, Customer
from societas.typing.embedder import Embedder

__all__ = ["RNR_TOP_K", "SearchAlgorithm", "SearchPage", "search", "shingle_overlap"]

SearchAlgorithm = Literal["simple", "filtered", "lexical", "rnr", "optimal"]
RNR_TOP_K = 32
SHINGLE = 4


def _normalise(text: str) -> str:
    text = re.sub(r"[^\w\s]", "", text.lower())
    return re.sub(r"\s+", " ", text).strip()


def _shingles(text: str, k: int = SHINGLE) -> set[str]:
    if len(text) < k:
        text = text + " " * (k - len(text))
    return {text[i : i + k] for i in range(len(text) - k + 1)}


def shingle_overlap(query: str, doc: str, k: int = SHINGLE) -> float:
    """Share of the query's character k-shingles found in the document."""
    q = _shingles(" " + _normalise(query) + " ", k)
    if not q:
        return 0.0
    return len(q & _shingles(" " + _normalise(doc) + " ", k)) / len(q)


class SearchPage:
    """One page of results and how many there were in all."""

    def __init__(self, ids: list[str], total: int, pages: int) -> None:
        self.ids = ids
        self.total = total
        self.pages = pages


def _by_rating(businesses: Sequence[Business]) -> list[Business]:
    return sorted(businesses, key=lambda b: b.rating, reverse=True)


def _page(ranked: list[Business], limit: int, page: int) -> SearchPage:
    start = (page - 1) * limit
    pages = max(1, math.ceil(len(ranked) / limit))
    return SearchPage([b.id for b in ranked[start : start + limit]], len(ranked), pages)


def _lexical(query: str, businesses: list[Business], docs: dict[str, str]) -> list[Business]:
    scores = {b.id: shingle_overlap(query, docs[b.id]) for b in businesses}
    return sorted(businesses, key=lambda b: scores[b.id], reverse=True)  # stable: ties by rating


def search(
    algorithm: SearchAlgorithm,
    query: str,
    businesses: Sequence[Business],
    *,
    customer: Customer,
    docs: dict[str, str],
    limit: int,
    page: int = 1,
    amenities: Sequence[str] = (),
    items: Sequence[str] = (),
    embedder: Embedder | None = None,
    doc_vectors: npt.NDArray[np.float32] | None = None,
) -> SearchPage:
    """Run one search. ``docs`` holds each business's searchable text (its description as the
    customers see it, possibly embellished); ``doc_vectors`` their embeddings (rnr)."""
    ranked = _by_rating(businesses)
    if algorithm == "filtered":
        needle = query.strip().lower()
        ranked = [
            b
            for b in ranked
            if (not needle or needle in b.name.lower() or needle in docs[b.id].lower())
            and b.has_amenities(list(amenities))
            and b.has_items(list(items))
        ]
    elif algorithm == "lexical":
        if query.strip():
            ranked = _lexical(query, ranked, docs)
    elif algorithm == "rnr":
        if query.strip():
            if embedder is None or doc_vectors is None:
                raise ValueError("rnr search needs an embedder and the businesses' vectors")
            order = {b.id: i for i, b in enumerate(businesses)}
            q = embedder.embed([query])[0]
            sims = doc_vectors @ q
            nearest = sorted(ranked, key=lambda b: -float(sims[order[b.id]]))[:RNR_TOP_K]
            kept = {b.id for b in nearest}
            ranked = _lexical(query, nearest, docs) + [b for b in ranked if b.id not in kept]
    elif algorithm == "optimal":
        wanted = set(customer.menu_features)
        ranked = [b for b in ranked if b.has_items(wanted)]
    return _page(ranked, limit, page)
