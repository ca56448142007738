"""The worker's parts in memory, each through its narrow interface: no broker, no Redis.

Faust's topics and consumer are replaced by recording stand-ins that offer the one or
two calls each part makes; the real ones are exercised by tests/integration."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

from aiokafka import TopicPartition
from prometheus_client.core import Metric

from base.assemble import pipeline_rules
from base.broker import KafkaProfile
from base.config import Settings
from core.pipeline import Pipeline
from core.records import Record
from streams.metrics import WorkerCollector
from streams.progress import Liveness
from streams.refresh import Refresh
from streams.sender import Sender
from streams.shards import Shards
from streams.status import WorkerStatus
from streams.writer import Pending, write_changes
from tests.unit.factories import at, call, event

SETTINGS = Settings(stale_after_s=5)


class RecordingTopic:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bytes]] = []

    async def send(self, key: bytes, value: bytes) -> None:
        self.sent.append((key, value))


def surge_alert(alert_id: str) -> dict:
    return {"alert_id": alert_id, "queue": "GEN", "step": 1, "direction": "up",
            "event_time": "2026-01-05T09:05:05+08:00", "waiting": 6}


def test_each_alert_id_goes_to_the_topic_once_and_none_before_the_sent_ones_are_known():
    async def run() -> list[str]:
        topic = RecordingTopic()
        sender = Sender(SETTINGS, topic, RecordingTopic())
        sender.produced.add("GEN:1:up:1")  # already on the topic before this restart
        first = asyncio.create_task(sender.send_alert(surge_alert("GEN:2:up:2")))
        await asyncio.sleep(0)  # one turn of the loop: the task runs until it must wait
        assert not first.done() and topic.sent == []  # held until the sent ids are read
        sender.produced_loaded.set()
        await first
        for alert_id in ("GEN:1:up:1", "GEN:2:up:2", "GEN:3:down:1", "GEN:3:down:1"):
            await sender.send_alert(surge_alert(alert_id))
        return [json.loads(value)["alert_id"] for _key, value in topic.sent]

    assert asyncio.run(run()) == ["GEN:2:up:2", "GEN:3:down:1"]


def test_a_dead_letter_goes_out_keyed_by_its_reason_with_its_place_in_the_source():
    async def run() -> list[tuple[bytes, bytes]]:
        letters = RecordingTopic()
        pipeline = Pipeline(pipeline_rules(SETTINGS, offline=True))
        result = pipeline.feed([Record(b"{not json", 2, 41)])
        sender = Sender(SETTINGS, RecordingTopic(), letters)
        for letter in result.dead:
            await sender.dead_letter(letter)
        return letters.sent

    [(key, value)] = asyncio.run(run())
    doc = json.loads(value)
    assert key == b"malformed_json"
    assert (doc["partition"], doc["offset"], doc["value"], doc["topic"]) == (
        2, 41, "{not json", SETTINGS.events_topic)


def test_snapshots_are_stamped_with_the_earlier_of_the_broker_and_the_partition():
    liveness = Liveness(now_ms=1_000)
    assert liveness.source_ok_ms(0) == 1_000  # no progress seen yet: the broker's time
    liveness.broker_answered(9_000)
    liveness.progress.observe(0, position=10, highwater=50, now_ms=4_000)  # behind since 4 s
    liveness.progress.observe(1, position=7, highwater=7, now_ms=9_500)  # caught up
    assert liveness.source_ok_ms(0) == 4_000
    assert liveness.source_ok_ms(1) == 9_000


class FlakyWriter:
    """Redis is down for the first write, back for the second."""

    def __init__(self) -> None:
        self.calls: list[tuple[set[str], set[tuple[str, int]]]] = []
        self.expired = 0
        self.called = asyncio.Event()

    async def write(self, queues, stats, minutes) -> bool:
        self.calls.append((set(queues), set(minutes)))
        self.called.set()
        return len(self.calls) > 1

    def expire(self) -> None:
        self.expired += 1


def test_what_a_failed_write_held_is_written_on_the_next_try():
    async def run() -> FlakyWriter:
        pending, writer = Pending(), FlakyWriter()
        loop = asyncio.create_task(write_changes(pending, writer, {}))  # type: ignore[arg-type]
        pending.queues, pending.minutes = {"GEN"}, {("GEN", 0)}
        pending.dirty.set()
        async with asyncio.timeout(5):
            await writer.called.wait()  # the first write, Redis down
            writer.called.clear()
            pending.touch(["VIP"])  # more work arrives while Redis is down
            await writer.called.wait()  # the next write
        loop.cancel()
        return writer

    writer = asyncio.run(run())
    assert writer.calls == [({"GEN"}, {("GEN", 0)}), ({"GEN", "VIP"}, {("GEN", 0)})]
    assert writer.expired == 1  # once every counted minute had its row


def _status(shards: Shards) -> WorkerStatus:
    return WorkerStatus(pipelines=shards, liveness=Liveness(0), stale_after_ms=5_000,
                        restores=lambda: shards.restores, last_write_ms=lambda: 0)


def _shards_with(pipelines: dict[int, Pipeline]) -> Shards:
    shards = Shards(SETTINGS, pipeline_rules(SETTINGS), None,  # type: ignore[arg-type]  # no table needed
                    KafkaProfile(1).backlog_tuner())
    shards.pipelines.update(pipelines)
    return shards


def test_a_partition_with_records_waiting_that_does_not_move_counts_as_stalled():
    pipeline = Pipeline(pipeline_rules(SETTINGS))
    pipeline.feed([Record(json.dumps(e).encode(), 0, i)
                   for i, e in enumerate(call("c1", at(9, 0), answer_after_s=5))])
    shards = _shards_with({0: pipeline})
    status = _status(shards)
    highwater = {0: 10}  # offsets 0-1 counted (offered, answered); 8 records wait
    consumer = SimpleNamespace(highwater=lambda tp: highwater[tp.partition])
    clock = iter([100.0, 103.0, 106.0])
    refresh = Refresh(SETTINGS, SimpleNamespace(consumer=consumer), KafkaProfile(1),
                      shards, status, Pending(), on_result=None, send_alert=None,
                      clock=lambda: next(clock))
    refresh.watch_progress({0})  # first look at 100 s
    refresh.watch_progress({0})  # 3 s later, not moved: not yet stale (5 s)
    assert status.stats["partitions.stalled"] == 0
    refresh.watch_progress({0})  # 6 s without moving
    assert status.stats["partitions.stalled"] == 1
    refresh.count_state()
    assert (status.stats["table.live"], status.stats["restores"]) == (1, 0)


def test_the_metrics_read_the_status_and_sum_every_partitions_counters():
    a, b = Pipeline(pipeline_rules(SETTINGS)), Pipeline(pipeline_rules(SETTINGS))
    a.feed([Record(json.dumps(event("call.offered", at(9, 0), "GEN", call_id="x")).encode(), 0, 0),
            Record(b"[]", 0, 1)])
    b.feed([Record(json.dumps(event("call.offered", at(9, 0), "VIP", call_id="y")).encode(), 1, 0)])
    status = _status(_shards_with({0: a, 1: b}))
    status.not_ready = None
    metrics: dict[str, Metric] = {m.name: m for m in WorkerCollector(status).collect()}

    def value(name: str, **labels: str) -> float:
        return next(s.value for s in metrics[name].samples
                    if s.name.endswith(("_total", name)) and all(s.labels.get(k) == v
                                                               for k, v in labels.items()))

    assert value("callboard_events_in") == 3
    assert value("callboard_events_counted") == 2
    assert value("callboard_dead_letters_by_reason", reason="not_an_object") == 1
    assert value("callboard_partitions") == 2
    assert value("callboard_ready") == 1


class RebalancedConsumer:
    """aiokafka's consumer after a rebalance took partition 1 away: asking for the
    high watermark of a partition no longer assigned fails its assertion, as it did
    when a second worker joined (issue #19)."""

    def __init__(self, topic: str) -> None:
        self.topic = topic

    def assignment(self) -> set:
        return {TopicPartition(self.topic, 0)}

    def highwater(self, tp) -> int:
        assert tp.partition == 0, "Partition is not assigned"
        return 2


def test_a_partition_a_rebalance_took_away_is_left_alone_until_its_revoke_is_handled():
    rules = pipeline_rules(SETTINGS)
    kept, taken = Pipeline(rules), Pipeline(rules)
    for pipeline, partition in ((kept, 0), (taken, 1)):
        pipeline.feed([Record(json.dumps(e).encode(), partition, i)
                       for i, e in enumerate(call(f"c{partition}", at(9, 0), answer_after_s=5))])
    shards = _shards_with({0: kept, 1: taken})
    status = _status(shards)
    sent: list = []

    async def send(alert) -> None:
        sent.append(alert)

    consumer = RebalancedConsumer(SETTINGS.events_topic)
    refresh = Refresh(SETTINGS, SimpleNamespace(consumer=consumer), KafkaProfile(1), shards,
                      status, Pending(), on_result=None, send_alert=send, clock=lambda: 200.0)
    assigned = refresh.assigned()
    assert assigned == {0}
    refresh.watch_progress(assigned)  # before the fix: AssertionError, and the worker died
    asyncio.run(refresh.advance_ladders(assigned))
    assert set(status.liveness.progress.seen()) == {0}
    # The assignment can change between two calls: asked anyway, it answers None.
    assert refresh._highwater(1) is None  # noqa: SLF001  # the guard itself


def test_a_restore_goes_on_from_the_furthest_checkpoint_of_this_topic_else_the_newest(tmp_path):
    """The changelog's checkpoint and the file the local stack keeps beside it
    (base/local_broker/carried.py): of this topic id, the one covering most; of none, the newest."""
    from base.local_broker.carried import Saved, write_checkpoint_file
    from streams.tables import save_checkpoint

    settings = Settings(checkpoint_dir=tmp_path)
    table: dict = {}
    shards = Shards(settings, pipeline_rules(settings), table,  # type: ignore[arg-type]
                    lambda *_: None)
    assert shards._saved(0, "new") is None  # noqa: SLF001
    save_checkpoint(table, 0, b"changelog", 95, "old")  # type: ignore[arg-type]
    table["0|head"]["saved_ms"] = 1  # written long before the file
    write_checkpoint_file(tmp_path, 0, b"file", 90, "older")
    newest = shards._saved(0, "new")  # noqa: SLF001  # neither is of this topic
    assert isinstance(newest, Saved) and newest.blob == b"file"
    assert shards._saved(0, "old").blob == b"changelog"  # noqa: SLF001  # this topic's
    save_checkpoint(table, 0, b"changelog-new", 3, "new")  # type: ignore[arg-type]
    assert shards._saved(0, "new").blob == b"changelog-new"  # noqa: SLF001


def test_on_the_way_out_each_partition_goes_to_its_file_only_once_its_alerts_are_out(tmp_path):
    """A broker change is a restart (callboard/localstack.py): a worker stopped with
    SIGTERM writes what it counted to its files, so the next start goes on from there;
    but not while its alerts cannot reach the broker (a restart from such a file would
    never raise them again)."""
    from base.local_broker.carried import read_checkpoint_file

    settings = Settings(checkpoint_dir=tmp_path)
    rules = pipeline_rules(settings)
    pipeline = Pipeline(rules)
    pipeline.feed([Record(json.dumps(e).encode(), 0, i)
                   for i, e in enumerate(call("c", at(9, 0), answer_after_s=5))])

    async def stuck() -> None:  # a dead broker: the producer's flush never ends
        await asyncio.sleep(3600)

    async def flushed() -> None:
        return None

    held = Shards(settings, rules, {}, lambda *_: None, stuck)  # type: ignore[arg-type]
    held.pipelines[0], held.sources[0] = pipeline, "topic-a"
    asyncio.run(held.carry_out(within_s=0.05))
    assert read_checkpoint_file(tmp_path, 0) is None
    out = Shards(settings, rules, {}, lambda *_: None, flushed)  # type: ignore[arg-type]
    out.pipelines[0], out.sources[0] = pipeline, "topic-a"
    asyncio.run(out.carry_out())
    saved = read_checkpoint_file(tmp_path, 0)
    assert saved is not None and (saved.offset, saved.source) == (1, "topic-a")
    assert Pipeline.decode(rules, saved.blob).offsets == {0: 1}


def test_on_the_way_out_with_the_broker_away_each_partition_still_goes_to_its_file(tmp_path):
    """A stop reads each partition to the broker's end first (a roll's); with nothing
    listening on the broker's port that read fails, and what was counted still goes to
    the files, every partition's."""
    import socket

    from base.local_broker.carried import read_checkpoint_file

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings(checkpoint_dir=tmp_path, broker_url=f"kafka://127.0.0.1:{port}")
    rules = pipeline_rules(settings)
    emitted: list[object] = []

    async def on_result(_pipeline: Pipeline, result: object) -> None:
        emitted.append(result)

    async def flushed() -> None:
        return None

    shards = Shards(settings, rules, {}, lambda *_: None, flushed)  # type: ignore[arg-type]
    for partition in (0, 1):
        pipeline = Pipeline(rules)
        pipeline.feed([Record(json.dumps(e).encode(), partition, i)
                       for i, e in enumerate(call(f"c{partition}", at(9, 0), answer_after_s=5))])
        shards.pipelines[partition], shards.sources[partition] = pipeline, "topic-a"
    asyncio.run(asyncio.wait_for(shards.carry_out(on_result=on_result), 60))
    for partition in (0, 1):
        saved = read_checkpoint_file(tmp_path, partition)
        assert saved is not None and (saved.offset, saved.source) == (1, "topic-a")
    assert emitted == []  # nothing read, nothing handed on


class _Probe:
    """A broker that answers, then does not."""

    def __init__(self, answers: list[bool]) -> None:
        self.answers, self.topics = answers, {SETTINGS.events_topic}

    async def ok(self) -> bool:
        return self.answers.pop(0)

    def partitions(self, _topic: str) -> int:
        return SETTINGS.topic_partitions


def test_when_the_broker_stops_answering_the_worker_carries_its_state_to_its_files(tmp_path):
    """The stack meets a dead broker by starting the worker again on an empty one: what
    it counted since its last checkpoint goes to its files the moment the broker stops
    answering, once (a worker stopped with the broker dead never got to its way out)."""
    from base.local_broker.carried import read_checkpoint_file

    settings = Settings(checkpoint_dir=tmp_path)
    rules = pipeline_rules(settings)
    pipeline = Pipeline(rules)
    pipeline.feed([Record(json.dumps(e).encode(), 0, i)
                   for i, e in enumerate(call("c", at(9, 0), answer_after_s=5))])

    async def flushed() -> None:
        return None

    shards = Shards(settings, rules, {}, lambda *_: None, flushed)  # type: ignore[arg-type]
    shards.pipelines[0] = pipeline
    status = _status(shards)
    recovering = SimpleNamespace(recovery=SimpleNamespace(completed=asyncio.Event()),
                                 values=lambda: [])
    app = SimpleNamespace(consumer=None, tables=recovering)
    refresh = Refresh(settings, app, KafkaProfile(1), shards, status, Pending(),  # type: ignore[arg-type]
                      on_result=None, send_alert=None)
    refresh.probe = _Probe([True, False, False])  # type: ignore[assignment]
    asyncio.run(refresh.tick())  # answers: nothing carried out
    assert read_checkpoint_file(tmp_path, 0) is None
    asyncio.run(refresh.tick())  # stopped answering: carried out
    saved = read_checkpoint_file(tmp_path, 0)
    assert saved is not None and saved.offset == 1
    (tmp_path / "p0.checkpoint").unlink()
    asyncio.run(refresh.tick())  # still away: once is enough
    assert read_checkpoint_file(tmp_path, 0) is None
