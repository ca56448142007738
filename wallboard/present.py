"""How a snapshot figure is shown: text, colour against its target, age. No Dash here."""

from __future__ import annotations

from typing import TypedDict

from base.config import Settings
from base.i18n import BOARD
from base.keys import ReplaySession
from core.catalog import KPI
from core.records import Now, Outlook, Snapshot, TargetDoc, TicketsNow, Window, figure
from core.snapshot import CENTRE

__all__ = [
    "AGENT_STATE_ORDER", "AGE_UNITS", "AMBER", "RED", "AgentView", "Shown", "TileView",
    "WindowFigures", "age_text", "agent_views", "colour", "duration_text", "format_kpi",
    "kpi_help", "min_calls", "percent_text", "rate_shown", "rejected_line",
    "rejected_reasons", "seats_view", "severity",
    "target_colour", "tile_view", "GREY",
]

Shown = tuple[str, str]  # a figure's text and its colour class

GREEN, AMBER, RED, GREY, PLAIN = "green", "amber", "red", "grey", "plain"


def percent_text(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def duration_text(seconds: float | None) -> str:
    """Whole seconds as m:ss (h:mm:ss past an hour); a dash when undefined."""
    if seconds is None:
        return "–"
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


# Seconds up to two minutes, then minutes; the board's browser side formats the tiles'
# ages with the same table (wallboard/assets/wall.js, given it by wallboard/wall.py).
AGE_UNITS = {"zh": ("{n}秒", "{n}分钟"), "en": ("{n} s", "{n} min")}


def age_text(age_s: float, lang: str) -> str:
    age = max(0, int(age_s))
    seconds, minutes = AGE_UNITS["zh" if lang == "zh" else "en"]
    return seconds.format(n=age) if age < 120 else minutes.format(n=age // 60)


def colour(kind: str, value: float | None, snap: Snapshot, settings: Settings) -> str:
    """Green / amber / red against the manual's targets (kpis.md), grey when undefined."""
    if value is None:
        return GREY
    if kind == "waiting":  # the escalation ladder's thresholds (manual lines 140-143)
        if value > settings.waiting_red:
            return RED
        return AMBER if value > settings.waiting_amber else GREEN
    if kind == "longest":  # past the SL threshold amber; past A2's 60 s limit red (line 507)
        if value > 60:
            return RED
        return AMBER if value > snap["sl_threshold_s"] else GREEN
    key = _TILE_KPI.get(kind)
    if key is None:
        raise ValueError(kind)
    return target_colour(value, snap.get("targets", {}).get(key), settings.amber_margin)


_TILE_KPI = {"sl": "service_level", "abandon": "abandon_rate", "asa": "asa_s"}


def seats_view(now: Now) -> Shown:
    """Seats needed now (Erlang C) / agents signed in; red when short."""
    needed = now.get("seats_needed")
    if not needed:
        return "–", GREY
    staffed = now["agents"].get("logged_in", 0)
    agents = needed["agents"]
    return f"{agents}/{staffed}", RED if agents > staffed else GREEN


def target_colour(value: float | None, target: TargetDoc | None,
                  margin: float) -> str:
    """Green inside the target range, amber within ``margin`` (a fraction of the
    bound) outside it, red beyond; grey when undefined, plain when there is no target."""
    if value is None:
        return GREY
    if not target:
        return PLAIN
    low, high = target.get("min"), target.get("max")
    if low is not None and value < low:
        return AMBER if value >= low * (1 - margin) else RED
    if high is not None and value > high:
        return AMBER if value <= high * (1 + margin) else RED
    return GREEN


def data_ms(snap: Snapshot) -> int:
    """When the figures were last known live: the earlier of their write and the
    worker's last contact with the event stream (the worker keeps writing while the
    broker is away, but what it writes is no longer live)."""
    written = int(snap.get("written_ms", 0))
    return min(written, int(snap.get("source_ok_ms", written)))


def source_lost(snap: Snapshot, settings: Settings) -> bool:
    """The worker writes, but has lost the event stream (the broker is away)."""
    written = int(snap.get("written_ms", 0))
    return written - int(snap.get("source_ok_ms", written)) > settings.stale_after_s * 1000


class TileView(TypedDict):
    """Every figure of one tile as (text, colour class), and whether it is stale."""

    queue: str
    age_s: float
    stale: bool
    waiting: Shown
    longest: Shown
    sl: Shown
    sl_day: Shown
    abandon: Shown
    abandon_day: Shown
    asa: Shown
    seats: Shown
    available: str
    on_call: str
    severity: int  # 2: a figure over target (red), 1: near it (amber), 0: calm
    warning: str  # "": no breach warning out; else when step 1 is forecast ("~8 (5-12)" min)
    step: int  # the surge-ladder step in force, 0 for none
    rank: int  # worst first: severity, then ladder step, then a breach warning
    tickets: TicketsShown | None  # the queue's open tickets, when it has had any
    # A rate's call count when too few to judge it ("3 calls"), else "": beside its
    # caption, so the figure keeps the width the tile was sized for.
    few: dict[str, str]


class TicketsShown(TypedDict):
    """A tile's tickets line (docs/kpis.md#tickets-a4-a7)."""

    open: str
    due_soon: Shown  # at 75% of their limit: amber when any
    overdue: Shown  # past it: red (with its shape) when any
    next_due: str  # "L1 · 23 min", counted from the snapshot's own time; "" for none


_SEVERITY = {RED: 2, AMBER: 1}


def severity(view: TileView) -> int:
    """2 when any of the tile's main figures (waiting, longest wait, SL and abandoned in
    the half hour) is red, 1 when any is amber, else 0: what a wall pins on every page."""
    colours = (view["waiting"][1], view["longest"][1], view["sl"][1], view["abandon"][1])
    return max(_SEVERITY.get(c, 0) for c in colours)


def tickets_shown(tickets: TicketsNow | None, as_of_ms: int, lang: str) -> TicketsShown | None:
    if tickets is None:
        return None
    nxt = tickets["next_due"]
    next_due = ""
    if nxt is not None:
        what = f"L{nxt['level']}" if nxt["level"] else BOARD("consultation_short", lang)
        minutes = round((nxt["due_ms"] - as_of_ms) / 60_000)
        next_due = BOARD("ticket_next" if minutes >= 0 else "ticket_next_late", lang,
                         what=what, n=abs(minutes))
    return {"open": str(sum(tickets["open"].values())),
            "due_soon": (str(tickets["due_soon"]), AMBER if tickets["due_soon"] else PLAIN),
            "overdue": (str(tickets["overdue"]), RED if tickets["overdue"] else PLAIN),
            "next_due": next_due}


def warning_text(outlook: Outlook | None, as_of_ms: int) -> str:
    """Minutes until step 1 is forecast, with the spread, counted from the snapshot's own
    time: "~8 (5-12)", "~3 (2-30+)" (no breach within the lookahead at low arrivals);
    "" when no warning is out."""
    if not outlook or not outlook.get("warning") or outlook["breach_ms"] is None:
        return ""

    def minutes(in_s: int | None) -> str:
        if in_s is None:
            return "30+"
        return str(max(0, round((outlook["at_ms"] + in_s * 1000 - as_of_ms) / 60_000)))

    central = max(1, round((outlook["breach_ms"] - as_of_ms) / 60_000))
    early, late = minutes(outlook["early_in_s"]), minutes(outlook["late_in_s"])
    return f"~{central}" + ("" if early == late == str(central) else f" ({early}-{late})")


def min_calls(queue: str, settings: Settings) -> int:
    """Calls a window must hold before its rates are judged against their targets."""
    own = next((q.min_calls for q in settings.queues if q.name == queue), None)
    return own if own is not None else settings.min_calls


def rejected_reasons(stats: dict[str, int]) -> list[tuple[str, int]]:
    """The worker's dead letters by reason, most first (its cumulative counters)."""
    reasons = [(k[len("dead_letter."):], int(v)) for k, v in stats.items()
               if k.startswith("dead_letter.") and int(v)]
    return sorted(reasons, key=lambda r: (-r[1], r[0]))


def rejected_line(stats: dict[str, int], lang: str) -> str:
    """"rejected events: 7759 — bad_field 7757 · future 2"; "" when there are none."""
    reasons = rejected_reasons(stats)
    if not reasons:
        return ""
    total = int(stats.get("dead_letters", sum(n for _, n in reasons)))
    return (f"{BOARD('dead_letters', lang)}: {total} — "
            + " · ".join(f"{r} {n}" for r, n in reasons))


def few_calls(kind: str, window: WindowFigures, snap: Snapshot, settings: Settings,
              lang: str) -> str:
    """"3 calls" when a rate's window holds fewer than ``min_calls``, else ""."""
    calls = window.get("offered")
    if (window.get(_TILE_KPI[kind]) is not None and calls is not None
            and calls < min_calls(snap["queue"], settings)):
        return BOARD("one_call" if int(calls) == 1 else "calls", lang, n=int(calls))
    return ""


def rate_shown(kind: str, window: WindowFigures, snap: Snapshot, settings: Settings,
               lang: str, inline: bool = False) -> Shown:
    """A rate's text and colour. On fewer calls than ``min_calls`` the rate is shown in
    neutral grey and judged against nothing: three calls, one of them late, is 67% and
    not a breach (a wall that turns red on a handful of calls teaches the room to
    ignore red). ``inline``: its count follows it ("67% · 3 calls"), for a line of text;
    a big figure has it beside its caption (TileView.few)."""
    value = window.get(_TILE_KPI[kind])
    text = duration_text(value) if kind == "asa" else percent_text(value)
    few = few_calls(kind, window, snap, settings, lang)
    if few:
        return (f"{text} · {few}" if inline else text), GREY
    return text, colour(kind, value, snap, settings)


def tile_view(snap: Snapshot, now_ms: int, settings: Settings, lang: str = "zh") -> TileView:
    """Every figure of one tile with its text and colour, and whether it is stale."""
    now = snap["now"]
    interval = WindowFigures(snap["windows"].get("interval"))
    day = WindowFigures(snap["windows"].get("day"))
    age_s = (now_ms - data_ms(snap)) / 1000
    view: TileView = {
        "queue": snap["queue"],
        "age_s": age_s,
        "stale": age_s > settings.stale_after_s,
        "waiting": (str(now["waiting"]), colour("waiting", now["waiting"], snap, settings)),
        "longest": (duration_text(now["longest_wait_s"]) if now["waiting"] else "0:00",
                    colour("longest", now["longest_wait_s"], snap, settings)),
        "sl": rate_shown("sl", interval, snap, settings, lang),
        "sl_day": rate_shown("sl", day, snap, settings, lang, inline=True),
        "abandon": rate_shown("abandon", interval, snap, settings, lang),
        "abandon_day": rate_shown("abandon", day, snap, settings, lang, inline=True),
        "asa": rate_shown("asa", interval, snap, settings, lang),
        "few": {kind: few_calls(kind, interval, snap, settings, lang)
                for kind in ("sl", "abandon", "asa")},
        "seats": seats_view(now),
        "available": str(now["agents"].get("available", 0)),
        "on_call": str(now["agents"].get("on_call", 0)),
        "severity": 0, "step": 0, "rank": 0, "warning": "",
        # Counted from the figures' own time (event time on a replay or the event clock).
        "tickets": tickets_shown(now.get("tickets"), snap["as_of_ms"], lang),
    }
    escalation = now.get("escalation")
    view["step"] = escalation["step"] if escalation else 0
    view["warning"] = warning_text(now.get("outlook"), data_ms(snap))
    view["severity"] = severity(view)
    # Changes only with the colour, the step or a warning, so a tile's own markup (and
    # what each display is sent) does not change with every caller; fit.js breaks ties
    # by waiting. A breach warning ranks below any step, above calm.
    view["rank"] = (view["severity"] * 100 + min(view["step"], 49) * 2
                    + (1 if view["warning"] else 0))
    return view


# An agent wall's order: who needs a supervisor's eye first (docs/board.md).
AGENT_STATE_ORDER = ("not_ready", "acw", "on_call", "available")


class AgentView(TypedDict):
    """One agent's tile: who, where, in which state since when, and whether too long."""

    key: str  # unique on the wall: queue and agent id
    agent_id: str
    name: str
    queue: str
    state: str
    since_ms: int | None
    over: bool


def agent_views(snaps: list[Snapshot], names: dict[str, str], limits: dict[str, float],
                now_ms: int) -> list[AgentView]:
    """Every agent signed in to the snapshots' queues, sorted by state (not ready, wrap-up,
    on a call, available), then longest in it first; too long in a state per ``limits``
    (seconds) is ``over``."""
    views: list[AgentView] = []
    for snap in snaps:
        for agent_id, day in snap.get("agents_day", {}).items():
            if day["state"] not in AGENT_STATE_ORDER:
                continue  # signed out: not on the floor
            since = day["since_ms"]
            limit = limits.get(day["state"])
            views.append({"key": f"{snap['queue']}.{agent_id}", "agent_id": agent_id,
                          "name": names.get(agent_id, agent_id), "queue": snap["queue"],
                          "state": day["state"], "since_ms": since,
                          "over": bool(limit is not None and since is not None
                                       and now_ms - since > limit * 1000)})
    return sorted(views, key=lambda v: (AGENT_STATE_ORDER.index(v["state"]),
                                        v["since_ms"] if v["since_ms"] is not None else now_ms,
                                        v["key"]))


class WindowFigures:
    """A window's figures read by name, a missing window reading as undefined figures."""

    def __init__(self, window: Window | None) -> None:
        self.window = window

    def get(self, key: str) -> float | None:
        return None if self.window is None else figure(self.window, key)


def format_kpi(kpi: KPI, value: float | None) -> str:
    if value is None:
        return "–"
    if kpi.unit == "ratio":
        return f"{value * 100:.1f}%"
    if kpi.unit == "s":
        return duration_text(value)
    if kpi.unit == "count":
        return str(int(value))
    return f"{value:.1f}"


def _bound_text(kpi: KPI, bound: float | None) -> str:
    return "" if bound is None else format_kpi(kpi, bound)


def kpi_help(kpi: KPI, lang: str, target: TargetDoc | None) -> str:
    """The tooltip: code and name, formula, target, the manual's line, what to check."""
    name = kpi.zh if lang == "zh" else kpi.en
    lines = [f"{kpi.code} {name}: {kpi.formula}"]
    if target and (target.get("min") is not None or target.get("max") is not None):
        low, high = _bound_text(kpi, target.get("min")), _bound_text(kpi, target.get("max"))
        span = f"{low}–{high}" if low and high else (f">= {low}" if low else f"<= {high}")
        lines.append(f"{BOARD('target', lang)} {span}")
    lines.append(BOARD("manual_line", lang, line=kpi.line))
    check = kpi.check_zh if lang == "zh" else kpi.check_en
    if check:
        lines.append(f"{BOARD('check', lang)}: {check}")
    return "\n".join(lines)


def replay_marker(replay: ReplaySession, snaps: list[Snapshot], lang: str
                  ) -> tuple[str, str]:
    """A replay session's banner: (the marker, the detail). The marker is empty when the
    session is unknown (expired or never started), and the detail says so."""
    name, status = replay.get("name", ""), replay.get("status", "running")
    if status == "missing":
        return "", BOARD("replay_missing", lang, name=name)
    centre = next((s for s in snaps if s["queue"] == CENTRE), None)
    at = centre["as_of"][:16].replace("T", " ") if centre else ""
    shown = status if status in ("running", "paused", "done") else "running"
    return (BOARD("replay", lang, at=at),
            BOARD("replay_detail", lang, name=name, status=BOARD(shown, lang)))
