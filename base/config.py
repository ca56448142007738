"""One validated settings object for every callboard process.

Values come, lowest precedence first, from the defaults below, a TOML file
(``--config FILE`` or ``CALLBOARD_CONFIG``) and ``CALLBOARD_*`` environment
variables (nested keys with ``__``, e.g. ``CALLBOARD_REDIS_URL``). Every key is
documented in docs/configuration.md.
"""

from __future__ import annotations

import csv
import os
import re
import tomllib
import unicodedata
from datetime import date
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from core.catalog import CATALOG
from core.events import queue_name_problem
from core.ladder import Step
from core.rules import Bound, QueueRules, RuleBook
from core.schedule import Schedule, ScheduleError, load_schedule

__all__ = ["ConfigError", "QueueConfig", "QueueRules", "Settings", "Target", "load_agent_names",
           "load_settings",
           "load_what_if"]

VIP_SL_THRESHOLD_S = 15
VIP_SL_TARGET = 0.90
# The name the centre-default rules are built under; each unconfigured queue gets them
# under its own name (core.rules.RuleBook).
CENTRE_DEFAULTS = "defaults"
SlFormula = Literal["offered", "answered", "abandons_ignored", "abandons_met"]


class Target(BaseModel):
    """A figure's acceptable range; either bound may be absent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Target:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


def _known_targets(value: dict[str, Target]) -> dict[str, Target]:
    unknown = sorted(set(value) - {k.key for k in CATALOG})
    if unknown:
        raise ValueError(f"no KPI named {', '.join(unknown)}; see docs/kpis.md for the keys")
    return value


# The queues each calibrated room plays (producers/room.py; core and base cannot import
# producers, and a typo'd config must fail at start-up, not in the simulator).
_ROOM_QUEUES = {"bank-1999": ("BANK", "NEW", "TECH")}


class ConfigError(Exception):
    """A configuration file or variable is invalid; the message names file, key and reason."""


class SimulateConfig(BaseModel):
    """How ``callboard simulate`` (and so ``make up``) plays a queue; unset: its default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agents: int | None = Field(default=None, ge=1, le=2000)
    peak_calls_per_hour: float | None = Field(default=None, gt=0, le=100_000)
    talk_mean_s: float | None = Field(default=None, gt=0, le=7200)
    patience_mean_s: float | None = Field(default=None, gt=0, le=7200)


