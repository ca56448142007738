"""What a wall display is sent each refresh: everything once, then only what changed.

Every display asks once per refresh period (``GET /board/frame``). One *frame* is the
wall as built from one read of Redis: its tiles' markup (tiles.py), every moving
element's props (slots), the data times the browser turns into ages, the agents' state
times. A frame is named by a digest of its content. A display says which frame it
holds (``since``); the answer carries the tiles it lacks or whose markup changed, the
slots that moved, and the ages, or everything when its frame is not among the last few.
The answer to each ``since`` is serialised once and served as bytes to every display
that holds it: 200 displays cost a comparison each, not a build each.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from wallboard.tiles import Props, Tile

__all__ = ["Frame", "FrameCache", "Page", "respond"]

_KEEP = 8  # frames a process remembers per wall: a display that missed more gets all


@dataclass(frozen=True)
class Page:
    """One tick of a wall, as built: tiles in order, the page's own slots (banner,
    title, clock, footer, ladder strip), each tile's data time and each agent's state
    time (ms, the server's clock)."""

    tiles: list[Tile]
    slots: dict[str, Props]
    ages: dict[str, int]
    since: dict[str, int] = field(default_factory=dict)

    def text(self, element_id: str) -> str:
        """A page slot's text, its inner HTML's tags removed (for tests and benches)."""
        props = self.slots.get(element_id, {})
        return props.get("t", "") + re.sub(r"<[^>]+>", "", props.get("h", ""))


@dataclass
class Frame:
    """A built page with its name and the answers already serialised from it."""

    page: Page
    version: str
    order: list[str]
    shapes: dict[str, str]
    slots: dict[str, Props]
    answers: dict[str | None, bytes] = field(default_factory=dict)

    @classmethod
    def of(cls, page: Page) -> Frame:
        slots = dict(page.slots)
        for tile in page.tiles:
            slots.update(tile.slots)
        order = [t.key for t in page.tiles]
        shapes = {t.key: t.shape for t in page.tiles}
        digest = hashlib.blake2b(digest_size=10)
        digest.update(json.dumps([order, shapes, slots, page.ages, page.since],
                                 sort_keys=True).encode())
        return cls(page, digest.hexdigest(), order, shapes, slots)

    def answer(self, held: Frame | None, build: str) -> dict[str, object]:
        """What a display holding ``held`` (None: nothing usable) needs to show this."""
        out: dict[str, object] = {"v": self.version, "build": build}
        if held is None:
            out.update(full=True, order=self.order,
                       html={t.key: t.html for t in self.page.tiles},
                       slots=self.page.slots, ages=self.page.ages, since=self.page.since)
            return out
        if held.version == self.version:
            return out
        if held.order != self.order:
            out["order"] = self.order
        fresh = {t.key for t in self.page.tiles if held.shapes.get(t.key) != t.shape}
        if fresh:
            out["html"] = {t.key: t.html for t in self.page.tiles if t.key in fresh}
        inside = {element_id for t in self.page.tiles if t.key in fresh for element_id in t.slots}
        moved = {k: v for k, v in self.slots.items()
                 if k not in inside and held.slots.get(k) != v}
        if moved:
            out["slots"] = moved
        for name, now, then in (("ages", self.page.ages, held.page.ages),
                                ("since", self.page.since, held.page.since)):
            changed: dict[str, int | None] = {k: v for k, v in now.items() if then.get(k) != v}
            changed.update({k: None for k in then if k not in now})
            if changed:
                out[name] = changed
        return out


class FrameCache:
    """The newest frames of one kind of page (wall, language, session), and the
    answers serialised from them; built at most once per read of Redis."""

    def __init__(self, build: str) -> None:
        self.build = build
        self._frames: OrderedDict[str, Frame] = OrderedDict()
        self._newest: tuple[object, str, Frame] | None = None
        self._built_at = 0.0  # monotonic: when the newest frame was built
        self._lock = threading.Lock()

    def recent(self, max_age_s: float) -> Frame | None:
        """The newest frame, if it was built within ``max_age_s``."""
        newest = self._newest
        if newest is None or time.monotonic() - self._built_at > max_age_s:
            return None
        return newest[2]

    def frame(self, read: object, also: str, make: Callable[[], Page]) -> Frame:
        """The frame of ``read`` (the reader's object: one per read) and ``also`` (what
        else the page shows, e.g. a replay session's state), built by the first display
        to ask. While one is being built the others are answered the newest one there
        is (a fraction of a refresh older) rather than wait for it."""
        if not self._lock.acquire(blocking=self._newest is None):
            return cast(tuple[object, str, Frame], self._newest)[2]
        try:
            newest = self._newest
            if newest is not None and newest[0] is read and newest[1] == also:
                return newest[2]
            made = Frame.of(make())
            # The same content as a frame kept: keep that one and its answers.
            frame = self._frames.pop(made.version, made)
            self._frames[frame.version] = frame
            while len(self._frames) > _KEEP:
                self._frames.popitem(last=False)
            self._newest = (read, also, frame)
            self._built_at = time.monotonic()
            return frame
        finally:
            self._lock.release()

    def answer(self, frame: Frame, since: str | None) -> bytes:
        """The answer's bytes, less the server's clock (``respond`` adds it). A ``since``
        this cache does not hold (garbage, or older than the last few) gets everything,
        keyed None: a client's word never grows the answers kept."""
        held = self._frames.get(since) if since else None
        key = held.version if held is not None else None
        raw = frame.answers.get(key)
        if raw is None:
            raw = json.dumps(frame.answer(held, self.build), separators=(",", ":"),
                             ensure_ascii=False).encode()
            frame.answers[key] = raw
        return raw


def respond(raw: bytes, now_ms: int) -> bytes:
    """An answer with the server's clock: the browser's may be wrong, and the ages and
    the agents' times are drawn against this one."""
    return b'{"now":%d,' % now_ms + raw[1:]
