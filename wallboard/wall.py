"""The wall (/board): LED tiles per queue, banners and ladder lines, built from the
snapshots in Redis and nothing else."""

from __future__ import annotations

import functools
import json
import logging
import time
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

from dash import ALL, Dash, Input, Output, State, dcc, html
from redis.exceptions import RedisError

from base.config import Settings, WallConfig, load_agent_names
from base.i18n import BOARD, lang_from_query
from base.keys import ReplaySession
from core.catalog import by_key
from core.records import Snapshot
from core.snapshot import CENTRE
from wallboard.delta import Frame, age_script, only_changed
from wallboard.present import (
    AgentView,
    age_text,
    agent_views,
    data_ms,
    kpi_help,
    replay_marker,
    source_lost,
    tile_view,
)
from wallboard.reader import ASSETS, Read, Readers, SnapshotReader, session_from_query

__all__ = ["BoardView", "board_view", "build_tile", "create_app"]

log = logging.getLogger(__name__)
_HELP_KPI = {"sl": "service_level", "abandon": "abandon_rate", "asa": "asa_s"}


def _figure(key: str, shown: tuple[str, str], queue: str, lang: str, big: bool = False,
            window: str | None = None, snap: Snapshot | None = None) -> html.Div:
    text, colour = shown
    caption = BOARD(key, lang) + (f" · {BOARD(window, lang)}" if window else "")
    help_text = None
    if key in _HELP_KPI and snap is not None:
        # The manual's definition, target and monitoring measures, on hover.
        kpi = by_key(_HELP_KPI[key])
        help_text = kpi_help(kpi, lang, snap.get("targets", {}).get(kpi.key))
    # Red and amber figures also carry a shape (board.css: ▲ over, ◆ near).
    return html.Div(
        [html.Div(caption, className="fig-label"),
         html.Div(text, id=f"{queue}-{key}", className=f"fig-value led {colour}")],
        className="figure big" if big else "figure", title=help_text,
    )


def build_tile(snap: Snapshot, now_ms: int, settings: Settings, lang: str,
               replay: bool = False, compact: bool = False) -> html.Div:
    view = tile_view(snap, now_ms, settings)
    queue = snap["queue"]
    name = snap["label_zh"] if lang == "zh" else snap["label_en"]
    badges = [html.Span(BOARD("vip", lang), className="badge vip")] if snap.get("vip") else []
    level = {2: "over", 1: "near"}.get(view["severity"])
    if level:  # the word as well as the colour and the outline
        badges.append(html.Span(BOARD(level, lang), className=f"badge {level}"))
    if view["stale"]:
        badges.append(html.Span(BOARD("stale", lang), className="badge stale"))
    head = html.Div([html.Span(name, className="tile-name"), *badges], className="tile-head")
    main = html.Div([_figure("waiting", view["waiting"], queue, lang, big=True),
                     _figure("longest", view["longest"], queue, lang, big=True)],
                    className="row main")
    kpis = [_figure("sl", view["sl"], queue, lang, window="interval", snap=snap),
            _figure("abandon", view["abandon"], queue, lang, window="interval", snap=snap)]
    if not compact:
        kpis.append(_figure("asa", view["asa"], queue, lang, window="interval", snap=snap))
    # Live, the age moves every second: the browser writes it (delta.py), so the
    # tile itself changes only when its figures do.
    age = html.Span(BOARD("replay_age", lang, at=snap["as_of"][11:16]) if replay else
                    html.Span(id={"type": "age", "queue": queue}),
                    id=f"{queue}-age", className="age")
    rows = [head, main, html.Div(kpis, className="row kpis")]
    if not compact:
        formula = BOARD(f"formula_{snap['sl_formula']}", lang, t=snap["sl_threshold_s"])
        rows += [
            html.Div([html.Span(f"{BOARD('today', lang)} {BOARD('sl', lang)} "),
                      html.Span(view["sl_day"][0], id=f"{queue}-sl_day",
                                className=view["sl_day"][1]),
                      html.Span(f" · {BOARD('abandon', lang)} "),
                      html.Span(view["abandon_day"][0], id=f"{queue}-abandon_day",
                                className=view["abandon_day"][1])],
                     className="day-line"),
            html.Div([html.Span(f"{BOARD('available', lang)} "),
                      html.Span(view["available"], id=f"{queue}-available", className="led green"),
                      html.Span(f"  {BOARD('on_call', lang)} "),
                      html.Span(view["on_call"], id=f"{queue}-on_call", className="led"),
                      html.Span(f"  {BOARD('seats_short', lang)} ", title=BOARD("seats_help", lang)),
                      html.Span(view["seats"][0], id=f"{queue}-seats",
                                className=f"led {view['seats'][1]}")],
                     className="agents"),
            html.Div([html.Span(formula, className="formula", title=formula), age],
                     className="tile-foot"),
        ]
    else:
        rows.append(html.Div([age], className="tile-foot"))
    classes = ["tile", *(["compact"] if compact else []), *([level] if level else []),
               *(["stale"] if view["stale"] else [])]
    # The wall's layout script (assets/fit.js) reads these to pin and page tiles.
    data = {"data-queue": queue, "data-stale": "1" if view["stale"] else "0",
            "data-severity": str(view["severity"]), "data-step": str(view["step"]),
            "data-rank": str(view["rank"]), "data-name": name}
    # dash types its keyword arguments; data-* attributes have no Python name.
    return html.Div(rows, id=f"tile-{queue}", className=" ".join(classes), **data)  # type: ignore[arg-type]


