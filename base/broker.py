"""Which Kafka-protocol broker callboard talks to, decided once per process.

Production code asks the profile for its Faust, producer and topic options and
calls its fetch hooks; for Apache Kafka every answer is Kafka's default and every
hook does nothing, so the code reads as if Kafka were the only broker. The local
stack's Tansu broker needs workarounds (docs/broker.md); they all live in
``base/local_broker/`` and come in through ``base.assemble.broker_profile`` alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypedDict

if TYPE_CHECKING:
    from aiokafka import AIOKafkaConsumer

__all__ = ["BacklogTuner", "BrokerProfile", "FaustOptions", "KafkaProfile"]


class FaustOptions(TypedDict, total=False):
    """The Faust settings a profile may change from Faust's defaults."""

    broker_session_timeout: float
    broker_heartbeat_interval: float
    broker_rebalance_timeout: float
    producer_max_batch_size: int


# Called after each fetch of a backlog read: (consumer, partition, position, target).
BacklogTuner = Callable[["AIOKafkaConsumer", int, int, "int | None"], None]


class BrokerProfile(Protocol):
    name: str
    replication_factor: int

    def install(self) -> None:
        """Process-wide changes to the Kafka clients; once, before the first client."""

    def faust_options(self) -> FaustOptions: ...

    def producer_options(self) -> dict[str, object]: ...

    def tune_live_fetches(self, consumer: object, topic: str) -> None:
        """Every refresh tick, with the worker's Faust consumer."""

    def backlog_tuner(self) -> BacklogTuner:
        """A hook for one backlog read (a restore re-reading its partition)."""
        ...


def _leave_as_is(_consumer: AIOKafkaConsumer, _partition: int, _position: int,
                 _target: int | None) -> None:
    return None


class KafkaProfile:
    """Apache Kafka: its defaults, nothing to work around."""

    name = "production"

    def __init__(self, replication_factor: int) -> None:
        self.replication_factor = replication_factor

    def install(self) -> None:
        return None

    def faust_options(self) -> FaustOptions:
        return {}

    def producer_options(self) -> dict[str, object]:
        return {}

    def tune_live_fetches(self, consumer: object, topic: str) -> None:
        return None

    def backlog_tuner(self) -> BacklogTuner:
        return _leave_as_is
