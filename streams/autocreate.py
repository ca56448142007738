"""Topics are made by callboard with the layout configured, never by a client asking about
them; and the worker puts back the topics a broker lost.

Apache Kafka (``auto.create.topics.enable``, on by default) and the local Tansu broker
both create a topic a client merely asks metadata for, with the broker's default
partition count (Tansu: 4; Kafka: ``num.partitions``). After the local broker came back
empty, the worker's own consumers asked first: the events topic came back with 4
partitions against the checkpoint table's 3, and a queue's events landed in a partition
the worker had no table for. So the worker's Kafka clients never ask for creation;
``ensure_topics`` and Faust's ``declare`` create topics, with the configured layout.
"""

from __future__ import annotations

import asyncio
import functools
import logging

import faust
from aiokafka import client as aiokafka_client
from aiokafka.protocol.metadata import MetadataRequest

from base.config import Settings
from base.topics import ensure_topics

__all__ = ["forbid_auto_create", "recreate_topics"]

log = logging.getLogger(__name__)


def forbid_auto_create() -> None:
    """Every aiokafka metadata request of this process (Faust's consumer and producer
    included) asks the broker not to create the topics it names."""
    aiokafka_client.MetadataRequest = functools.partial(  # type: ignore[misc]
        MetadataRequest, allow_auto_topic_creation=False)


async def recreate_topics(app: faust.App, settings: Settings) -> None:
    """The events, dead-letter and alerts topics and the tables' changelogs, as at
    start-up; each is left alone where it exists."""
    await asyncio.to_thread(ensure_topics, settings)
    for table in app.tables.values():
        await table.changelog_topic.declare()