def build_agent_tile(view: AgentView, lang: str) -> html.Div:
    """One agent: name, time in its state (counted by the browser), the state in words,
    the queue; too long in a state stands out (red outline, a word)."""
    key, state = view["key"], view["state"]
    badges = [html.Span(BOARD("too_long", lang), className="badge over")] if view["over"] else []
    return html.Div(
        [html.Div([html.Span(view["name"], className="tile-name"), *badges],
                  className="tile-head"),
         html.Div(html.Div(html.Span(id={"type": "since", "agent": key}),
                           className=f"fig-value led state-{state}"), className="figure big"),
         html.Div(BOARD(state, lang), className=f"agent-state state-{state}"),
         html.Div(view["queue"], className="agent-queue")],
        id=f"agent-{key}", className="tile agent" + (" over" if view["over"] else ""),
        # dash types its keyword arguments; data-* attributes have no Python name.
        **{"data-queue": key, "data-severity": "2" if view["over"] else "0",  # type: ignore[arg-type]
           "data-step": "0", "data-rank": "200" if view["over"] else "0",
           "data-name": view["name"], "data-state": BOARD(state, lang)})


def wall_name(path: str | None) -> str | None:
    """``/board/floor`` -> "floor"; ``/board`` (or any other page) -> None, the default wall."""
    parts = [p for p in (path or "").split("/") if p]
    return parts[1] if len(parts) == 2 and parts[0] == "board" else None


def walls_script(settings: Settings) -> str:
    """What the layout script (assets/fit.js) needs to fit and page each wall, for the
    page's head: it picks its wall by the page's own path."""
    walls = {w.name: w.model_dump() for w in [WallConfig(name="board"), *settings.walls]}
    spec = {"walls": walls, "floor": settings.board_digit_floor,
            "palette": settings.board_palette,
            "page_label": {lang: BOARD("page", lang, n="{n}", of="{of}") for lang in ("zh", "en")}}
    # JSON is JavaScript; "</" is escaped so no value can end the script element.
    return "<script>window.callboardWalls = " + json.dumps(spec).replace("</", "<\\/") + ";</script>"


def board_layout() -> html.Div:
    return html.Div(
        [
            html.Div(id="banner", className="banner hidden"),
            html.Div(id="conn-banner", className="banner hidden"),
            # The surge ladder: a strip above the tiles, never over the numbers.
            html.Div(id="esc-banner", className="esc-banner hidden"),
            html.Div(
                [html.Span(id="title", className="title"),
                 html.Span(id="clock", className="clock")],
                className="header",
            ),
            html.Div(id="tiles", className="tiles"),
            html.Div(id="footer", className="footer"),
        ],
        className="board",
    )


