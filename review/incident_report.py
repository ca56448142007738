"""``callboard incident-report``: one self-contained HTML file and CSV files about a
stretch of the event log, computed by the replay's sessions (the live worker's own
pipelines) minute by minute (docs/review.md).

What it holds: a 1-minute timeline per queue and for the centre (calls waiting,
longest wait, agents by state, seats needed against staffed); service level,
abandonment and ASA per 5 minutes and per half hour against their targets; every
ladder step with who was told on which channel and who acknowledged after how long
(from the alert audit trail, "not recorded" when the range was not live here); the
key moments (``core.incident``); and the configuration used.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

import pandas as pd
import plotly.graph_objects as go
import redis
from jinja2 import Environment, PackageLoader
from markupsafe import Markup

from base.assemble import groups_of, ladder_rules, pipeline_rules
from base.config import Settings
from base.i18n import REPORT
from base.keys import RedisKeys, text
from core import kpi
from core.events import EventError, parse
from core.incident import Minute, abandoned_calls, key_moments, not_ready_by_reason
from core.records import AbandonedCall, Alert, Event, KeyMoments, Snapshot
from core.report import safe_cell
from core.rules import RuleBook
from core.snapshot import CENTRE, centre_snapshot, window_figures
from core.whatif import recorded_calls, requeue, spread_agents
from review.replay import Session, day_start_ms, load_source

__all__ = ["IncidentReport", "build_incident_report", "estimate_incident_report", "extra_agents",
           "write_incident_report"]


class IntervalRow(TypedDict):
    """One queue's 5- or 30-minute interval, against its targets."""

    queue: str
    start_ms: int
    start: str
    offered: int
    service_level: float | None
    sl_target: float
    abandon_rate: float | None
    abandon_target: float
    asa_s: float | None
    asa_target_s: float


class IncidentReport(TypedDict):
    """Everything the report shows, as plain data (the page, the CSVs and the tests)."""

    from_ms: int
    to_ms: int
    source: str
    timeline: dict[str, list[Minute]]
    intervals_5: list[IntervalRow]
    intervals_30: list[IntervalRow]
    alerts: list[Alert]
    moments: KeyMoments
    abandoned: list[AbandonedCall]
    not_ready: dict[str, float]
    config: dict[str, object]

_MINUTE = 60_000
_TEMPLATES = Environment(loader=PackageLoader("review", "templates"), autoescape=True,
                         trim_blocks=True, lstrip_blocks=True)


def build_incident_report(settings: Settings, source: str, from_ms: int, to_ms: int
                          ) -> IncidentReport:
    """Everything the report shows, as plain data (the tests read it too)."""
    from_ms -= from_ms % _MINUTE
    parts = load_source(settings, source, from_ms, to_ms)
    return _report(settings, parts, source, from_ms, to_ms)


def extra_agents(report: IncidentReport, asked: str, settings: Settings) -> dict[str, int]:
    """``--add-agents``: "N" (N agents in all, spread over the queues by their calls in
    the stretch: ``core.whatif.spread_agents``) or "QUEUE=N,..." (as given)."""
    if "=" not in asked:
        total = int(asked)
        parts = load_source(settings, report["source"], report["from_ms"], report["to_ms"])
        calls: dict[str, int] = {}
        for c in recorded_calls(_events(parts)):
            if report["from_ms"] <= c.offered_ms <= report["to_ms"]:
                calls[c.queue] = calls.get(c.queue, 0) + 1
        return {q: n for q, n in spread_agents(total, calls).items() if n}
    out = {}
    for part in asked.split(","):
        queue, _, n = part.partition("=")
        out[queue.strip()] = int(n)
    return out


