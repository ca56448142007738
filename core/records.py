"""The records that cross the core's boundary, typed: an event in; alerts, dead letters,
snapshots and history rows out.

Each is a ``TypedDict`` because each travels as JSON (Kafka, Redis, the report
files): at runtime it is the plain dict ``json`` reads and writes, and the type
checker holds every producer and reader to its keys. The edges convert to and
from JSON (``events.parse``, ``json.dumps``) and nowhere else. A window's KPI
figures are read by catalogue key at the board (core/catalog.py); ``figure`` is
the one place such a dynamic key is looked up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NotRequired, TypedDict, cast

__all__ = [
    "AbandonedCall", "AgentDay", "AgentFigures", "Agents", "Alert", "DeadLetterDoc", "Escalation", "Event",
    "HistoryRow", "KpiFigures", "KeyMoments", "Now", "Record", "ReportRow", "RulesDoc", "Rung",
    "SeatsNeeded", "Snapshot", "TargetDoc", "Window", "figure",
]


@dataclass(frozen=True)
class Record:
    """One message of the events topic (or one line of a file: partition 0, offset -1)."""

    value: bytes
    partition: int = 0
    offset: int = -1


class Event(TypedDict, total=False):
    """An ACD event, schema v1 (docs/events.md; ``events.validate`` checks it). Which
    keys a type must carry is the schema's rule, not the type checker's."""

    v: int
    event_id: str
    type: str
    ts_ms: int
    queue: str
    source: str
    call_id: str
    agent_id: str
    offered_ms: int
    wait_ms: int
    talk_ms: int
    hold_ms: int
    acw_ms: int
    ring_ms: int
    state: str
    reason: str
    caller: str         # a keyed hash (base/callers.py), never the number
    caller_tail: str    # its last 4 digits at most, for the drill-down
    to_queue: str
    # tickets and surveys (core/tickets.py)
    ticket_id: str
    kind: str
    level: int
    key_account: bool
    cross_province: bool
    promised_ms: int
    owner: str
    repeat_of: str
    satisfied: bool
    score: int


class DeadLetterDoc(TypedDict):
    """A record set aside, on the dead-letter topic."""

    reason: str
    detail: str
    topic: str
    partition: int
    offset: int
    seen_ms: int
    bytes: int
    value: str  # at most 4 KB of the original, as text
    sha256: NotRequired[str]  # of the whole original, when cut short
    truncated: NotRequired[bool]


class SeatsNeeded(TypedDict):
    """Erlang C on the rolling 15 minutes (core/escalation.py)."""

    agents: int
    service_level: float
    asa_s: float
    calls_15min: int
    aht_s: float


class Rung(TypedDict):
    name_zh: str
    name_en: str
    action_zh: str
    action_en: str
    staff_group: str
    seats: str


class Outlook(TypedDict):
    """A ladder group's breach estimate (core/forecast.py): when step 1's condition is
    expected to hold, centrally and with arrivals a spread higher (early) and lower (late)."""

    at_ms: int
    breach_ms: int | None
    breach_in_s: int | None
    early_in_s: int | None
    late_in_s: int | None
    arrivals_per_min: float
    capacity_per_min: float
    agents: int                     # staffed: available, talking, wrapping up
    aht_s: float | None
    answered_per_min: NotRequired[float | None]  # answers per minute of waiting (last 15 min)
    warning: NotRequired[bool]      # on a snapshot: a warning is out
    horizon_s: NotRequired[int]


class Alert(TypedDict):
    """A surge-ladder step change (topic alerts.v1, the notifier, the board)."""

    alert_id: str
    queue: str  # the ladder's group
    step: int
    direction: str  # "up" | "down"; a breach warning: "warn" | "warn_end" (step 0)
    event_time: str
    event_ms: int
    waiting: int
    mode: str
    rung: Rung
    seats_needed: SeatsNeeded | None
    staffed: int | None
    forecast: NotRequired[Outlook]  # a warning's estimate (direction "warn" / "warn_end")
    ticket: NotRequired[DrillTicket]  # a complaint's ("ticket_due" / "ticket_overdue")


class Escalation(TypedDict):
    """The step in force for a queue's ladder, on its snapshot."""

    group: str
    step: int
    mode: str
    since_ms: int | None
    name_zh: str
    name_en: str
    action_zh: str
    action_en: str


class KpiFigures(TypedDict):
    """The figures of one window (core/kpi.py ``derive``); None: undefined there."""

    attempts: int
    offered: int
    answered: int
    abandoned: int
    short_abandoned: int
    blocked: int
    transferred: int
    handled: int
    queued: int
    repeated: int
    answered_within_threshold: int
    abandoned_within_threshold: int
    connection_rate: float | None
    answer_rate: float | None
    answer_timeout_rate: float | None
    adherence: float | None
    avg_acw_s: float | None
    avg_abandon_s: float | None
    aht_s: float | None
    avg_hold_s: float | None
    avg_rings: float | None
    avg_queue_s: float | None
    asa_s: float | None
    avg_talk_s: float | None
    calls_per_agent_hour: float | None
    occupancy: float | None
    abandon_rate: float | None
    attendance: float | None
    busy_rate: float | None
    fcr: float | None
    queue_placement_rate: float | None
    transfer_rate: float | None
    answered_rate: float | None
    service_level: float | None
    max_wait_s: float | None
    signed_in_h: float
    scheduled_h: float