def create_app(settings: Settings) -> Dash:
    _agent_names(settings.agent_names_file)  # a bad agent_names_file stops start-up here
    readers = Readers(settings, SnapshotReader(settings))
    frames = _Frames(settings)
    app = Dash(
        __name__,
        title="callboard",
        assets_folder=str(ASSETS),
        update_title=None,  # type: ignore[arg-type]  # None: no "Updating..." flicker in a kiosk
        suppress_callback_exceptions=True,
    )
    app.index_string = app.index_string.replace("{%css%}", walls_script(settings) + "{%css%}")
    app.layout = html.Div(
        [
            dcc.Location(id="url"),
            dcc.Interval(id="tick", interval=settings.board_refresh_ms),
            dcc.Store(id="last-ok"),
            dcc.Store(id="seen-ok"),
            dcc.Store(id="esc-seen"),
            dcc.Store(id="sent"),  # fingerprints of what this page was sent (delta.py)
            board_layout(),
        ]
    )

    @app.callback(
        Output("tiles", "children"),
        Output("banner", "children"),
        Output("banner", "className"),
        Output("title", "children"),
        Output("clock", "children"),
        Output("footer", "children"),
        Output("last-ok", "data"),
        Output("esc-banner", "children"),
        Output("esc-banner", "className"),
        Output("sent", "data"),
        Input("tick", "n_intervals"),
        Input("url", "search"),
        State("url", "pathname"),
        State("sent", "data"),
    )
    def refresh(_n: int | None, search: str | None, path: str | None,
                held: dict[str, Any] | None) -> tuple[Any, ...]:  # outputs by position
        session = session_from_query(search)
        name = wall_name(path)
        wall = settings.wall(name)
        now_ms = int(time.time() * 1000)
        if wall is None:
            frame, ages = _frame(unknown_wall_view(name or "", lang_from_query(search), now_ms))
        else:
            lang = lang_from_query(search, default=wall.lang)
            frame, ages = frames.get(readers.get(session), lang, readers.replay(session),
                                     now_ms, wall)
        tiles, parts, sent = only_changed(frame, held)
        banner, banner_class, title, clock, footer, esc, esc_class = parts
        # last-ok, the tiles' ages, goes in every answer: it is the browser's heartbeat.
        return (tiles, banner, banner_class, title, clock, footer, ages, esc, esc_class, sent)

    _browser_callbacks(app, settings)
    return app


class _Frames:
    """The board as built from one read of Redis, per page kind (session, language).

    The reader shares one read among all displays for half a refresh period; the
    tiles and their fingerprints built from it are shared too, so a display's answer
    costs a comparison, not a build (200 displays cost about what a few do).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._built: dict[tuple[str, str, str], tuple[Read, Frame, Ages]] = {}

    def get(self, reader: SnapshotReader, lang: str, replay: ReplaySession | None,
            now_ms: int, wall: WallConfig) -> tuple[Frame, Ages]:
        read = _read(reader)
        if read is None:
            return _frame(unreadable_view(lang, now_ms))
        key = (json.dumps(replay, sort_keys=True), lang, wall.name)
        built = self._built.get(key)
        if built is None or built[0] is not read:  # the reader's object: same read, same tick
            if len(self._built) > 64:  # sessions come and go
                self._built.clear()
            built = (read, *_frame(view_of(*read, self.settings, lang, now_ms, replay, wall)))
            self._built[key] = built
        return built[1], built[2]


class Ages(TypedDict):
    """The tiles' ages, drawn by the browser: the server's now, each queue's data time."""

    now: int
    ms: dict[str, int]
    lang: NotRequired[str]  # the wall's language, when the URL does not say
    since: NotRequired[dict[str, int]]  # an agent wall: each agent's state since (ms)


@dataclass(frozen=True)
class BoardView:
    """One tick of the wall, as a new page gets it."""

    tiles: list[Any]  # Dash components
    banner: Any
    banner_class: str
    title: str
    clock: str
    footer: str
    ages: Ages
    esc: list[html.Div]  # the ladder lines
    esc_class: str

    def parts(self) -> list[Any]:
        """What a display is sent only when it differs (delta.py), in output order."""
        return [self.banner, self.banner_class, self.title, self.clock, self.footer,
                self.esc, self.esc_class]


def _frame(view: BoardView) -> tuple[Frame, Ages]:
    keys = [str(getattr(tile, "id", "")) for tile in view.tiles]
    return Frame.of(view.tiles, keys, view.parts()), view.ages


def board_view(reader: SnapshotReader, settings: Settings, lang: str, now_ms: int,
               replay: ReplaySession | None = None, wall: WallConfig | None = None
               ) -> BoardView:
    """Tiles, banners, title, clock, footer, ages and ladder lines for one tick, as a
    new page gets them; ``replay`` (a session's state) shows a replay session's
    figures, marked as such."""
    read = _read(reader)
    if read is None:
        return unreadable_view(lang, now_ms)
    return view_of(*read, settings, lang, now_ms, replay, wall or WallConfig(name="board"))


def _read(reader: SnapshotReader) -> Read | None:
    try:
        return reader.read()
    except (RedisError, OSError) as exc:
        log.warning("cannot read snapshots: %s", exc)
        return None


