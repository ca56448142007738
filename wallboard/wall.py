"""The wall (/board): LED tiles per queue (or per agent), banners and ladder lines, built
from the snapshots in Redis and nothing else.

Dash serves the page (its layout, head and assets); its figures do not travel as Dash
callbacks. The browser's assets/wall.js asks ``/board/frame`` once per refresh period
and is answered what changed since the frame it holds (frames.py): one build per read
of Redis serves every display, and an answer costs a comparison and a write of bytes.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

import flask
from dash import Dash, dcc, html
from markupsafe import Markup
from redis.exceptions import RedisError

from base.config import Settings, WallConfig, load_agent_names
from base.i18n import BOARD, lang_from_query
from base.keys import SESSION_NAME, ReplaySession, safe_name
from core.records import Escalation, Snapshot
from core.snapshot import CENTRE
from wallboard.displays import DisplayRegistry, build_id
from wallboard.frames import Frame, FrameCache, Page, respond
from wallboard.present import AGE_UNITS, age_text, agent_views, data_ms, replay_marker, source_lost
from wallboard.reader import ASSETS, Read, Readers, SnapshotReader
from wallboard.tiles import Props, Tile, agent_tile, queue_tile, tag, tickets_tile

__all__ = ["board_view", "create_app", "on_wall", "view_of"]

log = logging.getLogger(__name__)
_DOWN = object()  # the "read" of a page built without Redis: unreadable, unknown wall


def walls_script(settings: Settings, build: str) -> str:
    """What the page's scripts need, for its head: each wall (assets/fit.js fits and
    pages it), the refresh period, the labels wall.js writes, the build it was served by."""
    walls = {w.name: w.model_dump() for w in [WallConfig(name="board"), *settings.walls]}
    spec = {"walls": walls, "floor": settings.board_digit_floor,
            "palette": settings.board_palette, "refresh_ms": settings.board_refresh_ms,
            "stale_after_ms": int(settings.stale_after_s * 1000), "build": build,
            "page_label": {lang: BOARD("page", lang, n="{n}", of="{of}") for lang in ("zh", "en")},
            "age": {lang: BOARD("age", lang, age="{age}") for lang in ("zh", "en")},
            "age_units": AGE_UNITS,
            "board_down": {lang: BOARD("board_down", lang) for lang in ("zh", "en")}}
    # JSON is JavaScript; "</" is escaped so no value can end the script element.
    return "<script>window.callboardWalls = " + json.dumps(spec).replace("</", "<\\/") + ";</script>"


def board_layout() -> html.Div:
    # The elements wall.js fills: Dash renders them once and never again.
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
    build = build_id(settings)
    registry = DisplayRegistry(settings, readers.live.client)
    frames = _Frames(settings, readers, build)
    app = Dash(
        __name__,
        title="callboard",
        assets_folder=str(ASSETS),
        update_title=None,  # type: ignore[arg-type]  # None: no "Updating..." flicker in a kiosk
        suppress_callback_exceptions=True,
    )
    app.index_string = app.index_string.replace("{%css%}", walls_script(settings, build) + "{%css%}")
    app.layout = html.Div([dcc.Location(id="url"), board_layout()])

    @app.server.route("/board/frame")
    def frame() -> flask.Response:
        args = flask.request.args
        asked = args.get("session")
        session = asked if asked and SESSION_NAME.fullmatch(asked) else None
        name = args.get("wall") or None
        wall = settings.wall(name)
        lang = lang_from_query("?" + flask.request.query_string.decode(errors="replace"),
                               default=wall.lang if wall else "zh")
        now_ms = int(time.time() * 1000)
        registry.seen(args.get("display"), {
            "wall": wall.name if wall else (name or "?"), "lang": lang, "session": session,
            "w": args.get("w"), "h": args.get("h"), "since": args.get("since"),
            "addr": flask.request.remote_addr, "agent": flask.request.user_agent.string[:120],
        }, now_ms)
        # A session name that cannot be one is no session: said as for an unknown one,
        # never live figures under a replay's address.
        kind = _Kind(session, lang, name, wall, bad_session=asked[:40] if asked and not session
                     else None)
        cache, made = frames.get(kind, now_ms)
        raw = cache.answer(made, args.get("since"))
        return flask.Response(respond(raw, now_ms), mimetype="application/json",
                              headers={"Cache-Control": "no-store"})

    return app


@dataclass(frozen=True)
class _Kind:
    """One kind of wall page: every display of it is sent the same frames."""

    session: str | None
    lang: str
    name: str | None
    # Named by ``name``; a wall's settings hold lists, which do not hash.
    wall: WallConfig | None = field(compare=False, hash=False)
    bad_session: str | None = None  # asked for a session name no session can have


class RejectionWatch:
    """The share of events the worker set aside (dead-lettered) over the last 15 minutes,
    from the cumulative counters each read brings, and the main reason: past 1% every
    wall says so in its banner (a quarter of a centre's events rejected was once a
    10-pixel footnote)."""

    WINDOW_MS = 15 * 60_000
    SHARE = 0.01

    def __init__(self) -> None:
        self.samples: deque[tuple[int, dict[str, int]]] = deque()
        self._lock = threading.Lock()  # the displays' threads and the builder's

    def observe(self, now_ms: int, stats: dict[str, int]) -> tuple[int, int, str] | None:
        """(rejected, events, main reason) in the window when over the share, else None."""
        counts = {k: int(v) for k, v in stats.items()
                  if k in ("events_in", "dead_letters") or k.startswith("dead_letter.")}
        with self._lock:
            if self.samples and counts.get("events_in", 0) < self.samples[-1][1].get(
                    "events_in", 0):
                self.samples.clear()  # the counters started again (Redis lost its stats)
            if not self.samples or now_ms - self.samples[-1][0] >= 1000 or len(self.samples) < 2:
                self.samples.append((now_ms, counts))
            else:
                self.samples[-1] = (now_ms, counts)  # one sample a second is enough
            # Keep the newest sample at or before the window's start as the base.
            while len(self.samples) > 2 and self.samples[1][0] <= now_ms - self.WINDOW_MS:
                self.samples.popleft()
            base = self.samples[0][1]
        events = counts.get("events_in", 0) - base.get("events_in", 0)
        rejected = counts.get("dead_letters", 0) - base.get("dead_letters", 0)
        if events <= 0 or rejected <= self.SHARE * events:
            return None
        reasons = {k[len("dead_letter."):]: n - base.get(k, 0) for k, n in counts.items()
                   if k.startswith("dead_letter.")}
        main = max(reasons, key=lambda r: reasons[r], default="?")
        return rejected, events, main


class _Frames:
    """Every kind of wall page this process serves, and a thread that builds their
    frames ahead of the displays: a display's answer is then a lookup, never a build."""

    def __init__(self, settings: Settings, readers: Readers[SnapshotReader], build: str) -> None:
        self.settings, self.readers, self.build = settings, readers, build
        self._kinds: dict[_Kind, tuple[FrameCache, float]] = {}
        self._lock = threading.Lock()
        self._builder_pid = 0
        self.rejections = RejectionWatch()  # the live stream's (a replay has its own file)

    def get(self, kind: _Kind, now_ms: int) -> tuple[FrameCache, Frame]:
        with self._lock:
            found = self._kinds.get(kind)
            if found is None and len(self._kinds) > 64:  # sessions come and go
                self._kinds.clear()
            cache = found[0] if found else FrameCache(self.build)
            self._kinds[kind] = (cache, time.monotonic())
            if self._builder_pid != os.getpid():  # a forked process: its own thread
                self._builder_pid = os.getpid()
                threading.Thread(target=self._ahead, name="wall-frames", daemon=True).start()
        # The thread below keeps the frame fresh; a display builds one only when there is
        # none (the first to ask) or the thread has fallen behind.
        period = self.settings.board_refresh_ms / 1000
        recent = cache.recent(max_age_s=2 * period)
        return cache, recent or self._frame(kind, cache, now_ms, max_age_s=None)

    def _frame(self, kind: _Kind, cache: FrameCache, now_ms: int,
               max_age_s: float | None) -> Frame:
        wall = kind.wall
        if wall is None:
            return cache.frame(_DOWN, "", lambda: unknown_wall_view(kind.name or "", kind.lang,
                                                                     now_ms))
        if kind.bad_session is not None:
            missing: ReplaySession = {"name": kind.bad_session, "status": "missing"}
            return cache.frame(_DOWN, "", lambda: _page(
                [], (replay_banner(missing, [], kind.lang), "banner replay"),
                BOARD("title", kind.lang), "", "", "", {}))
        reader, replay = self.readers.get(kind.session), self.readers.replay(kind.session)
        read = _read(reader, max_age_s)
        if read is None:
            return cache.frame(_DOWN, "", lambda: unreadable_view(kind.lang, now_ms))
        rejected = None if kind.session else self.rejections.observe(now_ms, read[1])
        return cache.frame(read, json.dumps([replay, rejected], sort_keys=True), lambda: view_of(
            *read, self.settings, kind.lang, now_ms, replay, wall, rejected))

    def _ahead(self) -> None:
        # Twice a refresh period: a figure reaches a display within 1.5 periods of
        # reaching Redis, and no display waits for a read or a build.
        period = self.settings.board_refresh_ms / 1000
        while True:
            time.sleep(period / 2)
            with self._lock:
                kinds = [(k, c) for k, (c, asked) in self._kinds.items()
                         if time.monotonic() - asked < 10 * period]
            for kind, cache in kinds:
                try:
                    self._frame(kind, cache, int(time.time() * 1000), max_age_s=period / 4)
                except Exception:  # the displays' own requests still build
                    log.exception("building the %s wall ahead failed", kind.name or "board")


