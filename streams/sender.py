"""Alerts and dead letters to their topics; each alert id once, across restarts."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from base.config import Settings
from base.topics import bootstrap_servers
from core.pipeline import DeadLetter
from core.records import Alert

__all__ = ["Sender"]

log = logging.getLogger(__name__)


class Sender:
    """A state re-read after a restart fires the same alerts again, with the same ids:
    each goes to the alerts topic once (the ids already there are read at start)."""

    def __init__(self, settings: Settings, alerts_topic: Any, dead_letters: Any) -> None:
        self.settings = settings
        self.alerts_topic = alerts_topic  # Faust topics, raw bytes
        self.dead_letters = dead_letters
        self.produced: set[str] = set()  # alert ids already on the alerts topic
        self.produced_loaded = asyncio.Event()

    async def dead_letter(self, letter: DeadLetter) -> None:
        log.warning("dead-lettered event at %s[%s]@%s: %s: %s", self.settings.events_topic,
                    letter.record.partition, letter.record.offset, letter.reason,
                    letter.detail[:200])
        seen = int(time.time() * 1000)
        body = json.dumps(letter.doc(self.settings.events_topic, seen), ensure_ascii=False)
        await self.dead_letters.send(key=letter.reason.encode(), value=body.encode())

    async def send_alert(self, doc: Alert) -> None:
        await self.produced_loaded.wait()
        if doc["alert_id"] in self.produced:
            return
        self.produced.add(doc["alert_id"])
        await self.alerts_topic.send(key=doc["queue"].encode(),
                                     value=json.dumps(doc, ensure_ascii=False).encode())
        log.warning("surge ladder %s: step %s %s at %s (waiting %s)", doc["queue"],
                    doc["step"], doc["direction"], doc["event_time"], doc["waiting"])

    async def load_produced(self) -> None:
        """A Faust task: the ids already sent, before any alert goes out."""
        try:
            self.produced.update(await _alert_ids(self.settings))
        except Exception:  # a failed read must not hold every alert back
            log.exception("could not read the alerts already sent: a step fired again after "
                          "this restart may be sent twice (the notifier sends each id once)")
        finally:
            self.produced_loaded.set()


async def _alert_ids(settings: Settings) -> set[str]:
    """Ids of the alerts already on the alerts topic (few: step changes only)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers(settings.broker_url),
                                group_id=None, enable_auto_commit=False, fetch_max_wait_ms=50)
    ids: set[str] = set()
    await consumer.start()
    try:
        await consumer.topics()  # fetches the metadata partitions_for_topic reads
        partitions = consumer.partitions_for_topic(settings.alerts_topic) or {0}
        tps = [TopicPartition(settings.alerts_topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        while True:
            batch = await consumer.getmany(*tps, timeout_ms=500)
            for messages in batch.values():
                for message in messages:
                    try:
                        ids.add(json.loads(message.value or b"{}")["alert_id"])
                    except (ValueError, KeyError, TypeError):
                        continue
            highwaters = [consumer.highwater(tp) for tp in tps]
            positions = [await consumer.position(tp) for tp in tps]
            if all(h is not None and p >= h for h, p in zip(highwaters, positions, strict=True)):
                return ids
    finally:
        await consumer.stop()
