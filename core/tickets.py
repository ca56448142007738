"""Tickets and surveys: the manual's consultation and complaint standards (A4-A7).

Manual chapter 4, section 1 (lines 501-531):

- A4 (502-506): a complaint is resolved and answered within 2 h (level 1), 48 h
  (level 2), 4 working days (level 3), 7 working days (level 4) of its acceptance.
- A5 (515-520): reply rate = replied / all, on-time reply rate = replied within the
  set time / all, consultations and complaints apart; target 100%.
- A6 (521-523): repeat complaint rate = repeats / (complaints - repeats), target <= 1%;
  a repeat is a complaint again about one already accepted or answered.
- A7 (524-531): satisfaction = satisfied / all, for consultations (>= 95%), complaints
  (>= 90%), cross-province complaints (>= 85%), key-account complaints (>= 95%). The
  manual divides by all of them, surveyed or not; how many were surveyed is given too.

Every figure belongs to the interval its ticket was opened in (as a call belongs to the
interval it was offered in). A ticket's events are idempotent (a second opening is a
duplicate, the first reply and resolution count, a later survey answer replaces the
earlier), so re-reading a stream or a file twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from core.records import Alert, DrillTicket, Event, TicketDue, TicketMonth, TicketsNow
from core.workdays import IsWorkingDay, due_ms, working_ms_between

__all__ = ["KINDS", "LEVEL_LIMITS", "Ticket", "TicketBook", "TicketRules", "TICKET_TYPES",
           "figures"]

TICKET_OPENED = "ticket.opened"
TICKET_REPLIED = "ticket.replied"
TICKET_RESOLVED = "ticket.resolved"
TICKET_REOPENED = "ticket.reopened"  # a repeat complaint, opened as a ticket of its own
SURVEY_ANSWERED = "survey.answered"
TICKET_TYPES = frozenset({TICKET_OPENED, TICKET_REPLIED, TICKET_RESOLVED, TICKET_REOPENED,
                          SURVEY_ANSWERED})
KINDS = ("consultation", "complaint")
_HOUR_MS = 3_600_000
_DAY_MS = 24 * _HOUR_MS
# Manual lines 503-506: (limit, counted in working days?).
LEVEL_LIMITS: dict[int, tuple[int, bool]] = {
    1: (2 * _HOUR_MS, False), 2: (48 * _HOUR_MS, False),
    3: (4 * _DAY_MS, True), 4: (7 * _DAY_MS, True),
}


@dataclass(frozen=True)
class TicketRules:
    zone: ZoneInfo
    is_working_day: IsWorkingDay
    # The reply time for a consultation without a promise: the agent's script promises
    # "within 2 hours (simple) / 24 hours (complex)" (line 473); 24 h unless set.
    consult_reply_ms: int = 24 * _HOUR_MS
    # A score at or above this is "satisfied" (a 1-5 survey: 4 and 5).
    satisfied_from: int = 4


@dataclass
class Ticket:
    ticket_id: str
    queue: str
    kind: str
    level: int | None
    opened_ms: int
    reply_due_ms: int
    resolve_due_ms: int | None  # complaints only (A4)
    soon_ms: int | None = None  # 75% of a complaint's limit: its team lead is told
    key_account: bool = False
    cross_province: bool = False
    repeat_of: str | None = None
    owner: str | None = None
    replied_ms: int | None = None
    resolved_ms: int | None = None
    satisfied: bool | None = None  # None: no survey answer

    def overdue(self, now_ms: int) -> bool:
        return (self.resolve_due_ms is not None and self.resolved_ms is None
                and now_ms > self.resolve_due_ms)


class TicketError(ValueError):
    """A ticket event that cannot be used with what is known (dead-lettered)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass
