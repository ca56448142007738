"""A real call centre's published month, as schema-v1 events, for the benches.

The Technion SEE lab's "Anonymous Bank" records (a small Israeli bank's call centre,
1999; Brown et al., "Statistical Analysis of a Telephone Call Center", JASA 2005, use
them) give one line per call, tab separated:

    vru+line call_id customer_id priority type date vru_entry vru_exit vru_time
    q_start q_exit q_time outcome ser_start ser_exit ser_time server

The data are not in this repository (they are the lab's): the monthly files are on
its web site and in the companion repository of Miller's "Modeling Techniques in
Predictive Analytics" (``MTPA_Chapter_6/data_anonymous_bank_february.txt``).

    .venv/bin/python bench/technion.py MONTH.txt > month.jsonl
    .venv/bin/python bench/technion.py --figures MONTH.txt   # what producers/room.py is fitted to

How a line becomes events (what the records do not say is made up the simplest way,
and said here):

- queues: the room's two groups of seats (the lab's description: 8 positions for the
  bank's customers, 5 for internet support in an adjacent room): ``IN`` calls are the
  queue ``INTERNET``, every other type is ``BANK``;
- a call that queued (``q_start`` not 0:00:00) is offered at ``q_start``; one that an
  agent took straight from the voice menu is offered and answered at ``ser_start``
  (answered without queueing); one that hung up in the voice menu never reached a
  queue and is left out, as are ``PHANTOM`` lines (the lab: not real calls);
- ``AGENT``: answered at ``ser_start`` (at ``q_exit`` when no service time is given)
  by ``server``, ended at ``ser_exit`` (talk = ``ser_time``); ``NO_SERVER`` stands for
  the short handles the records give no agent for;
- ``HANG`` after queueing: abandoned at ``q_exit`` after ``q_time``;
- agents are signed in around their calls: one minute before the first call of a
  stretch and one minute after its last (a stretch ends at a gap of more than 30
  minutes), on the queue of the calls they take; on a call while talking, available
  between calls. The records hold no breaks, so an agent between two calls of a
  stretch shows available even when away: the states promise more than the room gave,
  as real rooms' do.

Times are the centre's local time (Asia/Jerusalem); a time earlier than the call's
voice-menu entry is on the next day. The days are moved on by whole weeks into 2026
(the schema takes times from 2000 on), so each keeps its weekday.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

ZONE = ZoneInfo("Asia/Jerusalem")
QUEUES = ("BANK", "INTERNET")
# The schema takes times from 2000 on: 1999 is moved on by whole weeks (weekdays kept).
SHIFT = timedelta(weeks=(date(2026, 1, 1) - date(1999, 1, 1)).days // 7)
_GAP_MS = 30 * 60_000
_MARGIN_MS = 60_000


def _ms(day: date, clock: str, after_ms: int | None = None) -> int:
    h, m, s = (int(x) for x in clock.split(":"))
    at = datetime(day.year, day.month, day.day, tzinfo=ZONE) + timedelta(hours=h, minutes=m,
                                                                         seconds=s)
    ms = int(at.timestamp() * 1000)
    if after_ms is not None and ms < after_ms - 3_600_000:
        ms += 86_400_000  # past midnight
    return ms


def calls(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Each usable line as a call: queue, offered, outcome, answered/left, ended, agent."""
    for n, line in enumerate(lines):
        cols = line.rstrip("\n").split("\t")
        if n == 0 or len(cols) < 17:
            continue
        call_id, ctype, day_s, vru_entry = cols[1], cols[4].strip(), cols[5], cols[6]
        q_start, q_time, outcome = cols[9], int(cols[11]), cols[12]
        ser_start, ser_time, server = cols[13], int(cols[15]), cols[16]
        day = date(1900 + int(day_s[:2]) + (100 if int(day_s[:2]) < 50 else 0),
                   int(day_s[2:4]), int(day_s[4:6])) + SHIFT
        entered = _ms(day, vru_entry)
        queued = q_start != "0:00:00"
        if outcome == "PHANTOM" or (outcome == "HANG" and not queued):
            continue
        call = {"call_id": f"ab-{day_s}-{cols[0]}-{call_id}", "queue": "INTERNET" if ctype == "IN"
                else "BANK", "type": ctype}
        if outcome == "HANG":
            call["offered"] = _ms(day, q_start, entered)
            call["abandoned"] = call["offered"] + q_time * 1000
        elif ser_start != "0:00:00":
            start = _ms(day, ser_start, entered)
            call["offered"] = _ms(day, q_start, entered) if queued else start
            call["answered"] = max(start, call["offered"])
            call["ended"] = call["answered"] + ser_time * 1000
            call["agent"] = server
        elif queued:  # served with no service time recorded
            call["offered"] = _ms(day, q_start, entered)
            call["answered"] = call["ended"] = call["offered"] + q_time * 1000
            call["agent"] = server
        else:
            continue
        yield call


