"""``cutout convert-weights SRC.pth DST.safetensors``: a checkpoint that loads in a blink.

The package's ``.pth`` is a pickle: loading it unpickles and copies 350 MiB. A
``.safetensors`` file is memory-mapped instead (no unpickling, no copy on CPU, straight
to the GPU otherwise). The file's metadata records the source's name and SHA-256, so a
converted checkpoint can always be traced back to the weights it came from.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
import torch

from cutout.errors import ConfigurationError
from worker.segmenters.network import build_network
from worker.segmenters.weights import file_digest, load_state_dict

FORMAT = "inspyrenet-swinb"


def convert(src: Path, dst: Path) -> dict[str, str]:
    """Write ``src``'s state dict to ``dst`` atomically; returns the metadata stored.

    Raises :class:`ConfigurationError` if ``src`` is unreadable or is not an
    InSPyReNet_SwinB checkpoint (it is loaded into the network, strictly, to check)."""
    from safetensors.torch import save_file

    state = load_state_dict(src)
    try:
        build_network("fast").load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        raise ConfigurationError(f"{src} is not an InSPyReNet_SwinB checkpoint: {exc}") from exc
    tensors = {name: t.detach().contiguous().clone() for name, t in state.items()}
    metadata = {"format": FORMAT, "source": src.name, "source_sha256": file_digest(src)}
    dst.parent.mkdir(parents=True, exist_ok=True)
    partial = dst.with_name(dst.name + ".part")
    try:
        save_file(tensors, str(partial), metadata=metadata)
        partial.chmod(0o644)
        os.replace(partial, dst)
    finally:
        partial.unlink(missing_ok=True)
    return metadata


def read_metadata(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        return dict(fh.metadata() or {})


@click.command("convert-weights")
@click.argument("src", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("dst", type=click.Path(dir_okay=False, path_type=Path))
def command(src: Path, dst: Path) -> None:
    """Convert an InSPyReNet .pth checkpoint SRC to safetensors DST (memory-mapped loads)."""
    torch.set_grad_enabled(False)
    try:
        metadata = convert(src, dst)
    except ConfigurationError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"wrote {dst} ({dst.stat().st_size / 2**20:.0f} MiB) from {src}")
    click.echo(f"source sha256 {metadata['source_sha256']}")
