"""A wall's tiles as HTML, and the parts of them that move (slots).

A tile's markup changes rarely (its name, its tooltips, which figures it has); its
figures, colours and badges change every few seconds. So a tile is built as two things:
its HTML (for a display that has not got it yet) and its *slots*, the elements that move
with their text, class, inner HTML or data attributes. A display that holds the tile's
markup is sent only the slots that changed (frames.py), and the browser's wall.js
writes them into the elements of those ids.

The markup is the board's (board.css and fit.js read its classes and data attributes);
the text is escaped here, once, for every display.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import NotRequired, TypedDict

from markupsafe import Markup, escape

from base.config import Settings
from base.i18n import BOARD
from base.keys import safe_name
from core.catalog import by_key
from core.records import Snapshot, TicketsNow
from wallboard.present import RED, AgentView, TicketsShown, kpi_help, tickets_shown, tile_view

__all__ = ["Props", "Tile", "agent_tile", "queue_tile", "tag"]


class Props(TypedDict):
    """What moves in one element: its text, class, inner HTML, data attributes."""

    t: NotRequired[str]
    c: NotRequired[str]
    h: NotRequired[str]
    d: NotRequired[dict[str, str]]


def tag(name: str, attrs: dict[str, str | None], *children: str | Markup) -> Markup:
    """``<name attrs>children</name>``; attribute values and plain-string children escaped."""
    shown = "".join(f' {k}="{escape(v)}"' for k, v in attrs.items() if v is not None)
    inner = "".join(escape(c) for c in children)  # Markup stays as it is
    return Markup(f"<{name}{shown}>{inner}</{name}>")  # noqa: S704  # every value escaped above


@dataclass
class _Builder:
    """Collects a tile's slots while its markup is written; ``blank`` writes the markup
    with every slot empty (what the tile looks like apart from its moving parts)."""

    blank: bool
    slots: dict[str, Props] = field(default_factory=dict)

    def slot(self, name: str, element_id: str, props: Props, attrs: dict[str, str | None],
             *fixed: str | Markup) -> Markup:
        self.slots[element_id] = props
        if self.blank:
            return tag(name, {**attrs, "id": element_id}, *fixed)
        data = {f"data-{k}": v for k, v in props.get("d", {}).items()}
        inner: list[str | Markup] = list(fixed)
        if "t" in props:
            inner.append(props["t"])
        if "h" in props:
            inner.append(Markup(props["h"]))  # noqa: S704  # written by tag(), escaped there
        return tag(name, {**attrs, "id": element_id, "class": props.get("c", attrs.get("class")),
                          **data}, *inner)


@dataclass(frozen=True)
class Tile:
    """One tile: its key (queue, or queue.agent), its HTML with the figures in it, a digest
    of its markup without them, and its slots."""

    key: str
    html: str
    shape: str
    slots: dict[str, Props]

    @classmethod
    def of(cls, key: str, write: _Write) -> Tile:
        full = _Builder(blank=False)
        html = write(full)
        shape = hashlib.blake2b(write(_Builder(blank=True)).encode(), digest_size=8).hexdigest()
        return cls(key, str(html), shape, full.slots)


class _Write:
    """A tile's markup, written through a builder (see ``Tile.of``)."""

    def __call__(self, b: _Builder) -> Markup:
        raise NotImplementedError


_HELP_KPI = {"sl": "service_level", "abandon": "abandon_rate", "asa": "asa_s"}


def _badges(items: list[tuple[str, str]]) -> str:
    return str(Markup("").join(tag("span", {"class": f"badge {cls}"}, text) for cls, text in items))


