"""Changes to aiokafka and Faust for the Tansu broker (``TansuProfile.install``).

Both were found by the restart test (a worker stopped mid-log, a new one
started on the same group) and are recorded in docs/broker.md:

1. Kafka numbers consumer-group generations from 1; Tansu from 0. aiokafka
   sends LeaveGroup on shutdown only when ``generation > 0``, so a worker that
   stops cleanly in its first generation stays a member, and the next worker
   is handed no partitions. This makes aiokafka leave at generation 0 too.
2. After such a restart Faust acknowledged every offset twice, and its commit
   step (``Consumer._new_offset``) takes only the first run of *consecutive*
   numbers from the acked list: ``[7, 8, 8, 9, 9]`` commits 9 and stops, so the
   committed offset crept forward one record per commit interval. Counting
   stayed exact (event ids are deduplicated), but lag never drained and every
   restart re-read more. Deduplicating the acked list before Faust reads it
   keeps the commit whole. An offset acknowledged twice is still acknowledged
   once, so this cannot commit anything that was not processed.

3. Tansu does not answer a waiting fetch when data arrives: it holds it for
   most of ``fetch_max_wait_ms``, which Faust fixes at 1500 ms. Measured here
   at 2,000 events/s, a plain aiokafka consumer saw p50 357 ms with 1500 ms,
   23 ms with 100 ms and 7 ms with 10 ms. The worker's consumer waits at most
   ``LOCAL_FETCH_MAX_WAIT_MS`` instead (idle cost: a fetch every 20 ms).
4. ...but Tansu answers with what it found within that wait, and each fetch lists
   every batch the partition holds (~1.5 us each, never deleted): past ~33,000
   batches a partition got empty answers for good (fetch_wait.py).
   ``widen_fetch_wait`` doubles the wait for a partition that has records waiting
   and does not move, or crawls through a backlog.

Production (Apache Kafka) does not take these paths.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.errors import KafkaError
from aiokafka.protocol.group import LeaveGroupRequest
from faust.transport.consumer import Consumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from base.local_broker.fetch_wait import FetchWait

__all__ = ["apply_local_broker_fixes", "widen_fetch_wait"]

log = logging.getLogger(__name__)
_original_leave = GroupCoordinator._maybe_leave_group
_original_new_offset = Consumer._new_offset
_original_create_worker_consumer = AIOKafkaConsumerThread._create_worker_consumer
LOCAL_FETCH_MAX_WAIT_MS = 20


async def _maybe_leave_group(self: Any) -> None:
    if self.generation == 0 and self._group_instance_id is None:
        try:
            await self._send_req(LeaveGroupRequest(self.group_id, self.member_id))
        except KafkaError as err:
            log.error("LeaveGroup request failed: %s", err)
        else:
            log.info("LeaveGroup at generation 0 succeeded (local broker)")
        self.reset_generation()
        return
    await _original_leave(self)


def _new_offset(self: Any, tp: Any) -> int | None:
    acked = self._acked[tp]
    if acked:
        committed = self._committed_offset[tp]
        acked[:] = sorted({o for o in acked if committed is None or o >= committed})
    return _original_new_offset(self, tp)


def _starting_with(live_wait: FetchWait) -> Callable[[AIOKafkaConsumerThread, Any], Any]:
    def _create_worker_consumer(self: Any, transport: Any) -> Any:
        consumer = _original_create_worker_consumer(self, transport)
        consumer._fetch_max_wait_ms = live_wait.wait_ms  # read when the consumer starts
        return consumer

    return _create_worker_consumer


def widen_fetch_wait(consumer: Any, topic: str, live_wait: FetchWait) -> int | None:
    """Give the worker's fetches a longer wait when a partition of ``topic`` that Faust
    is reading has records waiting and gets none, or crawls through a backlog (see 4.
    above); the new wait, or None.

    Only a partition that is fetched and empty-handed counts as stuck: not one paused,
    or held back by Faust while its stream is busy (a restore), or with fetched records
    not yet taken. Those also stand still, and widening for them would only slow the
    board (an idle fetch is held for most of the wait).
    """
    inner = consumer._thread._consumer  # aiokafka's consumer, once started
    if inner is None or inner._fetcher is None or consumer.app.in_recovery:
        return None
    assignment = inner._fetcher._subscriptions.subscription
    if assignment is None or assignment.assignment is None:
        return None
    asked = consumer._active_partitions  # None: not narrowed yet, every assigned one
    widened = None
    for tp in assignment.assignment.tps:
        if tp.topic != topic:
            continue
        state = assignment.assignment.state_value(tp)
        fetching = ((asked is None or tp in asked) and not state.paused and tp not in inner._fetcher._records
                    and state.has_valid_position)
        position = state.position if fetching else None
        wider = live_wait.observe(tp.partition, position, state.highwater)
        if wider is not None:
            widened = wider
            log.warning("local broker: partition %s of %s is at offset %s of %s and not "
                        "keeping up; fetches now wait up to %s ms",
                        tp.partition, topic, position, state.highwater, wider)
    if widened is not None:
        # Both: the fetcher's copy is read for every fetch request.
        inner._fetch_max_wait_ms = inner._fetcher._fetch_max_wait_ms = widened
    return widened


def apply_local_broker_fixes(live_wait: FetchWait) -> None:
    """Patch the classes themselves: Faust and aiokafka build these objects inside, with
    no hook to hand them others. Every consumer of the process gets ``live_wait``'s wait."""
    # mypy: assigning to a method is the point here.
    GroupCoordinator._maybe_leave_group = _maybe_leave_group
    Consumer._new_offset = _new_offset  # type: ignore[method-assign]
    create = _starting_with(live_wait)
    AIOKafkaConsumerThread._create_worker_consumer = create  # type: ignore[method-assign,assignment]
