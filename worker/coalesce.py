"""One model pass per distinct photo: identical inputs (same sha256) in one batch, or in
batches this worker segments one after another, share one alpha.

A backfill with byte-identical duplicates submits them at the same moment, before the
first has a stored result, so ingest's result cache cannot answer them; they meet here
instead. The segmenter is deterministic given the bytes and the model (the cache keys
already rely on it), so reusing an alpha changes no result. :class:`AlphaMemo` is used
under the worker's device lock, so of two batches racing for one photo, whichever
segments first computes and the other reuses. It holds at most ``max_bytes`` of alphas,
oldest dropped first. Workers on other machines do not share it: a duplicate claimed by
another worker at the same instant costs a second pass there.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Generic, Protocol, TypeVar

import numpy as np

#: Alphas one worker keeps for reuse (a 12 MP photo's alpha is 12 MB; a matte at the
#: model's 1024² resolution 4 MB).
MEMO_BYTES = 64 * 1024 * 1024


class _Sized(Protocol):
    @property
    def nbytes(self) -> int: ...


A = TypeVar("A", bound=_Sized)


class AlphaMemo(Generic[A]):
    """Alphas (full-size arrays, or :class:`~worker.segmenters.base.Matte`: anything with
    ``nbytes``) by input key."""

    def __init__(self, max_bytes: int = MEMO_BYTES) -> None:
        self.max_bytes = max_bytes
        self._alphas: OrderedDict[str, A] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def segment(
        self,
        keys: Sequence[str],
        images: Sequence[np.ndarray],
        segment: Callable[[list[np.ndarray]], list[A]],
    ) -> list[A]:
        """The alpha of each image (``keys[i]`` identifies ``images[i]``): remembered
        ones reused, each distinct missing key segmented once, in one call."""
        with self._lock:
            known = {key: self._alphas[key] for key in keys if key in self._alphas}
        todo: dict[str, np.ndarray] = {}
        for key, image in zip(keys, images, strict=True):
            if key not in known and key not in todo:
                todo[key] = image
        if todo:
            fresh = segment(list(todo.values()))
            known.update(zip(todo, fresh, strict=True))
            self._remember(dict(zip(todo, fresh, strict=True)))
        return [known[key] for key in keys]

    def _remember(self, alphas: dict[str, A]) -> None:
        with self._lock:
            for key, alpha in alphas.items():
                if alpha.nbytes > self.max_bytes or key in self._alphas:
                    continue
                self._alphas[key] = alpha
                self._bytes += alpha.nbytes
            while self._bytes > self.max_bytes:
                _, dropped = self._alphas.popitem(last=False)
                self._bytes -= dropped.nbytes