def estimate_incident_report(settings: Settings, report: IncidentReport, extra: dict[str, int],
                             from_minute: int
                             ) -> tuple[IncidentReport, IncidentReport]:
    """The report's stretch with ``extra`` more agents (per queue) from ``from_minute``
    minutes after its start, estimated (``core.whatif``): (the model with no extra
    agent, the model with them), so the estimate is set against the model's own error."""
    from_ms, to_ms = report["from_ms"], report["to_ms"]
    parts = load_source(settings, report["source"], from_ms, to_ms)
    calls = [c for c in recorded_calls(_events(parts)) if from_ms <= c.offered_ms <= to_ms]
    timeline = {q: {m.at_ms: m.available + m.on_call + m.acw for m in minutes}
                for q, minutes in report["timeline"].items()}

    def capacity(queue: str, minute_ms: int) -> int:
        known = timeline.get(queue, {})
        return known.get(minute_ms, known.get(max((m for m in known if m <= minute_ms),
                                                  default=from_ms), 0))

    def model(n: dict[str, int]) -> IncidentReport:
        events = requeue(calls, capacity, n, from_ms + from_minute * _MINUTE, to_ms)
        lines = [json.dumps(e).encode() for e in events]
        return _report(settings, {0: lines}, report["source"], from_ms, to_ms)

    return model({}), model(extra)


def _report(settings: Settings, parts: dict[int, list[bytes]], source: str, from_ms: int,
            to_ms: int) -> IncidentReport:
    rules = pipeline_rules(settings, offline=True)
    book = rules.rule_book
    session = Session(rules, parts, day_start_ms(from_ms, settings))
    session.reset()
    timeline: dict[str, list[Minute]] = {}
    for at in range(from_ms, to_ms + 1, _MINUTE):
        session.advance_to(at)
        snaps = [p.snapshot(q, at) for p in session.pipelines.values() for q in p.queues()]
        if snaps:
            snaps.append(centre_snapshot(sorted(snaps, key=lambda s: s["queue"]),
                                         book.rules_for(CENTRE), at, settings.zone))
        for snap in snaps:
            timeline.setdefault(snap["queue"], []).append(_minute(snap, at))
    session.advance_to(to_ms)
    events = _events(parts)
    centre = timeline.get(CENTRE, [])
    # Recovered once waiting stayed low for the ladder's own sign-out period.
    moments = key_moments(centre, settings.waiting_amber, settings.escalation.clear_for_s * 1000,
                          ladder_rules(settings).steps[0].for_s * 1000)
    start, end = moments["first_breach_ms"], moments["recovered_ms"] or to_ms
    return {
        "from_ms": from_ms, "to_ms": to_ms, "source": source,
        "timeline": timeline,
        "intervals_5": _intervals(session, book, settings.zone, from_ms, to_ms, 5),
        "intervals_30": _intervals(session, book, settings.zone, from_ms, to_ms, 30),
        "alerts": [a for a in session.alerts if from_ms <= a["event_ms"] <= to_ms],
        "moments": moments,
        "abandoned": abandoned_calls(events, start or from_ms, end if start else to_ms,
                                     lambda queue: book.rules_for(queue).short_abandon_s),
        "not_ready": not_ready_by_reason(events, start, end) if start else {},
        "config": _config(settings, book),
    }


def _minute(snap: Snapshot, at: int) -> Minute:
    now, agents = snap["now"], snap["now"]["agents"]
    seats = now.get("seats_needed")
    return Minute(at_ms=at, waiting=now["waiting"], longest_wait_s=now["longest_wait_s"],
                  available=agents["available"], on_call=agents["on_call"], acw=agents["acw"],
                  not_ready=agents["not_ready"],
                  seats_needed=seats["agents"] if isinstance(seats, dict) else None,
                  staffed=agents["logged_in"])


def _events(parts: dict[int, list[bytes]]) -> list[Event]:
    out = []
    for lines in parts.values():
        for raw in lines:
            try:
                out.append(parse(raw))
            except EventError:
                continue  # dead-lettered live too; not part of the story
    return out