class QueueConfig(BaseModel):
    """One ACD queue (skill group) and the targets its tile is coloured against."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Any script (家庭业务): core.events.queue_name_problem says what a name may hold.
    name: str = Field(min_length=1, max_length=64)
    label_zh: str = ""
    label_en: str = ""
    vip: bool = False
    # None means "use the centre-wide default" (Settings.sl_threshold_s etc.).
    sl_threshold_s: int | None = Field(default=None, ge=0, le=3600)
    sl_target: float | None = Field(default=None, gt=0, le=1)
    short_abandon_s: int | None = Field(default=None, ge=0, le=600)
    abandon_target: float | None = Field(default=None, gt=0, le=1)
    asa_target_s: float | None = Field(default=None, gt=0)
    sl_formula: SlFormula | None = None
    answer_limit_s: int | None = Field(default=None, ge=0, le=3600)
    answer_timeout_s: int | None = Field(default=None, ge=0, le=3600)
    ring_cycle_s: float | None = Field(default=None, gt=0, le=60)
    occupancy_includes_acw: bool | None = None
    min_calls: int | None = Field(default=None, ge=1, le=10_000)  # None: Settings.min_calls
    targets: dict[str, Target] = Field(default_factory=dict)
    simulate: SimulateConfig = Field(default_factory=SimulateConfig)

    _check_targets = field_validator("targets")(_known_targets)

    @field_validator("name")
    @classmethod
    def _queue_name(cls, name: str) -> str:
        name = unicodedata.normalize("NFC", name)
        problem = queue_name_problem(name)
        if problem:
            raise ValueError(problem)
        return name


def _default_queues() -> list[QueueConfig]:
    return [
        QueueConfig(name="GEN", label_zh="综合业务", label_en="General"),
        QueueConfig(name="BIZ", label_zh="集团客户", label_en="Business"),
        QueueConfig(name="EN", label_zh="英语服务", label_en="English"),
        QueueConfig(name="VIP", label_zh="贵宾专线", label_en="VIP", vip=True),
    ]


def apprise_scheme(url: str) -> str | None:
    """The service of an Apprise URL (its scheme), or None when Apprise cannot send to it."""
    import logging

    import apprise

    # Apprise's warnings about a URL it refuses quote the URL's token: the error raised
    # below says which entry is wrong without it.
    logging.getLogger("apprise").setLevel(logging.ERROR)
    return url.split("://", 1)[0] if apprise.Apprise().add(url) else None


# "ticket_due": a complaint at 75% of its limit (team leads); "ticket_overdue": past it
# (the duty manager, 值班长).
AlertKind = Literal["ladder", "warning", "ticket_due", "ticket_overdue"]


def _ladder_only() -> list[AlertKind]:
    return ["ladder"]


class Recipient(BaseModel):
    """Who is told, at which level, through which channels."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    level: int = Field(default=0, ge=0)   # 0 first; unacknowledged alerts climb a level
    queues: list[str] = Field(default_factory=list)  # empty: every queue
    webhook_url: str | None = None
    email: str | None = None
    # Apprise URLs: the group robots and apps a floor manager carries (dingtalk://,
    # wecombot://, feishu://, lark://, slack://, workflows:// for Teams, tgram://, SMS
    # gateways, mailto://...). "${NAME}" in one is the environment variable NAME, so a
    # robot's token stays out of the file (and out of every log: only the scheme is).
    apprise: list[str] = Field(default_factory=list, repr=False)
    lang: Literal["zh", "en"] = "zh"  # the language of this recipient's messages
    # What this recipient hears: the ladder's steps, the breach warning (step 0), or both.
    alerts: list[AlertKind] = Field(default_factory=_ladder_only, min_length=1)

    @field_validator("apprise")
    @classmethod
    def _apprise_urls(cls, urls: list[str]) -> list[str]:
        out = []
        for i, url in enumerate(urls):
            def env(match: re.Match[str], i: int = i) -> str:
                value = os.environ.get(match.group(1))
                if value is None:
                    raise ValueError(f"apprise[{i}]: environment variable {match.group(1)} is not set")
                return value

            url = re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", env, url)
            scheme = url.split("://", 1)[0] if "://" in url else ""
            if not scheme or apprise_scheme(url) is None:
                # Never the URL itself in the message: it holds the robot's secret.
                raise ValueError(f"apprise[{i}]: not a URL Apprise can send to "
                                 f"(scheme {scheme or 'missing'!r})")
            out.append(url)
        return out


AgentState = Literal["acw", "not_ready", "on_call", "available"]


def _agent_limits() -> dict[AgentState, float]:
    return {"acw": 120.0, "not_ready": 900.0}


