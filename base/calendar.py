"""Working days for the complaint limits: the `holidays` package's calendar of the
configured country (China's has its make-up working days, 调休), then the centre's own
override file. Built once per process; the core only sees a function of a date."""

from __future__ import annotations

import tomllib
from datetime import date
from functools import lru_cache
from pathlib import Path

import holidays

from base.config import ConfigError, TicketConfig
from core.workdays import IsWorkingDay

__all__ = ["working_days"]


def _dates(path: Path, doc: dict[str, object], key: str) -> set[date]:
    values = doc.get(key, [])
    if not isinstance(values, list):
        raise ConfigError(f"{path}: key {key!r}: a list of dates, like [\"2027-02-06\"]")
    try:
        return {date.fromisoformat(str(v)) for v in values}
    except ValueError as exc:
        raise ConfigError(f"{path}: key {key!r}: {exc}") from exc


@lru_cache(maxsize=8)  # one function per configuration: rules built twice compare equal
def working_days(config: TicketConfig) -> IsWorkingDay:
    """Is this date a working day, by the country's calendar and the override file."""
    work: set[date] = set()
    off: set[date] = set()
    if config.calendar_file is not None:
        path = Path(config.calendar_file)
        try:
            doc = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: key 'tickets.calendar_file': {exc}") from exc
        work, off = _dates(path, doc, "working"), _dates(path, doc, "off")
    calendar = holidays.country_holidays(config.calendar_country, subdiv=config.calendar_subdiv)

    @lru_cache(maxsize=4096)
    def is_working_day(day: date) -> bool:
        if day in work:
            return True
        if day in off:
            return False
        return bool(calendar.is_working_day(day))

    return is_working_day