def _intervals(session: Session, book: RuleBook, zone: ZoneInfo, from_ms: int, to_ms: int,
               minutes: int) -> list[IntervalRow]:
    width = minutes * _MINUTE
    first = from_ms - from_ms % width
    rows: list[IntervalRow] = []
    queues = session.queues()
    for start in range(first, to_ms, width):
        end = start + width
        per_queue = {}
        for pipeline in session.pipelines.values():
            for queue in pipeline.queues():
                per_queue[queue] = pipeline.engine.window(queue, start, end, to_ms)[0]
        for queue in [*queues, CENTRE]:
            counters = (kpi.merge(per_queue.values()) if queue == CENTRE
                        else per_queue.get(queue, kpi.new_counters()))
            rules = book.rules_for(queue)
            figures = window_figures(start, end, counters, rules, zone)
            rows.append({"queue": queue, "start_ms": start, "start": figures["start"],
                         "offered": figures.get("offered"),  # B13: entered less short abandons
                         "service_level": figures.get("service_level"),
                         "sl_target": rules.sl_target,
                         "abandon_rate": figures.get("abandon_rate"),
                         "abandon_target": rules.abandon_target,
                         "asa_s": figures.get("asa_s"), "asa_target_s": rules.asa_target_s})
    return rows


def _config(settings: Settings, book: RuleBook) -> dict[str, object]:
    queues = {q: {"sl_formula": r.sl_formula, "sl_threshold_s": r.sl_threshold_s,
                  "sl_target": r.sl_target, "abandon_target": r.abandon_target,
                  "asa_target_s": r.asa_target_s, "short_abandon_s": r.short_abandon_s}
              for q in [CENTRE, *(q.name for q in settings.queues)]
              for r in [book.rules_for(q)]}
    ladder = ladder_rules(settings)  # the rules the pipeline ran, the manual's by default
    return {"timezone": settings.timezone, "breach_threshold_waiting": settings.waiting_amber,
            "queues": queues,
            "ladder": {"steps": [{"name_zh": s.name_zh, "name_en": s.name_en, "above": s.above,
                                  "for_s": s.for_s} for s in ladder.steps],
                       "clear_at_or_below": ladder.clear_at_or_below,
                       "clear_for_s": ladder.clear_for_s, "cooldown_s": ladder.cooldown_s,
                       "groups": groups_of(settings)}}


def audit_trail(settings: Settings) -> list[dict[str, str]]:
    """The alert audit stream, oldest first; empty when Redis has none (or is away)."""
    try:
        client = redis.Redis.from_url(settings.redis_url, socket_timeout=2,
                                      socket_connect_timeout=2)
        entries = client.xrange(RedisKeys(settings.redis_prefix).alerts_audit)
    except (redis.RedisError, OSError):
        return []
    return [{text(k): text(v) for k, v in (fields or {}).items()} for _, fields in entries or ()]


def _ladder_rows(report: IncidentReport, trail: list[dict[str, str]], lang: str,
                 settings: Settings) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for alert in report["alerts"]:
        told = [f"{e.get('recipient')} ({e.get('channel')}, {REPORT('step', lang)} {e.get('level')})"
                for e in trail if e.get("what") == "notified"
                and e.get("alert_id") == alert["alert_id"]]
        acks = [f"{e.get('user')} +{e.get('after_s')} s" for e in trail
                if e.get("what") == "acknowledged" and e.get("queue") == alert["queue"]
                and e.get("step") == str(alert["step"]) and alert["direction"] == "up"]
        rows.append({
            REPORT("time", lang): _clock(alert["event_ms"], settings),
            REPORT("queue", lang): alert["queue"],
            REPORT("step", lang): alert["step"],
            REPORT("direction", lang): REPORT(alert["direction"], lang),
            REPORT("waiting", lang): alert["waiting"],
            "rung": alert["rung"]["name_zh" if lang == "zh" else "name_en"],
            REPORT("notified", lang): "; ".join(told) or REPORT("not_recorded", lang),
            REPORT("acknowledged", lang): "; ".join(acks) or (
                REPORT("not_recorded", lang) if not told else "–"),
        })
    return rows