def board_view(reader: SnapshotReader, settings: Settings, lang: str, now_ms: int,
               replay: ReplaySession | None = None, wall: WallConfig | None = None) -> Page:
    """The wall for one tick, as a new display gets it; ``replay`` (a session's state)
    shows a replay session's figures, marked as such."""
    read = _read(reader)
    if read is None:
        return unreadable_view(lang, now_ms)
    return view_of(*read, settings, lang, now_ms, replay, wall or WallConfig(name="board"))


def _read(reader: SnapshotReader, max_age_s: float | None = None) -> Read | None:
    try:
        return reader.read(max_age_s)
    except (RedisError, OSError) as exc:
        log.warning("cannot read snapshots: %s", exc)
        return None


def _page(tiles: list[Tile], banner: tuple[str, str], title: str, clock: str, footer: str,
          esc: str, ages: dict[str, int], since: dict[str, int] | None = None) -> Page:
    slots: dict[str, Props] = {
        "banner": {"h": banner[0], "c": banner[1]}, "title": {"t": title},
        "clock": {"t": clock}, "footer": {"t": footer},
        "esc-banner": {"h": esc, "c": "esc-banner" + ("" if esc else " hidden")}}
    return Page(tiles, slots, ages, since or {})


def unreadable_view(lang: str, now_ms: int) -> Page:
    return _page([], (str(Markup.escape(BOARD("redis_down", lang))), "banner stale"),
                 BOARD("title", lang), "", "", "", {})


