"""Embedders: hashing determinism and similarity, the LRU cache, specs, bundled MiniLM."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest

from societas.memory import CachedEmbedder, HashingEmbedder, MiniLMEmbedder, create_embedder
from societas.typing import ConfigError, Embedder

CAT, RUG, STOCKS = "the cat sat on the mat", "a cat on a rug", "stock markets fell"


def test_hashing_shape_norm_and_empty_text() -> None:
    e = HashingEmbedder(384)
    m = e.embed([CAT, RUG, "", "the of and"])
    assert m.shape == (4, 384)
    assert m.dtype == np.float32
    assert np.linalg.norm(m[:2], axis=1) == pytest.approx([1.0, 1.0], abs=1e-6)
    assert not m[2].any()
    assert not m[3].any()
    assert e.embed([]).shape == (0, 384)
    assert isinstance(e, Embedder)


def test_hashing_is_deterministic_across_processes() -> None:
    texts = [CAT, "Élan vital, naïve café!", "Alice caught 12 fish at dawn"]
    here = HashingEmbedder(384).embed(texts)
    assert np.array_equal(here, HashingEmbedder(384).embed(texts))
    code = (
        "import sys, numpy as np; from societas.memory import HashingEmbedder;"
        f"sys.stdout.write(HashingEmbedder(384).embed({texts!r}).tobytes().hex())"
    )
    for hashseed in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        ).stdout
        other = np.frombuffer(bytes.fromhex(out), dtype=np.float32).reshape(here.shape)
        assert np.array_equal(here, other)


def test_hashing_similarity_ordering() -> None:
    e = HashingEmbedder(384)
    cat, rug, stocks = e.embed([CAT, RUG, STOCKS])
    assert cat @ rug > cat @ stocks
    q, near, far = e.embed(["fish stock in the lake", "the lake has little fish", "a vote"])
    assert q @ near > q @ far
    # Bigrams: word order matters a little.
    a, b, c = e.embed(["red fish blue boat", "red fish blue boat today", "blue fish red boat"])
    assert a @ b > a @ c


def test_hashing_dim_changes_vectors_and_name() -> None:
    assert HashingEmbedder(64).name != HashingEmbedder(128).name
    with pytest.raises(ConfigError, match="dim"):
        HashingEmbedder(2)


class Counting:
    name = "counting"
    dim = 8

    def __init__(self) -> None:
        self.seen: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.seen.append(list(texts))
        return HashingEmbedder(8).embed(texts)


def test_cached_embedder_hits_dedupes_and_evicts() -> None:
    inner = Counting()
    c = CachedEmbedder(inner, max_items=3)
    assert c.name == "counting"
    assert c.dim == 8
    first = c.embed(["a b", "c d", "a b"])
    assert inner.seen == [["a b", "c d"]]  # one batch, duplicates embedded once
    assert np.array_equal(first, HashingEmbedder(8).embed(["a b", "c d", "a b"]))
    again = c.embed(["c d", "a b"])
    assert inner.seen == [["a b", "c d"]]
    assert np.array_equal(again, first[[1, 0]])
    assert c.hits == 2
    assert c.misses == 3
    c.embed(["e f", "g h"])  # cache holds 3: "c d" and "a b" were used last, "c d" goes
    assert len(c) == 3
    c.embed(["c d"])
    assert inner.seen[-1] == ["c d"]


def test_create_embedder_specs() -> None:
    assert create_embedder("hashing").dim == 384
    assert create_embedder("hashing:64").dim == 64
    with pytest.raises(ConfigError, match="hashing:DIM"):
        create_embedder("hashing:big")
    with pytest.raises(ConfigError, match="'hashing'"):
        create_embedder("word2vec")


def test_missing_torch_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def fake(name: str, *args: object) -> object:
        return None if name == "torch" else real(name)

    monkeypatch.setattr(importlib.util, "find_spec", fake)
    with pytest.raises(ConfigError, match=r"societas\[embed\]"):
        MiniLMEmbedder()
    with pytest.raises(ConfigError, match=r"societas\[embed\]"):
        create_embedder("minilm")


def test_path_spec_must_be_a_directory(tmp_path: object) -> None:
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed")
    with pytest.raises(ConfigError, match="directory"):
        create_embedder("path:/nonexistent/model/dir")


needs_torch = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None or importlib.util.find_spec("transformers") is None,
    reason="torch/transformers not installed (pip install 'societas[embed]')",
)


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    e = MiniLMEmbedder()
    e.load()
    return e


@needs_torch
def test_minilm_loads_offline_and_ranks(minilm: MiniLMEmbedder) -> None:
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    assert minilm.dim == 384
    assert minilm.pooling == "mean"
    m = minilm.embed([CAT, RUG, STOCKS])
    assert m.shape == (3, 384)
    assert m.dtype == np.float32
    assert np.linalg.norm(m, axis=1) == pytest.approx([1.0, 1.0, 1.0], abs=1e-5)
    assert m[0] @ m[1] > m[0] @ m[2] + 0.3
    # Same text, same vector, whatever the batch around it (padding is masked out).
    alone = minilm.embed([RUG])[0]
    assert alone == pytest.approx(m[1], abs=1e-5)


@needs_torch
def test_minilm_through_path_spec_and_cache(minilm: MiniLMEmbedder) -> None:
    spec = create_embedder(f"path:{minilm.root}")
    assert isinstance(spec, CachedEmbedder)
    assert spec.dim == 384
    assert spec.name.startswith("path:")
    inner = spec.inner
    assert isinstance(inner, MiniLMEmbedder)
    # Reuse the loaded weights instead of loading them a second time.
    inner._model, inner._tokenizer, inner._torch = minilm._model, minilm._tokenizer, minilm._torch
    got = spec.embed([CAT, CAT])
    assert spec.misses == 2
    assert spec.hits == 0
    assert len(spec) == 1
    assert got[0] == pytest.approx(minilm.embed([CAT])[0], abs=1e-5)