class TicketBook:
    """Every ticket seen, by id; the state a pipeline checkpoints."""

    rules: TicketRules
    tickets: dict[str, Ticket] = field(default_factory=dict)
    by_call: dict[str, str] = field(default_factory=dict)  # call id -> ticket id
    duplicates: int = 0
    # Open tickets by queue: what the board's status looks at each second, so it does
    # not walk a month of closed ones.
    open_ids: dict[str, set[str]] = field(default_factory=dict)
    alerted: set[str] = field(default_factory=set)  # "ticket id|direction" raised already
    _closing: list[tuple[Ticket, str, int]] = field(default_factory=list)  # raised on closing

    def apply(self, events: Iterable[Event]) -> list[tuple[Event, TicketError]]:
        """Fold ticket and survey events in order; returns those refused, with why."""
        refused = []
        for event in events:
            try:
                self._apply(event)
            except TicketError as exc:
                refused.append((event, exc))
        return refused

    def _apply(self, event: Event) -> None:
        etype, ts = event["type"], int(event["ts_ms"])
        if etype in (TICKET_OPENED, TICKET_REOPENED):
            self._open(event, ts)
            return
        ticket = self._ticket_of(event)
        if ts < ticket.opened_ms:
            raise TicketError("bad_time", f"{etype} at {ts} is before ticket "
                              f"{ticket.ticket_id!r} was opened ({ticket.opened_ms})")
        if etype == TICKET_REPLIED:
            ticket.replied_ms = ts if ticket.replied_ms is None else min(ticket.replied_ms, ts)
        elif etype == TICKET_RESOLVED:
            ticket.resolved_ms = ts if ticket.resolved_ms is None else min(ticket.resolved_ms, ts)
            if ticket.replied_ms is None or ticket.replied_ms > ts:
                ticket.replied_ms = ts  # resolving is answering the customer (line 502)
        elif etype == SURVEY_ANSWERED:
            satisfied = event.get("satisfied")
            if satisfied is None:
                satisfied = int(event["score"]) >= self.rules.satisfied_from
            ticket.satisfied = bool(satisfied)
        if _closed(ticket) and ticket.ticket_id in self.open_ids.get(ticket.queue, ()):
            # What it reached before it closed is raised even if no clock passed it in
            # between (the live worker's wall clock would have): the same alerts
            # whichever way the log is cut into batches.
            self._closing += self._due(ticket, ts - 1)
            self.open_ids[ticket.queue].discard(ticket.ticket_id)
            self.alerted -= {f"{ticket.ticket_id}|{d}" for d in TICKET_ALERTS}

    def _ticket_of(self, event: Event) -> Ticket:
        ticket_id = event.get("ticket_id")
        if ticket_id is None and event.get("call_id") is not None:
            ticket_id = self.by_call.get(str(event["call_id"]))
        ticket = self.tickets.get(str(ticket_id)) if ticket_id is not None else None
        if ticket is None:
            raise TicketError("unknown_ticket", f"{event['type']} names no ticket opened "
                              f"before it (ticket_id={event.get('ticket_id')!r}, "
                              f"call_id={event.get('call_id')!r})")
        return ticket

    def _open(self, event: Event, ts: int) -> None:
        ticket_id = str(event["ticket_id"])
        if ticket_id in self.tickets:
            self.duplicates += 1
            return
        repeat_of = event.get("repeat_of")
        if event["type"] == TICKET_REOPENED and str(repeat_of) not in self.tickets:
            raise TicketError("unknown_ticket", f"ticket {ticket_id!r} repeats "
                              f"{repeat_of!r}, which was never opened")
        kind = "complaint" if event["type"] == TICKET_REOPENED else str(event["kind"])
        level = event.get("level")
        if kind == "complaint" and level is None and repeat_of is not None:
            level = self.tickets[str(repeat_of)].level  # a repeat keeps the first's level
        if kind == "complaint" and level not in LEVEL_LIMITS:
            raise TicketError("bad_field", f"complaint {ticket_id!r} has level {level!r}, "
                              "expected 1-4 (manual lines 503-506)")
        resolve_due = soon = None
        if kind == "complaint":
            assert isinstance(level, int)
            limit, working = LEVEL_LIMITS[level]
            resolve_due = due_ms(ts, limit, working_days=working, zone=self.rules.zone,
                                 is_working_day=self.rules.is_working_day)
            soon = due_ms(ts, limit * 3 // 4, working_days=working, zone=self.rules.zone,
                          is_working_day=self.rules.is_working_day)
        promised = event.get("promised_ms")
        if promised is not None:
            reply_due = int(promised)
        elif resolve_due is not None:
            reply_due = resolve_due
        else:
            reply_due = ts + self.rules.consult_reply_ms
        ticket = Ticket(
            ticket_id=ticket_id, queue=str(event["queue"]), kind=kind,
            level=int(level) if kind == "complaint" and level is not None else None,
            opened_ms=ts, reply_due_ms=reply_due, resolve_due_ms=resolve_due, soon_ms=soon,
            key_account=bool(event.get("key_account", False)),
            # Level 3 is the cross-province level (line 505) unless the event says.
            cross_province=bool(event.get("cross_province", level == 3)),
            repeat_of=str(repeat_of) if repeat_of is not None else None,
            owner=event.get("owner"))
        self.tickets[ticket_id] = ticket
        self.open_ids.setdefault(ticket.queue, set()).add(ticket_id)
        if event.get("call_id"):
            self.by_call[str(event["call_id"])] = ticket_id

    def due_at(self, ticket: Ticket) -> int:
        """When the ticket is late: a complaint's resolution, a consultation's reply."""
        return ticket.resolve_due_ms if ticket.resolve_due_ms is not None else ticket.reply_due_ms

    def share_used(self, ticket: Ticket, now_ms: int) -> float:
        """How much of its limit an open ticket has used (1.0: due now), on the clock its
        limit runs on (working time for levels 3 and 4)."""
        if ticket.level in (3, 4):
            limit, _ = LEVEL_LIMITS[ticket.level]
            return working_ms_between(ticket.opened_ms, now_ms, zone=self.rules.zone,
                                      is_working_day=self.rules.is_working_day) / limit
        span = self.due_at(ticket) - ticket.opened_ms
        return (now_ms - ticket.opened_ms) / span if span > 0 else 1.0

    def status(self, queue: str, now_ms: int, soon_share: float = 0.75) -> TicketsNow | None:
        """The queue's open tickets at ``now_ms``; None when it never had one."""
        if queue not in self.open_ids:
            return None
        still = [t for t in map(self.tickets.__getitem__, self.open_ids[queue])
                 if t.opened_ms <= now_ms]
        counts = {"consultation": 0, "level1": 0, "level2": 0, "level3": 0, "level4": 0}
        for ticket in still:
            counts["consultation" if ticket.level is None else f"level{ticket.level}"] += 1
        late = [t for t in still if now_ms > self.due_at(t)]
        soon = [t for t in still if now_ms <= self.due_at(t)
                and self.share_used(t, now_ms) >= soon_share]
        first = min(still, key=lambda t: (self.due_at(t), t.ticket_id), default=None)
        next_due: TicketDue | None = None if first is None else {
            "ticket_id": first.ticket_id, "kind": first.kind, "level": first.level,
            "due_ms": self.due_at(first), "owner": first.owner}
        return {"open": counts, "due_soon": len(soon), "overdue": len(late),
                "next_due": next_due}

    def alerts_due(self, now_ms: int) -> list[tuple[Ticket, str, int]]:
        """Open complaints that reached 75% of their limit or passed it by ``now_ms`` and
        were not raised yet: (ticket, "ticket_due" or "ticket_overdue", the moment), in
        order of the moment. The moment is the ticket's own, so batching changes nothing."""
        found, self._closing = self._closing, []
        for ids in self.open_ids.values():
            for ticket in map(self.tickets.__getitem__, ids):
                found += self._due(ticket, now_ms)
        found.sort(key=lambda f: (f[2], f[0].ticket_id, f[1]))
        return found

    def _due(self, ticket: Ticket, now_ms: int) -> list[tuple[Ticket, str, int]]:
        found = []
        for direction, at in (("ticket_due", ticket.soon_ms),
                              ("ticket_overdue", ticket.resolve_due_ms)):
            key = f"{ticket.ticket_id}|{direction}"
            if at is not None and at <= now_ms and key not in self.alerted:
                self.alerted.add(key)
                found.append((ticket, direction, at))
        return found

    def pressing(self, queue: str, now_ms: int, soon_share: float = 0.75, limit: int = 50
                 ) -> list[DrillTicket]:
        """The queue's open tickets overdue or due soon, the first due first."""
        found = [t for t in map(self.tickets.__getitem__, self.open_ids.get(queue, ()))
                 if t.opened_ms <= now_ms
                 and (now_ms > self.due_at(t) or self.share_used(t, now_ms) >= soon_share)]
        found.sort(key=lambda t: (self.due_at(t), t.ticket_id))
        return [{"ticket_id": t.ticket_id, "kind": t.kind, "level": t.level, "owner": t.owner,
                 "opened_ms": t.opened_ms, "due_ms": self.due_at(t),
                 "overdue": now_ms > self.due_at(t)} for t in found[:limit]]

    def forget_before(self, ms: int) -> int:
        """Tickets opened before ``ms`` and closed: dropped (their months are reported)."""
        gone = [t for t in self.tickets.values() if t.opened_ms < ms and _closed(t)]
        for ticket in gone:
            del self.tickets[ticket.ticket_id]
        self.by_call = {c: t for c, t in self.by_call.items() if t in self.tickets}
        return len(gone)

    def to_json(self) -> dict[str, Any]:
        return {"tickets": [asdict(t) for t in self.tickets.values()],
                "by_call": self.by_call, "duplicates": self.duplicates,
                "alerted": sorted(self.alerted)}

    @classmethod
    def from_json(cls, rules: TicketRules, doc: dict[str, Any]) -> TicketBook:
        book = cls(rules)
        book.tickets = {t["ticket_id"]: Ticket(**t) for t in doc.get("tickets", [])}
        book.by_call = dict(doc.get("by_call", {}))
        book.duplicates = int(doc.get("duplicates", 0))
        book.alerted = set(doc.get("alerted", []))
        for ticket in book.tickets.values():
            ids = book.open_ids.setdefault(ticket.queue, set())
            if not _closed(ticket):
                ids.add(ticket.ticket_id)
        return book


