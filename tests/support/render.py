"""Drive the worker's real :class:`Renderer` on one photo without a model: the alpha is
the test ellipse, the photo is decoded as the worker decodes it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from cutout.backends import Backends
from cutout.job import Job
from cutout.settings import Settings
from tests.support.segmenters import ellipse_alpha
from worker.decode import decode_image
from worker.render import Rendered, Renderer
from worker.segmenters.base import ArrayMatte


def render(settings: Settings, backends: Backends, job: Job, photo: bytes) -> Rendered:
    """Compose, run the job's effects, store and record each result, as a worker would."""
    rgb = decode_image(photo, max_pixels=settings.max_pixels)
    with ThreadPoolExecutor(2) as pool:
        renderer = Renderer(
            backends=backends,
            model_identity=settings.model_identity,
            estimate_foreground=False,
            device="cpu",
            pool=pool,
            load_background=lambda key: decode_image(
                backends.blobs.get(key), max_pixels=settings.max_pixels
            ),
        )
        return renderer.render(job, rgb, ArrayMatte(ellipse_alpha(*rgb.shape[:2])))
