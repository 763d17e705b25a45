"""``cutout convert-weights``: same tensors, source checksum in the metadata, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from worker.convert_weights import command, read_metadata
from worker.segmenters.weights import file_digest, load_state_dict

pytestmark = pytest.mark.slow


def test_converts_with_the_source_checksum(random_checkpoint: Path, tmp_path: Path) -> None:
    target = tmp_path / "out" / "ckpt.safetensors"
    result = CliRunner().invoke(command, [str(random_checkpoint), str(target)])
    assert result.exit_code == 0, result.output
    assert file_digest(random_checkpoint) in result.output
    metadata = read_metadata(target)
    assert metadata["source_sha256"] == file_digest(random_checkpoint)
    assert metadata["source"] == random_checkpoint.name
    original, converted = load_state_dict(random_checkpoint), load_state_dict(target)
    assert original.keys() == converted.keys()
    assert all(torch.equal(original[k], converted[k]) for k in original)
    assert not list(target.parent.glob("*.part"))


def test_refuses_a_checkpoint_of_another_network(tmp_path: Path) -> None:
    other = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, other)
    target = tmp_path / "other.safetensors"
    result = CliRunner().invoke(command, [str(other), str(target)])
    assert result.exit_code == 1
    assert "not an InSPyReNet_SwinB checkpoint" in result.output
    assert not target.exists()