class _QueueTile(_Write):
    def __init__(self, snap: Snapshot, now_ms: int, settings: Settings, lang: str,
                 replay: bool, compact: bool) -> None:
        self.snap, self.lang, self.replay, self.compact = snap, lang, replay, compact
        self.view = tile_view(snap, now_ms, settings, lang)

    def _figure(self, b: _Builder, key: str, big: bool = False, window: str | None = None
                ) -> Markup:
        text, colour = self.view[key]  # type: ignore[literal-required]  # a Shown figure
        queue, lang = safe_name(self.snap["queue"]), self.lang
        caption = BOARD(key, lang) + (f" · {BOARD(window, lang)}" if window else "")
        help_text = None
        if key in _HELP_KPI:
            # The manual's definition, target and monitoring measures, on hover.
            kpi = by_key(_HELP_KPI[key])
            help_text = kpi_help(kpi, lang, self.snap.get("targets", {}).get(kpi.key))
        # Red and amber figures also carry a shape (board.css: ▲ over, ◆ near).
        few = self.view["few"].get(key)  # a rate on too few calls to judge: its count
        label = (tag("div", {"class": "fig-label"}, caption,
                     b.slot("span", f"{queue}-{key}-calls", {"t": f" · {few}" if few else ""},
                            {"class": "few"}))
                 if few is not None else tag("div", {"class": "fig-label"}, caption))
        return tag("div", {"class": "figure big" if big else "figure", "title": help_text},
                   label,
                   b.slot("div", f"{queue}-{key}", {"t": text, "c": f"fig-value led {colour}"},
                          {"class": "fig-value led"}))

    def __call__(self, b: _Builder) -> Markup:
        # Element ids and data-queue hold the name encoded (base.keys.safe_name): any
        # script's name is a safe id, and fit.js finds a tile's figures by it.
        snap, view, lang, queue = self.snap, self.view, self.lang, safe_name(self.snap["queue"])
        name = snap["label_zh"] if lang == "zh" else snap["label_en"]
        level = {2: "over", 1: "near"}.get(view["severity"])
        badges = [("vip", BOARD("vip", lang))] if snap.get("vip") else []
        if level:  # the word as well as the colour and the outline
            badges.append((level, BOARD(level, lang)))
        if view["warning"]:  # the breach warning: when step 1 is forecast, with its spread
            badges.append(("warn", BOARD("warn_badge", lang, n=view["warning"])))
        tickets = view["tickets"]
        if tickets and tickets["overdue"][1] == RED:  # a word beside the red figure
            badges.append(("over", BOARD("tickets_overdue_badge", lang)))
        if view["stale"]:
            badges.append(("stale", BOARD("stale", lang)))
        head = tag("div", {"class": "tile-head"}, tag("span", {"class": "tile-name"}, name),
                   b.slot("span", f"{queue}-badges", {"h": _badges(badges)}, {"class": "badges"}))
        main = tag("div", {"class": "row main"}, self._figure(b, "waiting", big=True),
                   self._figure(b, "longest", big=True))
        kpis = [self._figure(b, "sl", window="interval"),
                self._figure(b, "abandon", window="interval")]
        if not self.compact:
            kpis.append(self._figure(b, "asa", window="interval"))
        # Live, the age moves every second: the browser writes it from the answer's
        # clock (wall.js), so the tile changes only when its figures do.
        age = (tag("span", {"id": f"{queue}-age", "class": "age"},
                   BOARD("replay_age", lang, at=snap["as_of"][11:16])) if self.replay else
               tag("span", {"id": f"{queue}-age", "class": "age", "data-age": queue}))
        rows = [head, main, tag("div", {"class": "row kpis"}, *kpis)]
        if not self.compact:
            formula = BOARD(f"formula_{snap['sl_formula']}", lang, t=snap["sl_threshold_s"])
            sl_day, ab_day, seats = view["sl_day"], view["abandon_day"], view["seats"]
            rows += [
                tag("div", {"class": "day-line"},
                    tag("span", {}, f"{BOARD('today', lang)} {BOARD('sl', lang)} "),
                    b.slot("span", f"{queue}-sl_day", {"t": sl_day[0], "c": sl_day[1]}, {}),
                    tag("span", {}, f" · {BOARD('abandon', lang)} "),
                    b.slot("span", f"{queue}-abandon_day", {"t": ab_day[0], "c": ab_day[1]}, {})),
                tag("div", {"class": "agents"},
                    tag("span", {}, f"{BOARD('available', lang)} "),
                    b.slot("span", f"{queue}-available", {"t": view["available"]},
                           {"class": "led green"}),
                    tag("span", {}, f"  {BOARD('on_call', lang)} "),
                    b.slot("span", f"{queue}-on_call", {"t": view["on_call"]}, {"class": "led"}),
                    tag("span", {"title": BOARD("seats_help", lang)},
                        f"  {BOARD('seats_short', lang)} "),
                    b.slot("span", f"{queue}-seats", {"t": seats[0], "c": f"led {seats[1]}"},
                           {"class": "led"})),
                *([_tickets_line(b, queue, tickets, lang)] if tickets else []),
                tag("div", {"class": "tile-foot"},
                    tag("span", {"class": "formula", "title": formula}, formula), age),
            ]
        else:
            rows.append(tag("div", {"class": "tile-foot"}, age))
        classes = ["tile", *(["compact"] if self.compact else []), *([level] if level else []),
                   *(["warned"] if view["warning"] and not level else []),
                   *(["stale"] if view["stale"] else [])]
        # The wall's layout script (assets/fit.js) reads these to pin and page tiles.
        data = {"stale": "1" if view["stale"] else "0", "severity": str(view["severity"]),
                "step": str(view["step"]), "rank": str(view["rank"]),
                "warn": "1" if view["warning"] else "0"}
        return b.slot("div", f"tile-{queue}", {"c": " ".join(classes), "d": data},
                      {"class": "tile", "data-queue": queue, "data-name": name},
                      *rows)