def _clock(ms: int | None, settings: Settings) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, settings.zone).strftime("%Y-%m-%d %H:%M:%S")


def _csv(frame: pd.DataFrame, path: Path, index: bool = False) -> None:
    """A CSV a spreadsheet opens without running any cell (core.report.safe_cell)."""
    frame.map(safe_cell).to_csv(path, index=index)


def write_incident_report(settings: Settings, report: IncidentReport, out: Path, lang: str,
                          trail: list[dict[str, str]] | None = None,
                          what_if: tuple[str, IncidentReport] | None = None,
                          estimate: tuple[dict[str, int], int, IncidentReport, IncidentReport]
                          | None = None
                          ) -> Path:
    """report.html and the CSVs into ``out``; returns the HTML file's path. ``what_if``:
    (its name, the same stretch's report under other settings), shown side by side;
    ``estimate``: (extra agents, from minute, the model without them, with them)."""
    out.mkdir(parents=True, exist_ok=True)
    trail = audit_trail(settings) if trail is None else trail
    timeline = pd.DataFrame([{"queue": q, **asdict(m), "time": _clock(m.at_ms, settings)}
                             for q, minutes in report["timeline"].items() for m in minutes])
    _csv(timeline, out / "timeline.csv")
    _csv(pd.DataFrame(report["intervals_5"]), out / "intervals_5min.csv")
    _csv(pd.DataFrame(report["intervals_30"]), out / "intervals_30min.csv")
    ladder = _ladder_rows(report, trail, lang, settings)
    _csv(pd.DataFrame(ladder), out / "ladder.csv")
    _csv(pd.DataFrame(report["abandoned"]), out / "abandoned.csv")
    compared: list[Comparison] = []
    if what_if is not None:
        name, other = what_if
        _csv(pd.DataFrame(other["intervals_30"]), out / "intervals_30min_what_if.csv")
        _csv(pd.DataFrame(_ladder_rows(other, [], lang, settings)), out / "ladder_what_if.csv")
        compared.append(_comparison(settings, report, REPORT("as_run", lang), other,
                                    REPORT("alternative", lang, name=name),
                                    REPORT("what_if", lang), "what-if", lang))
    if estimate is not None:
        extra, minute, without, with_extra = estimate
        _csv(pd.DataFrame(with_extra["intervals_30"]), out / "intervals_30min_estimate.csv")
        at = _clock(report["from_ms"] + minute * _MINUTE, settings)[11:16]
        compared.append(_comparison(settings, without, REPORT("model", lang), with_extra,
                                    REPORT("model_plus", lang, n=sum(extra.values()), at=at),
                                    REPORT("estimate", lang, n=sum(extra.values()), at=at,
                                           where=", ".join(f"{q} +{n}" for q, n in extra.items())),
                                    "estimate", lang))
    page = out / "report.html"
    page.write_text(_html(settings, report, ladder, lang, compared), encoding="utf-8")
    return page


class Comparison(TypedDict):
    """Two runs of one stretch side by side: key moments, half hours, settings changed."""

    title: str
    element: str  # the id prefix of its tables
    moments: list[dict[str, str]]
    halves: list[dict[str, str]]
    changed: list[dict[str, str]]