def unknown_wall_view(name: str, lang: str, now_ms: int) -> Page:
    return _page([], (str(Markup.escape(BOARD("no_wall", lang, name=name))), "banner stale"),
                 BOARD("title", lang), "", "", "", {})


def _empty(lang: str) -> Tile:
    return Tile("", str(tag("div", {"class": "tile empty"}, BOARD("no_data", lang))), "empty", {})


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
            wall: WallConfig, rejected: tuple[int, int, str] | None = None) -> Page:
    centre_now = next((s for s in snaps if s["queue"] == CENTRE), None)
    snaps = on_wall(snaps, wall)
    title = BOARD("title", lang) + ("" if wall.name == "board" else f" · {wall.name}")
    if replay is not None:
        # A replay's figures are as of its own clock, never live: no age against the
        # wall clock, and a marker nobody can take for live figures.
        now_ms = max((data_ms(s) for s in snaps), default=now_ms)
        banner = (replay_banner(replay, snaps, lang), "banner replay")
    else:
        banner = _stale_banner(snaps, now_ms, settings, lang)
        down = _source_down_banner(stats, settings, lang)
        if down and banner[1] == "banner hidden":  # the worker is live, its source is not
            banner = down
        if rejected and banner[1] == "banner hidden":  # stale figures are said first
            n, total, reason = rejected
            banner = (str(Markup.escape(BOARD("rejected_banner", lang, n=n, total=total,
                                              pct=f"{n / total:.0%}", reason=reason))),
                      "banner rejected")
    footer = f"{BOARD('dead_letters', lang)}: {stats.get('dead_letters', 0)}"
    esc = _ladder_lines(snaps, lang)
    if wall.kind == "agents":
        limits = {str(state): s for state, s in settings.agent_state_limits_s.items()}
        agents = agent_views([s for s in snaps if s["queue"] != CENTRE],
                             _agent_names(settings.agent_names_file), limits, now_ms)
        since = {a["key"]: a["since_ms"] for a in agents if a["since_ms"] is not None}
        return _page([agent_tile(a, lang) for a in agents] or [_empty(lang)], banner, title,
                     "", footer, esc, {}, since)
    tiles = [queue_tile(s, now_ms, settings, lang, replay is not None,
                        compact=wall.figures == "compact") for s in snaps] or [_empty(lang)]
    open_tickets = centre_now["now"].get("tickets") if centre_now is not None else None
    if wall.tickets and centre_now is not None and open_tickets:
        # After the centre's tile (or first, on a wall without it).
        tiles.insert(1 if wall.centre else 0,
                     tickets_tile(open_tickets, centre_now["as_of_ms"], lang))
    # The tiles' ages, drawn by the browser; none for a replay (its figures have no age).
    ages = {} if replay is not None else {safe_name(s["queue"]): data_ms(s) for s in snaps}
    if replay is None and centre_now is not None and any(t.key == "tickets" for t in tiles):
        ages["tickets"] = data_ms(centre_now)
    centre = next((s for s in snaps if s["queue"] == CENTRE), None)
    clock = f"{BOARD('as_of', lang)} {centre['as_of'][11:19]}" if centre else ""
    return _page(tiles, banner, title, clock, footer, esc, ages)


