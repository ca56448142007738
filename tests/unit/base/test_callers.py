"""A caller's number is hashed at the edge (issue #30 §2): the hash is keyed, stable, and
hashing twice changes nothing; the last 4 digits stay apart for the drill-down."""

from __future__ import annotations

import hashlib
import hmac

from base.callers import caller_hash, protect

OFFERED = {"v": 1, "event_id": "e1", "type": "call.offered", "ts_ms": 1_767_578_400_000,
           "queue": "GEN", "source": "test", "call_id": "c1", "caller": "138-0013-8000"}


def test_the_number_becomes_a_keyed_hash_and_its_last_four_digits():
    out = protect(OFFERED, "centre-secret")
    # HMAC-SHA256 of the number without its dashes, under the deployment's key.
    want = hmac.new(b"centre-secret", b"13800138000", hashlib.sha256).hexdigest()[:32]
    assert out["caller"] == "h1:" + want
    assert out["caller_tail"] == "8000"
    assert "13800138000" not in str(out) and OFFERED["caller"] == "138-0013-8000"


def test_the_same_number_the_same_hash_another_key_another_and_twice_is_once():
    a = protect(OFFERED, "k1")
    assert protect({**OFFERED, "caller": "13800138000"}, "k1")["caller"] == a["caller"]
    assert protect(OFFERED, "k2")["caller"] != a["caller"]
    assert protect(a, "k1") is a and caller_hash(a["caller"], "k2") == a["caller"]


def test_an_event_without_a_caller_is_left_as_it_is():
    event = {k: v for k, v in OFFERED.items() if k != "caller"}
    assert protect(event, "k1") is event
    assert protect({**OFFERED, "caller": "anonymous"}, "k1").get("caller_tail") is None


def test_the_schema_takes_a_tail_of_up_to_four_digits_only():
    import pytest

    from core.events import EventError, validate

    validate(protect(OFFERED, "k1"))
    with pytest.raises(EventError, match="caller_tail"):
        validate({**OFFERED, "caller_tail": "38000"})


def test_the_drill_down_shows_the_tail_and_never_the_hash():
    from core.engine import mask_caller

    hidden = protect(OFFERED, "k1")
    assert mask_caller(hidden["caller"], hidden["caller_tail"]) == "••••8000"
    assert mask_caller(hidden["caller"]) == "••••"
    assert mask_caller("13800138000") == "••••8000"  # an older recording, in the clear
