"""``cutout prepare-model``: build the segmenter once, so that no job waits for it.

On the OpenVINO runtime that is the one-time export of the checkpoint to IR (~45 s at
base mode here) and its first compile, both kept in the data directory
(worker/segmenters/openvino_network.py): a worker started later on that data directory
reads them and is ready about a second after its imports. Run it after the checkpoint
changes, or as a ``RUN`` step of a CPU worker image, with the ``CUTOUT_WEIGHTS`` and
``CUTOUT_DATA_DIR`` the image runs with. On torch nothing is kept: it checks that the
checkpoint loads.
"""

from __future__ import annotations

import click

from cutout.errors import ConfigurationError
from cutout.settings import Settings
from worker.segmenters.base import build_segmenter


@click.command("prepare-model")
@click.pass_obj
def command(settings: Settings) -> None:
    """Export and compile the model for these settings into the data directory."""
    try:
        segmenter = build_segmenter(settings)
    except ConfigurationError as exc:
        raise click.ClickException(exc.message) from exc
    stages = ", ".join(f"{name} {s:.2f} s" for name, s in segmenter.startup.items())
    click.echo(f"{settings.model_identity} ready in {settings.data_dir}: {stages}")
