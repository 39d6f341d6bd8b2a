"""Prometheus text exposition (format 0.0.4) rendered from the metric catalog.

We render ourselves instead of through prometheus_client because redis_exporter's
names include counters without ``_total`` (prometheus_client would rename them) and
because the scrape path must stay cheap: labels are rendered once and reused.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from cachewatch.catalog import CATALOG, Family

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _header(fam: Family) -> str:
    return f"# HELP {fam.name} {_escape_help(fam.help)}\n# TYPE {fam.name} {fam.type}\n"


HEADERS: dict[str, str] = {name: _header(fam) for name, fam in CATALOG.items()}


def escape_label_value(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def labels(*pairs: tuple[str, str]) -> str:
    """Render ``{a="1",b="2"}`` from (name, value) pairs; empty string for no labels."""
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{escape_label_value(str(v))}"' for k, v in pairs) + "}"


def format_value(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


class MetricSet:
    """Series grouped by family, ready to render. Families must be in the catalog."""

    __slots__ = ("_series",)

    def __init__(self) -> None:
        self._series: dict[str, list[str]] = {}

    def family(self, name: str) -> list[str]:
        """The series list of a family, created on first use; unknown families fail loudly."""
        lines = self._series.get(name)  # not try/except: each scrape's first use of a family would raise
        if lines is None:
            if name not in HEADERS:
                raise KeyError(f"metric {name!r} is not in the cachewatch metric catalog")
            lines = self._series[name] = []
        return lines

    def add(self, name: str, value: float, label_text: str = "", suffix: str = "") -> None:
        """Add one series; ``suffix`` is ``_bucket``/``_sum``/``_count`` for histograms and summaries."""
        self.family(name).append(f"{name}{suffix}{label_text} {format_value(value)}\n")

    def add_text(self, name: str, value_text: str, label_text: str = "") -> None:
        """Add a series whose value is already valid exposition text (e.g. an INFO integer as sent)."""
        self.family(name).append(f"{name}{label_text} {value_text}\n")

    def add_lines(self, name: str, lines: Sequence[str]) -> None:
        """Add series rendered earlier (by ``lines``) for a family, e.g. a cached histogram."""
        self.family(name).extend(lines)

    # A family's entries are its series lines, or texts of several lines rendered together (one command's
    # histogram): rendering only joins them, and ``lines`` hands out one line per entry.
    def series(self) -> dict[str, list[str]]:
        """The family → lines map itself, for bulk appends by callers whose family names come from the catalog."""
        return self._series

    def lines(self, name: str) -> list[str]:
        """The family's series, one line each."""
        out: list[str] = []
        for text in self._series.get(name, ()):
            if text.count("\n") > 1:
                out.extend(line + "\n" for line in text[:-1].split("\n"))
            else:
                out.append(text)
        return out

    def names(self) -> list[str]:
        return list(self._series)

    def merged(self, other: MetricSet) -> MetricSet:
        """A new set with the series of both; neither is changed (a scrape's result is shared by its callers)."""
        out = MetricSet()
        series = out._series = dict(self._series)
        for name, lines in other._series.items():
            series[name] = series[name] + lines if name in series else lines
        return out

    def render(self) -> str:
        out: list[str] = []
        series = self._series
        for name in sorted(series):
            lines = series[name]
            if lines:
                out.append(HEADERS[name])
                out.extend(lines)
        return "".join(out)