def _closed(ticket: Ticket) -> bool:
    """A complaint is done when resolved, a consultation when replied to."""
    return ticket.resolved_ms is not None or (ticket.kind == "consultation"
                                              and ticket.replied_ms is not None)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


def figures(tickets: Iterable[Ticket], start_ms: int, end_ms: int, now_ms: int
            ) -> dict[str, Any]:
    """A4-A7 for the tickets opened in [start_ms, end_ms), as of ``now_ms``."""
    chosen = [t for t in tickets if start_ms <= t.opened_ms < end_ms]
    out: dict[str, Any] = {}
    for kind in KINDS:
        group = [t for t in chosen if t.kind == kind]
        replied = [t for t in group if t.replied_ms is not None and t.replied_ms <= now_ms]
        on_time = [t for t in replied if t.replied_ms is not None
                   and t.replied_ms <= t.reply_due_ms]
        out[f"{kind}s"] = len(group)
        out[f"{kind}_replied"] = len(replied)
        out[f"{kind}_replied_on_time"] = len(on_time)
        out[f"{kind}_reply_rate"] = _rate(len(replied), len(group))  # A5
        out[f"{kind}_on_time_reply_rate"] = _rate(len(on_time), len(group))  # A5
    complaints = [t for t in chosen if t.kind == "complaint"]
    for level in LEVEL_LIMITS:  # A4
        group = [t for t in complaints if t.level == level]
        done = [t for t in group if t.resolved_ms is not None and t.resolved_ms <= now_ms]
        in_time = [t for t in done if t.resolve_due_ms is not None
                   and t.resolved_ms is not None and t.resolved_ms <= t.resolve_due_ms]
        out[f"level{level}_complaints"] = len(group)
        out[f"level{level}_resolved"] = len(done)
        out[f"level{level}_resolved_on_time"] = len(in_time)
        out[f"level{level}_on_time_rate"] = _rate(len(in_time), len(group))
        out[f"level{level}_overdue"] = sum(1 for t in group if t.overdue(now_ms))
    repeats = sum(1 for t in complaints if t.repeat_of is not None)
    out["repeat_complaints"] = repeats
    out["repeat_complaint_rate"] = _rate(repeats, len(complaints) - repeats)  # A6
    groups = {  # A7
        "consultation": [t for t in chosen if t.kind == "consultation"],
        "complaint": complaints,
        "cross_province_complaint": [t for t in complaints if t.cross_province],
        "key_account_complaint": [t for t in complaints if t.key_account],
    }
    for name, group in groups.items():
        satisfied = sum(1 for t in group if t.satisfied)
        surveyed = sum(1 for t in group if t.satisfied is not None)
        out[f"{name}_surveyed"] = surveyed
        out[f"{name}_satisfied"] = satisfied
        out[f"{name}_satisfaction"] = _rate(satisfied, len(group))  # the manual's
        out[f"{name}_satisfaction_of_surveyed"] = _rate(satisfied, surveyed)
    return out


