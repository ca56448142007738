"""An independent computation of A4-A7 from an event log, in pandas.

It shares no code with core/tickets.py or core/workdays.py: tickets are rebuilt by
grouping their events (first opening, earliest reply and resolution, last survey
answer), working-day deadlines by indexing the working days of a date range (the
engine walks day by day instead), months by pandas' own periods, and every rate is
written out again from the manual's lines 501-531.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import holidays
import pandas as pd

ZONE = "Asia/Shanghai"
H = 3_600_000
LIMITS = {1: (2 * H, False), 2: (48 * H, False), 3: (4, True), 4: (7, True)}


def _working_dates(first: date, last: date) -> list[date]:
    calendar = holidays.country_holidays("CN")
    days = (first + timedelta(days=i) for i in range((last - first).days + 1))
    return [d for d in days if calendar.is_working_day(d)]


def _due_working(opened: pd.Timestamp, n: int, working: list[date]) -> pd.Timestamp:
    """The working-day deadline by index arithmetic: opened on a working day, the same
    time of day n working days on; opened on a day off, 24:00 of the n-th working day
    after it."""
    day = opened.date()
    if day in working:
        target = working[working.index(day) + n]
        return pd.Timestamp(target.isoformat(), tz=ZONE) + (opened - opened.normalize())
    later = [d for d in working if d > day]
    return pd.Timestamp(later[n - 1].isoformat(), tz=ZONE) + pd.Timedelta(days=1)


def tickets_table(df: pd.DataFrame) -> pd.DataFrame:
    tk = df[df["type"].str.startswith(("ticket.", "survey."))].copy()
    opened = tk[tk["type"].isin(["ticket.opened", "ticket.reopened"])].drop_duplicates(
        "ticket_id")
    t = opened.set_index("ticket_id")[["queue", "ts_ms"]].rename(columns={"ts_ms": "opened_ms"})
    t["kind"] = opened.set_index("ticket_id")["kind"].fillna("complaint")
    t["repeat_of"] = opened.set_index("ticket_id").get("repeat_of")
    level = opened.set_index("ticket_id")["level"]
    t["level"] = level.fillna(t["repeat_of"].map(level))  # a repeat keeps the first's level
    flags = opened.set_index("ticket_id").get("key_account")
    t["key_account"] = (flags == True) if flags is not None else False  # noqa: E712
    t["cross_province"] = t["level"] == 3
    replied = tk[tk["type"].isin(["ticket.replied", "ticket.resolved"])].groupby("ticket_id")[
        "ts_ms"].min()
    resolved = tk[tk["type"] == "ticket.resolved"].groupby("ticket_id")["ts_ms"].min()
    t["replied_ms"] = replied.reindex(t.index)
    t["resolved_ms"] = resolved.reindex(t.index)
    surveys = tk[tk["type"] == "survey.answered"].copy()
    satisfied = surveys.get("satisfied")
    if satisfied is None:
        satisfied = pd.Series(pd.NA, index=surveys.index, dtype="object")
    scored = surveys.get("score", pd.Series(pd.NA, index=surveys.index)) >= 4
    surveys["ok"] = satisfied.where(satisfied.notna(), scored)
    t["satisfied"] = surveys.groupby("ticket_id")["ok"].last().reindex(t.index)
    opened_at = pd.to_datetime(t["opened_ms"], unit="ms", utc=True).dt.tz_convert(ZONE)
    working = _working_dates(opened_at.min().date() - timedelta(days=1),
                             opened_at.max().date() + timedelta(days=60))
    due = []
    for at, kind, lvl in zip(opened_at, t["kind"], t["level"], strict=True):
        if kind != "complaint":
            due.append(float("nan"))
            continue
        limit, by_working_days = LIMITS[int(lvl)]
        moment = (_due_working(at, limit, working) if by_working_days
                  else at + pd.Timedelta(milliseconds=limit))
        due.append(moment.timestamp() * 1000)
    t["resolve_due_ms"] = due
    t["reply_due_ms"] = t["resolve_due_ms"].where(t["kind"] == "complaint",
                                                  t["opened_ms"] + 24 * H)
    t["month"] = opened_at.dt.tz_localize(None).dt.to_period("M")
    return t


def monthly(df: pd.DataFrame) -> dict[tuple[str, str], dict[str, Any]]:
    """{(queue or "ALL", "YYYY-MM"): figures} as of the newest ticket event."""
    t = tickets_table(df)
    now = max(t["opened_ms"].max(), t["replied_ms"].max(), t["resolved_ms"].max())
    out = {}
    for month in sorted(t["month"].unique()):
        for queue in [*sorted(t["queue"].unique()), "ALL"]:
            g = t[(t["month"] == month) & ((t["queue"] == queue) | (queue == "ALL"))]
            out[(queue, str(month))] = _figures(g, now)
    return out


def _figures(g: pd.DataFrame, now: float) -> dict[str, Any]:
    def rate(a: int, b: int) -> float | None:
        return a / b if b else None

    out: dict[str, Any] = {}
    for kind in ("consultation", "complaint"):
        k = g[g["kind"] == kind]
        replied = k["replied_ms"].notna() & (k["replied_ms"] <= now)
        on_time = replied & (k["replied_ms"] <= k["reply_due_ms"])
        out[f"{kind}s"] = len(k)
        out[f"{kind}_reply_rate"] = rate(int(replied.sum()), len(k))
        out[f"{kind}_on_time_reply_rate"] = rate(int(on_time.sum()), len(k))
    c = g[g["kind"] == "complaint"]
    for level in (1, 2, 3, 4):
        k = c[c["level"] == level]
        done = k["resolved_ms"].notna() & (k["resolved_ms"] <= now)
        in_time = done & (k["resolved_ms"] <= k["resolve_due_ms"])
        out[f"level{level}_complaints"] = len(k)
        out[f"level{level}_on_time_rate"] = rate(int(in_time.sum()), len(k))
        out[f"level{level}_overdue"] = int((k["resolved_ms"].isna()
                                            & (k["resolve_due_ms"] < now)).sum())
    repeats = int(c["repeat_of"].notna().sum())
    out["repeat_complaint_rate"] = rate(repeats, len(c) - repeats)
    for name, k in (("consultation", g[g["kind"] == "consultation"]), ("complaint", c),
                    ("cross_province_complaint", c[c["cross_province"]]),
                    ("key_account_complaint", c[c["key_account"]])):
        happy = int((k["satisfied"] == True).sum())  # noqa: E712  # NA is not satisfied
        out[f"{name}_satisfaction"] = rate(happy, len(k))
        out[f"{name}_satisfaction_of_surveyed"] = rate(happy, int(k["satisfied"].notna().sum()))
    return out
