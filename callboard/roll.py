"""Rolling the local stack's broker: an empty one in place of one that only grows.

The local broker (Tansu 0.6.0, memory only) never frees a record and its fetches slow
as a partition grows (docs/broker.md). Deleting records is not implemented there, so
the only way to free it is a new broker. A roll, run by ``callboard up``, is a
supervised restart of the readers around a new broker:

1. the producers are paused (SIGSTOP: a paused producer sends nothing, and what it
   had in flight is sent again to the new broker);
2. the workers are stopped: each reads its partitions to the broker's end, sends what
   they raised, and writes them to files beside the stack
   (base/local_broker/carried.py), outside the broker;
3. the roll checks that the files cover every record the broker holds, waits until the
   archive holds them too and the notifier every alert, and copies the dead letters to
   a file (nobody else reads that topic);
4. the other readers (notifier, archiver) are stopped, the broker is replaced by an
   empty one on the same port, the topics are made, the readers start again and the
   producers go on.

A broker change is a restart (``callboard/localstack.py`` ``_new_broker``, the same
for a broker that died): each reader begins from its own files and the events topic's
new id (Kafka's topic UUID), the worker from its checkpoint and the archiver from its
position, reading the new topic from its first record; event ids keep anything read
twice out. A roll whose readers are not whole within ``local_roll_drain_s`` is called
off: the workers start again on the old broker, the producers go on into it (nothing
is lost), and it is tried again later.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from base.config import Settings
from base.local_broker.carried import saved_offsets
from base.topics import bootstrap_servers, topic_id

__all__ = ["Drain", "RollClock", "drain", "rss_mb"]

log = logging.getLogger(__name__)
# The supervisor's terminal is for the stack's news, not each client's connection.
logging.getLogger("kafka").setLevel(logging.WARNING)


def rss_mb(pid: int) -> float | None:
    """A process's resident memory in MB (Linux /proc), None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return None
    return None


@dataclass
class RollClock:
    """When the next roll is due: at ``local_roll_at`` on the centre's clock, when the
    broker holds more than ``local_roll_above_mb``, or every ``local_roll_every_s``."""

    settings: Settings
    last: float  # time.time() of the last roll (or the broker's start)
    not_before: float = 0.0  # after a roll that was called off

    def due(self, now: float, broker_mb: float | None) -> str | None:
        """Why a roll is due now, or None."""
        s = self.settings
        if now < self.not_before:
            return None
        if s.local_roll_every_s and now - self.last >= s.local_roll_every_s:
            return f"every {s.local_roll_every_s:g} s"
        if broker_mb is not None and broker_mb > s.local_roll_above_mb:
            return f"the broker holds {broker_mb:.0f} MB (local_roll_above_mb {s.local_roll_above_mb})"
        if s.local_roll_at:
            hour, minute = (int(x) for x in s.local_roll_at.split(":"))
            local = datetime.fromtimestamp(now, s.zone)
            mark = local.replace(hour=hour, minute=minute, second=0, microsecond=0).timestamp()
            if self.last < mark <= now:
                return f"the quiet hour ({s.local_roll_at})"
        return None


@dataclass
class Drain:
    """What the broker holds and how much of it each reader has."""

    events_end: dict[int, int]  # partition -> high watermark
    alerts_end: int
    dead_end: int
    worker: dict[int, int]  # partition -> next offset checkpointed in this topic
    archive: dict[int, int]  # partition -> next offset archived
    notifier: int  # next alert offset committed

    def behind(self) -> list[str]:
        """Who does not hold everything yet ([] when the broker may go)."""
        late = [f"worker p{p} {self.worker.get(p, 0)}/{end}"
                for p, end in self.events_end.items() if self.worker.get(p, 0) < end]
        late += [f"archive p{p} {self.archive.get(p, 0)}/{end}"
                 for p, end in self.events_end.items() if self.archive.get(p, 0) < end]
        if self.notifier < self.alerts_end:
            late.append(f"notifier {self.notifier}/{self.alerts_end}")
        return late


