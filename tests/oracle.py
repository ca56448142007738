"""An independent computation of the board's figures from an event log, in pandas.

It shares no code with callboard's engine: calls are rebuilt by joining their
events on call_id (the engine reads the offered time carried in each event),
agent time comes from each agent's consecutive state changes, repeat callers
from a per-caller shift, windows from pandas' own time-zone arithmetic, and
every KPI is written out again from docs/kpis.md. If both agree, both read the
definitions the same way.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

MIN = 60_000
SHORT_ABANDON_MS = 5_000
ANSWER_LIMIT_MS = 60_000   # A2
ANSWER_TIMEOUT_MS = 15_000  # A3
RING_MS = 5_000            # B6: one ring
REPEAT_WINDOW_MS = 24 * 3_600_000  # B16
STATE_COLUMN = {"available": "avail", "on_call": "busy", "acw": "acw_time",
                "not_ready": "not_ready"}


def load(path: Path) -> pd.DataFrame:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return pd.DataFrame(rows)


def calls_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per offered call with its outcome and durations."""
    offered = df.loc[df["type"] == "call.offered"].drop_duplicates("call_id")
    cols = ["queue", "call_id", "ts_ms"] + (["caller"] if "caller" in df else [])
    calls = offered[cols].rename(columns={"ts_ms": "offered_ms"}).set_index("call_id")

    def per_call(etype: str, wanted: list[str]) -> pd.DataFrame:
        present = [c for c in wanted if c in df]
        part = df.loc[df["type"] == etype, ["call_id", *present]].drop_duplicates("call_id")
        return part.set_index("call_id")

    answered = per_call("call.answered", ["wait_ms", "ring_ms", "ts_ms"])
    calls["answer_wait_ms"] = answered["wait_ms"]
    calls["answered_at"] = answered["ts_ms"]
    calls["ring_ms"] = answered["ring_ms"] if "ring_ms" in answered else np.nan
    abandoned = per_call("call.abandoned", ["wait_ms", "ring_ms"])
    calls["abandon_wait_ms"] = abandoned["wait_ms"]
    calls["abandon_ring_ms"] = abandoned["ring_ms"] if "ring_ms" in abandoned else np.nan
    calls = calls.join(per_call("call.ended", ["talk_ms", "hold_ms"]))
    calls["acw_ms"] = per_call("call.wrapped_up", ["acw_ms"])["acw_ms"]
    calls["transferred"] = calls.index.isin(df.loc[df["type"] == "call.transferred", "call_id"])
    calls["minute"] = calls["offered_ms"] // MIN * MIN
    # B16 (docs/kpis.md): an answered call is unresolved when the same caller has any
    # other call to the same queue offered after its answer and within the repeat
    # window of it. Worked as a self-join of each caller's calls.
    calls["repeated"] = False
    if "caller" in calls:
        mine = calls.loc[calls["caller"].notna(), ["queue", "caller", "offered_ms",
                                                   "answered_at"]].reset_index()
        pairs = mine.merge(mine[["queue", "caller", "call_id", "offered_ms"]],
                           on=["queue", "caller"], suffixes=("", "_other"))
        gap = pairs["offered_ms_other"] - pairs["answered_at"]
        hit = pairs[(pairs["call_id"] != pairs["call_id_other"]) & pairs["answered_at"].notna()
                    & (gap > 0) & (gap <= REPEAT_WINDOW_MS)]
        calls.loc[hit["call_id"].unique(), "repeated"] = True
    return calls


def blocked_table(df: pd.DataFrame) -> pd.DataFrame:
    blocked = df.loc[df["type"] == "call.blocked", ["queue", "call_id", "ts_ms"]]
    blocked = blocked.drop_duplicates("call_id").copy()
    blocked["minute"] = blocked["ts_ms"] // MIN * MIN
    return blocked


def agent_spans(df: pd.DataFrame, now_ms: int) -> pd.DataFrame:
    """Each agent's time in each state: rows of queue, agent, state, start, end."""
    agents = df[df["type"].str.startswith("agent.")].drop_duplicates("event_id")
    agents = agents.sort_values("ts_ms", kind="stable")
    state = agents["state"].where(agents["type"] != "agent.logout", None)
    state = state.where(~((agents["type"] == "agent.login") & state.isna()), "available")
    spans = pd.DataFrame({"queue": agents["queue"], "agent": agents["agent_id"],
                          "state": state, "start": agents["ts_ms"]})
    spans["end"] = spans.groupby("agent")["start"].shift(-1).fillna(now_ms).astype("int64")
    return spans[spans["state"].notna() & (spans["end"] > spans["start"])]


def agent_time(spans: pd.DataFrame, lo_ms: int, hi_ms: int) -> dict[str, int]:
    """Agent-ms per state column within [lo_ms, hi_ms)."""
    overlap = (np.minimum(spans["end"].to_numpy(), hi_ms)
               - np.maximum(spans["start"].to_numpy(), lo_ms)).clip(min=0)
    out = dict.fromkeys(STATE_COLUMN.values(), 0)
    for state, column in STATE_COLUMN.items():
        out[column] = int(overlap[(spans["state"] == state).to_numpy()].sum())
    return out


