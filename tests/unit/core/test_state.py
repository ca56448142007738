"""Typed stored records: the key codec and the checkpoint form of each record."""

from core.engine import event_digest
from core.state import (
    ANSWERED,
    LiveQueue,
    MinuteBucket,
    minute_key_text,
    parse_minute_key,
)


def test_minute_keys_round_trip_through_their_text_form():
    for key in [("GEN", 0), ("vip.gold-2", 1_767_571_200_000), ("a_b", 60_000)]:
        text = minute_key_text(key)
        assert text == f"{key[0]}|{key[1]}"
        assert parse_minute_key(text) == key


def test_a_minute_bucket_comes_back_from_its_document_unchanged():
    bucket = MinuteBucket()
    bucket.counters["entered"] = 3
    bucket.ids = {event_digest("e1"), event_digest("e2")}
    bucket.done = {"c1": ANSWERED}
    bucket.agents = {"a1": [1, 2, 3]}
    bucket.repeated = {"c1"}
    bucket.callers = {"c1": ("ab12", 1_000)}
    doc = bucket.to_doc()
    assert isinstance(doc["ids"], str)  # 2 digests of 12 bytes, base64: 32 characters
    assert len(doc["ids"]) == 32
    assert MinuteBucket.from_doc(doc) == bucket


def test_a_live_queue_comes_back_from_its_document_unchanged():
    state = LiveQueue(waiting={"c1": 5}, agents={"a1": ["available", 7]}, newest_ms=9)
    assert LiveQueue.from_doc(state.to_doc()) == state
