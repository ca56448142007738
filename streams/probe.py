"""The worker's own look at the broker, with a deadline."""

from __future__ import annotations

import asyncio
import logging

from aiokafka.client import AIOKafkaClient
from aiokafka.cluster import ClusterMetadata
from aiokafka.errors import KafkaError

from base.topics import bootstrap_servers

__all__ = ["BrokerProbe"]

log = logging.getLogger(__name__)


class BrokerProbe:
    """Asks the broker for its metadata, with a deadline. Faust keeps the last figures
    and retries quietly while the broker is away or hangs; the board must not show
    them as live meanwhile (a TCP connect alone would pass a frozen broker)."""

    def __init__(self, broker_url: str, timeout_s: float = 1.0) -> None:
        self.servers = bootstrap_servers(broker_url)
        self.timeout_s = timeout_s
        self.client: AIOKafkaClient | None = None
        self.topics: set[str] = set()  # the broker's topics, as of the last answer
        self._cluster: ClusterMetadata | None = None

    async def ok(self) -> bool:
        try:
            if self.client is None:
                client = AIOKafkaClient(bootstrap_servers=self.servers,
                                        request_timeout_ms=int(self.timeout_s * 1000))
                await asyncio.wait_for(client.bootstrap(), self.timeout_s)
                self.client = client
                cluster = client.cluster
            else:
                cluster = await asyncio.wait_for(self.client.fetch_all_metadata(),
                                                 self.timeout_s)
        except (KafkaError, OSError, TimeoutError) as exc:
            log.debug("broker probe failed: %r", exc)
            return False
        self.topics = set(cluster.topics())
        self._cluster = cluster
        return True

    def partitions(self, topic: str) -> int:
        found = self._cluster.partitions_for_topic(topic) if self._cluster else None
        return len(found or ())

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