# An open complaint at 75% of its limit tells its team lead; past it, the duty manager
# (值班长, manual line 246: what an agent cannot settle goes to the duty manager).
TICKET_ALERTS = ("ticket_due", "ticket_overdue")
_ALERT_WORDS = {
    "ticket_due": ("{level}级投诉将超时", "Level {level} complaint due soon",
                   "请受理人及班长跟进，在时限前解决并答复客户",
                   "Owner and team lead: resolve and answer the customer before the limit"),
    "ticket_overdue": ("{level}级投诉已超时", "Level {level} complaint overdue",
                       "值班长：立即协调解决并答复客户，记录超时原因",
                       "Duty manager: settle and answer the customer now; record why it ran late"),
}


def ticket_alert(ticket: Ticket, direction: str, at_ms: int, zone: ZoneInfo) -> Alert:
    """The alert for a complaint reaching 75% of its limit or passing it (alerts.v1)."""
    from datetime import datetime

    name_zh, name_en, action_zh, action_en = _ALERT_WORDS[direction]
    level = ticket.level or 0
    return {
        "alert_id": f"ticket:{ticket.ticket_id}:{direction}",
        "queue": ticket.queue, "step": 0, "direction": direction,
        "event_time": datetime.fromtimestamp(at_ms / 1000, zone).isoformat(timespec="seconds"),
        "event_ms": at_ms, "waiting": 0, "mode": "ticket",
        "rung": {"name_zh": name_zh.format(level=level), "name_en": name_en.format(level=level),
                 "action_zh": action_zh, "action_en": action_en,
                 "staff_group": "team_lead" if direction == "ticket_due" else "duty_manager",
                 "seats": ""},
        "seats_needed": None, "staffed": None,
        "ticket": {"ticket_id": ticket.ticket_id, "kind": ticket.kind, "level": ticket.level,
                   "owner": ticket.owner, "opened_ms": ticket.opened_ms,
                   "due_ms": ticket.resolve_due_ms or ticket.reply_due_ms,
                   "overdue": direction == "ticket_overdue"},
    }


# The manual's targets for the month (lines 501-531): A4 and A5 at 100%, A6 at most 1%,
# A7 95% / 90% / 85% / 95%.
TARGETS: tuple[tuple[str, float, bool], ...] = (
    *((f"level{n}_on_time_rate", 1.0, True) for n in LEVEL_LIMITS),
    ("consultation_reply_rate", 1.0, True), ("consultation_on_time_reply_rate", 1.0, True),
    ("complaint_reply_rate", 1.0, True), ("complaint_on_time_reply_rate", 1.0, True),
    ("repeat_complaint_rate", 0.01, False),
    ("consultation_satisfaction", 0.95, True), ("complaint_satisfaction", 0.90, True),
    ("cross_province_complaint_satisfaction", 0.85, True),
    ("key_account_complaint_satisfaction", 0.95, True),
)


def against_targets(found: dict[str, Any]) -> list[TicketMonth]:
    """The month's figures beside the manual's targets, in the manual's order."""
    return [{"key": key, "value": found.get(key), "target": target, "higher_is_better": up}
            for key, target, up in TARGETS]
