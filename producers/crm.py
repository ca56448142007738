"""A CRM's ticket export (CSV or JSON lines) as schema-v1 ticket and survey events.

One row per ticket, as CRMs export them: its opening, and whichever of the reply, the
resolution and the survey answer it has so far. A row exported again with more filled
in (an append-only export, followed with ``--follow``) makes the same events again
plus the new ones; each event's id is the ticket's id and its kind, so the worker
counts each once (core/tickets.py). Which column holds what is the settings'
``tickets.columns`` (docs/configuration.md); values for the kind and the flags may be
words in either language.

A row that cannot become an event (no ticket id, no opening time, a time that is not
a time) is rejected here with its reason, for the dead-letter topic; a row that can
is sent as it is, and the worker refuses what the schema or the ticket's story does
not allow (a level outside 1-4, a reply before the opening), each with its reason.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from core import events as ev

__all__ = ["CrmRows", "DEFAULT_COLUMNS"]

# The event field (or moment) each column holds, by the CRM's column name.
DEFAULT_COLUMNS: dict[str, str] = {
    "ticket_id": "ticket_id", "queue": "queue", "kind": "kind", "level": "level",
    "opened_at": "opened_at", "replied_at": "replied_at", "resolved_at": "resolved_at",
    "promised_at": "promised_at", "owner": "owner", "call_id": "call_id",
    "caller": "caller", "key_account": "key_account", "cross_province": "cross_province",
    "repeat_of": "repeat_of", "satisfied": "satisfied", "score": "score",
    "surveyed_at": "surveyed_at",
}
_KINDS = {"consultation": "consultation", "complaint": "complaint", "咨询": "consultation",
          "投诉": "complaint"}
_TRUE = {"1", "true", "yes", "y", "是", "t"}
_FALSE = {"0", "false", "no", "n", "否", "f", ""}


class RowError(ValueError):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class CrmRows:
    """Rows in, events out; ``rejected`` holds (reason, detail, row) for dead letters."""

    def __init__(self, columns: Mapping[str, str], zone: ZoneInfo, default_queue: str,
                 source: str = "crm") -> None:
        self.columns = {**DEFAULT_COLUMNS, **columns}
        self.zone = zone
        self.default_queue = default_queue
        self.source = source
        self.header: list[str] | None = None
        self.rejected: list[tuple[str, str, str]] = []
        self.rows = 0

    def feed_csv(self, line: bytes) -> list[dict[str, Any]]:
        """One CSV line; the first is the header."""
        text = line.decode("utf-8-sig", errors="replace")
        cells = next(csv.reader(io.StringIO(text)), [])
        if self.header is None:
            self.header = [c.strip() for c in cells]
            return []
        if not any(c.strip() for c in cells):
            return []
        return self.convert(dict(zip(self.header, cells, strict=False)), text.rstrip("\r\n"))

    def feed_json(self, line: bytes) -> list[dict[str, Any]]:
        text = line.decode("utf-8", errors="replace").strip()
        if not text:
            return []
        try:
            row = json.loads(text)
        except ValueError as exc:
            self.rejected.append(("malformed_json", str(exc)[:200], text))
            return []
        if not isinstance(row, dict):
            self.rejected.append(("not_an_object", type(row).__name__, text))
            return []
        return self.convert(row, text)

    def convert(self, row: Mapping[str, Any], text: str) -> list[dict[str, Any]]:
        self.rows += 1
        try:
            return list(self._events(row))
        except RowError as exc:
            self.rejected.append((exc.reason, exc.detail, text))
            return []

    def _get(self, row: Mapping[str, Any], field: str) -> Any:
        value = row.get(self.columns[field])
        return value.strip() if isinstance(value, str) else value

    def _ms(self, row: Mapping[str, Any], field: str) -> int | None:
        value = self._get(row, field)
        if value in (None, ""):
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return int(value)
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError as exc:
            raise RowError("bad_time", f"column {self.columns[field]!r}: {value!r:.40} is "
                           "not an ISO 8601 time nor epoch milliseconds") from exc
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.zone)  # the centre's clock
        return int(moment.timestamp() * 1000)

    def _flag(self, row: Mapping[str, Any], field: str) -> bool | None:
        value = self._get(row, field)
        if value is None or isinstance(value, bool):
            return value
        word = str(value).lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return None if word == "" else False
        raise RowError("bad_field", f"column {self.columns[field]!r}: {value!r:.40} is not "
                       "true or false")

    def _events(self, row: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        ticket_id = self._get(row, "ticket_id")
        if not ticket_id:
            raise RowError("missing_field", f"no ticket id (column {self.columns['ticket_id']!r})")
        ticket_id = str(ticket_id)
        opened = self._ms(row, "opened_at")
        if opened is None:
            raise RowError("missing_field", f"ticket {ticket_id!r} has no opening time "
                           f"(column {self.columns['opened_at']!r})")
        queue = str(self._get(row, "queue") or self.default_queue)
        kind_word = str(self._get(row, "kind") or "")
        kind = _KINDS.get(kind_word.lower(), kind_word)  # an unknown word: the worker says
        level = self._get(row, "level")
        fields: dict[str, Any] = {"ticket_id": ticket_id}
        repeat_of = self._get(row, "repeat_of")
        opening: dict[str, Any] = {**fields, "kind": kind}
        if level not in (None, ""):
            try:
                opening["level"] = int(str(level).strip().removeprefix("L"))
            except ValueError as exc:
                raise RowError("bad_field", f"ticket {ticket_id!r}: level {level!r:.20} is "
                               "not a number") from exc
        for name in ("owner", "call_id", "caller"):
            value = self._get(row, name)
            if value not in (None, ""):
                opening[name] = str(value)
        for name in ("key_account", "cross_province"):
            flag = self._flag(row, name)
            if flag is not None:
                opening[name] = flag
        promised = self._ms(row, "promised_at")
        if promised is not None:
            opening["promised_ms"] = promised
        if repeat_of:
            opening["repeat_of"] = str(repeat_of)
        etype = ev.TICKET_REOPENED if repeat_of else ev.TICKET_OPENED
        yield self._event(etype, opened, queue, opening)
        last = opened
        for field, etype in (("replied_at", ev.TICKET_REPLIED),
                             ("resolved_at", ev.TICKET_RESOLVED)):
            at = self._ms(row, field)
            if at is not None:
                last = max(last, at)
                yield self._event(etype, at, queue, fields)
        satisfied = self._flag(row, "satisfied")
        score = self._get(row, "score")
        if satisfied is not None or score not in (None, ""):
            answer: dict[str, Any] = dict(fields)
            if satisfied is not None:
                answer["satisfied"] = satisfied
            else:
                try:
                    answer["score"] = int(str(score))
                except ValueError as exc:
                    raise RowError("bad_field", f"ticket {ticket_id!r}: score {score!r:.20} "
                                   "is not a number") from exc
            yield self._event(ev.SURVEY_ANSWERED, self._ms(row, "surveyed_at") or last, queue,
                              answer)

    def _event(self, etype: str, ts: int, queue: str, fields: dict[str, Any]) -> dict[str, Any]:
        # The ticket and the kind name the event: the same row again counts once.
        return {"v": ev.SCHEMA_VERSION, "event_id": f"{self.source}:{fields['ticket_id']}:{etype}",
                "type": etype, "ts_ms": ts, "queue": queue, "source": self.source, **fields}
