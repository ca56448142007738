"""The local broker keeps everything in memory: restarted, it comes back empty, and
with it the worker's checkpoints. A broker change is a restart: the worker must not
crash in place of saying so, must not let a client's question create its topics with
the broker's default layout, and, started again, must count what arrives after (not
skip it as already read)."""

from __future__ import annotations

import json
import subprocess

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic

from base.topics import bootstrap_servers
from callboard import services
from tests.integration.helpers import ROOT, Stack, wait_until
from tests.unit.factories import at, call, event

pytestmark = pytest.mark.integration


def test_the_worker_stops_when_the_broker_comes_back_empty_and_started_again_counts_on(
        stack: Stack, logs_dir):
    """A broker change is a restart: the worker does not mend itself in place (nor let a
    client's question make its topics with the broker's default layout); it says the
    broker lost its records and exits, and a worker started again makes the topics
    with their layout and counts what arrives after."""
    port = services.free_port()
    broker = services.start_broker(port, logs_dir / f"broker-{port}.log")
    stack.env["CALLBOARD_BROKER_URL"] = f"kafka://127.0.0.1:{port}"
    try:
        first, second = (stack.logs / f"{stack.app_id}-{n}.jsonl" for n in ("a", "b"))
        first.write_text("".join(json.dumps(e) + "\n" for i in range(4)
                                 for e in call(f"a{i}", at(10, i), answer_after_s=5)))
        second.write_text("".join(json.dumps(e) + "\n" for i in range(2)
                                  for e in call(f"b{i}", at(10, 10 + i), answer_after_s=5)))
        worker = stack.start("worker", name="worker")
        stack.cli("publish", str(first))

        def offered() -> int:
            snap = stack.snapshot("GEN")
            return snap["windows"]["day"]["offered"] if snap else 0

        wait_until(lambda: offered() == 4, 90, "the first four calls")
        services.stop(broker)
        broker = services.start_broker(port, logs_dir / f"broker-{port}b.log")  # empty
        wait_until(lambda: worker.poll() is not None, 60, "the worker to stop")
        assert worker.returncode != 0
        assert "the broker lost its records" in stack.log_tail("worker", 400)
        stack.start("worker", name="worker-again")
        wait_until(lambda: _partitions(port, stack.env["CALLBOARD_EVENTS_TOPIC"]) == 3, 60,
                   "the events topic back with its 3 partitions")
        stack.cli("publish", str(second), timeout=180)
        # No checkpoint outside the broker (no checkpoint_dir): the figures start again
        # from what the new broker holds, the two calls sent after the restart.
        wait_until(lambda: offered() == 2, 120, "the two calls sent after the restart")
    finally:
        services.stop(broker)


def _partitions(port: int, topic: str) -> int:
    admin = KafkaAdminClient(bootstrap_servers=[f"127.0.0.1:{port}"])
    try:
        if topic not in admin.list_topics():
            return 0
        return len(admin.describe_topics([topic])[0]["partitions"])
    finally:
        admin.close()


def test_the_simulator_publishes_on_after_the_broker_restarts_empty(stack: Stack, logs_dir):
    """Before: kafka-python's idempotent producer held a producer id the new broker did
    not know, and every send failed as fatal, for good ("Unexpected error in Init")."""
    port = services.free_port()
    broker = services.start_broker(port, logs_dir / f"broker-{port}.log")
    stack.env["CALLBOARD_BROKER_URL"] = f"kafka://127.0.0.1:{port}"
    topic = stack.env["CALLBOARD_EVENTS_TOPIC"]
    simulator = stack.start("simulate", "--duration", "8h", "--speed", "30", "--flat",
                            name="simulate")
    try:
        wait_until(lambda: _records(port, topic) > 0, 60, "the simulator's first events")
        services.stop(broker)
        broker = services.start_broker(port, logs_dir / f"broker-{port}b.log")  # empty
        wait_until(lambda: _records(port, topic) >= 20, 90,
                   "events on the broker that came back empty")
        assert simulator.poll() is None
    finally:
        services.stop(simulator)
        services.stop(broker)


def test_the_worker_refuses_an_events_topic_of_another_layout(stack: Stack):
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers(stack.env["CALLBOARD_BROKER_URL"]))
    try:
        admin.create_topics([NewTopic(stack.env["CALLBOARD_EVENTS_TOPIC"], 2, 1)])
    finally:
        admin.close()
    result = subprocess.run(services.callboard_argv("worker"), env=stack.env, cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert (f"the topic {stack.env['CALLBOARD_EVENTS_TOPIC']} has 2 partitions but "
            "topic_partitions is 3") in result.stderr


def _records(port: int, topic: str) -> int:
    """Records the topic holds now. Counted from its offsets, not read: an iterator
    with consumer_timeout_ms ends only after that long without a new record, and the
    simulator beside it never pauses that long (it kept one going for minutes)."""
    consumer = KafkaConsumer(bootstrap_servers=[f"127.0.0.1:{port}"],
                             allow_auto_create_topics=False)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in partitions]
        if not tps:
            return 0
        first, end = consumer.beginning_offsets(tps), consumer.end_offsets(tps)
        return sum(end[tp] - first[tp] for tp in tps)
    finally:
        consumer.close()


