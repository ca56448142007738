"""Settings become the pipeline's plain rules here, at the edge, once per process."""

from __future__ import annotations

from alerts.runner import groups_of, ladder_rules
from callboard.config import Settings
from callboard.pipeline import PipelineRules

__all__ = ["pipeline_rules"]


def pipeline_rules(settings: Settings, *, offline: bool = False) -> PipelineRules:
    """The worker's rules; ``offline`` (report, alerts) keeps every minute and caller."""
    schedule = settings.load_schedule()
    return PipelineRules(
        rules_for=settings.rules_for,
        zone=settings.zone,
        ladder_rules=ladder_rules(settings),
        ladder_groups=groups_of(settings),
        retention_ms=None if offline else settings.bucket_retention_h * 3_600_000,
        max_wait_ms=int(settings.max_wait_h * 3_600_000),
        repeat_window_ms=int(settings.repeat_window_h * 3_600_000),
        caller_key=settings.caller_hash_key,
        scheduled_ms=schedule.scheduled_ms if schedule is not None else None,
        max_future_ms=int(settings.max_future_s * 1000),
    )
