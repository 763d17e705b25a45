"""The worker pipeline: built once per process, a model that cannot be built is a
start-up error, close() stops every pool."""

from __future__ import annotations

import time

import pytest

from cutout.backends import Backends
from cutout.errors import ConfigurationError
from cutout.settings import Settings
from tests.support.segmenters import EllipseSegmenter
from worker.pipeline import Pipeline, build_model
from worker.segmenters import base


class BrokenSegmenter(EllipseSegmenter):
    def __init__(self, settings: object = None) -> None:
        raise RuntimeError("CUDA driver version is insufficient")


def test_a_model_that_raises_while_building_is_a_configuration_error(
    worker_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(base.SEGMENTERS, "test-broken", BrokenSegmenter)
    settings = worker_settings.with_overrides(segmenter="test-broken")
    with pytest.raises(ConfigurationError, match="test-broken model cannot load: RuntimeError"):
        build_model(settings)
    with pytest.raises(ConfigurationError, match="unknown segmenter 'nope'"):
        build_model(worker_settings.with_overrides(segmenter="nope"))


def test_the_model_is_built_once_and_shared(
    worker_settings: Settings, worker_backends: Backends
) -> None:
    pipeline = Pipeline(worker_settings, worker_backends)
    try:
        model = pipeline.segmenter()
        assert isinstance(model, EllipseSegmenter)
        assert pipeline.segmenter() is model
        assert pipeline.model_failure() is None
    finally:
        pipeline.close()
    with pytest.raises(RuntimeError):  # no new work after close
        pipeline.decode_pool.submit(time.sleep, 0)


def test_a_failed_build_is_reported_and_raised_by_every_use(
    worker_settings: Settings, worker_backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(base.SEGMENTERS, "test-broken", BrokenSegmenter)
    settings = worker_settings.with_overrides(segmenter="test-broken")
    pipeline = Pipeline(settings, worker_backends)
    try:
        with pytest.raises(ConfigurationError, match="insufficient"):
            pipeline.segmenter()
        assert isinstance(pipeline.model_failure(), ConfigurationError)
    finally:
        pipeline.close()