class Window(KpiFigures):
    """A window's span, its counters and its figures."""

    start: str
    end: str
    start_ms: int
    end_ms: int
    counters: dict[str, int]


class HistoryRow(Window):
    """A stored half-hour or day row (Redis), and how its service level was computed."""

    queue: str
    sl_formula: str
    sl_threshold_s: int


class AgentFigures(TypedDict):
    """One agent's figures of the day (core/kpi.py ``derive_agent``)."""

    answered: int
    handled: int
    avg_talk_s: float | None
    avg_acw_s: float | None
    aht_s: float | None
    calls_per_agent_hour: float | None
    occupancy: float | None
    signed_in_h: float
    not_ready_h: float


class AgentDay(AgentFigures):
    state: str
    since_ms: int | None


class Agents(TypedDict):
    """Agents of a queue (or the centre) by state now."""

    available: int
    on_call: int
    acw: int
    not_ready: int
    logged_in: int
    planned: int | None
    attendance: float | None


class TicketDue(TypedDict):
    ticket_id: str
    kind: str
    level: int | None
    due_ms: int
    owner: str | None


class TicketsNow(TypedDict):
    """A queue's open tickets at the snapshot's time (core/tickets.py)."""

    open: dict[str, int]  # "consultation", "level1".."level4"
    due_soon: int  # at 75% of their limit or more, not yet overdue
    overdue: int
    next_due: TicketDue | None


class Now(TypedDict):
    waiting: int
    oldest_offered_ms: int | None
    longest_wait_s: float
    agents: Agents
    seats_needed: SeatsNeeded | None | dict[str, int]  # the centre's: {"agents": n}
    escalation: NotRequired[Escalation | None]  # a queue's, added by the pipeline
    outlook: NotRequired[Outlook | None]  # its ladder group's breach estimate, likewise
    tickets: NotRequired[TicketsNow | None]  # its open tickets, when it has had any


class TargetDoc(TypedDict):
    min: float | None
    max: float | None


class RulesDoc(TypedDict):
    """A queue's rules, as its snapshot states them for the board."""

    label_zh: str
    label_en: str
    vip: bool
    sl_formula: str
    sl_threshold_s: int
    sl_target: float
    short_abandon_s: int
    abandon_target: float
    asa_target_s: float
    answer_limit_s: int
    answer_timeout_s: int
    occupancy_includes_acw: bool
    targets: dict[str, TargetDoc]


class Snapshot(RulesDoc):
    """What the worker hands the board for one queue or the centre (core/snapshot.py)."""

    schema: int
    queue: str
    as_of_ms: int
    as_of: str
    last_event_ms: int | None
    now: Now
    windows: dict[str, Window]
    agents_day: NotRequired[dict[str, AgentDay]]  # a queue's
    queues: NotRequired[list[str]]  # the centre's
    # Stamped by the writer:
    written_ms: NotRequired[int]
    source_ok_ms: NotRequired[int]
    unread: NotRequired[int]


# A report row (core/report.py ROW_KEYS): one value per column, for CSV and JSON.
ReportRow = dict[str, object]


class KeyMoments(TypedDict):
    """An incident's key moments (core/incident.py)."""

    first_breach_ms: int | None
    peak_waiting: int | None
    peak_waiting_ms: int | None
    peak_longest_wait_s: float | None
    peak_longest_wait_ms: int | None
    recovered_ms: int | None
    recovery_s: float | None
    surge_ms: int | None  # more than the threshold waited, minute by minute, for 5 minutes


class AbandonedCall(TypedDict):
    """One abandoned call of an incident (abandoned.csv)."""

    queue: str
    call_id: str
    abandoned_ms: int
    wait_s: float
    short: bool  # within the short-abandon limit: not in offered nor the rate (B13)


class WaitingCaller(TypedDict):
    """A caller waiting now, in the drill-down: 1 is the next to be answered."""

    position: int
    call_id: str
    wait_s: float
    caller: str  # masked to its last 4 digits


class DrillAgent(TypedDict):
    agent_id: str
    state: str
    since_ms: int


class DrillAbandon(TypedDict):
    call_id: str
    abandoned_ms: int
    wait_s: float | None  # None: its "offered" was never seen
    caller: str


class DrillTicket(TypedDict):
    ticket_id: str
    kind: str
    level: int | None
    owner: str | None
    opened_ms: int
    due_ms: int
    overdue: bool


class TicketMonth(TypedDict):
    """One of the month's A4-A7 figures against its target (core/tickets.py)."""

    key: str  # a figure of core.tickets.figures, e.g. "level1_on_time_rate"
    value: float | None
    target: float
    higher_is_better: bool


class Drill(TypedDict):
    """One queue's drill-down for the supervisor page: the callers waiting, its agents,
    its last 50 abandoned calls (newest first). Written with the snapshot."""

    queue: str
    as_of_ms: int
    waiting: list[WaitingCaller]
    agents: list[DrillAgent]
    abandoned: list[DrillAbandon]
    # Its tickets overdue or due soon (the next 50 by due time), and this month's A4-A7.
    tickets: NotRequired[list[DrillTicket]]
    tickets_month: NotRequired[list[TicketMonth]]


def figure(doc: Mapping[str, object] | KpiFigures | AgentFigures, key: str) -> float | None:
    """The figure ``key`` (a catalogue key) of a window or an agent's day; None where
    the record has none or it is undefined."""
    value = cast(Mapping[str, object], doc).get(key)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None
