"""Where the broker is and callboard's topics, created if missing so no client auto-creates
them wrong. Shared by every process that talks to Kafka."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaConnectionError, TopicAlreadyExistsError
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_exponential

from base.config import Settings

__all__ = ["Stuck", "TopicLayoutError", "TopicWatch", "bootstrap_servers", "ensure_changelogs",
           "ensure_topics", "forbid_client_auto_create", "layout_problem", "topic_id"]

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


def ensure_changelogs(settings: Settings, names: list[str]) -> None:
    """The worker's table changelogs (compacted, one partition per events partition),
    made again on a broker that came back without them: Faust declares a topic once per
    process and never again."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers(settings.broker_url))
    try:
        missing = [n for n in names if n not in set(admin.list_topics())]
        if missing:
            try:
                admin.create_topics([NewTopic(n, settings.topic_partitions,
                                              settings.topic_replication,
                                              topic_configs={"cleanup.policy": "compact"})
                                     for n in missing])
                log.info("created changelog topics %s", ", ".join(missing))
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()


def topic_id(settings: Settings, topic: str) -> str | None:
    """The topic's id (Kafka's topic UUID, KIP-516): a topic deleted and made again, or a
    broker that came back empty, gives a new one. None when the broker does not say."""
    # Asked by the worker each few seconds and on each restore: an answer late by more
    # than this is asked again rather than waited for.
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers(settings.broker_url),
                             request_timeout_ms=5000)
    try:
        found = admin.describe_topics([topic])[0]
    finally:
        admin.close()
    if found.get("error_code"):
        return None
    value = found.get("topic_id")
    return str(value) if value and str(value).strip("0-") else None


class TopicWatch:
    """Tells when a topic was made again (its id changed: the local stack rolled or
    restarted its broker): a consumer's positions, and its group's offsets, then belong to
    a topic that is gone. Asks the broker at most every ``every_s``."""

    def __init__(self, settings: Settings, topic: str, every_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic,
                 ask: Callable[[Settings, str], str | None] | None = None) -> None:
        self.settings = settings
        self.topic = topic
        self.every_s = every_s
        self.clock = clock
        self.ask = ask or topic_id
        self.known: str | None = None
        self._next = 0.0

    def changed(self) -> bool:
        """True once for each new id after the first one seen."""
        now = self.clock()
        if now < self._next:
            return False
        self._next = now + self.every_s
        try:
            current = self.ask(self.settings, self.topic)
        except Exception as exc:  # noqa: BLE001  # kafka-python's errors: asked again later
            log.debug("cannot learn %s's id now (%r)", self.topic, exc)
            return False
        if current is None:
            return False
        before, self.known = self.known, current
        return before is not None and before != current


class Stuck:
    """Tells when a group consumer has held no partition for ``limit_s``: after the local
    broker came back empty, a kafka-python consumer that rejoined with its old member id
    waited for ever on SyncGroup (the archiver, twice under load). Made anew, it joins.
    Not sooner: closing a consumer in the middle of a join left the local broker's group
    rebalancing for ever (the notifier, in a month run)."""

    def __init__(self, limit_s: float = 20.0, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.limit_s = limit_s
        self.clock = clock
        self._since: float | None = None

    def __call__(self, assigned: bool) -> bool:
        now = self.clock()
        if assigned:
            self._since = None
            return False
        if self._since is None:
            self._since = now
        if now - self._since < self.limit_s:
            return False
        self._since = None  # the new consumer gets its own time
        return True
