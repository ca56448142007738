"""The supervisor page (/supervisor/): every KPI per queue, half-hour trends, agents.

A second Dash app on the board's Flask server. Like the board it reads only
Redis: the worker's snapshots (live figures, windows, agents) and its
half-hour history rows. Every figure carries its help (formula, target, the
manual's line and its monitoring measures) as a tooltip.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import plotly.graph_objects as go
import plotly.utils
from dash import ALL, Dash, Input, Output, State, ctx, dcc, html, no_update
from redis.exceptions import RedisError

from base.config import Settings
from base.i18n import BOARD, lang_from_query
from base.keys import ReplaySession, safe_name
from core.catalog import CATALOG
from core.records import Drill, HistoryRow, Snapshot, TargetDoc, figure
from core.snapshot import CENTRE, WINDOW_NAMES
from wallboard.present import (
    GREY,
    WindowFigures,
    age_text,
    data_ms,
    duration_text,
    format_kpi,
    kpi_help,
    min_calls,
    percent_text,
    rejected_line,
    replay_marker,
    seats_view,
    target_colour,
)
from wallboard.reader import ASSETS, Readers, SnapshotReader, session_from_query

if TYPE_CHECKING:
    from flask import Flask  # Dash's own server

__all__ = ["create_supervisor"]

log = logging.getLogger(__name__)
TREND_KEYS = {"trend_sl": "service_level", "trend_asa": "asa_s", "trend_abandon": "abandon_rate"}
VOLUME_KEYS = ("attempts", "answered", "abandoned", "blocked")


class HistoryReader(SnapshotReader):
    def drill(self, queue: str) -> Drill | None:
        raw = self.client.get(self.keys.drill(queue))
        return cast(Drill, json.loads(cast(str, raw))) if raw else None

    def half_hours(self, queue: str, since_ms: int) -> list[HistoryRow]:
        raw = self.client.hgetall(self.keys.intervals(queue))
        rows = [cast(HistoryRow, json.loads(v)) for k, v in raw.items() if int(k) >= since_ms]
        return sorted(rows, key=lambda r: r["start_ms"])


def _table(snaps: list[Snapshot], window: str, lang: str, settings: Settings) -> html.Table:
    fixed = [BOARD(k, lang) for k in ("queue", "waiting", "longest", "seats_needed", "formula")]
    head = [html.Th(label) for label in fixed]
    head += [html.Th([html.Div(k.code), html.Div(k.zh if lang == "zh" else k.en)],
                     title=kpi_help(k, lang, None), className="kpi-head") for k in CATALOG]
    body = []
    for snap in snaps:
        queue, dom = snap["queue"], safe_name(snap["queue"])  # the name; its ids' form
        figures = WindowFigures(snap["windows"].get(window))
        targets = snap.get("targets", {})
        formula = BOARD(f"formula_{snap['sl_formula']}", lang, t=snap["sl_threshold_s"])
        seats, seats_colour = seats_view(snap["now"])
        cells = [
            # A click on a queue drills into it (its callers, agents, abandoned calls).
            html.Td(html.Button(snap["label_zh"] if lang == "zh" else snap["label_en"],
                                id={"type": "sup-pick", "queue": queue}, className="pick"),
                    className="qname"),
            _td(str(snap["now"]["waiting"]), fixed[1], id=f"sup-{dom}-waiting"),
            _td(duration_text(snap["now"]["longest_wait_s"]), fixed[2], id=f"sup-{dom}-longest"),
            _td(seats, fixed[3], id=f"sup-{dom}-seats", className=seats_colour,
                title=BOARD("seats_help", lang)),
            _td(formula, fixed[4], id=f"sup-{dom}-formula", className="formula"),
        ]
        calls = figures.get("offered")
        few = calls is not None and calls < min_calls(queue, settings)  # judged on nothing
        for k in CATALOG:
            value = figures.get(k.key)
            cells.append(_td(
                format_kpi(k, value), f"{k.code} {k.zh if lang == 'zh' else k.en}",
                id=f"sup-{dom}-{k.key}",
                className=(GREY if few and targets.get(k.key) and value is not None
                           else target_colour(value, targets.get(k.key),
                                              settings.amber_margin)),
                title=kpi_help(k, lang, targets.get(k.key)),
            ))
        body.append(html.Tr(cells, id=f"sup-row-{dom}"))
    return html.Table([html.Thead(html.Tr(head)), html.Tbody(body)], className="kpi-table")


def _td(children: Any, label: str, **props: Any) -> html.Td:
    """A cell with its column's caption in ``data-label``: on a phone each row is a card,
    each cell a line under its caption (board.css)."""
    attrs: dict[str, Any] = {"data-label": label}  # Dash takes data-*; its stubs do not say so
    return html.Td(children, **props, **attrs)


def _local(ms: int, settings: Settings) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(settings.zone)


def _trend(title: str, rows: list[HistoryRow], keys: dict[str, str], settings: Settings,
           target: float | None = None, percent: bool = False) -> go.Figure:
    fig = go.Figure()
    x = [_local(r["start_ms"], settings).strftime("%H:%M") for r in rows]
    for name, key in keys.items():
        y = [figure(r, key) for r in rows]
        if percent:
            y = [None if v is None else v * 100 for v in y]
        fig.add_trace(go.Scatter(x=x, y=y, name=name, mode="lines+markers", connectgaps=False))
    if target is not None:
        fig.add_hline(y=target * 100 if percent else target, line_dash="dash", line_color="#c33")
    fig.update_layout(title=title, height=260, margin={"l": 40, "r": 10, "t": 40, "b": 30},
                      paper_bgcolor="#111", plot_bgcolor="#111", font={"color": "#ddd"},
                      legend={"orientation": "h"})
    return fig


def _agents(snaps: list[Snapshot], lang: str) -> html.Div:
    agents = [(s["queue"], agent_id, a) for s in snaps for agent_id, a in
              s.get("agents_day", {}).items()]
    if not agents:
        return html.Div(BOARD("no_data", lang))
    head = [BOARD(k, lang) for k in ("queue", "agent", "state", "handled")] + [
        "AHT", "B10", "B12", BOARD("signed_in_h", lang)]
    rows = []
    for queue, agent_id, a in agents:
        rows.append(html.Tr([
            html.Td(queue), html.Td(agent_id),
            html.Td(BOARD(a["state"], lang), className=f"state {a['state']}"),
            html.Td(str(a["handled"])), html.Td(duration_text(a["aht_s"])),
            html.Td("–" if a["calls_per_agent_hour"] is None else f"{a['calls_per_agent_hour']:.1f}"),
            html.Td("–" if a["occupancy"] is None else f"{a['occupancy'] * 100:.0f}%"),
            html.Td(f"{a['signed_in_h']:.2f}"),
        ], id=f"agent-{queue}-{agent_id}"))
    return html.Div([html.H3(BOARD("agents_today", lang)),
                     html.Table([html.Thead(html.Tr([html.Th(h) for h in head])),
                                 html.Tbody(rows)], className="agent-table")])


def create_supervisor(settings: Settings, server: Flask) -> Dash:
    readers = Readers(settings, HistoryReader(settings))
    app = Dash(__name__, server=server,  # type: ignore[arg-type]  # Flask is accepted
               url_base_pathname="/supervisor/", title="callboard",
               assets_folder=str(ASSETS), update_title=None,  # type: ignore[arg-type]  # None: no flicker
               suppress_callback_exceptions=True)
    app.layout = supervisor_layout(settings)

    @app.callback(
        Output("sup-window", "options"),
        Input("sup-url", "search"),
    )
    def window_names(search: str | None) -> list[dict[str, str]]:
        lang = lang_from_query(search)
        return [{"label": BOARD(w, lang), "value": w} for w in WINDOW_NAMES]

    @app.callback(
        Output("sup-title", "children"), Output("sup-table", "children"),
        Output("sup-banner", "children"), Output("sup-banner", "className"),
        Output("sup-age", "children"), Output("trend-sl", "figure"),
        Output("trend-asa", "figure"), Output("trend-abandon", "figure"),
        Output("trend-volume", "figure"), Output("sup-agents", "children"),
        Output("sup-drill", "children"), Output("sup-rejected", "children"),
        Output("sup-table-key", "data"),
        Input("sup-tick", "n_intervals"), Input("sup-url", "search"),
        Input("sup-window", "value"), Input("sup-queue", "value"),
        State("sup-table-key", "data"),
    )
    def refresh(_n: int | None, search: str | None, window: str, queue: str,
                shown: str | None) -> tuple[Any, ...]:
        session = session_from_query(search)
        out = supervisor_view(readers.get(session), settings, lang_from_query(search), window,
                              queue, replay=readers.replay(session))
        # The table is sent again only when its rows changed: a table replaced every
        # tick took a supervisor's click on the row just swapped out.
        key = _digest(out[1])
        return (*out[:1], no_update if key == shown else out[1], *out[2:], key)

    @app.callback(
        Output("sup-queue", "value", allow_duplicate=True),
        Input("sup-url", "search"),
        prevent_initial_call="initial_duplicate",
    )
    def queue_from_link(search: str | None) -> Any:
        # ?queue=GEN: the drill-down a warning's message or its ack page links to.
        from urllib.parse import parse_qs

        asked = parse_qs((search or "").lstrip("?")).get("queue", [])
        return asked[0][:200] if asked and asked[0] else no_update

    @app.callback(
        Output("sup-queue", "value"),
        Input({"type": "sup-pick", "queue": ALL}, "n_clicks"),
        prevent_initial_call=True,
    )
    def pick(clicks: list[int | None]) -> Any:
        # Every refresh renders the table anew (n_clicks None): only a click picks.
        if not any(clicks) or not isinstance(ctx.triggered_id, dict):
            return no_update
        return ctx.triggered_id["queue"]

    return app


def _digest(component: Any) -> str:
    """What a component renders to, in a few bytes (Dash's own JSON of it)."""
    raw = json.dumps(component, cls=plotly.utils.PlotlyJSONEncoder, sort_keys=True)
    return hashlib.blake2b(raw.encode(), digest_size=12).hexdigest()


def supervisor_layout(settings: Settings) -> html.Div:
    queues = [CENTRE, *[q.name for q in settings.queues]]
    return html.Div([
        dcc.Location(id="sup-url"),
        dcc.Interval(id="sup-tick", interval=max(2000, settings.board_refresh_ms)),
        html.Div(id="sup-banner", className="banner hidden"),
        html.Div([
            html.Span(id="sup-title", className="title"),
            dcc.RadioItems(id="sup-window", options=list(WINDOW_NAMES), value="interval",
                           inline=True, className="sup-window"),
            dcc.Dropdown(id="sup-queue", options=queues, value=CENTRE, clearable=False,
                         className="sup-queue"),
            html.Span(id="sup-age", className="age"),
        ], className="sup-header"),
        html.Div(id="sup-rejected", className="sup-rejected"),
        html.Div(id="sup-table", className="sup-table"),
        dcc.Store(id="sup-table-key"),
        html.Div([dcc.Graph(id=name, config={"displayModeBar": False})
                  for name in ("trend-sl", "trend-asa", "trend-abandon", "trend-volume")],
                 className="sup-charts"),
        html.Div(id="sup-drill", className="sup-drill"),
        html.Div(id="sup-agents", className="sup-agents"),
    ], className="supervisor")


def supervisor_view(reader: HistoryReader, settings: Settings, lang: str, window: str,
                    queue: str, replay: ReplaySession | None = None) -> tuple[Any, ...]:
    """Title, KPI table, banner, age, four trend charts and the agents, for one tick;
    ``replay``: a replay session's, marked as such (see wallboard/wall.py)."""
    title = f"{BOARD('title', lang)} · {BOARD('supervisor', lang)}"
    now_ms = int(time.time() * 1000)
    empty = go.Figure()
    try:
        snaps, stats = reader.read()
        chosen = next((s for s in snaps if s["queue"] == queue), None)
        since = chosen["windows"]["day"]["start_ms"] if chosen else now_ms
        rows = reader.half_hours(queue, since)
        drill = reader.drill(queue) if queue != CENTRE else None
    except (RedisError, OSError) as exc:
        log.warning("cannot read snapshots: %s", exc)
        return (title, [], BOARD("redis_down", lang), "banner stale", "",
                empty, empty, empty, empty, [], [], "")
    if replay is not None:  # the replay's clock, not the wall's (wallboard/wall.py)
        now_ms = max((data_ms(s) for s in snaps), default=now_ms)
    oldest = min((data_ms(s) for s in snaps), default=0)
    age = (now_ms - oldest) / 1000
    stale = not snaps or age > settings.stale_after_s
    banner: Any = [html.Strong(BOARD("stale", lang)), " ",
                   BOARD("stale_detail", lang, age=age_text(age, lang))] if snaps and stale else (
        BOARD("no_data", lang) if not snaps else "")
    banner_class = "banner stale" if stale else "banner hidden"
    if replay is not None:
        marker, detail = replay_marker(replay, snaps, lang)
        banner = [html.Strong(marker), " ", detail] if marker else detail
        banner_class = "banner replay"
    targets = chosen.get("targets", {}) if chosen else {}
    charts = [
        _trend(BOARD(name, lang), rows, {BOARD(name, lang): key}, settings,
               target=_bound(targets.get(key)), percent=key != "asa_s")
        for name, key in TREND_KEYS.items()
    ]
    volume = _trend(BOARD("trend_volume", lang), rows,
                    {_kpi_name(k, lang): k for k in VOLUME_KEYS}, settings)
    return (title, _table(snaps, window, lang, settings), banner, banner_class,
            BOARD("age", lang, age=age_text(age, lang)), *charts, volume,
            _agents([s for s in snaps if queue in (CENTRE, s["queue"])], lang),
            _drill(drill, chosen, lang, settings), rejected_line(stats, lang))


def _drill(drill: Drill | None, snap: Snapshot | None, lang: str, settings: Settings
           ) -> list[Any]:
    """The picked queue's callers waiting now, its agents, its last 50 abandoned calls."""
    if drill is None or snap is None:
        return []
    name = snap["label_zh"] if lang == "zh" else snap["label_en"]

    def table(key: str, head: list[str], rows: list[list[str]]) -> html.Div:
        body = [html.Tr([html.Td(c) for c in row]) for row in rows] or [
            html.Tr(html.Td("–", colSpan=len(head)))]
        return html.Div([html.H4(f"{BOARD(key, lang)} ({len(rows)})"),
                         html.Table([html.Thead(html.Tr([html.Th(h) for h in head])),
                                     html.Tbody(body)], className="agent-table",
                                    id=f"drill-{key}")])

    def clock(ms: int) -> str:
        return _local(ms, settings).strftime("%H:%M:%S")

    return [
        html.H3(f"{name} · {BOARD('drill', lang)}"),
        table("drill_waiting", [BOARD(k, lang) for k in ("position", "waited", "caller")],
              [[str(w["position"]), duration_text(w["wait_s"]), w["caller"] or "–"]
               for w in drill["waiting"]]),
        table("drill_agents", [BOARD(k, lang) for k in ("agent", "state", "in_state")],
              [[a["agent_id"], BOARD(a["state"], lang),
                duration_text(max(0.0, (drill["as_of_ms"] - a["since_ms"]) / 1000))]
               for a in drill["agents"]]),
        table("drill_abandoned", [BOARD(k, lang) for k in ("at", "waited", "caller")],
              [[clock(a["abandoned_ms"]), duration_text(a["wait_s"]), a["caller"] or "–"]
               for a in drill["abandoned"]]),
        *_tickets(drill, lang, settings),
    ]


def _tickets(drill: Drill, lang: str, settings: Settings) -> list[Any]:
    """The queue's overdue and due-soon tickets (level, owner, due), and the month's A4-A7
    against the manual's targets (docs/kpis.md#tickets-a4-a7)."""
    if "tickets" not in drill:
        return []

    def when(ms: int) -> str:
        return _local(ms, settings).strftime("%m-%d %H:%M")

    rows = []
    for t in drill["tickets"]:
        late = t["overdue"]
        what = f"L{t['level']}" if t["level"] else BOARD("consultation_short", lang)
        word = BOARD("tickets_overdue" if late else "tickets_due_soon", lang)
        rows.append(html.Tr([html.Td(t["ticket_id"]), html.Td(what), html.Td(t["owner"] or "–"),
                             html.Td(when(t["due_ms"])),
                             html.Td(("▲ " if late else "◆ ") + word,
                                     className="red" if late else "amber")]))
    head = [BOARD(k, lang) for k in ("ticket", "ticket_level", "ticket_owner", "ticket_due",
                                     "ticket_state")]
    month = []
    for figure_ in drill.get("tickets_month", []):
        value, target = figure_["value"], figure_["target"]
        missed = value is not None and (value < target if figure_["higher_is_better"]
                                        else value > target)
        month.append(html.Tr([
            html.Td(BOARD(f"a_{figure_['key']}", lang)),
            html.Td(percent_text(value), className="red" if missed else ""),
            html.Td(("≥ " if figure_["higher_is_better"] else "≤ ") + percent_text(target)),
        ]))
    return [
        html.H4(f"{BOARD('drill_tickets', lang)} ({len(rows)})"),
        html.Table([html.Thead(html.Tr([html.Th(h) for h in head])),
                    html.Tbody(rows or [html.Tr(html.Td("–", colSpan=len(head)))])],
                   className="agent-table", id="drill-tickets"),
        html.H4(BOARD("tickets_month", lang)),
        html.Table([html.Thead(html.Tr([html.Th(BOARD(k, lang))
                                        for k in ("figure", "value", "target")])),
                    html.Tbody(month)], className="agent-table", id="drill-tickets-month"),
    ]


def _bound(target: TargetDoc | None) -> float | None:
    """The line a trend chart draws for its target: the lower bound, else the upper."""
    return (target.get("min") or target.get("max")) if target else None


def _kpi_name(key: str, lang: str) -> str:
    names = {"attempts": ("总呼叫", "total"), "answered": ("应答", "answered"),
             "abandoned": ("放弃", "abandoned"), "blocked": ("阻塞", "blocked")}
    zh, en = names[key]
    return zh if lang == "zh" else en