def _comparison(settings: Settings, report: IncidentReport, a: str, other: IncidentReport,
                b: str, title: str, element: str, lang: str) -> Comparison:

    def moments(r: IncidentReport) -> list[str]:
        m = r["moments"]
        return [_clock(m["first_breach_ms"], settings) or REPORT("none", lang),
                _clock(m["surge_ms"], settings) or REPORT("none", lang),
                "" if m["peak_waiting"] is None else str(m["peak_waiting"]),
                _clock(m["recovered_ms"], settings),
                "".join(f"{x['queue']} {x['step']} {REPORT(x['direction'], lang)} "
                        f"{_clock(x['event_ms'], settings)[11:]}; " for x in r["alerts"])
                or REPORT("none", lang)]

    labels = [REPORT("first_breach_ms", lang, t=settings.waiting_amber),
              REPORT("surge_ms", lang, t=settings.waiting_amber), REPORT("peak_waiting", lang),
              REPORT("recovered_ms", lang, t=settings.waiting_amber), REPORT("ladder_steps", lang)]
    rows = [{"": label, a: x, b: y}
            for label, x, y in zip(labels, moments(report), moments(other), strict=True)]
    theirs = {r["start_ms"]: r for r in other["intervals_30"] if r["queue"] == CENTRE}
    halves = []
    for r in (r for r in report["intervals_30"] if r["queue"] == CENTRE):
        o = theirs.get(r["start_ms"])
        halves.append({REPORT("half_hour", lang): _clock(r["start_ms"], settings)[11:16],
                       f"{REPORT('service_level', lang)} · {a}": _pct(r["service_level"]),
                       f"{REPORT('service_level', lang)} · {b}": _pct(o and o["service_level"]),
                       f"{REPORT('abandon_rate', lang)} · {a}": _pct(r["abandon_rate"]),
                       f"{REPORT('abandon_rate', lang)} · {b}": _pct(o and o["abandon_rate"])})
    changed = [{"key": k, a: json.dumps(x, ensure_ascii=False), b: json.dumps(y, ensure_ascii=False)}
               for k, x, y in _differences(report["config"], other["config"])]
    return {"title": title, "element": element, "moments": rows, "halves": halves,
            "changed": changed}


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _differences(a: Any, b: Any, key: str = "") -> list[tuple[str, Any, Any]]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b), key=str)
                for d in _differences(a.get(k), b.get(k), f"{key}.{k}" if key else str(k))]
    return [] if a == b else [(key, a, b)]


def _html(settings: Settings, report: IncidentReport, ladder: list[dict[str, object]],
          lang: str, compared: list[Comparison]) -> str:
    moments = report["moments"]
    figures = [_timeline_chart(report, settings, lang), _interval_chart(report, settings, lang)]
    # Plotly's own HTML for each chart, the one part of the page not escaped: its data
    # is JSON, its names are queue names (events.QUEUE_PATTERN) and catalogue labels.
    charts = [Markup(fig.to_html(  # noqa: S704
        full_html=False, include_plotlyjs=(i == 0), div_id=f"chart-{i}",
        config={"displayModeBar": False})) for i, fig in enumerate(figures)]
    none = REPORT("none", lang)
    rows = [
        ("first_breach_ms", _clock(moments["first_breach_ms"], settings) or none),
        ("surge_ms", _clock(moments["surge_ms"], settings) or none),
        ("peak_waiting", "" if moments["peak_waiting"] is None else
         f"{moments['peak_waiting']} @ {_clock(moments['peak_waiting_ms'], settings)}"),
        ("peak_longest_wait_s", "" if moments["peak_longest_wait_s"] is None else
         f"{moments['peak_longest_wait_s']:.0f} s @ "
         f"{_clock(moments['peak_longest_wait_ms'], settings)}"),
        ("recovered_ms", _clock(moments["recovered_ms"], settings) or (
            REPORT("not_recovered", lang) if moments["first_breach_ms"] else none)),
        ("recovery_s", "" if moments["recovery_s"] is None else
         f"{moments['recovery_s'] / 60:.0f} min"),
    ]
    abandoned = [{REPORT("queue", lang): a["queue"], "call_id": a["call_id"],
                  REPORT("time", lang): _clock(a["abandoned_ms"], settings),
                  REPORT("wait_s", lang): a["wait_s"]} for a in report["abandoned"]]
    reasons = [{"reason": r or REPORT("no_reason", lang), "s": round(s)}
               for r, s in report["not_ready"].items()]
    return _TEMPLATES.get_template("incident_report.html").render(
        t=REPORT, lang=lang, threshold=settings.waiting_amber, source=report["source"],
        span=f"{_clock(report['from_ms'], settings)} – {_clock(report['to_ms'], settings)}",
        moments=rows, charts=charts, ladder=ladder, abandoned=abandoned, reasons=reasons,
        comparisons=compared, config=json.dumps(report["config"], ensure_ascii=False, indent=1))


