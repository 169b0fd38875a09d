"""All posts of a run as growable columns (no Python object per post)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from societas.population.state import decode_array, encode_array

__all__ = ["PostTable"]

_COLUMNS: dict[str, Any] = {
    "author": np.int32,
    "parent": np.int64,  # -1 for an original post
    "root": np.int64,  # the post's cascade root (itself for an original post)
    "tick": np.int32,
    "kind": np.int8,  # action code: post, repost or comment
    "topic": np.int16,
    "stance": np.float32,  # stance toward the seed topic; NaN when off topic
    "anxiety": np.float32,
    "anger": np.float32,
    "engagement": np.int32,  # likes + reposts + comments received
    "seed": np.int16,  # 1 + index of the seed whose cascade this post is in; 0 if none
    "text": np.int32,  # index into ``texts``; -1 for no stored text
}


class PostTable:
    def __init__(self, capacity: int = 1024) -> None:
        self.n = 0
        self.cols: dict[str, NDArray[Any]] = {
            k: np.zeros(capacity, dtype=t) for k, t in _COLUMNS.items()
        }
        self.texts: list[str] = []
        self._text_ids: dict[str, int] = {}

    def __getitem__(self, name: str) -> NDArray[Any]:
        """The column's filled part (a view)."""
        return self.cols[name][: self.n]

    def text_id(self, text: str) -> int:
        if not text:
            return -1
        tid = self._text_ids.get(text)
        if tid is None:
            tid = len(self.texts)
            self.texts.append(text)
            self._text_ids[text] = tid
        return tid

    def append(self, **columns: NDArray[Any] | float | int) -> NDArray[np.int64]:
        """Add ``k`` posts (arrays of one length, or scalars); returns their ids."""
        k = max((np.shape(v)[0] for v in columns.values() if np.ndim(v) == 1), default=1)
        need = self.n + k
        cap = self.cols["author"].shape[0]
        if need > cap:
            new_cap = max(need, 2 * cap)
            for name, arr in self.cols.items():
                grown = np.zeros(new_cap, dtype=arr.dtype)
                grown[: self.n] = arr[: self.n]
                self.cols[name] = grown
        ids = np.arange(self.n, need, dtype=np.int64)
        for name in _COLUMNS:
            if name in columns:
                self.cols[name][self.n : need] = columns[name]
            elif name == "root":
                self.cols[name][self.n : need] = ids
            elif name in ("parent", "text"):
                self.cols[name][self.n : need] = -1
            elif name == "stance":
                self.cols[name][self.n : need] = np.nan
            else:
                self.cols[name][self.n : need] = 0
        self.n = need
        return ids

    def snapshot(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "cols": {k: encode_array(self[k]) for k in _COLUMNS},
            "texts": list(self.texts),
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        self.n = int(state["n"])
        cap = max(1024, self.n)
        for k, t in _COLUMNS.items():
            arr = np.zeros(cap, dtype=t)
            arr[: self.n] = decode_array(state["cols"][k])
            self.cols[k] = arr
        self.texts = [str(t) for t in state["texts"]]
        self._text_ids = {t: i for i, t in enumerate(self.texts)}
