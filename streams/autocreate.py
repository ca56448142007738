"""Topics are made by callboard with the layout configured, never by a client asking about
them (the worker puts back the topics a broker lost: streams/refresh.py).

Apache Kafka (``auto.create.topics.enable``, on by default) and the local Tansu broker
both create a topic a client merely asks metadata for, with the broker's default
partition count (Tansu: 4; Kafka: ``num.partitions``). After the local broker came back
empty, the worker's own consumers asked first: the events topic came back with 4
partitions against the checkpoint table's 3, and a queue's events landed in a partition
the worker had no table for. So the worker's Kafka clients never ask for creation;
``ensure_topics`` and Faust's ``declare`` create topics, with the configured layout.
"""

from __future__ import annotations

import functools

from aiokafka import client as aiokafka_client
from aiokafka.protocol.metadata import MetadataRequest

__all__ = ["forbid_auto_create"]


def forbid_auto_create() -> None:
    """Every aiokafka metadata request of this process (Faust's consumer and producer
    included) asks the broker not to create the topics it names."""
    aiokafka_client.MetadataRequest = functools.partial(
        MetadataRequest, allow_auto_topic_creation=False)
