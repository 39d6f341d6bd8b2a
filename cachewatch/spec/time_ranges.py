"""Alertmanager's time-interval syntax, checked the way Alertmanager 0.25 checks it (its timeinterval package), so
that ``cachewatch spec check`` refuses every window ``amtool check-config`` would refuse, and says what is allowed.

- weekdays: a day or ``start:end``, any case. Alertmanager's week runs sunday … saturday and a range must not run
  backwards in that order: ``monday:sunday`` is refused; write ``monday:saturday`` and ``sunday``.
- times: ``HH:MM-HH:MM`` between 00:00 and 24:00, the start before the end (a range cannot cross midnight).
- days_of_month: a day or ``start:end`` in 1 … 31, or -31 … -1 counted from the month's end; a negative start needs
  a negative end, and the start must not come after the end in a 28-day month.
- months: a name or 1 … 12, or ``start:end``, not backwards. (0.25 also takes 0 and 13, which never match: refused.)
- location: ``UTC``, ``Local`` or a name from the time zone database (``Europe/Berlin``).

Each function returns the value unchanged or raises ValueError naming the value and the allowed form.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")  # Alertmanager: 0 … 6
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")
SHORTEST_MONTH = 28  # Alertmanager's bound for checking ranges that count from the month's end
_CLOCK = re.compile(r"^(?:([01]\d|2[0-3]):([0-5]\d)|(24):(00))$")
ALWAYS_KNOWN_ZONES = ("UTC", "Local")  # Go's time.LoadLocation answers these without the database


def _span(first: str, last: str) -> str:
    return first if first == last else f"{first}:{last}"


def _which(text: str, part: str) -> str:
    """How an error names a bad member: the entry alone, or the entry and the member in it."""
    return repr(text) if part == text.lower() else f"{text!r}: {part!r}"


def _bounds(text: str, member: Callable[[str], int], allowed: str) -> tuple[int, int]:
    parts = text.lower().split(":")
    if len(parts) > 2 or not all(parts):
        raise ValueError(f"{text!r} is not a single value or a range start:end; allowed: {allowed}")
    return member(parts[0]), member(parts[-1])


def weekday_range(text: str) -> str:
    allowed = f"{', '.join(WEEKDAYS)}, or start:end in that order (monday:friday)"

    def member(name: str) -> int:
        if name not in WEEKDAYS:
            raise ValueError(f"{_which(text, name)} is not a weekday; allowed: {allowed}")
        return WEEKDAYS.index(name)

    begin, end = _bounds(text, member, allowed)
    if begin > end:
        first, second = _span(WEEKDAYS[begin], WEEKDAYS[-1]), _span(WEEKDAYS[0], WEEKDAYS[end])
        raise ValueError(f"{text!r} runs backwards: Alertmanager's week runs sunday … saturday and a range cannot "
                         f"wrap around it; write two entries, {first!r} and {second!r}")
    return text


def _minutes(clock: str, span: str) -> int:
    match = _CLOCK.match(clock)
    if not match:
        raise ValueError(f"{span!r} is not a time range; allowed: HH:MM-HH:MM between 00:00 and 24:00 "
                         "(09:00-17:00)")
    hours, minutes = (int(g) for g in match.groups() if g is not None)
    return hours * 60 + minutes


def time_range(span: str) -> str:
    start, sep, end = span.partition("-")
    if not sep:
        _minutes("", span)
    if _minutes(start, span) >= _minutes(end, span):
        raise ValueError(f"{span!r}: the end must come after the start; a range cannot cross midnight, so write "
                         f"two entries, '{start}-24:00' and '00:00-{end}'")
    return span


def day_of_month_range(text: str) -> str:
    allowed = "1 … 31, or -31 … -1 counted from the month's end (-1 is the last day), or start:end (1:7, -7:-1)"

    def member(day: str) -> int:
        if not re.fullmatch(r"-?\d+", day) or not 1 <= abs(int(day)) <= 31:
            raise ValueError(f"{_which(text, day)} is not a day of the month; allowed: {allowed}")
        return int(day)

    begin, end = _bounds(text, member, allowed)
    if begin < 0 < end:
        raise ValueError(f"{text!r}: a range that starts from the month's end (negative) must end negative too; "
                         f"allowed: {allowed}")
    if (begin + SHORTEST_MONTH if begin < 0 else begin) > (end + SHORTEST_MONTH if end < 0 else end):
        raise ValueError(f"{text!r}: the end comes before the start (in a {SHORTEST_MONTH}-day month); "
                         f"allowed: {allowed}")
    return text


def month_range(text: str) -> str:
    allowed = "january … december or 1 … 12, or start:end in that order (june:august)"

    def member(month: str) -> int:
        if month in MONTHS:
            return MONTHS.index(month) + 1
        if re.fullmatch(r"\d+", month) and 1 <= int(month) <= 12:
            return int(month)
        raise ValueError(f"{_which(text, month)} is not a month; allowed: {allowed}")

    begin, end = _bounds(text, member, allowed)
    if begin > end:
        first, second = _span(MONTHS[begin - 1], MONTHS[-1]), _span(MONTHS[0], MONTHS[end - 1])
        raise ValueError(f"{text!r} runs backwards: a range cannot wrap past december; write two entries, "
                         f"{first!r} and {second!r}")
    return text


def location(name: str) -> str:
    """A zone Alertmanager can load. Without a time zone database here nothing can be checked, so nothing is
    refused (Alertmanager's host has its own)."""
    if name in ALWAYS_KNOWN_ZONES:
        return name
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        if available_timezones():
            raise ValueError(f"{name!r} is not a time zone; allowed: UTC, Local, or a name from the time zone "
                             "database such as Europe/Berlin or America/New_York (case matters)") from None
    return name
