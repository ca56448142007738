"""Queue names in any script (issue #31 §3): 家庭业务 is counted like GEN; what a name may
not hold, and how keys and element ids carry it."""

from __future__ import annotations

import json
import unicodedata

import pytest

from base.assemble import pipeline_rules
from base.config import ConfigError, Settings, load_settings
from base.keys import RedisKeys, safe_name
from core.events import EventError, queue_name_problem, validate
from core.pipeline import fold_file
from core.report import report_rows
from tests.unit.factories import at, call


@pytest.mark.parametrize("name", ["GEN", "家庭业务", "投诉处理专席", "Ödeme", "קו חם", "VIP.2"])
def test_a_name_in_any_script_is_a_queue(name):
    assert queue_name_problem(name) is None


@pytest.mark.parametrize(("name", "why"), [
    ("", "1-64"), ("x" * 65, "1-64"), (" GEN", "space"), ("GEN|1", "'|'"), ("a/b", "'/'"),
    ("<b>", "'<'"), ("a%2F", "'%'"), ("客服\u202egnp", "U+202E"), ("a\u2028b", "U+2028"),
    ("e\u0301", "NFC"),
])
def test_what_a_name_may_not_hold(name, why):
    assert why in (queue_name_problem(name) or "")


def test_an_event_s_queue_is_taken_in_nfc_so_one_name_typed_two_ways_is_one_queue():
    decomposed = unicodedata.normalize("NFD", "Ödeme")
    event = {"v": 1, "event_id": "e1", "type": "call.offered", "ts_ms": at(10, 0),
             "queue": decomposed, "source": "t", "call_id": "c1"}
    assert validate(event)["queue"] == "Ödeme"
    with pytest.raises(EventError):
        validate({**event, "queue": "客服\u202egnp"})


def test_keys_and_ids_carry_a_name_encoded_and_plain_names_as_before():
    keys = RedisKeys("cb")
    assert keys.snapshot("GEN") == "cb:snapshot:GEN"  # unchanged for every ASCII name
    assert safe_name("家庭业务") == "%E5%AE%B6%E5%BA%AD%E4%B8%9A%E5%8A%A1"
    assert keys.intervals("家庭业务") == "cb:intervals:%E5%AE%B6%E5%BA%AD%E4%B8%9A%E5%8A%A1"
    assert safe_name("a b") == "a%20b" and safe_name("a:b") == "a%3Ab"


def test_a_centre_configures_and_counts_queues_named_in_chinese():
    settings = Settings(queues=[{"name": "家庭业务", "label_en": "Home"}, {"name": "GEN"}])
    events = [*call("a", at(10, 0), queue="家庭业务", answer_after_s=10, talk_s=60),
              *call("b", at(10, 1), queue="家庭业务", abandon_after_s=40),
              *call("c", at(10, 2), queue="GEN", answer_after_s=5, talk_s=60)]
    pipeline, _ = fold_file(pipeline_rules(settings, offline=True),
                            [json.dumps(e, ensure_ascii=False).encode() for e in events])
    rows = {r["queue"]: r for r in report_rows(pipeline, "day")}
    assert rows["家庭业务"]["offered"] == 2 and rows["家庭业务"]["answered"] == 1
    assert rows["GEN"]["offered"] == 1


def test_a_bad_queue_name_in_the_settings_stops_start_up_with_the_key(tmp_path):
    path = tmp_path / "centre.toml"
    path.write_text('[[queues]]\nname = "家庭/业务"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="queues.0.name"):
        load_settings(path)