class WallConfig(BaseModel):
    """A named wall display (``/board/<name>``): which queues, which figures, how it pages."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")
    # "queues": a tile per queue; "agents": a tile per agent signed in to its queues
    # (state, time in state, queue), sorted by state, then longest in it.
    kind: Literal["queues", "agents"] = "queues"
    # The queues on it, in this order; "all": every queue, the configured ones first.
    queues: list[str] | Literal["all"] = "all"
    centre: bool = True  # the whole-centre tile first
    # "compact": waiting, longest wait, SL and abandoned (30 min), for a big room;
    # "full": today's tile (also the day line, agents and seats needed).
    figures: Literal["compact", "full"] = "full"
    lang: Literal["zh", "en"] = "zh"  # ?lang= on the URL still overrides it
    page_s: float = Field(default=10.0, ge=3, le=600)  # rotation when not every tile fits
    # The centre's tickets tile (open by level, due soon, overdue, next due) after the
    # centre's own tile, once any ticket was seen.
    tickets: bool = False


class TicketConfig(BaseModel):
    """Consultation and complaint tickets (docs/kpis.md A4-A7, docs/events.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Working days for the level 3 and 4 limits (manual lines 505-506): the `holidays`
    # package's calendar of this country (ISO 3166 code; "CN" has China's make-up
    # working days), optionally a subdivision, then the override file's dates.
    calendar_country: str = "CN"
    calendar_subdiv: str | None = None
    # TOML: working = ["2027-02-06"], off = ["2027-02-08"] (a centre's own days).
    calendar_file: Path | None = None
    # A consultation's reply time when the ticket names no promised time: the script
    # promises 24 hours for a complex question (line 473).
    consult_reply_h: float = Field(default=24.0, gt=0, le=24 * 30)
    survey_satisfied_from: int = Field(default=4, ge=0, le=10)  # a score this high is satisfied
    # `callboard ingest tickets`: the CRM export's column for each field, where its name
    # differs (producers/crm.py DEFAULT_COLUMNS), e.g. {ticket_id = "工单号"}; rows
    # without a queue column go to default_queue (the first configured queue when unset).
    columns: dict[str, str] = Field(default_factory=dict)
    default_queue: str | None = None
    # `callboard intake`: the HMAC key a CRM signs its POSTs with (required to start it).
    intake_secret: str | None = None
    intake_host: str = "127.0.0.1"
    intake_port: int = Field(default=8060, ge=1, le=65535)

    @field_validator("columns")
    @classmethod
    def _known_columns(cls, value: dict[str, str]) -> dict[str, str]:
        known = {"ticket_id", "queue", "kind", "level", "opened_at", "replied_at",
                 "resolved_at", "promised_at", "owner", "call_id", "caller", "key_account",
                 "cross_province", "repeat_of", "satisfied", "score", "surveyed_at"}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown fields {unknown}; a column map names any of "
                             f"{sorted(known)}")
        return value

    @field_validator("calendar_country")
    @classmethod
    def _known_country(cls, value: str) -> str:
        import holidays

        if value not in holidays.list_supported_countries():
            raise ValueError(f"{value!r} is not a country the holidays package knows "
                             "(ISO 3166 alpha-2, e.g. CN, HK, SG, GB, US)")
        return value


