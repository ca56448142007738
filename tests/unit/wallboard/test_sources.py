"""An ACD source that is down (a live ingest cut off from its ACD, or gone silent) is
said on every wall: the worker keeps writing, so no tile goes stale by itself."""

from __future__ import annotations

import json

from base.assemble import pipeline_rules
from base.config import Settings, WallConfig
from core.events import dumps
from core.pipeline import Pipeline
from core.records import Record
from tests.unit.factories import call
from wallboard.reader import sources_down
from wallboard.wall import view_of

NOW = 1_767_574_800_000  # 2026-01-05 09:00:00 +08:00


def doc(up: bool, since_s: int, checked_s: int) -> str:
    return json.dumps({"up": up, "since_ms": NOW + since_s * 1000,
                       "checked_ms": NOW + checked_s * 1000})


def test_a_source_is_down_when_it_says_so_or_when_its_ingest_falls_silent():
    sources = {
        b"freeswitch 10.0.0.5:8021": doc(False, -120, -1),  # disconnected 2 min ago
        b"freeswitch 10.0.0.6:8021": doc(True, -3600, -2),  # connected, said so 2 s ago
        b"freeswitch 10.0.0.7:8021": doc(True, -3600, -11),  # silent for 11 s: the ingest died
        b"broken": b"{not json",
    }
    assert sources_down(sources, NOW) == {
        "source_down.freeswitch 10.0.0.5:8021": NOW - 120_000,
        "source_down.freeswitch 10.0.0.7:8021": NOW - 11_000}


def test_every_wall_says_which_source_is_down_and_since_when():
    stats = {"dead_letters": 0, "source_down.freeswitch 10.0.0.5:8021": NOW - 120_000}
    # No snapshot: the page would say stale first; with one fresh snapshot it is the
    # source's banner that shows.
    settings = Settings()
    pipeline = Pipeline(pipeline_rules(settings))
    pipeline.feed([Record(dumps(e), 0, i)
                   for i, e in enumerate(call("c1", NOW - 60_000, answer_after_s=5))])
    snap = {**pipeline.snapshot("GEN", NOW), "written_ms": NOW, "source_ok_ms": NOW}
    page = view_of([snap], stats, settings, "en", NOW, None, WallConfig(name="board",
                                                                      queues=["GEN"]))
    banner = page.slots["banner"]
    assert banner["c"] == "banner stale"
    assert "ACD FEED DOWN: freeswitch 10.0.0.5:8021 since 08:58:00" in banner["h"]
    zh = view_of([snap], stats, settings, "zh", NOW, None, WallConfig(name="board",
                                                                     queues=["GEN"]))
    assert "ACD 数据源中断：freeswitch 10.0.0.5:8021，自 08:58:00 起" in zh.slots["banner"]["h"]