def events(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The calls' events and their agents' sign-ins and states, in time order."""
    out: list[dict[str, Any]] = []

    def emit(etype: str, ts: int, queue: str, key: str, **fields: Any) -> None:
        out.append({"v": 1, "event_id": f"ab-{key}", "type": etype, "ts_ms": ts,
                    "queue": queue, "source": "anonymous-bank", **fields})

    by_agent: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in rows:
        cid, queue, offered = c["call_id"], c["queue"], c["offered"]
        emit("call.offered", offered, queue, f"{cid}-o", call_id=cid)
        if "abandoned" in c:
            emit("call.abandoned", c["abandoned"], queue, f"{cid}-x", call_id=cid,
                 offered_ms=offered, wait_ms=c["abandoned"] - offered)
            continue
        agent = c["agent"]
        emit("call.answered", c["answered"], queue, f"{cid}-a", call_id=cid, agent_id=agent,
             offered_ms=offered, wait_ms=c["answered"] - offered)
        emit("call.ended", c["ended"], queue, f"{cid}-e", call_id=cid, agent_id=agent,
             offered_ms=offered, talk_ms=c["ended"] - c["answered"], hold_ms=0)
        if agent != "NO_SERVER":
            by_agent[agent].append(c)
    for agent, taken in by_agent.items():
        taken.sort(key=lambda c: c["answered"])
        stretch: list[dict[str, Any]] = []
        for c in [*taken, None]:
            if c is not None and (not stretch or c["answered"] - max(
                    s["ended"] for s in stretch) <= _GAP_MS):
                stretch.append(c)
                continue
            _agent_stretch(emit, agent, stretch)
            stretch = [c] if c is not None else []
    out.sort(key=lambda e: (e["ts_ms"], e["type"] != "agent.login"))
    return out


def _agent_stretch(emit: Any, agent: str, stretch: list[dict[str, Any]]) -> None:
    queues = sorted({c["queue"] for c in stretch})
    first = stretch[0]["answered"] - _MARGIN_MS
    last = max(c["ended"] for c in stretch) + _MARGIN_MS
    key = f"{agent}-{first}"
    for q in queues:
        emit("agent.login", first, q, f"{key}-{q}-in", agent_id=agent, state="available")
    busy_until = 0
    for c in stretch:
        if c["answered"] >= busy_until:  # the records hold overlapping calls now and then
            emit("agent.state", c["answered"], c["queue"], f"{c['call_id']}-s1",
                 agent_id=agent, state="on_call")
        busy_until = max(busy_until, c["ended"])
        emit("agent.state", c["ended"], c["queue"], f"{c['call_id']}-s2", agent_id=agent,
             state="available")
    for q in queues:
        emit("agent.logout", last, q, f"{key}-{q}-out", agent_id=agent)


def figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The month's figures the calibrated room (producers/room.py) is fitted to and its
    test checks: weekdays (Sunday to Thursday, the bank's week) only."""
    week = [c for c in rows if datetime.fromtimestamp(c["offered"] / 1000, ZONE).weekday()
            in (6, 0, 1, 2, 3)]
    per_day = Counter(datetime.fromtimestamp(c["offered"] / 1000, ZONE).date() for c in week)
    hours = Counter(datetime.fromtimestamp(c["offered"] / 1000, ZONE).hour for c in week)
    answered = [c for c in week if "answered" in c]
    talk = {c["call_id"]: (c["ended"] - c["answered"]) / 1000 for c in answered}
    by_type: dict[str, Any] = {}
    for ctype in sorted({c["type"] for c in week}):
        logs = [math.log(talk[c["call_id"]]) for c in answered
                if c["type"] == ctype and talk[c["call_id"]] >= 10]
        by_type[ctype] = {"share": round(sum(c["type"] == ctype for c in week) / len(week), 4),
                          "log_talk_mean": round(statistics.fmean(logs), 3),
                          "log_talk_sd": round(statistics.stdev(logs), 3)}
    gone = [(c["abandoned"] - c["offered"]) / 1000 for c in week if "abandoned" in c]
    days = list(per_day.values())
    # Half hours (08:00-23:00) against what the day's level and the hour's share give:
    # Poisson would make the mean of (count - expected)^2 / expected 1.
    slots = Counter(_slot(c["offered"]) for c in week if 16 <= _slot(c["offered"])[1] < 46)
    slot_share = Counter(s for _, s in slots.elements())
    in_slots = sum(slot_share.values())
    day_total = Counter(d for d, _ in slots.elements())
    chi = [(slots[(d, s)] - day_total[d] * slot_share[s] / in_slots) ** 2
           / (day_total[d] * slot_share[s] / in_slots) for d in day_total for s in slot_share]
    return {
        "weekdays": len(days),
        "calls_per_weekday": round(statistics.fmean(days), 1),
        "daily_cv": round(statistics.stdev(days) / statistics.fmean(days), 3),
        "half_hour_dispersion": round(statistics.fmean(chi), 2),
        "hour_share": {h: round(hours[h] / len(week), 4) for h in sorted(hours)},
        "types": by_type,
        "short_talk_share": round(sum(t < 10 for t in talk.values()) / len(answered), 4),
        "answered_within_10s": round(sum(c["answered"] - c["offered"] <= 10_000
                                         for c in answered) / len(week), 4),
        "abandoned_share": round(len(gone) / len(week), 4),
        "abandoned_mean_wait_s": round(statistics.fmean(gone), 1),
        # Staffing, an input of the room rather than a figure it is checked on: agents
        # who took a call in the hour, on the mean weekday.
        "agents_by_hour": {h: round(n / len(days), 1) for h, n in sorted(Counter(
            h for (_, h), names in _takers(answered).items() for _ in names).items())},
    }


def _slot(ms: int) -> tuple[Any, int]:
    at = datetime.fromtimestamp(ms / 1000, ZONE)
    return at.date(), at.hour * 2 + at.minute // 30


def _takers(answered: list[dict[str, Any]]) -> dict[tuple[Any, int], set[str]]:
    out: dict[tuple[Any, int], set[str]] = defaultdict(set)
    for c in answered:
        at = datetime.fromtimestamp(c["answered"] / 1000, ZONE)
        if c["agent"] != "NO_SERVER":
            out[(at.date(), at.hour)].add(c["agent"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("month", help="the lab's tab-separated records of a month")
    parser.add_argument("--figures", action="store_true",
                        help="print the month's figures (producers/room.py), not its events")
    args = parser.parse_args()
    with open(args.month, encoding="latin-1") as fh:
        if args.figures:
            json.dump(figures(list(calls(fh))), sys.stdout, indent=1)
            sys.stdout.write("\n")
            return
        for event in events(list(calls(fh))):
            sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