def _ends(settings: Settings, topics: list[tuple[str, int]], deadline_s: float = 10.0
          ) -> dict[tuple[str, int], int]:
    """High watermarks, from fetch answers: the local broker's ListOffsets is wrong
    (docs/broker.md, gap 1)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers(settings.broker_url),
                             group_id=None, enable_auto_commit=False,
                             allow_auto_create_topics=False, auto_offset_reset="earliest",
                             fetch_max_wait_ms=50, max_partition_fetch_bytes=1024)
    try:
        tps = [TopicPartition(t, p) for t, p in topics]
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, 0)
        end = time.monotonic() + deadline_s
        found: dict[tuple[str, int], int] = {}
        while len(found) < len(tps):
            if time.monotonic() > end:
                raise TimeoutError(f"no fetch answer for {sorted(set(topics) - set(found))}")
            consumer.poll(timeout_ms=100, max_records=1, update_offsets=False)
            for tp in tps:
                mark = consumer.highwater(tp)
                if mark is not None:
                    found[(tp.topic, tp.partition)] = mark
        return found
    finally:
        consumer.close()


def _notifier_position(settings: Settings) -> int:
    from kafka.admin import KafkaAdminClient

    group = f"{settings.app_id}-notify"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers(settings.broker_url))
    try:
        offsets = admin.list_group_offsets(group).get(group, {})
    finally:
        admin.close()
    return max((o.offset for tp, o in offsets.items() if tp.topic == settings.alerts_topic),
               default=0)


def _archived(settings: Settings, source: str | None) -> dict[int, int]:
    """Each partition's next offset to archive, in the topic of id ``source``: a position
    kept in another topic (the last roll's, before the archiver met the new one) covers
    none of this topic's records."""
    found = {}
    for partition in range(settings.topic_partitions):
        path = (Path(settings.archive_dir) / ".positions"
                / f"{settings.events_topic}-p{partition}.json")
        try:
            saved = json.loads(path.read_text())
            same = source is not None and saved.get("source") == source
            found[partition] = int(saved["next_offset"]) if same else 0
        except (FileNotFoundError, ValueError, KeyError, AttributeError):
            found[partition] = 0
    return found


def _copy_dead_letters(settings: Settings, end: int, out: Path) -> None:
    """The dead-letter topic's records to a JSON-lines file (it outlives the broker)."""
    if end == 0:
        return
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers(settings.broker_url),
                             group_id=None, enable_auto_commit=False,
                             allow_auto_create_topics=False, fetch_max_wait_ms=50)
    tp = TopicPartition(settings.dead_letter_topic, 0)
    lines = []
    try:
        consumer.assign([tp])
        consumer.seek(tp, 0)
        deadline = time.monotonic() + 30
        while consumer.position(tp) < end and time.monotonic() < deadline:
            for message in consumer.poll(timeout_ms=200).get(tp, []):
                if message.offset < end:
                    lines.append((message.value or b"").replace(b"\n", b" ") + b"\n")
    finally:
        consumer.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("ab") as fh:
        fh.writelines(lines)


def drain(settings: Settings, state_dir: Path) -> float | str:
    """With the workers stopped, wait until nothing on the broker is held only there.
    Returns the seconds waited, or what was still behind (at once when it is a worker's
    file: a stopped worker writes no more)."""
    assert settings.checkpoint_dir is not None
    started = time.monotonic()
    deadline = started + settings.local_roll_drain_s
    behind: list[str] = ["nothing read yet"]
    while time.monotonic() < deadline:
        saved = saved_offsets(settings.checkpoint_dir, settings.topic_partitions)
        topics = [(settings.events_topic, p) for p in range(settings.topic_partitions)]
        topics += [(settings.alerts_topic, 0), (settings.dead_letter_topic, 0)]
        try:
            ends = _ends(settings, topics)
            notifier = _notifier_position(settings)
            source = topic_id(settings, settings.events_topic)
            archived = _archived(settings, source)
        except Exception as exc:  # noqa: BLE001  # kafka-python's errors: try again
            behind = [f"the broker did not answer ({exc!r})"]
            time.sleep(0.5)
            continue
        state = Drain(
            events_end={p: ends[(settings.events_topic, p)] for p in range(settings.topic_partitions)},
            alerts_end=ends[(settings.alerts_topic, 0)],
            dead_end=ends[(settings.dead_letter_topic, 0)],
            # A file of another topic id counts for nothing here (the last roll's).
            worker={p: offset + 1 if source is not None and file_source == source else 0
                    for p, (offset, file_source) in saved.items()},
            archive=archived, notifier=notifier)
        behind = state.behind()
        if not behind:
            _copy_dead_letters(settings, state.dead_end,
                               state_dir / "dead-letters" / f"{datetime.now(settings.zone):%Y-%m-%d}.jsonl")
            return time.monotonic() - started
        if any(state.worker.get(p, 0) < end for p, end in state.events_end.items()):
            break  # a stopped worker writes no more
        time.sleep(0.5)
    return "; ".join(behind)
