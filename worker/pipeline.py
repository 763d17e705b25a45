"""What a worker process builds once and every batch shares: the thread pools, the
renderer, the pixel budget, the device lock and the model.

The model is built in a background thread started with the pipeline, so fetching and
decoding the first batch overlaps the model's start-up. A model that cannot be built is
a start-up error (:class:`~cutout.errors.ConfigurationError`), whatever the segmenter
raised: no retry and no other job can succeed in this process, so the worker stops.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from cutout.backends import Backends
from cutout.errors import ConfigurationError
from cutout.integrity import read_content_addressed
from cutout.settings import Settings
from worker.budget import PixelBudget
from worker.coalesce import AlphaMemo
from worker.decode import decode_image
from worker.render import Renderer
from worker.segmenters.base import Matte, Segmenter, build_segmenter

log = logging.getLogger(__name__)

#: Threads that encode and store results while later effects still compute.
STORE_THREADS = 2
#: Batches in flight at once: one on the device, one in CPU work.
PIPELINE_DEPTH = 2


def build_model(settings: Settings) -> Segmenter:
    """The segmenter, or a :class:`ConfigurationError` saying why it cannot be built."""
    try:
        return build_segmenter(settings)
    except ConfigurationError:
        raise
    except Exception as exc:
        raise ConfigurationError(
            f"the {settings.segmenter} model cannot load: {type(exc).__name__}: {exc}"
        ) from exc


class Pipeline:
    """Guarantees: everything is built once, here; :meth:`close` waits for the batches in
    flight (they finish or hand their jobs back) and then drops the other pools' queued
    work, so a stopping worker never starts new work."""

    def __init__(self, settings: Settings, backends: Backends, *, depth: int = PIPELINE_DEPTH):
        self.depth = depth
        threads = settings.decode_threads
        self.decode_pool = ThreadPoolExecutor(threads, thread_name_prefix="decode")
        # Previews have their own threads: submitted from a decode thread still at work,
        # they made the decode pool start another thread, and the next photo then decoded
        # in one whose memory was new (0.16-0.2 s instead of 0.05-0.08 s at 12 MP).
        self.preview_pool = ThreadPoolExecutor(threads, thread_name_prefix="preview")
        self.store_pool = ThreadPoolExecutor(STORE_THREADS, thread_name_prefix="store")
        self.batch_pool = ThreadPoolExecutor(depth, thread_name_prefix="batch")
        self._model_pool = ThreadPoolExecutor(1, thread_name_prefix="model")
        self._model: Future[Segmenter] = self._model_pool.submit(build_model, settings)
        self.renderer = Renderer(
            backends=backends,
            model_identity=settings.model_identity,
            estimate_foreground=settings.foreground,
            device=settings.device,
            pool=self.store_pool,
            load_background=lambda key: decode_image(
                read_content_addressed(backends.blobs, key), max_pixels=settings.max_pixels
            ),
        )
        self.budget = PixelBudget(settings.memory_budget_mp * 1_000_000)
        self.device_lock = threading.Lock()
        self.memo: AlphaMemo[Matte] = (
            AlphaMemo()
        )  # identical inputs share one model pass (worker/coalesce.py)

    def segmenter(self) -> Segmenter:
        """The model, once built (blocks until then); raises the start-up error if not."""
        return self._model.result()

    def when_ready(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (from the model's thread, or now) once the model is built."""

        def built(model: Future[Segmenter]) -> None:
            if model.exception() is None:
                callback()

        self._model.add_done_callback(built)

    def is_ready(self) -> bool:
        """Whether the model is built (a failed build is not ready)."""
        return self._model.done() and self._model.exception() is None

    def model_failure(self) -> BaseException | None:
        """The start-up error, once the build has failed; ``None`` while building or built."""
        return self._model.exception() if self._model.done() else None

    def close(self) -> None:
        self.batch_pool.shutdown(wait=True)
        for pool in (self.decode_pool, self.preview_pool, self.store_pool, self._model_pool):
            pool.shutdown(wait=False, cancel_futures=True)
