"""The manual's surge ladder as a pure state machine over event time (docs/escalation.md).

Manual chapter 2, section 2, lines 139-150. Input: the number of callers
waiting and the event times at which it changes; output: step changes, each at
the exact event time its condition became true. Between two changes waiting is
constant, so a "for 5 minutes" deadline that falls between them fires at the
deadline itself, whether it is noticed at the next change, at a timer tick or
in a replay: the same log always fires the same steps at the same times.

Readings the manual leaves open, settled here (and configurable):
- "5 < waiting <= 10 for 5 minutes" advances steps 1-3 whenever waiting > 5:
  a queue above 10 is also above 5 (lines 139-141).
- Each of steps 2 and 3 needs another full period above 5 after the previous step.
- Step 4 follows step 3 at once when waiting > 10 (line 142, "立即").
- Step 5 ("volume stays extremely high", line 143): waiting > 10 for another period.
- Step 6 ("still not resolved", line 144): waiting > 5 for another period.
- Signing out (line 146): waiting <= 5 for a whole period signs out the top
  step; each further step needs another period, in reverse order.
- Exactly 5 waiting is not above 5; exactly 10 is not above 10; a period of
  exactly 5 minutes is long enough.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["Ladder", "LadderRules", "Step", "Transition", "default_rules"]


@dataclass(frozen=True)
class Step:
    """One rung: when it is signed in, what the floor supervisor does."""

    name_zh: str
    name_en: str
    action_zh: str
    action_en: str
    staff_group: str
    seats: str              # "2-3", "all", "5-7": how many seats it adds, as the manual says
    above: int              # waiting must be above this ...
    for_s: int              # ... for this long (0: at once)
    needs_seats_figure: bool = False  # step 6: compute the seats needed (Erlang C)
    out_zh: str = ""        # its name when it is signed out; derived from name_zh if empty
    out_en: str = ""

    # The settings validate a configured rung as this very type (base/config.py): an
    # unknown key is an error there. A plain dict: the core imports no pydantic.
    __pydantic_config__ = {"extra": "forbid"}

    def __post_init__(self) -> None:
        if self.above < 0 or self.for_s < 0:
            raise ValueError("above and for_s must be 0 or more")

    def signed_out(self) -> tuple[str, str, str, str]:
        """Names and actions of the rung as it signs out: the manual's 签出方法 (lines
        146-147), in the reverse order of signing in, seats back to normal."""
        zh = self.out_zh or _out_name(self.name_zh, (("签入", "签出"),), "（结束）")
        en = self.out_en or _out_name(self.name_en, (("signs in", "signs out"),
                                                     ("sign in", "sign out")), " (ends)")
        return (zh, en, "按签入顺序反方向逐步签出，台席恢复为正常状态",
                "Stand down in the reverse order of signing in; seats back to normal")


def _out_name(name: str, swaps: tuple[tuple[str, str], ...], suffix: str) -> str:
    for signed_in, signed_out in swaps:
        if signed_in in name:
            return name.replace(signed_in, signed_out)
    return name + suffix


@dataclass(frozen=True)
class LadderRules:
    steps: tuple[Step, ...]
    night_step: Step
    holiday_steps: tuple[Step, ...]     # put before the day ladder on holidays
    clear_at_or_below: int = 5          # line 146: waiting <= 5 ...
    clear_for_s: int = 300              # ... for a period signs one step out
    cooldown_s: int = 120               # no reversal of direction within this
    night_start: time = time(22, 0)
    night_end: time = time(8, 0)
    holidays: frozenset[date] = frozenset()

    def mode_at(self, ms: int, zone: ZoneInfo) -> str:
        local = datetime.fromtimestamp(ms / 1000, UTC).astimezone(zone)
        if local.date() in self.holidays:
            return "holiday"
        t = local.time()
        start, end = self.night_start, self.night_end
        night = (start <= t or t < end) if start > end else (start <= t < end)
        return "night" if night else "day"

    def ladder(self, mode: str) -> tuple[Step, ...]:
        if mode == "night":
            return (self.night_step,)
        if mode == "holiday":
            return (*self.holiday_steps, *self.steps)
        return self.steps


def default_rules(holidays: Iterable[date] = ()) -> LadderRules:
    """The manual's ladder (lines 139-150)."""
    period = 300
    steps = (
        Step("流动专家组签入", "Floating experts sign in",
             "立即调整流动专家组加入呼入台席", "Move the floating expert group onto inbound seats now",
             "floating_experts", "group", 5, period),
        Step("呼出台席签入", "Outbound seats sign in",
             "调整2-3个呼出台席加入呼入台席", "Move 2-3 outbound seats onto inbound",
             "outbound", "2-3", 5, period),
        Step("品质控制人员签入", "Quality staff sign in",
             "调整2-3名品质控制人员加入呼入台席", "Move 2-3 quality-control staff onto inbound",
             "quality", "2-3", 5, period),
        Step("后台处理人员签入", "Back office signs in",
             "立即调整2-3名后台处理人员加入呼入台席", "Move 2-3 back-office staff onto inbound now",
             "back_office", "2-3", 10, 0),
        Step("延长班次", "Lengthen shifts",
             "在物理台席允许的条件下调整班次长短增加座席",
             "Lengthen shifts to add seats, as far as physical seats allow",
             "shift_extension", "up to seats", 10, period,
             out_zh="班次恢复正常", out_en="Shifts back to normal length"),
        Step("紧急加班", "Emergency overtime",
             "计算所需台数并安排紧急加班", "Compute the seats needed and call in emergency overtime",
             "overtime", "as computed", 5, period, needs_seats_figure=True,
             out_zh="紧急加班结束", out_en="Emergency overtime stands down"),
    )
    night = Step("夜班全员签入", "Night: everyone signs in",
                 "除1名现场业务督导外，所有非话务台席加入呼入台席",
                 "Every non-phone seat joins inbound, keeping one on-site supervisor",
                 "night_all", "all but one", 5, period)
    holiday = (Step("节假日应急台席", "Holiday emergency seats",
                    "启用预留的5-7个应急台席加班", "Call in the 5-7 reserved emergency seats",
                    "holiday_reserve", "5-7", 5, period,
                    out_zh="节假日应急台席撤回", out_en="Holiday emergency seats stand down"),)
    return LadderRules(steps=steps, night_step=night, holiday_steps=holiday,
                       holidays=frozenset(holidays))


