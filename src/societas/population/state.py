"""Population state as a structure of arrays: one numpy array per attribute, equal lengths.

No Python object per agent: agent ``i`` is row ``i`` of every array. Categorical attributes
are small integer codes with their labels kept beside them (``labels[name][code]``), so a
million agents of a ten-valued attribute take 1 MB, and grouping works on the codes.

Snapshots go into the run store's JSON snapshot, so each array is encoded as base64 of the
``np.save`` bytes (``allow_pickle=False`` both ways: a snapshot can never run code), zlib
compressed, and integer arrays are first narrowed to the smallest integer type that holds
their values (restored to the original type on load). A 1M-agent int64 wealth array of small
values becomes a few hundred kB of text.
"""

from __future__ import annotations

import base64
import io
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["PopulationState", "concat", "decode_array", "encode_array"]

Array = NDArray[Any]

_NARROW = (np.int8, np.int16, np.int32, np.int64)
_UNARROW = (np.uint8, np.uint16, np.uint32, np.uint64)


def _narrowed(arr: Array) -> Array:
    if arr.dtype.kind not in "iu" or arr.size == 0:
        return arr
    lo, hi = int(arr.min()), int(arr.max())
    for kind in _UNARROW if lo >= 0 else _NARROW:
        info = np.iinfo(kind)
        if info.min <= lo and hi <= info.max:
            return arr.astype(kind) if np.dtype(kind).itemsize < arr.dtype.itemsize else arr
    return arr


def encode_array(arr: Array, *, compress: bool = True) -> dict[str, Any]:
    """A JSON-able encoding of one array (see the module doc)."""
    if arr.dtype.hasobject:
        raise TypeError("population arrays must be numeric, bool or fixed-width strings")
    stored = _narrowed(np.ascontiguousarray(arr))
    buf = io.BytesIO()
    np.save(buf, stored, allow_pickle=False)
    raw = buf.getvalue()
    data = zlib.compress(raw, 1) if compress else raw
    return {
        "dtype": arr.dtype.str,
        "zlib": compress,
        "npy": base64.b64encode(data).decode("ascii"),
    }


def decode_array(data: Mapping[str, Any]) -> Array:
    raw = base64.b64decode(str(data["npy"]), validate=True)
    if data.get("zlib"):
        raw = zlib.decompress(raw)
    arr: Array = np.load(io.BytesIO(raw), allow_pickle=False)
    return arr.astype(np.dtype(str(data["dtype"])), copy=False)


class PopulationState:
    """Named arrays of one length ``n`` (rows are agents), plus labels of categorical codes."""

    def __init__(
        self,
        arrays: Mapping[str, Array] | None = None,
        *,
        labels: Mapping[str, Sequence[str]] | None = None,
        n: int | None = None,
    ) -> None:
        self._arrays: dict[str, Array] = {}
        self.labels: dict[str, list[str]] = {k: list(v) for k, v in (labels or {}).items()}
        self._n = n
        for name, arr in (arrays or {}).items():
            self[name] = arr
        if self._n is None:
            self._n = 0

    # -- mapping-like access -------------------------------------------------------------

    @property
    def n(self) -> int:
        return int(self._n or 0)

    def __len__(self) -> int:
        return self.n

    def __contains__(self, name: object) -> bool:
        return name in self._arrays

    def __getitem__(self, name: str) -> Array:
        return self._arrays[name]

    def __setitem__(self, name: str, value: Array | Sequence[Any]) -> None:
        arr = np.asarray(value)
        if arr.ndim != 1:
            raise ValueError(f"population array {name!r} must be one-dimensional")
        if arr.dtype.hasobject:
            raise TypeError(f"population array {name!r}: object arrays are not allowed")
        if self._n is None:
            self._n = int(arr.shape[0])
        elif arr.shape[0] != self._n:
            raise ValueError(
                f"population array {name!r} has {arr.shape[0]} rows, expected {self._n}"
            )
        self._arrays[name] = arr

    def __iter__(self) -> Iterator[str]:
        return iter(self._arrays)

    @property
    def names(self) -> list[str]:
        return list(self._arrays)

    @property
    def arrays(self) -> dict[str, Array]:
        """The arrays themselves (not copies): changing one changes the state."""
        return self._arrays

    def values(self, name: str) -> Array:
        """An attribute as values: labels for categorical codes, the array otherwise."""
        arr = self._arrays[name]
        if name in self.labels:
            return np.asarray(self.labels[name])[arr]
        return arr

    # -- structure -----------------------------------------------------------------------

    def slice(self, lo: int, hi: int) -> PopulationState:
        """Rows ``lo..hi-1`` as views (no copy)."""
        if not 0 <= lo <= hi <= self.n:
            raise IndexError(f"slice {lo}:{hi} outside 0:{self.n}")
        return PopulationState(
            {k: v[lo:hi] for k, v in self._arrays.items()}, labels=self.labels, n=hi - lo
        )

    def copy(self) -> PopulationState:
        return PopulationState(
            {k: v.copy() for k, v in self._arrays.items()}, labels=self.labels, n=self.n
        )

    def equals(self, other: PopulationState) -> bool:
        return (
            self.n == other.n
            and self.names == other.names
            and self.labels == other.labels
            and all(
                self[k].dtype == other[k].dtype and np.array_equal(self[k], other[k])
                for k in self.names
            )
        )

    # -- snapshots -----------------------------------------------------------------------

    def snapshot(self, *, compress: bool = True) -> dict[str, Any]:
        """A compact JSON-able snapshot (see the module doc)."""
        return {
            "n": self.n,
            "labels": {k: list(v) for k, v in self.labels.items()},
            "arrays": {k: encode_array(v, compress=compress) for k, v in self._arrays.items()},
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Replace every array and label with those of a snapshot."""
        restored = PopulationState.from_snapshot(state)
        self._arrays = restored._arrays
        self.labels = restored.labels
        self._n = restored._n

    @classmethod
    def from_snapshot(cls, state: Mapping[str, Any]) -> PopulationState:
        arrays = {str(k): decode_array(v) for k, v in dict(state["arrays"]).items()}
        return cls(arrays, labels=dict(state.get("labels", {})), n=int(state["n"]))


def concat(states: Iterable[PopulationState]) -> PopulationState:
    """Stack states row-wise; they must have the same arrays (names, types) and labels."""
    parts = list(states)
    if not parts:
        return PopulationState()
    first = parts[0]
    for other in parts[1:]:
        if other.names != first.names or other.labels != first.labels:
            raise ValueError("concat: states differ in their arrays or labels")
    arrays = {k: np.concatenate([p[k] for p in parts]) for k in first.names}
    return PopulationState(arrays, labels=first.labels, n=sum(p.n for p in parts))
