"""The calibrated room gives back the real month it is fitted to (producers/room.py).

The figures below are the month's, not the code's: the Technion SEE lab's "Anonymous
Bank" records for February 1999 (the data of Brown et al., "Statistical Analysis of a
Telephone Call Center", JASA 2005), its 20 weekdays, as

    .venv/bin/python bench/technion.py --figures data_anonymous_bank_february.txt

printed them (the file is the lab's and not in this repository; bench/technion.py says
where it is published). The room is simulated for 40 weekdays; each tolerance is
stated beside its figure with the reason for its width.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.events import validate
from producers.room import BANK_1999, RoomSimulator, Surge

ZONE = ZoneInfo("Asia/Jerusalem")
DAYS = 40

# The month's figures (bench/technion.py --figures).
CALLS_PER_WEEKDAY = 1433.7
DAILY_CV = 0.112
HALF_HOUR_DISPERSION = 3.67
HOUR_SHARE = {7: 0.0274, 8: 0.065, 9: 0.0741, 10: 0.0846, 11: 0.0759, 12: 0.0636,
              13: 0.0708, 14: 0.0791, 15: 0.0772, 16: 0.0796, 17: 0.0588, 18: 0.0533,
              19: 0.045, 20: 0.04, 21: 0.0418, 22: 0.0354, 23: 0.0272}
# type: share of calls, mean and sd of log talk seconds (calls of 10 s and more)
TYPES = {"PS": (0.6401, 4.864, 0.883), "PE": (0.0038, 5.182, 1.002),
         "NW": (0.2227, 4.277, 0.928), "NE": (0.0908, 5.262, 0.974),
         "TT": (0.0341, 4.319, 1.233), "IN": (0.0085, 5.157, 1.064)}
SHORT_TALK_SHARE = 0.0676
ANSWERED_WITHIN_10S = 0.4541
ABANDONED_SHARE = 0.1322
ABANDONED_MEAN_WAIT_S = 65.6
# The room's grouping of the types into skill queues (its own choice, producers/room.py).
QUEUE_TYPES = {"BANK": ("PS", "PE"), "NEW": ("NW", "NE"), "TECH": ("TT", "IN")}


def _weekdays(n: int) -> list[int]:
    """Sunday to Thursday, as the bank's week, from Sunday 4 January 2026."""
    out, day = [], datetime(2026, 1, 4, tzinfo=ZONE)
    while len(out) < n:
        if day.weekday() in (6, 0, 1, 2, 3):
            out.append(int(day.timestamp() * 1000))
        day += timedelta(days=1)
    return out


@pytest.fixture(scope="module")
def month() -> dict[str, list]:
    days: dict[str, list] = {"events": [], "starts": _weekdays(DAYS)}
    for n, start in enumerate(days["starts"]):
        sim = RoomSimulator(seed=500 + n, start_ms=start, duration_ms=86_400_000, zone=ZONE)
        days["events"].append(list(sim.events()))
    return days


def _offered(day: list[dict]) -> list[dict]:
    return [e for e in day if e["type"] == "call.offered"]


def test_calls_per_weekday_and_how_much_days_vary(month):
    per_day = [len(_offered(day)) for day in month["events"]]
    mean = statistics.fmean(per_day)
    # 40 days at CV 0.11: the mean's standard error is 1.8 %; 4 % allowed.
    assert mean == pytest.approx(CALLS_PER_WEEKDAY, rel=0.04)
    # The CV of 40 days has a standard error of about 0.11 / sqrt(80) = 0.013; 0.03
    # allowed, and Poisson alone (1 / sqrt(1434) = 0.026) is far outside it.
    assert statistics.stdev(per_day) / mean == pytest.approx(DAILY_CV, abs=0.03)


def test_each_hour_takes_its_share(month):
    hours: Counter[int] = Counter()
    for day in month["events"]:
        for e in _offered(day):
            hours[datetime.fromtimestamp(e["ts_ms"] / 1000, ZONE).hour] += 1
    total = sum(hours.values())
    assert set(hours) == set(HOUR_SHARE)  # closed 00:00-07:00
    for hour, share in HOUR_SHARE.items():
        # ~57,000 calls: a share of 0.08 has a standard error of 0.0011; bursts widen it.
        assert hours[hour] / total == pytest.approx(share, abs=0.006), hour


