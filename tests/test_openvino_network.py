"""The OpenVINO runtime's own rules, on a tiny network (the real one is tested against the
reference in tests/test_inspyrenet.py): the IR is content-addressed, written whole or not
at all, never rebuilt when present, and made with OpenVINO's telemetry off."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from cutout.errors import ConfigurationError
from cutout.settings import Settings
from worker.segmenters.openvino_network import IR_NAME, OpenVINONetwork, export_ir, ir_dir

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[1]
SIZE = (16, 16)


class _Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 1, 3, padding=1)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.conv(x)) * 3


@pytest.fixture(scope="module")
def tiny_ir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("ir") / "tiny"
    export_ir(_Tiny, SIZE, target)
    return target


def test_the_compiled_network_computes_what_torch_does(tiny_ir: Path) -> None:
    batch = torch.rand(3, 3, *SIZE)
    with torch.inference_mode():
        expected = _Tiny()(batch)
    got = OpenVINONetwork(tiny_ir)(batch.contiguous(memory_format=torch.channels_last))
    assert got.shape == expected.shape == (3, 1, *SIZE)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-5)
    assert (tiny_ir.parent / "cache").is_dir()  # compiled once, read back on later starts


def test_an_ir_in_place_is_not_rebuilt(tiny_ir: Path) -> None:
    def refuse() -> nn.Module:
        raise AssertionError("the network was built although its IR exists")

    export_ir(refuse, SIZE, tiny_ir)


def test_an_export_that_loses_the_race_keeps_the_winners_ir(tmp_path: Path) -> None:
    """Two workers on a fresh data directory: the one that renames second finds the IR
    there, keeps it and leaves no temporary files."""
    target = tmp_path / "ir"

    def racing() -> nn.Module:
        export_ir(_Tiny, SIZE, target)  # the other worker finishes first
        return _Tiny()

    export_ir(racing, SIZE, target)
    assert (target / IR_NAME).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ir"]


def test_a_failed_export_leaves_nothing_behind(tmp_path: Path) -> None:
    def broken() -> nn.Module:
        raise ConfigurationError("not a checkpoint")

    with pytest.raises(ConfigurationError):
        export_ir(broken, SIZE, tmp_path / "ir")
    assert list(tmp_path.iterdir()) == []


def test_the_ir_is_named_by_the_weights_content_and_the_mode(tmp_path: Path) -> None:
    one, same, other = (tmp_path / n for n in ("a.pth", "b.pth", "c.pth"))
    one.write_bytes(b"weights")
    same.write_bytes(b"weights")
    other.write_bytes(b"other weights")
    fast = Settings(data_dir=tmp_path, model_mode="fast")
    assert ir_dir(fast, one) == ir_dir(fast, same)
    assert ir_dir(fast, one) != ir_dir(fast, other)
    assert ir_dir(fast, one) != ir_dir(fast.with_overrides(model_mode="base"), one)
    assert ir_dir(fast, one).parent == tmp_path / "openvino"


def test_openvino_sends_no_telemetry(tmp_path: Path) -> None:
    """Importing OpenVINO and converting a model would send Google Analytics events (and
    write a consent file under $HOME); through import_openvino neither happens."""
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        import torch
        from worker.segmenters.openvino_network import export_ir, import_openvino
        import_openvino()
        export_ir(lambda: torch.nn.Conv2d(3, 1, 1), (8, 8), Path({str(tmp_path / "ir")!r}))
        from openvino.tools.ovc import telemetry_utils
        print(telemetry_utils.tm.__name__, sys.modules["openvino_telemetry"] is not None)
        """
    )
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["openvino.tools.ovc.telemetry_stub", "False"]
    assert list(home.iterdir()) == []  # no $HOME/intel consent directory
    assert (tmp_path / "ir" / IR_NAME).is_file()


def test_openvino_runs_fp32_on_the_cpu_only() -> None:
    with pytest.raises(ConfigurationError, match="MODEL_RUNTIME=openvino runs fp32 on the CPU"):
        Settings.from_env({"CUTOUT_MODEL_DTYPE": "bf16"})
    with pytest.raises(ConfigurationError, match=r"CUTOUT_DEVICE=cuda .* set CUTOUT_MODEL_RUNTIME"):
        Settings.from_env({"CUTOUT_DEVICE": "cuda"})
    assert Settings(model_runtime="torch", device="cuda", model_dtype="bf16").device == "cuda"
