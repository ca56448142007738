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


def working_days(config: TicketConfig) -> IsWorkingDay:
    """Is this date a working day, by the country's calendar and the override file."""
    return _working_days(config.calendar_country, config.calendar_subdiv, config.calendar_file)


@lru_cache(maxsize=8)  # one function per calendar: rules built twice compare equal
def _working_days(country: str, subdiv: str | None, calendar_file: Path | None) -> IsWorkingDay:
    work: set[date] = set()
    off: set[date] = set()
    if calendar_file is not None:
        path = Path(calendar_file)
        try:
            doc = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: key 'tickets.calendar_file': {exc}") from exc
        work, off = _dates(path, doc, "working"), _dates(path, doc, "off")
    calendar = holidays.country_holidays(country, subdiv=subdiv)

    @lru_cache(maxsize=4096)
    def is_working_day(day: date) -> bool:
        if day in work:
            return True
        if day in off:
            return False
        return bool(calendar.is_working_day(day))

    return is_working_day