def test_half_hours_vary_more_than_poisson_as_the_months_did(month):
    # The month's statistic, computed the same way: half hours 08:00-23:00 against the
    # day's total times the half hour's share; Poisson gives 1.
    slots: Counter[tuple[int, int]] = Counter()
    for n, day in enumerate(month["events"]):
        for e in _offered(day):
            at = datetime.fromtimestamp(e["ts_ms"] / 1000, ZONE)
            slot = at.hour * 2 + at.minute // 30
            if 16 <= slot < 46:
                slots[(n, slot)] += 1
    day_total: Counter[int] = Counter()
    slot_total: Counter[int] = Counter()
    for (n, slot), count in slots.items():
        day_total[n] += count
        slot_total[slot] += count
    total = sum(slot_total.values())
    chi = []
    for n in day_total:
        for slot in slot_total:
            expected = day_total[n] * slot_total[slot] / total
            chi.append((slots[(n, slot)] - expected) ** 2 / expected)
    assert statistics.fmean(chi) == pytest.approx(HALF_HOUR_DISPERSION, abs=0.6)


def test_each_queue_takes_its_types_share(month):
    queues: Counter[str] = Counter()
    for day in month["events"]:
        queues.update(e["queue"] for e in _offered(day))
    total = sum(queues.values())
    for queue, kinds in QUEUE_TYPES.items():
        assert queues[queue] / total == pytest.approx(sum(TYPES[k][0] for k in kinds),
                                                      abs=0.01), queue


def test_talk_times_are_the_months_lognormals_with_its_short_handles(month):
    logs: dict[str, list[float]] = defaultdict(list)
    short = ended = 0
    for day in month["events"]:
        for e in day:
            if e["type"] != "call.ended":
                continue
            ended += 1
            seconds = e["talk_ms"] / 1000
            if seconds < 10:
                short += 1
            else:
                logs[e["queue"]].append(math.log(seconds))
    assert short / ended == pytest.approx(SHORT_TALK_SHARE, abs=0.01)
    for queue, kinds in QUEUE_TYPES.items():
        # The queue's talk is its types' mixture: mean of the means; variance the mean
        # of the variances plus the spread of the means.
        w = {k: TYPES[k][0] / sum(TYPES[j][0] for j in kinds) for k in kinds}
        mean = sum(w[k] * TYPES[k][1] for k in kinds)
        var = sum(w[k] * (TYPES[k][2] ** 2 + (TYPES[k][1] - mean) ** 2) for k in kinds)
        # Drawn from the lognormal fitted to the calls of 10 s and more and drawn again
        # below 10 s, which lifts the log mean by a few hundredths: 0.05 allowed.
        assert statistics.fmean(logs[queue]) == pytest.approx(mean, abs=0.05), queue
        assert statistics.stdev(logs[queue]) == pytest.approx(math.sqrt(var), abs=0.06), queue
        # Lognormal: the logs are symmetric (the month's per type: -0.23 to 0.37).
        assert abs(_skew(logs[queue])) < 0.4, queue


def _skew(xs: list[float]) -> float:
    m, s = statistics.fmean(xs), statistics.pstdev(xs)
    return statistics.fmean(((x - m) / s) ** 3 for x in xs)


def test_abandonment_and_answers_within_10_seconds(month):
    offered = answered_fast = 0
    gone: list[float] = []
    for day in month["events"]:
        for e in day:
            if e["type"] == "call.offered":
                offered += 1
            elif e["type"] == "call.answered" and e["wait_ms"] <= 10_000:
                answered_fast += 1
            elif e["type"] == "call.abandoned":
                gone.append(e["wait_ms"] / 1000)
    # The fit of two made-up knobs (staffing, patience) to three figures: a room of
    # agents alike does not give the month's few quick answers and few abandons at
    # once (more agents raise both); these are the widths of that compromise.
    assert len(gone) / offered == pytest.approx(ABANDONED_SHARE, abs=0.025)
    assert statistics.fmean(gone) == pytest.approx(ABANDONED_MEAN_WAIT_S, abs=12)
    assert answered_fast / offered == pytest.approx(ANSWERED_WITHIN_10S, abs=0.08)