def windows(now_ms: int, zone: str) -> dict[str, tuple[int, int]]:
    """Offered-minute ranges [first, last] of each board window at ``now_ms``."""
    now = pd.Timestamp(now_ms, unit="ms", tz="UTC")
    local = now.tz_convert(zone)
    minute_now = now_ms // MIN * MIN
    to_ms = lambda ts: int(ts.tz_convert("UTC").value // 1_000_000)  # noqa: E731
    out = {f"rolling_{n}": (minute_now - (n - 1) * MIN, minute_now) for n in (15, 30, 60)}
    out["interval"] = (to_ms(local.floor("30min")), minute_now)
    out["day"] = (to_ms(local.normalize()), minute_now)
    return out


def figures(sel: pd.DataFrame, threshold_ms: pd.Series | int, blocked: int = 0,
            time: dict[str, int] | None = None) -> dict[str, Any]:
    """The report/board KPIs of a set of calls (docs/kpis.md, written out again)."""
    time = time or dict.fromkeys(STATE_COLUMN.values(), 0)
    short = sel["abandon_wait_ms"].le(SHORT_ABANDON_MS)
    real_abandon = sel["abandon_wait_ms"].gt(SHORT_ABANDON_MS)
    answered = sel["answer_wait_ms"].notna()
    n_answered = int(answered.sum())
    in_t = sel["answer_wait_ms"].le(threshold_ms)
    entered = len(sel)
    offered = entered - int(short.sum())
    handled = sel["talk_ms"].notna()
    wrapped = sel["acw_ms"].notna()
    held = sel["hold_ms"].gt(0)
    attempts = entered + blocked
    answered_queue = (sel["answer_wait_ms"] - sel["ring_ms"].fillna(0)).where(answered)
    abandon_queue = (sel["abandon_wait_ms"] - sel["abandon_ring_ms"].fillna(0)).where(real_abandon)
    queued_answered = answered_queue.gt(0)
    queued = int(queued_answered.sum()) + int(abandon_queue.gt(0).sum())
    rung = answered & sel["ring_ms"].notna()
    rings = np.ceil(sel.loc[rung, "ring_ms"] / RING_MS)

    def mean_s(series: pd.Series) -> float | None:
        return None if series.empty else float(series.mean()) / 1000

    def ratio(num: float, den: float) -> float | None:
        return num / den if den else None

    talk = mean_s(sel.loc[handled, "talk_ms"])
    hold_per_call = mean_s(sel.loc[handled, "hold_ms"])
    acw = mean_s(sel.loc[wrapped, "acw_ms"])
    waits = pd.concat([sel.loc[answered, "answer_wait_ms"], sel.loc[real_abandon, "abandon_wait_ms"]])
    signed_in = sum(time.values())
    repeated = int(sel["repeated"].sum())
    return {
        "attempts": attempts,
        "offered": offered,
        "answered": n_answered,
        "answered_within_threshold": int(in_t.sum()),
        "abandoned": int(real_abandon.sum()),
        "short_abandoned": int(short.sum()),
        "blocked": blocked,
        "transferred": int(sel["transferred"].sum()),
        "handled": int(handled.sum()),
        "queued": queued,
        "repeated": repeated,
        "connection_rate": ratio(entered, attempts),
        "answer_rate": ratio(int(sel["answer_wait_ms"].le(ANSWER_LIMIT_MS).sum()), offered),
        "answer_timeout_rate": ratio(int(sel["answer_wait_ms"].gt(ANSWER_TIMEOUT_MS).sum()),
                                     n_answered),
        "service_level": ratio(int(in_t.sum()), offered),
        "abandon_rate": ratio(int(real_abandon.sum()), offered),
        "answered_rate": ratio(n_answered, offered),
        "busy_rate": ratio(blocked, attempts),
        "transfer_rate": ratio(int(sel["transferred"].sum()), n_answered),
        "queue_placement_rate": ratio(queued, offered),
        "fcr": ratio(n_answered - repeated, n_answered),
        "asa_s": mean_s(sel.loc[answered, "answer_wait_ms"]),
        "avg_queue_s": mean_s(answered_queue[queued_answered]),
        "avg_rings": None if rings.empty else float(rings.mean()),
        "avg_abandon_s": mean_s(sel.loc[real_abandon, "abandon_wait_ms"]),
        "avg_talk_s": talk,
        "avg_hold_s": mean_s(sel.loc[held, "hold_ms"]),
        "avg_acw_s": acw,
        "aht_s": None if talk is None else talk + (hold_per_call or 0) + (acw or 0),
        "max_wait_s": float(waits.max()) / 1000 if not waits.empty else None,
        "occupancy": ratio(time["busy"], time["busy"] + time["avail"]),
        "calls_per_agent_hour": ratio(int(handled.sum()) * 3_600_000, signed_in),
        "signed_in_h": signed_in / 3_600_000,
    }


def live(df: pd.DataFrame, calls: pd.DataFrame, now_ms: int) -> dict[str, dict[str, Any]]:
    """Calls waiting, longest wait and agents by state per queue at ``now_ms``."""
    out: dict[str, dict[str, Any]] = {}
    waiting = calls[calls["answer_wait_ms"].isna() & calls["abandon_wait_ms"].isna()]
    agents = df[df["type"].str.startswith("agent.")].sort_values("ts_ms", kind="stable")
    last = agents.groupby("agent_id").tail(1)
    for queue in sorted(set(calls["queue"]) | set(last["queue"])):
        wq = waiting[waiting["queue"] == queue]
        states = last[(last["queue"] == queue) & (last["type"] != "agent.logout")]
        state_of = states["state"].fillna("available")
        out[queue] = {
            "waiting": len(wq),
            "longest_wait_s": (now_ms - int(wq["offered_ms"].min())) / 1000 if len(wq) else 0.0,
            "agents": {s: int((state_of == s).sum())
                       for s in ("available", "on_call", "acw", "not_ready")},
        }
    return out


def _prepare(df: pd.DataFrame, now_ms: int, thresholds_s: dict[str, int]):
    calls = calls_table(df)
    calls["threshold_ms"] = calls["queue"].map(thresholds_s).fillna(20).astype(int) * 1000
    return calls, blocked_table(df), agent_spans(df, now_ms)


def _select(calls, blocked, spans, queue, lo_minute, hi_minute_excl, time_hi):
    """Calls and blocked attempts offered in [lo, hi) minutes; agent time in [lo, time_hi)."""
    if queue is not None:
        calls = calls[calls["queue"] == queue]
        blocked = blocked[blocked["queue"] == queue]
        spans = spans[spans["queue"] == queue]
    sel = calls[(calls["minute"] >= lo_minute) & (calls["minute"] < hi_minute_excl)]
    n_blocked = int(((blocked["minute"] >= lo_minute) & (blocked["minute"] < hi_minute_excl)).sum())
    return figures(sel, sel["threshold_ms"], n_blocked, agent_time(spans, lo_minute, time_hi))


def expected(df: pd.DataFrame, now_ms: int, zone: str, thresholds_s: dict[str, int]) -> dict:
    """{queue or "ALL": {"now": ..., "windows": {name: figures}}} at ``now_ms``."""
    calls, blocked, spans = _prepare(df, now_ms, thresholds_s)
    result: dict[str, dict[str, Any]] = {}
    now_figures = live(df, calls, now_ms)
    spans_of = windows(now_ms, zone)
    for queue in [*sorted(calls["queue"].unique()), None]:
        name = queue or "ALL"
        result[name] = {"windows": {}}
        if queue is not None:
            result[name]["now"] = now_figures[queue]
        for window, (lo, hi) in spans_of.items():
            result[name]["windows"][window] = _select(calls, blocked, spans, queue, lo,
                                                      hi + MIN, now_ms)
    result["ALL"]["now"] = {
        "waiting": sum(v["waiting"] for v in now_figures.values()),
        "longest_wait_s": max(v["longest_wait_s"] for v in now_figures.values()),
    }
    return result


def history(df: pd.DataFrame, now_ms: int, zone: str, thresholds_s: dict[str, int],
            freq: str) -> dict[tuple[str, int], dict[str, Any]]:
    """{(queue or "ALL", start_ms): figures} for every local half hour ("30min") or day
    ("D") from the first event to ``now_ms``."""
    calls, blocked, spans = _prepare(df, now_ms, thresholds_s)
    first = pd.Timestamp(int(df["ts_ms"].min()), unit="ms", tz="UTC").tz_convert(zone)
    last = pd.Timestamp(now_ms, unit="ms", tz="UTC").tz_convert(zone)
    floor = (lambda t: t.normalize()) if freq == "D" else (lambda t: t.floor(freq))
    starts = pd.date_range(floor(first), floor(last), freq=freq)
    out: dict[tuple[str, int], dict[str, Any]] = {}
    queues = [*sorted(calls["queue"].unique()), None]
    for start in starts:
        lo = int(start.tz_convert("UTC").value // 1_000_000)
        hi = int((start + pd.Timedelta(freq if freq != "D" else "1D")).tz_convert("UTC").value
                 // 1_000_000)
        for queue in queues:
            out[(queue or "ALL", lo)] = _select(calls, blocked, spans, queue, lo, hi,
                                                min(hi, now_ms))
    return out


def close(got: Any, want: Any, tolerance: float = 2e-3) -> bool:
    """Equal counts; floats equal to the engine's rounding (3-6 decimals)."""
    if want is None or got is None:
        return want is None and got is None
    if isinstance(want, float) or isinstance(got, float):
        return math.isclose(float(got), float(want), abs_tol=tolerance)
    return bool(got == want)
