"""An independent computation of the board's figures from an event log, in pandas.

It shares no code with callboard's engine: calls are rebuilt by joining their
events on call_id (the engine reads the offered time carried in each event),
windows come from pandas' own time-zone arithmetic, and every KPI is written
out again from docs/kpis.md. If both agree, both read the definitions the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

MIN = 60_000
SHORT_ABANDON_MS = 5_000


def load(path: Path) -> pd.DataFrame:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return pd.DataFrame(rows)


def calls_table(df: pd.DataFrame) -> pd.DataFrame:
    """One row per offered call with its outcome and durations."""
    calls = df.loc[df["type"] == "call.offered", ["queue", "call_id", "ts_ms"]].rename(
        columns={"ts_ms": "offered_ms"}).drop_duplicates("call_id").set_index("call_id")

    def per_call(etype: str, cols: list[str]) -> pd.DataFrame:
        part = df.loc[df["type"] == etype, ["call_id", *cols]].drop_duplicates("call_id")
        return part.set_index("call_id")

    calls["answer_wait_ms"] = per_call("call.answered", ["wait_ms"])["wait_ms"]
    calls["abandon_wait_ms"] = per_call("call.abandoned", ["wait_ms"])["wait_ms"]
    calls = calls.join(per_call("call.ended", ["talk_ms", "hold_ms"]))
    calls["acw_ms"] = per_call("call.wrapped_up", ["acw_ms"])["acw_ms"]
    calls["transferred"] = calls.index.isin(df.loc[df["type"] == "call.transferred", "call_id"])
    calls["minute"] = calls["offered_ms"] // MIN * MIN
    return calls


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


def figures(sel: pd.DataFrame, threshold_ms: pd.Series | int) -> dict[str, Any]:
    """The report/board KPIs of a set of calls (docs/kpis.md, written out again)."""
    short = sel["abandon_wait_ms"].le(SHORT_ABANDON_MS)
    real_abandon = sel["abandon_wait_ms"].gt(SHORT_ABANDON_MS)
    answered = sel["answer_wait_ms"].notna()
    in_t = sel["answer_wait_ms"].le(threshold_ms)
    offered = len(sel) - int(short.sum())
    handled = sel["talk_ms"].notna()
    wrapped = sel["acw_ms"].notna()

    def mean_s(series: pd.Series) -> float | None:
        return None if series.empty else float(series.mean()) / 1000

    talk = mean_s(sel.loc[handled, "talk_ms"])
    hold = mean_s(sel.loc[handled, "hold_ms"])
    acw = mean_s(sel.loc[wrapped, "acw_ms"])
    waits = pd.concat([sel.loc[answered, "answer_wait_ms"], sel.loc[real_abandon, "abandon_wait_ms"]])
    return {
        "offered": offered,
        "answered": int(answered.sum()),
        "answered_within_threshold": int(in_t.sum()),
        "abandoned": int(real_abandon.sum()),
        "short_abandoned": int(short.sum()),
        "transferred": int(sel["transferred"].sum()),
        "handled": int(handled.sum()),
        "service_level": int(in_t.sum()) / offered if offered else None,
        "abandon_rate": int(real_abandon.sum()) / offered if offered else None,
        "asa_s": mean_s(sel.loc[answered, "answer_wait_ms"]),
        "avg_talk_s": talk,
        "avg_hold_s": hold,
        "avg_acw_s": acw,
        "aht_s": None if talk is None else talk + (hold or 0) + (acw or 0),
        "max_wait_s": float(waits.max()) / 1000 if not waits.empty else 0.0,
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


def expected(df: pd.DataFrame, now_ms: int, zone: str, thresholds_s: dict[str, int]) -> dict:
    """{queue or "ALL": {"now": ..., "windows": {name: figures}}} at ``now_ms``."""
    calls = calls_table(df)
    calls["threshold_ms"] = calls["queue"].map(thresholds_s).fillna(20).astype(int) * 1000
    result: dict[str, dict[str, Any]] = {}
    now_figures = live(df, calls, now_ms)
    spans = windows(now_ms, zone)
    for queue in sorted(calls["queue"].unique()):
        qcalls = calls[calls["queue"] == queue]
        result[queue] = {"now": now_figures[queue], "windows": {}}
        for name, (lo, hi) in spans.items():
            sel = qcalls[(qcalls["minute"] >= lo) & (qcalls["minute"] <= hi)]
            result[queue]["windows"][name] = figures(sel, sel["threshold_ms"])
    result["ALL"] = {"windows": {}}
    for name, (lo, hi) in spans.items():
        sel = calls[(calls["minute"] >= lo) & (calls["minute"] <= hi)]
        result["ALL"]["windows"][name] = figures(sel, sel["threshold_ms"])
    result["ALL"]["now"] = {
        "waiting": sum(v["waiting"] for v in now_figures.values()),
        "longest_wait_s": max(v["longest_wait_s"] for v in now_figures.values()),
    }
    return result