def test_agents_of_several_skills_are_shown_free_on_one_queue_while_serving_another(month):
    day = month["events"][0]
    queues_of: dict[str, set[str]] = defaultdict(set)
    shown: dict[tuple[str, str], str] = {}
    answers = unseen = 0
    for e in day:
        if e["type"] == "agent.login":
            queues_of[e["agent_id"]].add(e["queue"])
        if e["type"] in ("agent.login", "agent.state"):
            shown[(e["queue"], e["agent_id"])] = e["state"]
        if e["type"] == "call.answered":
            answers += 1
            others = queues_of[e["agent_id"]] - {e["queue"]}
            unseen += any(shown.get((q, e["agent_id"])) == "available" for q in others)
    assert all(len(q) >= 2 for q in queues_of.values())
    assert min(len(q) for q in queues_of.values()) == 2
    # Every answer leaves the agent shown available on their other queues (their state
    # changes are told on the call's queue only) unless a break was told everywhere.
    assert unseen > 0.9 * answers


def test_every_event_is_schema_v1_and_a_day_ends_empty(month):
    day = month["events"][0]
    for e in day:
        validate(e)
    waiting = set()
    signed: set[tuple[str, str]] = set()
    for e in day:
        if e["type"] == "call.offered":
            waiting.add(e["call_id"])
        elif e["type"] in ("call.answered", "call.abandoned"):
            waiting.discard(e["call_id"])
        elif e["type"] == "agent.login":
            signed.add((e["queue"], e["agent_id"]))
        elif e["type"] == "agent.logout":
            signed.discard((e["queue"], e["agent_id"]))
    assert not waiting and not signed


def test_same_seed_same_bytes_and_surges_change_the_day():
    start = _weekdays(1)[0]

    def day(seed: int, surges: list[Surge] | None = None) -> str:
        sim = RoomSimulator(seed=seed, start_ms=start, duration_ms=86_400_000, zone=ZONE,
                            room=BANK_1999.sized(2), surges=surges)
        return "\n".join(json.dumps(e, sort_keys=True) for e in sim.events())

    assert day(7) == day(7)
    assert day(7) != day(8)
    ten = start + 10 * 3_600_000
    burst = [Surge("burst", "BANK", ten, ten + 600_000, factor=6.0)]
    offered = [json.loads(line) for line in day(7, burst).splitlines()]
    in_burst = sum(e["type"] == "call.offered" and e["queue"] == "BANK"
                   and ten <= e["ts_ms"] < ten + 600_000 for e in offered)
    plain = [json.loads(line) for line in day(7).splitlines()]
    before = sum(e["type"] == "call.offered" and e["queue"] == "BANK"
                 and ten <= e["ts_ms"] < ten + 600_000 for e in plain)
    assert in_burst > 3 * before > 0


# The month through the counting pipeline, as `callboard alerts` runs it
# (.venv/bin/python bench/forecast.py --bank MONTH.txt runs the same): step 1 of the
# surge ladder fired 14 times, all on weekdays.
STEP_1S_ON_WEEKDAYS = 14


def test_the_ladder_fires_about_as_often_as_in_the_month(month):
    from base.assemble import pipeline_rules
    from base.config import QueueConfig, Settings
    from core.pipeline import Pipeline
    from core.records import Record

    settings = Settings(timezone="Asia/Jerusalem", queues=[
        QueueConfig(name=q, label_zh=q, label_en=q) for q in QUEUE_TYPES])
    pipeline = Pipeline(pipeline_rules(settings, offline=True))
    alerts = []
    for day in month["events"][:20]:  # the month's 20 weekdays
        for chunk in range(0, len(day), 2000):
            alerts += pipeline.feed([Record(json.dumps(e).encode(), -1, -1)
                                     for e in day[chunk:chunk + 2000]]).alerts
        alerts += pipeline.finish()
    fired = sum(a["direction"] == "up" and a["step"] == 1 for a in alerts)
    # A count of rare moments: 14 has a Poisson standard deviation of 3.7; twice that.
    assert abs(fired - STEP_1S_ON_WEEKDAYS) <= 7, fired
