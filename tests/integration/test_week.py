"""A simulated week of a four-queue centre through the real broker, worker and Redis.

Every half-hour row and every day row the worker keeps in Redis, and every board
window at the end, must equal tests/oracle.py's pandas computation, key for key;
the worker's tables must stay bounded by the retention, not grow with the week.
"""

from __future__ import annotations

import json

import pytest

from tests import oracle
from tests.integration.helpers import THRESHOLDS, ZONE, Stack, assert_board_equals_oracle, wait_until

pytestmark = pytest.mark.integration

QUEUES = ("GEN", "BIZ", "EN", "VIP")
RETENTION_H = 48  # the default bucket_retention_h


def rows(stack: Stack, kind: str) -> dict[tuple[str, int], dict]:
    out = {}
    for queue in (*QUEUES, "ALL"):
        for start, raw in stack.redis.hgetall(getattr(stack.keys, kind)(queue)).items():
            out[(queue, int(start))] = json.loads(raw)
    return out


def assert_rows_equal(got: dict, want: dict, what: str) -> None:
    assert sorted(got) == sorted(want), what
    for key, figures in want.items():
        row = got[key]
        for name, value in figures.items():
            assert oracle.close(row[name], value), (what, key, name, row[name], value)


def rows_settle(stack: Stack, kind: str, want: dict) -> None:
    """The rows as the worker leaves them: a write stores the heartbeat that
    ``wait_consumed`` waits for before its history rows. Compared once they agree, or at
    the deadline, with the first difference shown."""
    def agree() -> bool:
        try:
            assert_rows_equal(rows(stack, kind), want, kind)
        except AssertionError:
            return False
        return True

    try:
        wait_until(agree, 60, f"the {kind} rows to equal the oracle")
    except AssertionError:
        assert_rows_equal(rows(stack, kind), want, kind)  # says which figure differs


def test_a_week_equals_pandas_for_every_interval_and_the_tables_stay_bounded(stack, tmp_path):
    log = tmp_path / "week.jsonl"
    # A small centre (0.3 of the default staff and traffic) on 10 trunks: every kind
    # of call the KPIs tell apart happens, in about 60k events.
    stack.cli("simulate", "--seed", "21", "--duration", "7d", "--start", "2026-03-02T00:00",
              "--volume", "0.3", "--staff", "0.3", "--trunks", "10", "--out", str(log))
    lines = log.read_text().splitlines()
    stack.start("worker", name="worker")
    stack.cli("publish", str(log), timeout=300)
    stack.wait_consumed(len(lines), deadline_s=400)

    df = oracle.load(log)
    now = int(df["ts_ms"].max())
    halves = oracle.history(df, now, ZONE, THRESHOLDS, "30min")
    assert len(halves) == 7 * 48 * 5
    rows_settle(stack, "intervals", halves)
    rows_settle(stack, "days", oracle.history(df, now, ZONE, THRESHOLDS, "D"))
    want = assert_board_equals_oracle(stack, log)
    week = sum(v["offered"] for (q, _), v in halves.items() if q == "ALL")
    assert week > 8000
    assert min(want["ALL"]["windows"]["day"][k] for k in ("abandoned", "answered")) > 0

    # Bounded memory: minute buckets only within the retention, callers only within
    # the repeat window, one live entry per queue.
    bound = len(QUEUES) * (RETENTION_H + 1) * 60
    # Each queue keeps the callers of its own last 24 h of events, plus the longest a
    # call can wait for its answer (max_wait_h, 4 h): the window runs from the answer.
    calls = oracle.calls_table(df)
    newest = calls["queue"].map(df.groupby("queue")["ts_ms"].max())
    recent = calls[calls["offered_ms"] >= newest - oracle.REPEAT_WINDOW_MS - 4 * 3_600_000]
    callers = recent.groupby(["queue", "caller"]).ngroups

    def bounded() -> dict | None:
        stats = stack.stats()
        ok = (stats.get("table.buckets", bound + 1) <= bound
              and stats.get("callers_indexed", callers + 1) <= callers)
        return stats if ok else None

    stats = wait_until(bounded, 30, f"the tables to shrink to {bound} buckets, {callers} "
                                    f"callers (last: {stack.stats()})")
    assert stats["expired_buckets"] > 0
    assert stats["table.live"] == len(QUEUES)
    assert stats["events_counted"] == len(lines)
