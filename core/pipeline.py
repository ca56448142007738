"""The one counting pipeline: records in (in source order), figures and alerts out.

The live worker feeds it batches, ``callboard report`` / ``callboard alerts``
and the tests feed it a whole file, and all of them get the same state, because
everything the figures depend on lives here and is a function of the records
alone:

- each record is parsed, bounded and either counted or dead-lettered on its own,
  so one bad record never costs another;
- records at or below the offset already folded for their partition are
  skipped, so re-reading the source after a restart counts nothing twice;
- the surge ladders move on the event time of the log they are read from (one
  partition live, the file offline), never on another partition's: a queue that
  goes quiet still signs out while its partition's other queues go on;
- the operator's counters (``stats``) are folded with the records, so they come
  back with the state after a restart.

The state encodes to one checkpoint (``encode``/``decode``) that covers the
source up to ``offsets``: restoring it and re-reading the source from there
gives the same state as never having stopped (docs/architecture.md).
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import cast
from zoneinfo import ZoneInfo

from core.engine import Engine
from core.escalation import LadderSet, transition_docs
from core.events import TICKET_TYPES, EventError, parse
from core.forecast import ForecastRules
from core.history import Span, history_row
from core.ladder import LadderRules, Transition
from core.records import (
    Alert,
    DeadLetterDoc,
    Drill,
    Escalation,
    Event,
    HistoryRow,
    Outlook,
    Record,
    Snapshot,
    TicketMonth,
)
from core.rules import RuleBook
from core.snapshot import drill_doc, queue_snapshot
from core.state import LiveQueue, MinuteBucket, minute_key_text, parse_minute_key
from core.tickets import TicketBook, TicketRules, against_targets, ticket_alert
from core.tickets import figures as ticket_figures
from core.timebuckets import month_bounds

__all__ = ["DeadLetter", "FeedResult", "Pipeline", "PipelineRules"]

# 2: typed records (state.py) with worded fields; 3: answer times for B16. A
# checkpoint of another schema is not read: the worker counts that partition
# again from the topic.
CHECKPOINT_SCHEMA = 3
_TICKET_KEEP_MS = 62 * 86_400_000
_DEAD_LETTER_VALUE_BYTES = 4096  # a dead letter carries at most this much of the original


@dataclass(frozen=True)
class DeadLetter:
    """A record set aside, with why; ``doc()`` is what goes to the dead-letter topic."""

    reason: str
    detail: str
    record: Record

    def doc(self, source_topic: str, seen_ms: int) -> DeadLetterDoc:
        value = self.record.value
        body: DeadLetterDoc = {
            "reason": self.reason, "detail": self.detail, "topic": source_topic,
            "partition": self.record.partition, "offset": self.record.offset,
            "seen_ms": seen_ms, "bytes": len(value),
            "value": value[:_DEAD_LETTER_VALUE_BYTES].decode("utf-8", errors="replace"),
        }
        if len(value) > _DEAD_LETTER_VALUE_BYTES:
            # Too large to forward whole: keep the head and a hash of the original.
            body["sha256"] = hashlib.sha256(value).hexdigest()
            body["truncated"] = True
        return body


@dataclass(frozen=True)
class PipelineRules:
    """Everything the pipeline needs from the configuration, built once at the edge."""

    rule_book: RuleBook
    zone: ZoneInfo
    ladder_rules: LadderRules
    ladder_groups: dict[str, list[str]]
    retention_ms: int | None
    max_wait_ms: int
    repeat_window_ms: int
    caller_key: str
    scheduled_ms: Callable[[str, int, int], int] | None = None
    # Live input only: an event stamped further ahead of the wall clock than
    # this is dead-lettered as "future" (it would move its queue's clock).
    max_future_ms: int = 60_000
    queue_order: tuple[str, ...] = ()  # configured queues, in the order reports list them
    unknown_queues: str = "accept"  # or "reject": only configured queues are counted
    max_unconfigured_queues: int = 64
    forecast: ForecastRules = field(default_factory=ForecastRules)  # the breach warning
    tickets: TicketRules | None = None  # working days and reply times (None: weekends only)


@dataclass
class FeedResult:
    """What one feed did: for the edge to send, write and count."""

    counted: int = 0
    dead: list[DeadLetter] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    queues: set[str] = field(default_factory=set)
    minutes: set[tuple[str, int]] = field(default_factory=set)


class Pipeline:
    """One shard's state (the queues of one partition, or every queue offline)."""

    def __init__(self, rules: PipelineRules) -> None:
        self.rules = rules
        self.engine = Engine(
            rules.rule_book.rules_for, rules.zone, retention_ms=rules.retention_ms,
            max_wait_ms=rules.max_wait_ms, repeat_window_ms=rules.repeat_window_ms,
            caller_key=rules.caller_key, scheduled_ms=rules.scheduled_ms,
        )
        self.ladders = LadderSet(rules.ladder_rules, rules.zone, rules.ladder_groups,
                                 rules.forecast)
        self.tickets = TicketBook(rules.tickets or TicketRules(rules.zone, _weekday))
        self._month_cache: dict[str, tuple[int, list[TicketMonth]]] = {}
        self.stats: Counter[str] = Counter()
        self.offsets: dict[int, int] = {}  # partition -> last offset folded
        self.expired_before: dict[str, int] = {}  # queue -> minutes before it are gone
        # Unconfigured queues counted (max_unconfigured_queues); None: rebuilt from the
        # state at first use (a restored checkpoint holds their live state).
        self._unconfigured: set[str] | None = None

    # ------------------------------------------------------------------ input
    def feed(self, records: Iterable[Record], wall_ms: int | None = None) -> FeedResult:
        """Fold records in source order; ``wall_ms`` (live input) enables the future check."""
        out = FeedResult()
        valid: list[Event] = []
        for record in records:
            if record.offset >= 0:
                if record.offset <= self.offsets.get(record.partition, -1):
                    continue  # already in this state: a re-read after a restart
                self.offsets[record.partition] = record.offset
            self.stats["events_in"] += 1
            try:
                event = parse(record.value)
            except EventError as exc:
                self._dead(out, exc.reason, exc.detail, record)
                continue
            if wall_ms is not None and event["ts_ms"] > wall_ms + self.rules.max_future_ms:
                self._dead(out, "future", f"ts_ms {event['ts_ms']} is more than "
                           f"{self.rules.max_future_ms} ms ahead of the wall clock", record)
                continue
            valid.append(event)
        self._count(valid, out)
        return out

    def feed_events(self, events: list[Event]) -> FeedResult:
        """Fold events that are already validated (tests, the report's callers)."""
        out = FeedResult()
        self.stats["events_in"] += len(events)
        self._count(events, out)
        return out

    def _count_tickets(self, events: list[Event], out: FeedResult) -> None:
        before = self.tickets.duplicates
        refused = self.tickets.apply(events)
        for event, exc in refused:
            self._dead(out, exc.reason, exc.detail, Record(json.dumps(event).encode(), -1, -1))
        self.stats["tickets_counted"] += len(events) - len(refused)
        self.stats["ticket_duplicates"] += self.tickets.duplicates - before
        out.counted += len(events) - len(refused)

    def expire(self) -> int:
        """Drop minute buckets past the retention; changes no figure (they are late)."""
        if self.rules.retention_ms is not None:
            for queue in self.queues():
                clock = self.queue_clock(queue)
                if clock:
                    self.expired_before[queue] = clock - self.rules.retention_ms
        expired = self.engine.expire()
        self.stats["expired_buckets"] += expired
        clock = max((self.queue_clock(q) or 0 for q in self.queues()), default=0)
        if self.rules.retention_ms is not None and clock:
            # Closed tickets are kept for the month they were opened in and the next.
            self.stats["tickets_forgotten"] += self.tickets.forget_before(clock - _TICKET_KEEP_MS)
        return expired

    def _admitted(self, queue: str) -> bool:
        """A configured queue always; another while fewer than the limit are counted
        (in source order: which ones does not depend on the batching)."""
        if queue in self.rules.rule_book.queues:
            return True
        if self.rules.unknown_queues == "reject":
            return False
        if self._unconfigured is None:  # after a restore: the queues the state holds
            self._unconfigured = {q for q in self.engine.live if q not in self.rules.rule_book.queues}
        if queue in self._unconfigured:
            return True
        if len(self._unconfigured) >= self.rules.max_unconfigured_queues:
            return False
        self._unconfigured.add(queue)
        return True

    def _count(self, events: list[Event], out: FeedResult) -> None:
        admitted = []
        for event in events:
            if self._admitted(event["queue"]):
                admitted.append(event)
                continue
            why = ("unknown_queues = \"reject\"" if self.rules.unknown_queues == "reject" else
                   f"{self.rules.max_unconfigured_queues} unconfigured queues are counted "
                   "already (max_unconfigured_queues)")
            self._dead(out, "unknown_queue", f"queue {event['queue']!r} is not configured; {why}",
                       Record(json.dumps(event).encode(), -1, -1))
        events = [e for e in admitted if e["type"] not in TICKET_TYPES]
        if len(events) < len(admitted):
            self._count_tickets([e for e in admitted if e["type"] in TICKET_TYPES], out)
        result = self.engine.apply(events)
        self.stats["events_counted"] += result.applied
        self.stats["duplicates"] += result.duplicates
        self.stats["lost_waiting"] += result.lost_waiting
        for event in result.late:
            self._dead(out, "late", "older than the retention of the windows it belongs to",
                       Record(json.dumps(event).encode(), -1, -1))
        for event, reason, detail in result.conflicting:
            self._dead(out, reason, detail, Record(json.dumps(event).encode(), -1, -1))
        out.counted += result.applied
        out.queues |= result.queues
        out.minutes |= result.minutes
        if result.signals or result.applied:
            changed = self.ladders.feed(result.signals)
            changed += self.ladders.advance(self.log_clock())
            out.alerts += self._alerts(changed)
        out.alerts += self._ticket_alerts(self.log_clock())

    def advance(self, now_ms: int) -> list[Alert]:
        """Let time pass to ``now_ms`` for every ladder (live, once the input is caught
        up): a stuck queue's deadlines fall due while no event arrives."""
        return self._alerts(self.ladders.advance(now_ms)) + self._ticket_alerts(now_ms)

    def finish(self) -> list[Alert]:
        """End of a file: every ladder's time runs to the file's last event."""
        clock = self.log_clock()
        return self._alerts(self.ladders.advance(clock)) + self._ticket_alerts(clock)

    def _ticket_alerts(self, now_ms: int) -> list[Alert]:
        docs = [ticket_alert(t, d, at, self.rules.zone)
                for t, d, at in self.tickets.alerts_due(now_ms)]
        for doc in docs:
            self.stats[f"alerts.{doc['direction']}"] += 1
        return docs

    def _alerts(self, changed: list[tuple[str, Transition]]) -> list[Alert]:
        docs = transition_docs(self.rules.rule_book.rules_for, self.engine, self.ladders, changed)
        for doc in docs:
            self.stats[f"alerts.{doc['direction']}"] += 1
        return docs

    def _dead(self, out: FeedResult, reason: str, detail: str, record: Record) -> None:
        self.stats["dead_letters"] += 1
        self.stats[f"dead_letter.{reason}"] += 1
        out.dead.append(DeadLetter(reason, detail, record))

    # ------------------------------------------------------------------ reads
    def log_clock(self) -> int:
        """The time of the log this pipeline reads (its partition live, the file offline):
        its newest event. Every ladder moves on it, so a queue that goes quiet after a
        surge still signs out step by step while the others' calls go on (manual lines
        146-147); live, the wall clock moves it too once the partition is read to its end
        (streams/refresh.py)."""
        return max((state.newest_ms for state in self.engine.live.values()), default=0)

    def queue_clock(self, queue: str) -> int | None:
        state = self.engine.live.get(queue)
        return state.newest_ms if state else None

    def queues(self) -> list[str]:
        return self.engine.queues()

    def kept_from(self, queue: str) -> int | None:
        """Minutes of the queue before this time have been expired (None: none yet); a
        history row reaching back before it can no longer be summed."""
        return self.expired_before.get(queue)

    def history_row(self, span: Span, end_ms: int, now_ms: int) -> HistoryRow:
        """The half-hour or day row of ``span`` as of ``now_ms`` (open agent time included)."""
        counters, _ = self.engine.window(span.queue, span.start_ms, end_ms, now_ms)
        return history_row(self.rules.rule_book.rules_for(span.queue), span.start_ms, end_ms,
                           counters, self.rules.zone)

    def escalation(self, queue: str) -> Escalation | None:
        """The step in force for the queue's ladder, for its snapshot."""
        ladders = self.ladders
        for group in ladders.group_of.get(queue, ()):
            ladder = ladders.ladders[group]
            if ladder.step:
                rung = ladders.rules.ladder(ladder.mode)[ladder.step - 1]
                return {"group": group, "step": ladder.step, "mode": ladder.mode,
                        "since_ms": ladder.changed_ms, "name_zh": rung.name_zh,
                        "name_en": rung.name_en, "action_zh": rung.action_zh,
                        "action_en": rung.action_en}
        return None

    def snapshot(self, queue: str, now_ms: int,
                 planned: Callable[[str, int], int | None] | None = None) -> Snapshot:
        """The queue's board snapshot at ``now_ms``: figures, seats needed, ladder step."""
        snap = queue_snapshot(self.engine, self.rules.rule_book.rules_for(queue), now_ms, planned)
        snap["now"]["escalation"] = self.escalation(queue)
        snap["now"]["outlook"] = self.outlook(queue)
        tickets = self.tickets.status(queue, now_ms)
        if tickets is not None:  # queues that never had a ticket carry nothing new
            snap["now"]["tickets"] = tickets
        return snap

    def outlook(self, queue: str) -> Outlook | None:
        """The breach estimate of the queue's ladder group (the first that has one)."""
        for group in self.ladders.group_of.get(queue, ()):
            found = self.ladders.outlook(group)
            if found is not None:
                return cast(Outlook, found)
        return None

    def drill(self, queue: str, now_ms: int) -> Drill:
        """The queue's drill-down at ``now_ms``: callers waiting, agents, last abandoned;
        its pressing tickets and the month's A4-A7 when it has tickets."""
        doc = drill_doc(queue, self.engine.live_state(queue), now_ms)
        if queue in self.tickets.open_ids:
            doc["tickets"] = self.tickets.pressing(queue, now_ms)
            doc["tickets_month"] = self._ticket_month(queue, now_ms)
        return doc

    def _ticket_month(self, queue: str, now_ms: int) -> list[TicketMonth]:
        # A month of tickets is walked at most once a minute per queue.
        minute = now_ms // 60_000
        cached = self._month_cache.get(queue)
        if cached is None or cached[0] != minute:
            start, end = month_bounds(now_ms, self.rules.zone)
            mine = [t for t in self.tickets.tickets.values() if t.queue == queue]
            cached = (minute, against_targets(ticket_figures(mine, start, end, now_ms)))
            self._month_cache[queue] = cached
        return cached[1]

    # ------------------------------------------------------------ checkpoint
    def encode(self) -> bytes:
        """The whole state as one compressed document."""
        doc = {
            "schema": CHECKPOINT_SCHEMA,
            "offsets": {str(p): o for p, o in self.offsets.items()},
            "stats": dict(self.stats),
            "buckets": {minute_key_text(key): bucket.to_doc()
                        for key, bucket in self.engine.buckets.items()},
            "live": {queue: state.to_doc() for queue, state in self.engine.live.items()},
            "ladders": self.ladders.state(),
            "expired_before": self.expired_before,
            "tickets": self.tickets.to_json(),
        }
        return zlib.compress(json.dumps(doc, separators=(",", ":")).encode(), 1)

    @classmethod
    def decode(cls, rules: PipelineRules, blob: bytes) -> Pipeline:
        doc = json.loads(zlib.decompress(blob))
        if doc.get("schema") != CHECKPOINT_SCHEMA:
            raise ValueError(f"checkpoint schema {doc.get('schema')!r}, this build reads "
                             f"{CHECKPOINT_SCHEMA}")
        pipeline = cls(rules)
        pipeline.offsets = {int(p): o for p, o in doc["offsets"].items()}
        pipeline.stats.update(doc["stats"])
        for key, bucket in doc["buckets"].items():
            pipeline.engine.buckets[parse_minute_key(key)] = MinuteBucket.from_doc(bucket)
        for queue, state in doc["live"].items():
            pipeline.engine.live[queue] = LiveQueue.from_doc(state)
        pipeline.ladders.restore(doc["ladders"])
        pipeline.expired_before = dict(doc["expired_before"])
        if "tickets" in doc:  # checkpoints before tickets have none
            pipeline.tickets = TicketBook.from_json(pipeline.tickets.rules, doc["tickets"])
        return pipeline


def _weekday(day: date) -> bool:
    return day.weekday() < 5


def fold_file(rules: PipelineRules, lines: Iterable[bytes], wall_ms: int | None = None
              ) -> tuple[Pipeline, FeedResult]:
    """A whole file through one pipeline, as if it were one partition, ladders run to its
    end: the offline reference. Blank lines are not records; ``wall_ms`` turns on the
    "future" check (a recording holds nothing from after it is read)."""
    pipeline = Pipeline(rules)
    records = (Record(line.rstrip(b"\r\n")) for line in lines if line.strip())
    result = pipeline.feed(records, wall_ms)
    result.alerts += pipeline.finish()
    return pipeline, result
