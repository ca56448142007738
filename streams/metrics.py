"""The worker's Prometheus metrics, read from its state at scrape time (docs/operations.md).

The record counters are the pipelines' own (folded with the records and kept in
their checkpoints), summed over the partitions this worker holds now: a
restart keeps them, a rebalance that moves a partition away shows as a counter
reset, which Prometheus' ``rate()`` already handles.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

from prometheus_client import Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from streams.status import WorkerStatus

__all__ = ["BATCH_SECONDS", "WorkerCollector"]

BATCH_SECONDS = Histogram(
    "callboard_batch_seconds", "Time to count one batch of records (parse, fold, ladders)",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))

_COUNTERS = {
    "events_in": "Records read from the events topic",
    "events_counted": "Events counted",
    "duplicates": "Events already counted under the same event id",
    "dead_letters": "Records set aside on the dead-letter topic (all reasons)",
    "lost_waiting": "Calls dropped from 'waiting' after max_wait_h without an outcome",
    "gaps_filled": "Batches that started past the records counted (the consumer jumped); "
                   "what lay between was read from the broker first",
    "gap_records": "Records read from the broker to fill such gaps",
}


class WorkerCollector(Collector):
    def __init__(self, status: WorkerStatus) -> None:
        self.status = status

    def collect(self) -> Iterator[Metric]:
        status = self.status
        pipelines = list(status.pipelines().values())
        totals: Counter[str] = Counter()
        for pipeline in pipelines:
            totals.update(pipeline.stats)
        for name, text in _COUNTERS.items():
            yield CounterMetricFamily(f"callboard_{name}", text, value=totals[name])
        reasons = CounterMetricFamily("callboard_dead_letters_by_reason",
                                      "Records set aside, by reason", labels=["reason"])
        alerts = CounterMetricFamily("callboard_ladder_steps",
                                     "Surge-ladder step changes fired", labels=["direction"])
        for key, value in sorted(totals.items()):
            if key.startswith("dead_letter."):
                reasons.add_metric([key.removeprefix("dead_letter.")], value)
            elif key.startswith("alerts."):
                alerts.add_metric([key.removeprefix("alerts.")], value)
        yield reasons
        yield alerts
        now_ms = time.time() * 1000
        last_write_ms = status.last_write_ms()
        yield GaugeMetricFamily("callboard_snapshot_age_seconds",
                                "Seconds since the last successful write to Redis",
                                value=(now_ms - last_write_ms) / 1000
                                if last_write_ms else float("nan"))
        liveness = status.liveness
        yield GaugeMetricFamily("callboard_broker_contact_age_seconds",
                                "Seconds since the broker last answered the worker's probe",
                                value=(now_ms - liveness.broker_ok_ms) / 1000)
        yield GaugeMetricFamily("callboard_partitions", "Partitions counted here, restored",
                                value=len(pipelines))
        stalled = liveness.progress.stalled(int(now_ms), status.stale_after_ms)
        yield GaugeMetricFamily(
            "callboard_partitions_stalled",
            "Partitions with records waiting that none was counted from for stale_after_s",
            value=len(stalled))
        unread = GaugeMetricFamily("callboard_unread_records",
                                   "Records on the broker not yet counted, per partition",
                                   labels=["partition"])
        for partition, seen in sorted(liveness.progress.seen().items()):
            unread.add_metric([str(partition)], seen.unread)
        yield unread
        yield CounterMetricFamily("callboard_restores", "Partitions restored by this process",
                                  value=status.restores())
        sizes = GaugeMetricFamily("callboard_table_entries", "Entries in the worker's state",
                                  labels=["table"])
        sizes.add_metric(["buckets"], sum(len(p.engine.buckets) for p in pipelines))
        sizes.add_metric(["live"], sum(len(p.engine.live) for p in pipelines))
        sizes.add_metric(["callers"], sum(len(p.engine.callers) for p in pipelines))
        yield sizes
        yield GaugeMetricFamily("callboard_ready", "1 once every assigned partition is restored",
                                value=1 if status.not_ready is None else 0)