class EscalationConfig(BaseModel):
    """The manual's surge ladder (lines 139-150) and who hears about it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Ladder groups: name -> queues whose callers waiting are summed. Empty: one
    # ladder per configured queue. A group's queues must be counted by one worker.
    groups: dict[str, list[str]] = Field(default_factory=dict)
    # Each rung is the core's own Step (core/ladder.py), validated as it stands.
    steps: list[Step] | None = None          # None: the manual's six steps
    night_step: Step | None = None           # None: the manual's night rule
    holiday_steps: list[Step] | None = None  # None: call in the 5-7 reserve seats
    clear_at_or_below: int = Field(default=5, ge=0)  # line 146
    clear_for_s: int = Field(default=300, ge=0)
    cooldown_s: int = Field(default=120, ge=0)
    night_start: str = Field(default="22:00", pattern=r"^\d\d:\d\d$")
    night_end: str = Field(default="08:00", pattern=r"^\d\d:\d\d$")
    holidays: list[date] = Field(default_factory=list)
    recipients: list[Recipient] = Field(default_factory=list)
    ack_timeout_min: float = Field(default=5.0, gt=0)
    webhook_secret: str | None = None       # HMAC key; required once a webhook is configured
    smtp_url: str | None = None             # smtp://host:port
    smtp_from: str = "callboard@localhost"
    users_file: Path | None = None          # TOML: [users] name = "<werkzeug password hash>"
    # Signs the console's session cookie (its CSRF token); unset: a random key per
    # board process, so a token does not survive a restart of the board.
    console_secret_key: str | None = None
    console_max_failures: int = Field(default=5, ge=1)  # wrong passwords before a lockout ...
    console_lockout_min: int = Field(default=15, ge=1)  # ... per user and per address, this long
    max_alert_age_s: int = Field(default=900, ge=0)  # older alerts (a replay) are not sent; 0: all
    # The board's address as floor managers' phones reach it (https://board.example); a
    # message carries a one-tap acknowledgement link under it, signed with
    # ack_link_secret for that alert, recipient and level (docs/escalation.md).
    public_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    ack_link_secret: str | None = Field(default=None, min_length=16)
    ack_link_max_h: float = Field(default=24.0, gt=0)  # a link expires with its alert, or this
    # The breach warning (step 0, docs/escalation.md#warning): out when step 1 is
    # forecast within warn_horizon_min at warn_confirm_min minutes in a row; over once
    # the risk has passed for 5 minutes; no new one for a group within
    # warn_cooldown_min of the last. Recipients with "warning" in their alerts get it.
    # warn_margin: how far (in standard deviations of the queue's random ups and downs)
    # the forecast queue must clear step 1's level. Higher margins and more minutes warn
    # less often and later (bench/forecast.py measures both).
    warn: bool = True
    warn_horizon_min: float = Field(default=10.0, ge=1, le=25)
    warn_cooldown_min: float = Field(default=15.0, ge=0)
    warn_margin: float = Field(default=1.0, ge=0, le=5)
    warn_confirm_min: int = Field(default=2, ge=1, le=10)
    # What Redis keeps of the alerts (docs/operations.md#redis): the newest entries of
    # the audit trail and of the alert log, and for how long the notifier remembers an
    # alert handled and a delivery made (a redelivered alert older than this is handled
    # again: recorded, and sent only if younger than max_alert_age_s).
    audit_keep: int = Field(default=100_000, ge=100)
    alert_log_keep: int = Field(default=10_000, ge=10)
    marker_days: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _webhooks_are_signed(self) -> EscalationConfig:
        if any(r.webhook_url for r in self.recipients) and not self.webhook_secret:
            raise ValueError("webhook_secret is required when a recipient has a webhook_url")
        if self.public_url and not self.ack_link_secret:
            raise ValueError("ack_link_secret (16 characters or more) is required with public_url")
        return self


class Settings(BaseSettings):
    """Every setting of every process, with its default."""

    model_config = SettingsConfigDict(
        env_prefix="CALLBOARD_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    # --- where things are
    broker_url: str = "kafka://127.0.0.1:9092"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = Field(default="callboard:v1", pattern=r"^[A-Za-z0-9_.:-]+$")
    app_id: str = Field(default="callboard", pattern=r"^[A-Za-z0-9_.-]+$")
    events_topic: str = "acd.events.v1"
    dead_letter_topic: str = "acd.events.deadletter.v1"
    topic_partitions: int = Field(default=4, ge=1, le=256)
    replication_factor: int = Field(default=3, ge=1, le=7)
    # "production" keeps Kafka's defaults; "local" applies the Tansu workarounds
    # recorded in docs/broker.md (fast group joins, one record per producer batch).
    broker_profile: Literal["production", "local"] = "production"

    # --- the centre (manual chapter 4)
    timezone: str = "Asia/Shanghai"
    queues: list[QueueConfig] = Field(default_factory=_default_queues, min_length=1)
    # What `callboard simulate` (and so `callboard up`) plays: "" the configured queues,
    # each as its [queues.simulate] says; "bank-1999" the room calibrated to a real
    # centre's month, with skills (producers/room.py), whose queues BANK, NEW and TECH
    # must be configured (deploy/bank-room.toml).
    simulate_room: Literal["", "bank-1999"] = ""
    sl_threshold_s: int = Field(default=20, ge=0, le=3600)  # B20's target, line 746: 80% in 20 s
    sl_target: float = Field(default=0.80, gt=0, le=1)
    sl_formula: SlFormula = "offered"  # B20's own definition, line 744
    # B13 (lines 654-655): short abandons must be defined and excluded; the
    # manual's "20 s or less" is an upper bound, and 1-5 s hang-ups are misdials.
    # 5 s excludes misdials without hiding callers who waited and gave up.
    short_abandon_s: int = Field(default=5, ge=0, le=600)
    abandon_target: float = Field(default=0.05, gt=0, le=1)  # B13 target 3-5%, line 657
    asa_target_s: float = Field(default=20.0, gt=0)  # B8 target, line 614
    answer_limit_s: int = Field(default=60, ge=0, le=3600)  # A2, line 510
    answer_timeout_s: int = Field(default=15, ge=0, le=3600)  # A3, line 513
    # B6 counts rings: China's ringback is 1 s on, 4 s off (ITU-T E.180).
    ring_cycle_s: float = Field(default=5.0, gt=0, le=60)
    occupancy_includes_acw: bool = False  # B12 as the manual writes it (line 647)
    # Targets by KPI key (docs/kpis.md); the catalog's manual values are the defaults.
    targets: dict[str, Target] = Field(default_factory=dict)
    # B16: a caller calling the same queue again within this window means the
    # first call was not resolved. Numbers are kept only as keyed hashes.
    repeat_window_h: float = Field(default=24.0, gt=0, le=24 * 7)
    caller_hash_key: str = Field(default="callboard", min_length=1)
    # B1 and B14: planned agents per queue and half hour (docs/kpis.md#schedule).
    schedule_file: Path | None = None
    history_days: int = Field(default=35, ge=1)  # half-hour and day rows kept in Redis
    escalation: EscalationConfig = Field(default_factory=EscalationConfig)
    tickets: TicketConfig = Field(default_factory=TicketConfig)
    alerts_topic: str = "alerts.v1"

    _check_targets = field_validator("targets")(_known_targets)

    # --- the worker
    # "wall": live windows slide with the wall clock even when no event arrives;
    # "event": time is the newest event time only (replay, tests, post-incident).
    clock: Literal["wall", "event"] = "wall"
    batch_max_events: int = Field(default=5000, ge=1)
    batch_within_s: float = Field(default=0.05, gt=0)
    snapshot_interval_s: float = Field(default=1.0, gt=0)
    bucket_retention_h: int = Field(default=48, ge=25)  # covers the whole local day so far
    max_wait_h: float = Field(default=4.0, gt=0)  # a "waiting" call older than this was lost
    # Live input: an event stamped further ahead of the wall clock is set aside as
    # "future" (a wrong ACD clock must not move a queue's time, nor fire its ladder).
    max_future_s: float = Field(default=60.0, gt=0)
    # The worker's state is checkpointed whole after this many records or seconds
    # (whichever comes first); a restart re-reads at most that much of the source.
    checkpoint_every_events: int = Field(default=20_000, ge=1)
    checkpoint_every_s: float = Field(default=60.0, gt=0)
    # Checkpoints also written to files here, outside the broker (the local stack's:
    # its broker keeps nothing past a restart, docs/broker.md#rolling-the-local-broker).
    checkpoint_dir: Path | None = None

    # --- the local stack's broker roll (docs/broker.md#rolling-the-local-broker): the
    # memory-only broker is replaced by an empty one at the quiet hour (centre time),
    # or sooner when it holds more than local_roll_above_mb, or every local_roll_every_s
    # (0: never; for tests and compressed-time benches). Producers wait meanwhile.
    local_roll_at: str | None = Field(default="04:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    local_roll_above_mb: int = Field(default=1500, ge=100)
    local_roll_every_s: float = Field(default=0.0, ge=0)
    # How long a roll waits for the worker, archiver and notifier to have everything
    # before it gives up (and tries again local_roll_retry_s later).
    local_roll_drain_s: float = Field(default=60.0, gt=0)
    local_roll_retry_s: float = Field(default=600.0, gt=0)

    # --- the archive (docs/archive.md): every event, once, in daily files outside Kafka
    archive_dir: Path = Path("archive")
    archive_retention_days: int = Field(default=400, ge=1)
    archive_flush_s: float = Field(default=2.0, gt=0)  # most a crash makes it read again
    # --- replay sessions (docs/review.md): their Redis keys expire this long after use
    replay_ttl_h: float = Field(default=24.0, gt=0)

    # Queues the configuration does not name (an Asterisk log's, a new skill): "accept"
    # them with the centre's defaults, at most max_unconfigured_queues of them (more are
    # dead-lettered as unknown_queue: 300 made-up names must not flood every wall), or
    # "reject" every one (an allow-list, for production).
    unknown_queues: Literal["accept", "reject"] = "accept"
    max_unconfigured_queues: int = Field(default=64, ge=0, le=10_000)

    # --- the board
    board_host: str = "127.0.0.1"
    board_port: int = Field(default=8050, ge=1, le=65535)
    board_refresh_ms: int = Field(default=1000, ge=200)
    # The /displays list: anonymous walls report themselves, so it is bounded.
    displays_max: int = Field(default=500, ge=1, le=100_000)
    displays_per_address: int = Field(default=20, ge=1, le=10_000)
    # Prometheus /metrics, /healthz and /readyz of each long-running process
    # (docs/operations.md); 0 turns a process's endpoint off.
    metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = Field(default=9101, ge=0, le=65535)
    notify_metrics_port: int = Field(default=9102, ge=0, le=65535)
    archive_metrics_port: int = Field(default=9103, ge=0, le=65535)
    ingest_metrics_port: int = Field(default=9104, ge=0, le=65535)
    board_metrics_port: int = Field(default=9105, ge=0, le=65535)
    # `callboard ingest freeswitch`: the event socket's password (FreeSWITCH's own
    # default; set CALLBOARD_FREESWITCH_PASSWORD rather than write it in the file).
    freeswitch_password: str = "ClueCon"  # noqa: S105  # the vendor's documented default
    # The board is one waitress process with board_workers x board_threads serving
    # threads (board_workers was gunicorn's process count; kept so existing files load).
    board_workers: int = Field(default=2, ge=1, le=64)
    board_threads: int = Field(default=8, ge=1, le=256)
    # Open connections the board holds at once (walls, phones, slow or idle clients);
    # past it new ones wait in the listen queue.
    board_connection_limit: int = Field(default=2000, ge=10, le=100_000)
    # Reverse proxies in front of the board whose X-Forwarded-For/-Proto/-Host to trust
    # (werkzeug's ProxyFix): 1 for one nginx/Caddy/Traefik. 0: none, the peer's address
    # is the client's (a forwarded header is then ignored, never believed).
    board_trusted_proxies: int = Field(default=0, ge=0, le=5)
    # The console's session cookie only over HTTPS; set it when TLS is in front.
    board_cookie_secure: bool = False
    # The release's name. Every wall display reloads itself when the build answering it
    # is not the one that served its page; unset: a digest of the board's code.
    board_build: str | None = Field(default=None, max_length=64)
    stale_after_s: float = Field(default=5.0, gt=0)
    waiting_amber: int = 5  # escalation ladder step 1 threshold, manual line 140
    waiting_red: int = 10  # step 4 threshold, manual line 143
    # A figure within this fraction of its target's bound is amber, beyond it red
    # (the manual's +/-15% tolerance on AHT, line 572, applied to every target).
    amber_margin: float = Field(default=0.15, ge=0, le=1)
    # A rate judged against its target only on a window holding this many calls: below
    # it the board shows the rate in neutral grey with its count (no OVER on 3 calls).
    min_calls: int = Field(default=20, ge=1, le=10_000)
    # Named walls (docs/board.md); /board is every queue, full tiles.
    # /board is always there; by default also /board/agents, the agent wall (a centre
    # that sets [[walls]] names every wall it wants, this one included).
    walls: list[WallConfig] = Field(
        default_factory=lambda: [WallConfig(name="agents", kind="agents")])
    # A wall pages rather than shrink its main digits below this fraction of the
    # screen's height (1/18 of 1080 px = 60 px: docs/board.md has the arithmetic).
    board_digit_floor: float = Field(default=1 / 18, gt=0, le=0.5)
    # "led": red/amber/green; "okabe_ito": a palette colour-blind viewers tell apart.
    # Over and near target also show as a shape and a word whatever the palette.
    board_palette: Literal["led", "okabe_ito"] = "led"
    # An agent wall shows these names (CSV: agent_id,name) instead of the ACD's ids.
    agent_names_file: str | None = None
    # On an agent wall, an agent this long in a state stands out (red, a word).
    agent_state_limits_s: dict[AgentState, float] = Field(default_factory=_agent_limits)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _unique_queues(self) -> Settings:
        names = [q.name for q in self.queues]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"queue names must be unique, repeated: {', '.join(dupes)}")
        if "ALL" in names:
            raise ValueError("'ALL' is reserved for the whole-centre figures")
        if self.repeat_window_h >= self.bucket_retention_h:
            raise ValueError("repeat_window_h must be shorter than bucket_retention_h")
        missing = [q for q in _ROOM_QUEUES.get(self.simulate_room, ()) if q not in names]
        if missing:
            raise ValueError(f"simulate_room {self.simulate_room!r} plays queues that are not "
                             f"configured: {', '.join(missing)}")
        walls = [w.name for w in self.walls]
        if len(set(walls)) != len(walls):
            raise ValueError(f"walls: names must be unique, got {walls}")
        for i, wall in enumerate(self.walls):
            unknown = [] if wall.queues == "all" else [q for q in wall.queues if q not in names]
            if unknown:
                raise ValueError(f"walls[{i}] ({wall.name}).queues: not configured queues: "
                                 f"{', '.join(unknown)}")
        return self

    def wall(self, name: str | None) -> WallConfig | None:
        """The named wall; None for a name no wall has. No name: /board, every queue."""
        if not name:
            return WallConfig(name="board")
        return next((w for w in self.walls if w.name == name), None)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as init kwargs; the environment overrides them.
        return (env_settings, init_settings)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def topic_replication(self) -> int:
        """The local stack runs one broker: its topics have one replica whatever is set."""
        return 1 if self.broker_profile == "local" else self.replication_factor

    def override_all(self, **values: Any) -> Settings:
        """These settings with ``values`` for the centre and every queue (report options)."""
        values = {k: v for k, v in values.items() if v is not None}
        if not values:
            return self
        queues = [q.model_copy(update=values) for q in self.queues]
        return self.model_copy(update={**values, "queues": queues})

    def load_schedule(self) -> Schedule | None:
        """The staffing plan, if one is configured; a bad file is a ConfigError."""
        if self.schedule_file is None:
            return None
        try:
            return load_schedule(self.schedule_file, self.zone)
        except ScheduleError as exc:
            raise ConfigError(f"key 'schedule_file': {exc}") from exc

    def rules(self) -> dict[str, QueueRules]:
        """Effective per-queue rules, in configured order."""
        return {q.name: self._rules(q) for q in self.queues}

    def rule_book(self) -> RuleBook:
        """Every queue's rules, frozen, for the core: built once per process
        (base/assemble.py), never a call back into the settings."""
        return RuleBook.of([self._rules(q) for q in self.queues],
                           self._rules(QueueConfig(name=CENTRE_DEFAULTS)))

    def _rules(self, q: QueueConfig) -> QueueRules:
        # The VIP line's stricter defaults (manual lines 507-513): answers within
        # 15 s for at least 90% (A3: no more than 10% later than 15 s).
        sl_target = _pick(q.sl_target, VIP_SL_TARGET if q.vip else self.sl_target)
        sl_threshold = _pick(q.sl_threshold_s, VIP_SL_THRESHOLD_S if q.vip else self.sl_threshold_s)
        abandon_target = _pick(q.abandon_target, self.abandon_target)
        asa_target = _pick(q.asa_target_s, self.asa_target_s)
        # Lowest first: the manual (VIP line's where it has one), the shorthand
        # keys, the centre's targets table, the queue's own.
        targets: dict[str, Bound] = {}
        for k in CATALOG:
            low = k.vip_min if q.vip and k.vip_min is not None else k.target_min
            high = k.vip_max if q.vip and k.vip_max is not None else k.target_max
            if low is not None or high is not None:
                targets[k.key] = Bound(min=low, max=high)
        targets["service_level"] = Bound(min=sl_target)
        targets["abandon_rate"] = Bound(max=abandon_target)
        targets["asa_s"] = Bound(max=asa_target)
        for configured in (self.targets, q.targets):
            targets.update({key: Bound(t.min, t.max) for key, t in configured.items()})
        return QueueRules(
            name=q.name,
            label_zh=q.label_zh or q.name,
            label_en=q.label_en or q.name,
            vip=q.vip,
            sl_threshold_s=sl_threshold,
            sl_target=sl_target,
            sl_formula=_pick(q.sl_formula, self.sl_formula),
            short_abandon_s=_pick(q.short_abandon_s, self.short_abandon_s),
            abandon_target=abandon_target,
            asa_target_s=asa_target,
            answer_limit_s=_pick(q.answer_limit_s, self.answer_limit_s),
            answer_timeout_s=_pick(q.answer_timeout_s, self.answer_timeout_s),
            ring_cycle_s=_pick(q.ring_cycle_s, self.ring_cycle_s),
            occupancy_includes_acw=_pick(q.occupancy_includes_acw, self.occupancy_includes_acw),
            targets=targets,
        )


def _pick(value: Any, default: Any) -> Any:
    return default if value is None else value


def load_agent_names(path: str | None) -> dict[str, str]:
    """agent_id -> display name, from an ``agent_names_file`` (CSV: agent_id,name, a header
    row optional); raises ConfigError naming the file and the line of a bad row."""
    if not path:
        return {}
    try:
        with Path(path).open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read agent_names_file: {exc}") from exc
    names: dict[str, str] = {}
    for number, row in enumerate(rows, start=1):
        if not row or (number == 1 and row[:2] == ["agent_id", "name"]):
            continue
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            raise ConfigError(f"{path}, line {number}: expected agent_id,name; got {row!r}")
        names[row[0].strip()] = row[1].strip()
    return names


def load_settings(path: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Build the settings from an optional TOML file, the environment and overrides.

    Raises ConfigError naming the file, the key and the reason on any bad value.
    """
    path = path or os.environ.get("CALLBOARD_CONFIG") or None
    data = _read_toml(path) if path else {}
    data.update({k: v for k, v in overrides.items() if v is not None})
    return _validated(data, str(path) if path else "environment")


def load_what_if(path: str | os.PathLike[str] | None, what_if: str | os.PathLike[str]
                 ) -> Settings:
    """The settings ``load_settings(path)`` gives, with ``what_if``'s keys over them
    (tables merged key by key): another SL formula or threshold, another ladder.

    Raises ConfigError naming the what-if file, the key and the reason.
    """
    path = path or os.environ.get("CALLBOARD_CONFIG") or None
    return _validated(_merged(_read_toml(path) if path else {}, _read_toml(what_if)),
                      str(what_if))


def _merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = (_merged(out[key], value) if isinstance(value, dict)
                    and isinstance(out.get(key), dict) else value)
    return out


def _read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


def _validated(data: dict[str, Any], origin: str) -> Settings:
    try:
        return Settings(**data)
    except ValidationError as exc:
        problems = "; ".join(
            f"key '{'.'.join(str(p) for p in err['loc']) or '(top level)'}': {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"{origin}: {problems}") from exc