def unreadable_view(lang: str, now_ms: int) -> BoardView:
    return BoardView([], BOARD("redis_down", lang), "banner stale", BOARD("title", lang), "",
                     "", {"now": now_ms, "ms": {}}, [], "esc-banner hidden")


def unknown_wall_view(name: str, lang: str, now_ms: int) -> BoardView:
    return BoardView([], BOARD("no_wall", lang, name=name), "banner stale", BOARD("title", lang),
                     "", "", {"now": now_ms, "ms": {}}, [], "esc-banner hidden")


def on_wall(snaps: list[Snapshot], wall: WallConfig) -> list[Snapshot]:
    """The wall's snapshots in its order: the centre first (if it has one), then its
    queues as configured ("all": every queue, in the reader's board order)."""
    by_queue = {s["queue"]: s for s in snaps}
    queues = ([s["queue"] for s in snaps if s["queue"] != CENTRE] if wall.queues == "all"
              else [q for q in wall.queues if q in by_queue])
    centre = [by_queue[CENTRE]] if wall.centre and CENTRE in by_queue else []
    return centre + [by_queue[q] for q in queues]


def view_of(snaps: list[Snapshot], stats: dict[str, int], settings: Settings,
            lang: str, now_ms: int, replay: ReplaySession | None,
            wall: WallConfig) -> BoardView:
    snaps = on_wall(snaps, wall)
    title = BOARD("title", lang) + ("" if wall.name == "board" else f" · {wall.name}")
    if wall.kind == "agents":
        return _agent_view_of(snaps, stats, settings, lang, now_ms, replay, title)
    if replay is not None:
        # A replay's figures are as of its own clock, never live: no age against the
        # wall clock, and a marker nobody can take for live figures.
        now_ms = max((data_ms(s) for s in snaps), default=now_ms)
    tiles = [build_tile(s, now_ms, settings, lang, replay is not None,
                        compact=wall.figures == "compact") for s in snaps]
    # The tiles' ages, drawn by the browser; none for a replay (its figures have no age).
    ages: Ages = {"now": now_ms, "ms": {} if replay is not None else
                  {s["queue"]: data_ms(s) for s in snaps}, "lang": lang}
    if not snaps:
        tiles = [html.Div(BOARD("no_data", lang), className="tile empty")]
    if replay is not None:
        banner, banner_class = replay_banner(replay, snaps, lang), "banner replay"
    else:
        banner, banner_class = _stale_banner(snaps, now_ms, settings, lang)
    centre = next((s for s in snaps if s["queue"] == CENTRE), None)
    clock = f"{BOARD('as_of', lang)} {centre['as_of'][11:19]}" if centre else ""
    footer = f"{BOARD('dead_letters', lang)}: {stats.get('dead_letters', 0)}"
    esc = _ladder_lines(snaps, lang)
    esc_class = "esc-banner" + (" hidden" if not esc else "")
    return BoardView(tiles, banner, banner_class, title, clock, footer, ages, esc, esc_class)


def _agent_view_of(snaps: list[Snapshot], stats: dict[str, int], settings: Settings,
                   lang: str, now_ms: int, replay: ReplaySession | None, title: str
                   ) -> BoardView:
    if replay is not None:
        now_ms = max((data_ms(s) for s in snaps), default=now_ms)
    limits = {str(state): s for state, s in settings.agent_state_limits_s.items()}
    agents = agent_views([s for s in snaps if s["queue"] != CENTRE],
                         _agent_names(settings.agent_names_file), limits, now_ms)
    tiles = [build_agent_tile(a, lang) for a in agents] or [
        html.Div(BOARD("no_data", lang), className="tile empty")]
    ages: Ages = {"now": now_ms, "ms": {}, "lang": lang,
                  "since": {a["key"]: a["since_ms"] for a in agents if a["since_ms"] is not None}}
    if replay is not None:
        banner, banner_class = replay_banner(replay, snaps, lang), "banner replay"
    else:
        banner, banner_class = _stale_banner(snaps, now_ms, settings, lang)
    footer = f"{BOARD('dead_letters', lang)}: {stats.get('dead_letters', 0)}"
    esc = _ladder_lines(snaps, lang)
    return BoardView(tiles, banner, banner_class, title, "", footer, ages, esc,
                     "esc-banner" + (" hidden" if not esc else ""))


@functools.cache
def _agent_names(path: str | None) -> dict[str, str]:
    # Read once per process: a changed file needs the board restarted (docs/board.md).
    return load_agent_names(path)


