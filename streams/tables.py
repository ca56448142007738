"""The checkpoint table: each partition's pipeline state, changelogged to that partition."""

from __future__ import annotations

import base64
import logging
import time
import zlib
from typing import Any

import faust

from base.local_broker.carried import Saved

__all__ = ["CheckpointTable", "load_checkpoint", "save_checkpoint"]

log = logging.getLogger(__name__)
# Kafka's default largest message is 1 MB; parts stay well below it.
PART_BYTES = 256 * 1024


class CheckpointTable(faust.Table):
    """Keys ``"P|..."``: the value's changelog goes to partition P of the changelog.

    Faust takes the changelog partition from the event being processed, which a
    batch spanning partitions, or a timer, does not have; the key decides
    instead, so recovery puts each checkpoint on the worker that owns P.
    """

    def partition_for_key(self, key: Any) -> int | None:
        return int(str(key).split("|", 1)[0])


def save_checkpoint(table: CheckpointTable, partition: int, blob: bytes, offset: int,
                    source: str | None = None) -> int:
    """Write ``blob`` in parts to the slot the last head does not name, then the head.

    Two slots: a checkpoint cut short (kill -9, or the local broker losing a
    changelog's tail on recovery) leaves the previous head and its slot whole.
    Returns the bytes written.
    """
    head = _head(table, partition)
    slot = 1 - head["slot"] if head else 0
    parts = [blob[i:i + PART_BYTES] for i in range(0, len(blob), PART_BYTES)] or [b""]
    for i, part in enumerate(parts):
        # As text: the table's codec is JSON (base64 costs a third; the blob is compressed).
        table[f"{partition}|{slot}|{i}"] = base64.b64encode(part).decode()
    table[f"{partition}|head"] = {"slot": slot, "parts": len(parts), "offset": offset,
                                  "crc": zlib.crc32(blob), "source": source,
                                  "saved_ms": int(time.time() * 1000)}
    return len(blob)


def load_checkpoint(table: CheckpointTable, partition: int) -> Saved | None:
    """The newest whole checkpoint of ``partition``, if any."""
    head = _head(table, partition)
    if head is None:
        return None
    parts = [table.get(f"{partition}|{head['slot']}|{i}") for i in range(head["parts"])]
    blob = b"".join(base64.b64decode(p) for p in parts if p is not None)
    if None in parts or zlib.crc32(blob) != head["crc"]:
        log.error("checkpoint of partition %s is damaged: counting it again from the source",
                  partition)
        return None
    return Saved(blob, head["offset"], head.get("source"), head.get("saved_ms") or 0)


def _head(table: CheckpointTable, partition: int) -> dict[str, Any] | None:
    head = table.get(f"{partition}|head")
    return dict(head) if head else None