def test_a_checkpoint_beyond_what_the_broker_holds_counts_on_from_it(stack: Stack):
    """Issue 22 (5): under `callboard up` the worker kept its checkpoints while the broker
    came back empty; restored at their old offsets, past the new broker's end, the
    partitions counted nothing, silently. Now: the broker's end below the checkpoint is
    a source reset, said and counted, and counting goes on from the checkpoint with what
    the broker holds, from its first record (a re-sent event counted once)."""
    import asyncio

    from kafka.partitioner.default import murmur2

    from base.assemble import pipeline_rules
    from base.config import Settings
    from core.pipeline import Pipeline
    from core.records import Record
    from streams.shards import Shards
    from streams.tables import save_checkpoint

    settings = Settings(broker_url=stack.env["CALLBOARD_BROKER_URL"], events_topic=stack.topic,
                        topic_partitions=3, broker_profile="local", clock="event")
    rules = pipeline_rules(settings)
    calls = [call(f"a{i}", at(10, i), answer_after_s=5) for i in range(4)]
    before = [e for c in calls for e in c]
    after = [e for i in range(2) for e in call(f"b{i}", at(10, 10 + i), answer_after_s=5)]
    partition = (murmur2(b"GEN") & 0x7FFFFFFF) % 3
    # The checkpoint as the worker kept it: the four calls counted, the old broker's
    # partition read far beyond what the new one will hold.
    kept = Pipeline(rules)
    kept.feed([Record(json.dumps(e).encode(), partition, 490 + i) for i, e in enumerate(before)])
    table: dict = {}
    save_checkpoint(table, partition, kept.encode(), kept.offsets[partition])
    # The new broker holds the first of those calls again (a producer re-sent it), then
    # two new ones.
    log = stack.logs / f"{stack.app_id}-after.jsonl"
    log.write_text("".join(json.dumps(e) + "\n" for e in [*calls[0], *after]))
    stack.cli("publish", str(log))
    async def nothing(*_: object) -> None:
        return None

    shards = Shards(settings, rules, table, lambda *_: None)  # type: ignore[arg-type]
    pipeline = asyncio.run(shards.get(partition, nothing))
    assert pipeline.stats["source_resets"] == 1
    # Six calls in all: the four from the checkpoint (one of them again, counted once)
    # and the two after.
    counters = pipeline.engine.counters_between("GEN", at(10, 0), at(11, 0))
    assert (counters["entered"], counters["answered"]) == (6, 6)
    assert pipeline.offsets[partition] == len(calls[0]) + len(after) - 1


def test_records_the_consumer_skipped_are_read_from_the_broker_before_a_batch(stack: Stack):
    """The pipeline's offset moves only as records are fed, so records a consumer jumped
    over would be skipped for good (a worker that lived through rolls once counted 2 of
    4572 events fewer than the file). A batch that starts past the pipeline's offset now first reads what lies
    between from the broker; a batch that follows on reads nothing."""
    import asyncio

    from kafka.partitioner.default import murmur2

    from base.assemble import pipeline_rules
    from base.config import Settings
    from core.pipeline import Pipeline
    from core.records import Record
    from streams.shards import Shards

    settings = Settings(broker_url=stack.env["CALLBOARD_BROKER_URL"], events_topic=stack.topic,
                        topic_partitions=3, broker_profile="local", clock="event")
    rules = pipeline_rules(settings)
    events = [e for i in range(5) for e in call(f"c{i}", at(10, i), answer_after_s=5)]
    partition = (murmur2(b"GEN") & 0x7FFFFFFF) % 3
    log = stack.logs / f"{stack.app_id}-jump.jsonl"
    log.write_text("".join(json.dumps(e) + "\n" for e in events))
    stack.cli("publish", str(log))
    records = [Record(json.dumps(e).encode(), partition, offset)
               for offset, e in enumerate(events)]  # one partition: offsets in file order
    per_call = len(events) // 5

    async def nothing(*_: object) -> None:
        return None

    shards = Shards(settings, rules, {}, lambda *_: None)  # type: ignore[arg-type]
    pipeline = Pipeline(rules)
    pipeline.feed(records[:per_call])  # the first call, as the consumer gave it
    # A batch that follows on: nothing read.
    follows = records[per_call:2 * per_call]
    assert asyncio.run(shards.fill_gap(pipeline, partition, follows, nothing)) == 0
    pipeline.feed(follows)
    # The consumer jumps to the last call: the two calls between come from the broker.
    last = records[4 * per_call:]
    read = asyncio.run(shards.fill_gap(pipeline, partition, last, nothing))
    assert read == 3 * per_call  # the two between and the last itself, to the end
    pipeline.feed(last)  # already counted: nothing twice
    counters = pipeline.engine.counters_between("GEN", at(10, 0), at(11, 0))
    assert (counters["entered"], counters["answered"]) == (5, 5)
    assert (pipeline.stats["gaps_filled"], pipeline.stats["gap_records"]) == (1, 3 * per_call)


