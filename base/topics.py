"""Where the broker is and callboard's topics, created if missing so no client auto-creates
them wrong. Shared by every process that talks to Kafka."""

from __future__ import annotations

import logging

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaConnectionError, TopicAlreadyExistsError
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_exponential

from base.config import Settings

__all__ = ["TopicLayoutError", "bootstrap_servers", "ensure_topics", "forbid_client_auto_create",
           "layout_problem", "topic_id"]

log = logging.getLogger(__name__)


class TopicLayoutError(RuntimeError):
    """The events topic exists with another partition count than configured."""


def forbid_client_auto_create() -> None:
    """No kafka-python client of this process asks the broker to create a topic.

    kafka-python 3.0.12 takes ``allow_auto_create_topics=False`` from a consumer or a
    producer but never hands it to the cluster metadata its connection manager builds
    (kafka/net/manager.py), so each metadata refresh of a topic it names asks the broker
    to make it, with the broker's own partition count (Tansu: 4). After a roll the
    notifier made the alerts topic with 4 partitions before the stack made it with 1;
    a test that deleted a topic under a running notifier saw the same. Topics are made
    by ``ensure_topics`` only (streams/autocreate.py does this for aiokafka)."""
    from kafka.cluster import ClusterMetadata

    ClusterMetadata.DEFAULT_CONFIG["allow_auto_create_topics"] = False


def layout_problem(topic: str, partitions: int, configured: int) -> str | None:
    """Why the worker cannot count ``topic`` as it is, or None.

    The checkpoint table has one partition per events partition: with more events
    partitions, a queue's events land where no table is; with fewer, counted state sits
    in partitions no event reaches. A broker that auto-creates topics (Apache Kafka by
    default; Tansu on any produce) gives them its own default count.
    """
    if partitions == configured:
        return None
    return (f"the topic {topic} has {partitions} partitions but topic_partitions is "
            f"{configured}: set CALLBOARD_TOPIC_PARTITIONS={partitions}, or delete the topic "
            "(its events go with it) and let callboard create it")


def bootstrap_servers(broker_url: str) -> list[str]:
    """``kafka://h1:9092;h2:9092`` (Faust's form) or ``h1:9092,h2:9092`` -> host:port list."""
    hosts = []
    for part in broker_url.replace(";", ",").split(","):
        part = part.strip()
        if part.startswith("kafka://"):
            part = part[len("kafka://"):]
        if part:
            hosts.append(part)
    return hosts


@retry(retry=retry_if_exception_type(KafkaConnectionError), stop=stop_after_delay(60),
       wait=wait_exponential(multiplier=0.2, max=5), reraise=True)
def ensure_topics(settings: Settings, *, check: bool = False) -> None:
    """Create the events, dead-letter and alerts topics with the configured layout.

    A broker that auto-creates topics would give the events topic its default
    partition count, which then mismatches the worker's tables; so whoever
    touches the topic first creates it properly. With ``check`` (the worker at
    start-up) an events topic of another layout raises TopicLayoutError.
    """
    replication = settings.topic_replication
    wanted = [
        NewTopic(settings.events_topic, settings.topic_partitions, replication),
        NewTopic(settings.dead_letter_topic, 1, replication),
        NewTopic(settings.alerts_topic, 1, replication),  # one partition: alerts in order
    ]
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers(settings.broker_url))
    try:
        existing = set(admin.list_topics())
        missing = [t for t in wanted if t.name not in existing]
        if missing:
            try:
                admin.create_topics(missing)
                log.info("created topics %s", ", ".join(t.name for t in missing))
            except TopicAlreadyExistsError:
                pass  # another process won the race; same layout
        if check:
            found = admin.describe_topics([settings.events_topic])[0]["partitions"]
            problem = layout_problem(settings.events_topic, len(found),
                                     settings.topic_partitions)
            if problem:
                raise TopicLayoutError(problem)
    finally:
        admin.close()


def topic_id(settings: Settings, topic: str, missing: str | None = None) -> str | None:
    """The topic's id (Kafka's topic UUID, KIP-516): a topic deleted and made again, or a
    broker that came back empty, gives a new one. None when the broker does not say;
    ``missing`` when it says there is no such topic."""
    # Asked by each reader as it starts: an answer late by more than this is asked
    # again rather than waited for.
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers(settings.broker_url),
                             request_timeout_ms=5000)
    try:
        found = admin.describe_topics([topic])[0]
    finally:
        admin.close()
    if found.get("error_code") == 3:  # UNKNOWN_TOPIC_OR_PARTITION
        return missing
    if found.get("error_code"):
        return None
    value = found.get("topic_id")
    return str(value) if value and str(value).strip("0-") else None