def _tickets_line(b: _Builder, queue: str, tickets: TicketsShown, lang: str) -> Markup:
    """Open tickets, due soon (amber), overdue (red, its shape and the badge's word), the
    next one due with its minutes."""
    soon, late = tickets["due_soon"], tickets["overdue"]
    return tag("div", {"class": "tickets-line"},
               tag("span", {}, f"{BOARD('tickets', lang)} "),
               b.slot("span", f"{queue}-tickets_open", {"t": tickets["open"]}, {"class": "led"}),
               tag("span", {}, f" · {BOARD('tickets_due_soon', lang)} "),
               b.slot("span", f"{queue}-tickets_soon", {"t": soon[0], "c": f"led {soon[1]}"},
                      {"class": "led"}),
               tag("span", {}, f" · {BOARD('tickets_overdue', lang)} "),
               b.slot("span", f"{queue}-tickets_over", {"t": late[0], "c": f"led {late[1]}"},
                      {"class": "led"}),
               b.slot("span", f"{queue}-tickets_next", {"t": tickets["next_due"]},
                      {"class": "ticket-next"}))


def queue_tile(snap: Snapshot, now_ms: int, settings: Settings, lang: str,
               replay: bool = False, compact: bool = False) -> Tile:
    """A queue's tile: name and badges, callers waiting and longest wait (the big
    figures), the half hour's SL, abandoned (and ASA), and on a full tile today's SL and
    abandoned, agents, seats needed, the SL formula and the data's age."""
    return Tile.of(snap["queue"], _QueueTile(snap, now_ms, settings, lang, replay, compact))


