"""Reading a stretch of the events topic directly, to bring a restored state up to date."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaConsumer, TopicPartition

from core.pipeline import Record
from streams.fetch_wait import FetchWait

__all__ = ["read_partition"]

log = logging.getLogger(__name__)


async def read_partition(bootstrap: list[str], topic: str, partition: int, start: int,
                         max_records: int = 2000) -> AsyncIterator[list[Record]]:
    """Records of one partition from ``start`` to the high watermark seen on the first
    fetch, in batches. The high watermark is taken from fetch responses: the local
    broker answers ListOffsets (end offsets) wrongly (docs/broker.md)."""
    # The local broker answers a fetch with what it found within the wait, and the
    # search takes longer the further into the log (streams/fetch_wait.py): a backlog
    # read with a fixed 50 ms never got past ~33,000 records.
    wait = FetchWait(50, patience_s=0.5)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, fetch_max_wait_ms=wait.wait_ms)
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, start)
        target: int | None = None
        while True:
            batch = await consumer.getmany(tp, timeout_ms=100, max_records=max_records)
            if target is None:
                target = consumer.highwater(tp)
            messages = batch.get(tp, [])
            if messages:
                yield [Record(m.value or b"", partition, m.offset) for m in messages
                       if target is None or m.offset < target]
            position = await consumer.position(tp)
            if target is not None and position >= target:
                return
            if wait.observe(partition, position, target) is not None:
                log.warning("reading partition %s: at offset %s of %s and not keeping up; "
                            "fetches now wait up to %s ms", partition, position, target,
                            wait.wait_ms)
                consumer._fetcher._fetch_max_wait_ms = wait.wait_ms  # noqa: SLF001  # read per fetch
    finally:
        await consumer.stop()