@functools.cache
def _agent_names(path: str | None) -> dict[str, str]:
    # Read once per process: a changed file needs the board restarted (docs/board.md).
    return load_agent_names(path)


def replay_banner(replay: ReplaySession, snaps: list[Snapshot], lang: str) -> str:
    marker, detail = replay_marker(replay, snaps, lang)
    return str(tag("strong", {}, marker) + " " + Markup.escape(detail) if marker
               else Markup.escape(detail))


def _stale_banner(snaps: list[Snapshot], now_ms: int, settings: Settings, lang: str
                  ) -> tuple[str, str]:
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
    return str(tag("strong", {}, BOARD("stale", lang)) + " " + Markup.escape(detail)), "banner stale"


def _source_down_banner(stats: dict[str, int], settings: Settings, lang: str
                        ) -> tuple[str, str] | None:
    down = {k[len("source_down."):]: v for k, v in stats.items() if k.startswith("source_down.")}
    if not down:
        return None
    since = datetime.fromtimestamp(min(down.values()) / 1000, settings.zone).strftime("%H:%M:%S")
    text = BOARD("source_down", lang, names=", ".join(sorted(down)), since=since)
    return str(tag("strong", {}, Markup.escape(text))), "banner stale"


def _ladder_lines(snaps: list[Snapshot], lang: str) -> str:
    steps = [(s["queue"], e) for s in snaps
             if s["queue"] != CENTRE and (e := s["now"].get("escalation")) is not None]
    def said(e: Escalation) -> str:
        name = e["name_zh"] if lang == "zh" else e["name_en"]
        action = e["action_zh"] if lang == "zh" else e["action_en"]
        return name if not action or action == name else f"{name} — {action}"  # once

    return "".join(str(tag(
        "div", {"id": f"esc-{queue}", "class": "esc-line"},
        f"{queue} · {BOARD('step', lang, n=e['step'])} · {said(e)}")) for queue, e in steps)
