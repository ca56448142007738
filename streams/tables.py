"""Faust tables whose keys start with the queue name ("QUEUE|...")."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import faust
from kafka.partitioner.default import murmur2

__all__ = ["QueueKeyedTable", "queue_partition"]


def queue_partition(queue: str, partitions: int) -> int:
    """The partition a producer keyed by queue name writes to (Kafka's default partitioner)."""
    return (murmur2(queue.encode()) & 0x7FFFFFFF) % partitions


class QueueKeyedTable(faust.Table):
    """A table that writes each key's changelog to its queue's source partition.

    Faust normally takes the changelog partition from the event being
    processed, which a batch (``take_events``) spanning partitions, or a timer
    expiring old keys, does not have. The queue in the key decides instead, so
    recovery puts every key back on the worker that owns that queue's events.
    """

    def __init__(self, *args: Any, partition_of: MutableMapping[str, int], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._partition_of = partition_of

    def partition_for_key(self, key: Any) -> int | None:
        queue = str(key).split("|", 1)[0]
        partition = self._partition_of.get(queue)
        if partition is None:
            partition = queue_partition(queue, self.partitions or 1)
        return partition