def replay_banner(replay: ReplaySession, snaps: list[Snapshot], lang: str) -> Any:
    marker, detail = replay_marker(replay, snaps, lang)
    return [html.Strong(marker), " ", detail] if marker else detail


def _stale_banner(snaps: list[Snapshot], now_ms: int, settings: Settings, lang: str
                  ) -> tuple[Any, str]:
    oldest = min((data_ms(s) for s in snaps), default=0)
    stale_age = (now_ms - oldest) / 1000
    if snaps and stale_age <= settings.stale_after_s:
        return "", "banner hidden"
    # Any stale tile raises the page banner: a wall display is read from
    # across the room, where a dimmed tile alone is easy to miss.
    why = ("stalled" if any(s.get("unread") for s in snaps)
           else "source_lost" if any(source_lost(s, settings) for s in snaps)
           else "stale_detail")
    detail = BOARD(why, lang, age=age_text(stale_age, lang)) if snaps else ""
    return [html.Strong(BOARD("stale", lang)), " ", detail], "banner stale"


def _ladder_lines(snaps: list[Snapshot], lang: str) -> list[html.Div]:
    steps = [(s["queue"], e) for s in snaps
             if s["queue"] != CENTRE and (e := s["now"].get("escalation")) is not None]
    return [html.Div(
        f"{queue} · {BOARD('step', lang, n=e['step'])} · "
        f"{e['name_zh'] if lang == 'zh' else e['name_en']} — "
        f"{e['action_zh'] if lang == 'zh' else e['action_en']}",
        id=f"esc-{queue}", className="esc-line") for queue, e in steps]


_SINCE_SCRIPT = """function(ages) {
    const since = (ages && ages.since) || {};
    return dash_clientside.callback_context.outputs_list.map(function(out) {
        const ms = since[out.id.agent];
        if (ms === undefined) { return ''; }
        const s = Math.max(0, Math.floor((ages.now - ms) / 1000));
        const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, r = s % 60;
        const two = function(n) { return (n < 10 ? '0' : '') + n; };
        return h ? h + ':' + two(m) + ':' + two(r) : m + ':' + two(r);
    });
}"""


def _browser_callbacks(app: Dash, settings: Settings) -> None:
    # An agent's time in its state, drawn by the browser from each answer's clock.
    app.clientside_callback(
        _SINCE_SCRIPT,
        Output({"type": "since", "agent": ALL}, "children"),
        Input("last-ok", "data"),
    )
    app.clientside_callback(
        age_script(),
        Output({"type": "age", "queue": ALL}, "children"),
        Input("last-ok", "data"),
        State("url", "search"),
    )
    # When the board's own server stops answering, Dash leaves the last tiles on
    # screen; these run in the browser and put up a banner instead.
    app.clientside_callback(
        "function(ok) { return Date.now(); }",
        Output("seen-ok", "data"),
        Input("last-ok", "data"),
    )
    app.clientside_callback(
        f"""function(n, seen, search) {{
            const lang = (search || '').indexOf('lang=en') >= 0 ? 'en' : 'zh';
            const text = lang === 'en' ? {json.dumps(BOARD('board_down', 'en'))}
                                       : {json.dumps(BOARD('board_down', 'zh'))};
            if (seen && Date.now() - seen > {int(settings.stale_after_s * 1000)}) {{
                return [text, 'banner stale'];
            }}
            return ['', 'banner hidden'];
        }}""",
        Output("conn-banner", "children"),
        Output("conn-banner", "className"),
        Input("tick", "n_intervals"),
        State("seen-ok", "data"),
        State("url", "search"),
    )
    # Optional sound (?sound=1): a short tone when a ladder step appears. A kiosk
    # Chromium needs --autoplay-policy=no-user-gesture-required for it.
    app.clientside_callback(
        """function(lines, search, seen) {
            const count = Array.isArray(lines) ? lines.length : (lines ? 1 : 0);
            if ((search || '').indexOf('sound=1') >= 0 && count > (seen || 0)) {
                try {
                    const ctx = new (window.AudioContext || window.webkitAudioContext)();
                    const osc = ctx.createOscillator();
                    osc.frequency.value = 880; osc.connect(ctx.destination);
                    osc.start(); osc.stop(ctx.currentTime + 0.4);
                } catch (e) {}
            }
            return count;
        }""",
        Output("esc-seen", "data"),
        Input("esc-banner", "children"),
        State("url", "search"),
        State("esc-seen", "data"),
    )