@dataclass(frozen=True)
class Transition:
    step: int            # the step now in force (0: back to normal)
    direction: str       # "up", "down"; a warning: "warn", "warn_end"
    at_ms: int
    waiting: int
    mode: str
    rung: Step           # the step signed in (up) or out (down)
    # A warning ("warn" / "warn_end", step 0, core/forecast.py): the estimate it rests on.
    forecast: dict[str, Any] | None = None


@dataclass
class Ladder:
    """One queue's (or queue group's) ladder. ``state()`` / ``restore()`` survive restarts."""

    rules: LadderRules
    zone: ZoneInfo
    step: int = 0
    mode: str = "day"            # the mode the current climb started in
    waiting: int = 0
    clock_ms: int = 0            # event time up to which the ladder has been evaluated
    changed_ms: int = 0          # last step change
    last_direction: str = ""
    runs: dict[str, int] = field(default_factory=dict)  # threshold -> since when waiting > it
    clear_since: int | None = None   # since when waiting <= the clear level

    # ---------------------------------------------------------------- inputs
    def observe(self, at_ms: int, waiting: int) -> list[Transition]:
        """Waiting changed to ``waiting`` at ``at_ms``; returns the step changes up to it.

        A change older than the ladder's clock (a late event) counts as now.
        """
        out = self.advance(at_ms)
        at = max(at_ms, self.clock_ms)
        self.waiting = waiting
        self._runs(at)
        out += self._fire(at)
        return out

    def advance(self, now_ms: int) -> list[Transition]:
        """Let event time pass to ``now_ms`` with waiting unchanged."""
        out: list[Transition] = []
        while True:
            due = self._next_deadline()
            if due is None or due > now_ms:
                break
            fired = self._fire(due)
            if not fired:
                break
            out += fired
        self.clock_ms = max(self.clock_ms, now_ms)
        return out

    # ------------------------------------------------------------- internals
    def _thresholds(self) -> set[int]:
        rungs = (*self.rules.steps, self.rules.night_step, *self.rules.holiday_steps)
        return {r.above for r in rungs}

    def _runs(self, at: int) -> None:
        for threshold in self._thresholds():
            key = str(threshold)  # str keys: the state is stored as JSON
            if self.waiting > threshold:
                self.runs.setdefault(key, at)
            else:
                self.runs.pop(key, None)
        if self.waiting <= self.rules.clear_at_or_below:
            if self.clear_since is None:
                self.clear_since = at
        else:
            self.clear_since = None

    def _next_up(self, at: int) -> Step | None:
        ladder = self.rules.ladder(self.mode if self.step else self.rules.mode_at(at, self.zone))
        return ladder[self.step] if self.step < len(ladder) else None

    def _up_deadline(self) -> int | None:
        rung = self._next_up(self.clock_ms)
        since = self.runs.get(str(rung.above)) if rung is not None else None
        if rung is None or since is None:
            return None
        # Each further step needs its own period after the previous one.
        start = max(since, self.changed_ms) if self.step else since
        due = start + rung.for_s * 1000
        if self.last_direction == "down":
            due = max(due, self.changed_ms + self.rules.cooldown_s * 1000)
        return due

    def _down_deadline(self) -> int | None:
        if not self.step or self.clear_since is None:
            return None
        due = max(self.clear_since, self.changed_ms) + self.rules.clear_for_s * 1000
        if self.last_direction == "up":
            due = max(due, self.changed_ms + self.rules.cooldown_s * 1000)
        return due

    def _next_deadline(self) -> int | None:
        times = [t for t in (self._up_deadline(), self._down_deadline()) if t is not None]
        return min(times) if times else None

    def _fire(self, at: int) -> list[Transition]:
        """Every step change due at or before ``at`` that follows from the current state."""
        out: list[Transition] = []
        while True:
            up, down = self._up_deadline(), self._down_deadline()
            if up is not None and up <= at:
                when = up
                if self.step == 0:
                    self.mode = self.rules.mode_at(when, self.zone)
                rung = self.rules.ladder(self.mode)[self.step]
                self.step += 1
                out.append(self._changed(when, "up", rung))
                continue  # an "at once" step (step 4) may follow at the same moment
            if down is not None and down <= at:
                rung = self.rules.ladder(self.mode)[self.step - 1]
                self.step -= 1
                out.append(self._changed(down, "down", rung))
                continue
            return out

    def _changed(self, at: int, direction: str, rung: Step) -> Transition:
        self.changed_ms = at
        self.last_direction = direction if self.step else ""  # normal again: start afresh
        self.clock_ms = max(self.clock_ms, at)
        return Transition(self.step, direction, at, self.waiting, self.mode, rung)

    # ------------------------------------------------------------ persistence
    def state(self) -> dict[str, Any]:
        return {"step": self.step, "mode": self.mode, "waiting": self.waiting,
                "clock_ms": self.clock_ms, "changed_ms": self.changed_ms,
                "last_direction": self.last_direction, "runs": dict(self.runs),
                "clear_since": self.clear_since}

    @classmethod
    def restore(cls, rules: LadderRules, zone: ZoneInfo, state: dict[str, Any] | None) -> Ladder:
        ladder = cls(rules, zone)
        for key, value in (state or {}).items():
            setattr(ladder, key, value)
        return ladder