def test_a_worker_on_its_way_out_reads_each_partition_to_the_end_before_its_file(
        stack: Stack, tmp_path):
    """A roll stops the workers with the producers paused, then lets the broker go once
    the files cover every record it holds (callboard/roll.py): on its way out a worker
    reads what its consumer had not handed it yet, sends what those records raise, and
    only then writes the file."""
    import asyncio

    from kafka.partitioner.default import murmur2

    from base.assemble import pipeline_rules
    from base.config import Settings
    from base.local_broker.carried import read_checkpoint_file
    from core.pipeline import Pipeline
    from core.records import Record
    from streams.shards import Shards

    settings = Settings(broker_url=stack.env["CALLBOARD_BROKER_URL"], events_topic=stack.topic,
                        topic_partitions=3, broker_profile="local", clock="event",
                        checkpoint_dir=tmp_path)
    rules = pipeline_rules(settings)
    # Six callers from 10:00:00-10:00:05, none answered, then a seventh at 10:05:30.
    # The manual's step 1 (more than 5 waiting for 5 minutes, lines 139-150) is due when
    # the sixth has waited 5 minutes, 10:05:05, and the seventh's event reaches it: it is
    # raised by a record the consumer had not handed over.
    events = [event("call.offered", at(10, 0, i), "GEN", call_id=f"w{i}") for i in range(6)]
    events.append(event("call.offered", at(10, 5, 30), "GEN", call_id="w6"))
    partition = (murmur2(b"GEN") & 0x7FFFFFFF) % 3
    log = stack.logs / f"{stack.app_id}-out.jsonl"
    log.write_text("".join(json.dumps(e) + "\n" for e in events))
    stack.cli("publish", str(log))
    records = [Record(json.dumps(e).encode(), partition, offset)
               for offset, e in enumerate(events)]
    shards = Shards(settings, rules, {}, lambda *_: None)  # type: ignore[arg-type]
    pipeline = Pipeline(rules)
    pipeline.feed(records[:3])  # what the consumer had handed over when the stop came
    shards.pipelines[partition], shards.sources[partition] = pipeline, "topic-a"
    raised: list[dict] = []

    async def on_result(_pipeline: Pipeline, result) -> None:  # type: ignore[no-untyped-def]
        raised.extend(result.alerts)

    asyncio.run(shards.carry_out(on_result=on_result))
    saved = read_checkpoint_file(tmp_path, partition)
    assert saved is not None and saved.offset == len(events) - 1
    assert Pipeline.decode(rules, saved.blob).offsets == {partition: len(events) - 1}
    assert [(a["step"], a["event_ms"]) for a in raised if a["direction"] == "up"] == [
        (1, at(10, 5, 5))], raised


def test_no_kafka_python_client_of_callboard_makes_a_topic_it_names(stack: Stack, monkeypatch):
    """Issue 19: kafka-python 3.0.12 drops a consumer's allow_auto_create_topics=False on
    the way to its metadata requests, so a consumer subscribed to a topic the broker had
    lost made it again with the broker's own layout (after a roll: the alerts topic with
    4 partitions instead of 1). With base.topics.forbid_client_auto_create (every
    `callboard` process calls it) a consumer asks and waits; nothing is made."""
    import time as _time

    from kafka.cluster import ClusterMetadata

    from base.topics import forbid_client_auto_create

    servers = bootstrap_servers(stack.env["CALLBOARD_BROKER_URL"])
    admin = KafkaAdminClient(bootstrap_servers=servers)

    def subscribe_and_poll(topic: str) -> None:
        consumer = KafkaConsumer(bootstrap_servers=servers, group_id=None,
                                 allow_auto_create_topics=False)
        try:
            consumer.subscribe([topic])
            end = _time.monotonic() + 2
            while _time.monotonic() < end:
                consumer.poll(timeout_ms=200)
        finally:
            consumer.close()

    # As kafka-python is, whatever another test of this process did before.
    monkeypatch.setitem(ClusterMetadata.DEFAULT_CONFIG, "allow_auto_create_topics", True)
    try:
        # The flag is lost and the broker makes the topic.
        unguarded = f"{stack.topic}-asked"
        subscribe_and_poll(unguarded)
        assert unguarded in admin.list_topics()
        forbid_client_auto_create()
        guarded = f"{stack.topic}-forbidden"
        subscribe_and_poll(guarded)
        assert guarded not in admin.list_topics()
    finally:
        admin.close()
