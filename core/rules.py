"""A queue's effective rules: thresholds, formulas and targets, centre defaults filled in.

Built once from the validated settings at the edge (base/config.py);
frozen here so the core never carries the settings object around.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from core.kpi import Limits

__all__ = ["Bound", "QueueRules", "RuleBook"]


@dataclass(frozen=True)
class Bound:
    """A figure's acceptable range; either end may be open."""

    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class QueueRules:
    name: str
    label_zh: str
    label_en: str
    vip: bool
    sl_threshold_s: int
    sl_target: float
    sl_formula: str             # offered | answered | abandons_ignored | abandons_met
    short_abandon_s: int
    abandon_target: float
    asa_target_s: float
    answer_limit_s: int
    answer_timeout_s: int
    ring_cycle_s: float
    occupancy_includes_acw: bool
    targets: dict[str, Bound] = field(default_factory=dict)

    def limits(self) -> Limits:
        return Limits(
            threshold_ms=self.sl_threshold_s * 1000,
            short_abandon_ms=self.short_abandon_s * 1000,
            answer_limit_ms=self.answer_limit_s * 1000,
            answer_timeout_ms=self.answer_timeout_s * 1000,
            ring_cycle_ms=int(self.ring_cycle_s * 1000),
        )


@dataclass(frozen=True)
class RuleBook:
    """Every configured queue's rules, and the centre's defaults for any other queue
    (an Asterisk log's queues, the centre row), named for it."""

    queues: Mapping[str, QueueRules]
    defaults: QueueRules
    _named: dict[str, QueueRules] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, configured: Iterable[QueueRules], defaults: QueueRules) -> RuleBook:
        return cls(MappingProxyType({r.name: r for r in configured}), defaults)

    def rules_for(self, queue: str) -> QueueRules:
        found = self.queues.get(queue) or self._named.get(queue)
        if found is None:
            found = self._named[queue] = replace(self.defaults, name=queue, label_zh=queue,
                                                 label_en=queue)
        return found