def _timeline_chart(report: IncidentReport, settings: Settings, lang: str) -> go.Figure:
    """The centre's minute timeline, and each queue's behind a button above the chart."""
    keys = ("waiting", "available", "on_call", "not_ready", "seats_needed", "staffed")
    groups = [CENTRE, *sorted(q for q in report["timeline"] if q != CENTRE)]
    fig = go.Figure()
    per_group = len(keys) + 3
    for g, queue in enumerate(groups):
        minutes = report["timeline"].get(queue, [])
        times = [_clock(m.at_ms, settings) for m in minutes]
        for key in keys:
            fig.add_trace(go.Scatter(x=times, y=[getattr(m, key) for m in minutes],
                                     name=REPORT(key, lang), mode="lines", visible=g == 0,
                                     legendgroup=key))
        fig.add_trace(go.Scatter(x=times, y=[m.longest_wait_s for m in minutes],
                                 name=REPORT("longest", lang), mode="lines", yaxis="y2",
                                 visible=g == 0))
        # The breach warnings and the ladder's steps up, where waiting stood at each.
        for direction, symbol in (("warn", "diamond-open"), ("up", "triangle-up")):
            marks = [a for a in report["alerts"] if a["direction"] == direction
                     and (queue == CENTRE or a["queue"] == queue)]
            fig.add_trace(go.Scatter(
                x=[_clock(a["event_ms"], settings) for a in marks], y=[a["waiting"] for a in marks],
                text=[_mark_text(a, lang) for a in marks], hoverinfo="text+x",
                name=REPORT(f"mark_{direction}", lang), mode="markers", visible=g == 0,
                marker={"symbol": symbol, "size": 12, "color": "#e69f00" if direction == "warn"
                        else "#d55e00"}, legendgroup=f"mark_{direction}"))
    buttons = [{"label": REPORT("centre", lang) if q == CENTRE else q, "method": "update",
                "args": [{"visible": [i // per_group == g for i in range(per_group * len(groups))]}]}
               for g, q in enumerate(groups)]
    fig.update_layout(height=440, margin={"t": 40}, yaxis2={"overlaying": "y", "side": "right"},
                      updatemenus=[{"type": "buttons", "direction": "right", "x": 0, "y": 1.12,
                                    "xanchor": "left", "buttons": buttons}])
    return fig


def _mark_text(alert: Alert, lang: str) -> str:
    name = alert["rung"]["name_zh" if lang == "zh" else "name_en"]
    forecast = alert.get("forecast")
    if alert["direction"] == "warn" and forecast and forecast["breach_in_s"] is not None:
        return f"{alert['queue']} {name} ~{round(forecast['breach_in_s'] / 60)} min"
    return f"{alert['queue']} {alert['step']}: {name}"


def _interval_chart(report: IncidentReport, settings: Settings, lang: str) -> go.Figure:
    rows = [r for r in report["intervals_5"] if r["queue"] == CENTRE]
    times = [_clock(r["start_ms"], settings) for r in rows]
    fig = go.Figure()
    for key in ("service_level", "abandon_rate"):
        fig.add_trace(go.Bar(x=times, y=[r[key] for r in rows], name=REPORT(key, lang)))
    fig.add_trace(go.Scatter(x=times, y=[r["asa_s"] for r in rows], name=REPORT("asa_s", lang),
                             mode="lines+markers", yaxis="y2"))
    if rows:
        fig.add_hline(y=rows[0]["sl_target"], line_dash="dash",
                      annotation_text=f"{REPORT('service_level', lang)} {REPORT('target', lang)}")
    fig.update_layout(height=380, margin={"t": 20}, barmode="group",
                      yaxis={"tickformat": ".0%"}, yaxis2={"overlaying": "y", "side": "right"})
    return fig
