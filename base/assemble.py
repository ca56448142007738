"""Settings become the core's plain rules here, at the edge, once per process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import time

from base.broker import BrokerProfile, KafkaProfile
from base.calendar import working_days
from base.config import Settings
from core.forecast import ForecastRules
from core.ladder import LadderRules, default_rules
from core.pipeline import Pipeline, PipelineRules
from core.records import Event, ReportRow
from core.report import report_rows
from core.tickets import TicketRules

__all__ = ["broker_profile", "forecast_rules", "groups_of", "ladder_rules", "pipeline_rules",
           "report_of_events"]


def pipeline_rules(settings: Settings, *, offline: bool = False) -> PipelineRules:
    """The worker's rules; ``offline`` (report, alerts) keeps every minute and caller."""
    schedule = settings.load_schedule()
    return PipelineRules(
        rule_book=settings.rule_book(),
        zone=settings.zone,
        queue_order=tuple(q.name for q in settings.queues),
        ladder_rules=ladder_rules(settings),
        ladder_groups=groups_of(settings),
        retention_ms=None if offline else settings.bucket_retention_h * 3_600_000,
        max_wait_ms=int(settings.max_wait_h * 3_600_000),
        repeat_window_ms=int(settings.repeat_window_h * 3_600_000),
        caller_key=settings.caller_hash_key,
        scheduled_ms=schedule.scheduled_ms if schedule is not None else None,
        max_future_ms=int(settings.max_future_s * 1000),
        unknown_queues=settings.unknown_queues,
        max_unconfigured_queues=settings.max_unconfigured_queues,
        forecast=forecast_rules(settings),
        tickets=TicketRules(settings.zone, working_days(settings.tickets),
                            consult_reply_ms=int(settings.tickets.consult_reply_h * 3_600_000),
                            satisfied_from=settings.tickets.survey_satisfied_from),
    )


def forecast_rules(settings: Settings) -> ForecastRules:
    esc = settings.escalation
    return ForecastRules(enabled=esc.warn, horizon_s=int(esc.warn_horizon_min * 60),
                         cooldown_s=int(esc.warn_cooldown_min * 60), margin=esc.warn_margin,
                         confirm=esc.warn_confirm_min)


def ladder_rules(settings: Settings) -> LadderRules:
    """The configured surge ladder, the manual's (lines 139-150) where not configured."""
    esc = settings.escalation
    base = default_rules(esc.holidays)
    return LadderRules(
        steps=tuple(esc.steps) if esc.steps else base.steps,
        night_step=esc.night_step or base.night_step,
        holiday_steps=(tuple(esc.holiday_steps)
                       if esc.holiday_steps is not None else base.holiday_steps),
        clear_at_or_below=esc.clear_at_or_below,
        clear_for_s=esc.clear_for_s,
        cooldown_s=esc.cooldown_s,
        night_start=time.fromisoformat(esc.night_start),
        night_end=time.fromisoformat(esc.night_end),
        holidays=frozenset(esc.holidays),
    )


def groups_of(settings: Settings) -> dict[str, list[str]]:
    groups = settings.escalation.groups
    return dict(groups) if groups else {q.name: [q.name] for q in settings.queues}


def report_of_events(events: list[Event], settings: Settings, interval: str,
                     scheduled_ms: Callable[[str, int, int], int] | None = None,
                     by_agent: bool = False) -> list[ReportRow]:
    """The report rows of validated events (tests and callers holding events, not a file)."""
    rules = replace(pipeline_rules(settings, offline=True), scheduled_ms=scheduled_ms)
    pipeline = Pipeline(rules)
    pipeline.feed_events(events)
    return report_rows(pipeline, interval, by_agent)


def broker_profile(settings: Settings) -> BrokerProfile:
    """The profile ``settings.broker_profile`` names; nothing is patched until ``install``."""
    if settings.broker_profile == "local":
        from base.local_broker import TansuProfile

        return TansuProfile()
    return KafkaProfile(settings.topic_replication)