class _AgentTile(_Write):
    def __init__(self, view: AgentView, lang: str) -> None:
        self.view, self.lang = view, lang

    def __call__(self, b: _Builder) -> Markup:
        view, lang = self.view, self.lang
        key, state = view["key"], view["state"]
        badges = [("over", BOARD("too_long", lang))] if view["over"] else []
        head = tag("div", {"class": "tile-head"}, tag("span", {"class": "tile-name"}, view["name"]),
                   b.slot("span", f"{key}-badges", {"h": _badges(badges)}, {"class": "badges"}))
        # Time in state: counted by the browser from the answer's clock (wall.js).
        value = b.slot("div", f"{key}-since", {"c": f"fig-value led state-{state}"},
                       {"class": "fig-value led"}, tag("span", {"data-since": key}))
        return b.slot(
            "div", f"agent-{key}",
            {"c": "tile agent" + (" over" if view["over"] else ""),
             "d": {"severity": "2" if view["over"] else "0",
                   "rank": "200" if view["over"] else "0", "state": BOARD(state, lang)}},
            {"class": "tile agent", "data-queue": key, "data-step": "0",
             "data-name": view["name"]},
            head, tag("div", {"class": "figure big"}, value),
            b.slot("div", f"{key}-state", {"t": BOARD(state, lang),
                                           "c": f"agent-state state-{state}"},
                   {"class": "agent-state"}),
            tag("div", {"class": "agent-queue"}, view["queue"]))


class _TicketsTile(_Write):
    """The centre's open tickets (manual lines 501-531): by level, due soon, overdue,
    the next one due."""

    def __init__(self, tickets: TicketsNow, as_of_ms: int, lang: str) -> None:
        self.tickets, self.lang = tickets, lang
        self.shown = tickets_shown(tickets, as_of_ms, lang)

    def __call__(self, b: _Builder) -> Markup:
        tickets, lang, shown = self.tickets, self.lang, self.shown
        assert shown is not None
        soon, late = shown["due_soon"], shown["overdue"]
        kinds = [("consultation", BOARD("consultation_short", lang)),
                 *((f"level{n}", BOARD("ticket_level_n", lang, n=n)) for n in range(1, 5))]
        by_level = tag("div", {"class": "row ticket-levels"}, *(
            tag("div", {"class": "figure"}, tag("div", {"class": "fig-label"}, label),
                b.slot("div", f"tickets-open-{kind}",
                       {"t": str(tickets["open"].get(kind, 0))}, {"class": "fig-value led"}))
            for kind, label in kinds))
        severity = "2" if tickets["overdue"] else "1" if tickets["due_soon"] else "0"
        return b.slot(
            "div", "tile-tickets",
            {"c": "tile tickets" + (" over" if tickets["overdue"] else ""),
             "d": {"severity": severity, "rank": "0"}},
            {"class": "tile tickets", "data-queue": "tickets", "data-step": "0",
             "data-name": BOARD("centre_tickets", lang)},
            tag("div", {"class": "tile-head"},
                tag("span", {"class": "tile-name"}, BOARD("centre_tickets", lang)),
                # Its age, as every figure's (wall.js writes it from the answer's clock).
                tag("span", {"id": "tickets-age", "class": "age", "data-age": "tickets"})),
            tag("div", {"class": "row ticket-main"},
                tag("div", {"class": "figure"},
                    tag("div", {"class": "fig-label"}, BOARD("tickets_overdue", lang)),
                    b.slot("div", "tickets-overdue", {"t": late[0], "c": f"fig-value led {late[1]}"},
                           {"class": "fig-value led"})),
                tag("div", {"class": "figure"},
                    tag("div", {"class": "fig-label"}, BOARD("tickets_due_soon", lang)),
                    b.slot("div", "tickets-soon", {"t": soon[0], "c": f"fig-value led {soon[1]}"},
                           {"class": "fig-value led"}))),
            by_level,
            b.slot("div", "tickets-next", {"t": shown["next_due"]}, {"class": "ticket-next"}))


def tickets_tile(tickets: TicketsNow, as_of_ms: int, lang: str) -> Tile:
    """The whole centre's open tickets, for a wall that lists it (``[[walls]] tickets``)."""
    return Tile.of("tickets", _TicketsTile(tickets, as_of_ms, lang))


def agent_tile(view: AgentView, lang: str) -> Tile:
    """One agent: name, time in its state (counted by the browser), the state in words,
    the queue; too long in a state stands out (red outline, a word)."""
    return Tile.of(view["key"], _AgentTile(view, lang))
