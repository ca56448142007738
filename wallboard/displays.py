"""Which wall displays are alive: each reports in with every refresh it asks for, and
``/displays`` lists them with how long ago each was last seen, so IT can tell a frozen
or unplugged wall from the desk. Also the board's build: a display reloads itself when
the build it was served by is not the build answering it (a new release).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, TypedDict, cast

import redis
from flask import Flask, Response
from redis.exceptions import RedisError

from base.config import Settings
from base.keys import RedisKeys
from wallboard.pages import REDIS_TIMEOUT_S, render_page
from wallboard.present import rejected_line

__all__ = ["DisplayRegistry", "DisplayReport", "build_id", "register_displays"]


def _whole(value: Any, most: int) -> int | None:
    """A whole number a page sent, at most ``most``; None for anything else (its digits
    are counted before int() reads them: a 100,000-digit number is refused, not parsed)."""
    text = str(value or "")
    if not (text.isascii() and text.isdigit() and len(text) <= len(str(most))):
        return None
    return int(text) if int(text) <= most else None


def _size(value: Any) -> int | None:
    """A screen dimension in CSS pixels."""
    return _whole(value, 20_000)


def _since(value: Any, now_ms: int) -> int | None:
    """When the page was opened (ms), not after now."""
    return _whole(value, now_ms)

log = logging.getLogger(__name__)

# A display's own id: made by its browser (wall.js, kept in localStorage).
DISPLAY_ID = re.compile(r"[A-Za-z0-9-]{8,40}")
_FLUSH_S = 2.0  # a process writes its displays' reports at most this often
FORGET_S = 86400.0  # a display not seen for a day is dropped from the list


class DisplayReport(TypedDict):
    id: str
    wall: str
    lang: str
    session: str | None
    w: int | None
    h: int | None
    since: int | None
    addr: str | None
    agent: str
    seen_ms: int


def build_id(settings: Settings) -> str:
    """The release the board runs: ``board_build`` when set (a release's name), else a
    digest of the board's code, labels and assets."""
    if settings.board_build:
        return settings.board_build
    digest = hashlib.blake2b(digest_size=6)
    here = Path(__file__).parent
    files = [*sorted(here.rglob("*.py")), *sorted((here / "assets").rglob("*")),
             *sorted((here / "templates").rglob("*")), here.parent / "base" / "i18n.py"]
    for path in files:
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


class DisplayRegistry:
    """The reports of the displays this process answers, written to Redis in batches
    (one write per couple of seconds, however many displays)."""

    def __init__(self, settings: Settings, client: redis.Redis,
                 flush_s: float = _FLUSH_S) -> None:
        self.client = client
        self.flush_s = flush_s
        self.key = RedisKeys(settings.redis_prefix).displays
        self.walls = {"board", *(w.name for w in settings.walls)}
        self.most = settings.displays_max
        self.per_address = settings.displays_per_address
        self._pending: dict[str, str] = {}
        self._by_address: dict[str, OrderedDict[str, None]] = {}
        self._next = 0.0
        self._lock = threading.Lock()

    def seen(self, display: str | None, info: dict[str, Any], now_ms: int) -> None:
        """A wall page's report. Anyone may send one, so only a configured wall's is
        kept, each field bounded, and an address gets at most ``per_address`` ids."""
        if not display or not DISPLAY_ID.fullmatch(display):
            return  # not a wall page (a script, a test): nothing to list
        if info.get("wall") not in self.walls:
            return
        report = {**info, "w": _size(info.get("w")), "h": _size(info.get("h")),
                  "since": _since(info.get("since"), now_ms),
                  "agent": str(info.get("agent") or "")[:120],
                  "addr": str(info.get("addr") or "")[:64], "id": display, "seen_ms": now_ms}
        doc = json.dumps(report, ensure_ascii=False)
        with self._lock:
            if not self._admit(report["addr"], display):
                return
            self._pending[display] = doc
            if time.monotonic() < self._next:
                return
            batch, self._pending = self._pending, {}
            self._next = time.monotonic() + self.flush_s
        try:
            with self.client.pipeline(transaction=False) as pipe:
                for display_id, report_doc in batch.items():
                    pipe.hset(self.key, display_id, report_doc)
                pipe.hlen(self.key)
                held = pipe.execute()[-1]
            if held > self.most:
                self._trim(held - self.most)
        except (RedisError, OSError) as exc:
            # The next report brings them back; the board's own answer says Redis is away.
            log.warning("cannot record %d displays: %s", len(batch), exc)

    def _admit(self, address: str, display: str) -> bool:
        """At most ``per_address`` display ids from one address (the latest kept)."""
        ids = self._by_address.setdefault(address, OrderedDict())
        if display in ids:
            ids.move_to_end(display)
            return True
        if len(ids) >= self.per_address:
            return False
        ids[display] = None
        if len(self._by_address) > 4 * self.most:  # addresses long gone
            self._by_address.pop(next(iter(self._by_address)))
        return True

    def _trim(self, excess: int) -> None:
        """The longest silent displays go first."""
        raw = cast(dict[str, str], self.client.hgetall(self.key))

        def seen(item: tuple[str, str]) -> int:
            try:
                return int(json.loads(item[1])["seen_ms"])
            except (ValueError, KeyError, TypeError):
                return 0

        oldest = [key for key, _ in sorted(raw.items(), key=seen)[:excess]]
        if oldest:
            self.client.hdel(self.key, *oldest)

    def listing(self, now_ms: int) -> list[DisplayReport]:
        """Every display seen within a day, the longest silent first; older ones dropped."""
        raw = cast(dict[str, str], self.client.hgetall(self.key))
        reports, gone = [], []
        for key, value in raw.items():
            try:
                report = cast(DisplayReport, json.loads(value))
                seen = int(report["seen_ms"])
            except (ValueError, KeyError, TypeError):
                gone.append(key)
                continue
            if now_ms - seen > FORGET_S * 1000:
                gone.append(key)
            else:
                reports.append(report)
        if gone:
            self.client.hdel(self.key, *gone)
        return sorted(reports, key=lambda r: (r["seen_ms"], r["wall"], r["id"]))


def register_displays(server: Flask, settings: Settings, guarded: Any, user: Any,
                      challenge: Any, signed_in: bool) -> None:
    """``/displays``: behind the console's sign-in when it has users (``guarded``: its
    lockout; ``user``: who signed in; ``challenge``: the 401), open like the console's
    read-only view when it has none."""
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True,
                                  socket_timeout=REDIS_TIMEOUT_S,
                                  socket_connect_timeout=REDIS_TIMEOUT_S)
    registry = DisplayRegistry(settings, client)
    # Lost: silent for longer than the board's own "lost its server" banner waits.
    lost_after_s = max(settings.stale_after_s, 3 * settings.board_refresh_ms / 1000)

    @server.get("/displays")
    @guarded
    def displays() -> Response:
        if signed_in and user() is None:
            return cast(Response, challenge())
        now_ms = int(time.time() * 1000)
        rows = [{**r, "ago": max(0, (now_ms - r["seen_ms"]) // 1000),
                 "lost": now_ms - r["seen_ms"] > lost_after_s * 1000}
                for r in registry.listing(now_ms)]
        stats = cast(dict[str, str], client.hgetall(RedisKeys(settings.redis_prefix).stats))
        counts = {k: int(v) for k, v in stats.items() if str(v).isdigit()}
        return render_page("displays.html", rows=rows, lost_after_s=int(lost_after_s),
                           rejected={lang: rejected_line(counts, lang) for lang in ("zh", "en")})
