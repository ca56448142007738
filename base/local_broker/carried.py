"""What the local stack carries across a broker that starts again empty: the worker's
checkpoints in files beside the stack.

The local broker keeps everything in memory (docs/broker.md): only a new broker frees
it, and a new broker has no changelog, so a checkpoint kept only there would be gone
with it. A checkpoint names the events topic it counted by the topic's id (Kafka's
topic UUID, KIP-516; Tansu gives one too): a checkpoint of another topic id covers
a topic that no longer exists, and counting goes on from it with the whole of the
new one (event ids keep anything read twice out).
"""

from __future__ import annotations

import json
import os
import time
import zlib
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

__all__ = ["Saved", "read_checkpoint_file", "saved_offsets", "write_checkpoint_file"]


class Saved(NamedTuple):
    """A whole checkpoint: the pipeline's bytes, the last offset it covers, the topic id
    it was counted from (None: not known) and when it was written (ms, 0: not known)."""

    blob: bytes
    offset: int
    source: str | None
    saved_ms: int


def _path(directory: Path, partition: int) -> Path:
    return directory / f"p{partition}.checkpoint"


def write_checkpoint_file(directory: Path, partition: int, blob: bytes, offset: int,
                          source: str | None) -> None:
    """Atomically (a killed writer leaves the previous file whole)."""
    directory.mkdir(parents=True, exist_ok=True)
    head = {"offset": offset, "source": source, "saved_ms": int(time.time() * 1000),
            "crc": zlib.crc32(blob), "size": len(blob)}
    target = _path(directory, partition)
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    with tmp.open("wb") as fh:
        fh.write(json.dumps(head).encode() + b"\n")
        fh.write(blob)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(target)


def _head(fh: BinaryIO) -> dict[str, Any] | None:
    line = fh.readline()
    try:
        head = json.loads(line)
    except ValueError:
        return None
    return head if isinstance(head, dict) else None


def read_checkpoint_file(directory: Path | None, partition: int) -> Saved | None:
    """The partition's checkpoint file, if there is a whole one."""
    if directory is None:
        return None
    try:
        with _path(directory, partition).open("rb") as fh:
            head = _head(fh)
            blob = fh.read()
    except FileNotFoundError:
        return None
    if head is None or len(blob) != head.get("size") or zlib.crc32(blob) != head.get("crc"):
        return None
    source = head.get("source")
    return Saved(blob, int(head["offset"]), source if isinstance(source, str) else None,
                 int(head.get("saved_ms") or 0))


def saved_offsets(directory: Path, partitions: int) -> dict[int, tuple[int, str | None]]:
    """Each partition's checkpointed offset and the topic id it counts in, from the heads
    alone (what the roll waits on; -1 when there is no file)."""
    found: dict[int, tuple[int, str | None]] = {}
    for partition in range(partitions):
        try:
            with _path(directory, partition).open("rb") as fh:
                head = _head(fh) or {}
        except FileNotFoundError:
            head = {}
        source = head.get("source")
        found[partition] = (int(head.get("offset", -1)),
                            source if isinstance(source, str) else None)
    return found
