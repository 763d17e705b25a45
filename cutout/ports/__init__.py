"""The five ports between cutout's core and the outside world.

Each is a small abstract class whose docstrings state the guarantees every adapter keeps;
one contract suite (tests/contract/) holds every adapter to them.
"""

from cutout.ports.blobstore import BlobInfo, BlobStore
from cutout.ports.keys import KeyStore
from cutout.ports.launcher import Launcher, StartRecord, WorkerBeat, WorkerFailure
from cutout.ports.queue import JobQueue, Message
from cutout.ports.status import StatusStore

__all__ = [
    "BlobInfo",
    "BlobStore",
    "JobQueue",
    "KeyStore",
    "Launcher",
    "Message",
    "StartRecord",
    "StatusStore",
    "WorkerBeat",
    "WorkerFailure",
]
