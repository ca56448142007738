"""Reading a stretch of the events topic directly, to bring a restored state up to date."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaTimeoutError

from base.broker import BacklogTuner
from core.records import Record

__all__ = ["read_partition"]

# A backlog is there to read: a fetch need not wait long for more.
_FETCH_WAIT_MS = 50
# Any fetch answer, even an empty one, carries the high watermark; none in this long
# means the partition is not there (a broker that came back empty mid-restore).
_FIRST_ANSWER_S = 15.0


async def read_partition(bootstrap: list[str], topic: str, partition: int, start: int,
                         tune: BacklogTuner, max_records: int = 2000,
                         ends: list[int] | None = None) -> AsyncIterator[list[Record]]:
    """Records of one partition from ``start`` to the high watermark seen on the first
    fetch, in batches. The high watermark is taken from fetch responses: the local
    broker answers ListOffsets (end offsets) wrongly (docs/broker.md); it goes into
    ``ends`` when given (a watermark below ``start``: the broker lost records). ``tune``
    sees each step (the broker profile's hook)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, fetch_max_wait_ms=_FETCH_WAIT_MS)
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, start)
        target: int | None = None
        started = time.monotonic()
        while True:
            batch = await consumer.getmany(tp, timeout_ms=100, max_records=max_records)
            if target is None:
                target = consumer.highwater(tp)
                if target is not None and ends is not None:
                    ends.append(target)
                if target is None and time.monotonic() - started > _FIRST_ANSWER_S:
                    raise KafkaTimeoutError(f"{topic}[{partition}]: no fetch answer in "
                                            f"{_FIRST_ANSWER_S:g} s")
            messages = batch.get(tp, [])
            if messages:
                yield [Record(m.value or b"", partition, m.offset) for m in messages
                       if target is None or m.offset < target]
            position = await consumer.position(tp)
            if target is not None and position >= target:
                return
            tune(consumer, partition, position, target)
    finally:
        await consumer.stop()
