"""How numbers read in a diagnosis, and the one sentence for a refused command."""

from __future__ import annotations

from collections.abc import Mapping

REFUSED_BY = "refused by the server (ACL, renamed command or managed service)"


def size(value: float) -> str:
    """Bytes as B, KB, MB, GB (binary multiples, as Redis's own ``human`` fields)."""
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if abs(value) >= scale:
            return f"{value / scale:.1f} {unit}"
    return f"{value:.0f} B"


def usec(value: float) -> str:
    """µs as µs, ms or s."""
    if value >= 1e6:
        return f"{value / 1e6:.2f} s"
    return f"{value / 1000:.1f} ms" if value >= 1000 else f"{value:.0f} µs"


def count(value: float) -> str:
    return f"{value:,.0f}"


def refusal(refused: Mapping[str, str], commands: Mapping[str, str]) -> str:
    """``commands`` maps a family to the command as people type it; the first refused one, with its reason."""
    for family, command in commands.items():
        if family in refused:
            reason = refused[family]
            return f"{command} {REFUSED_BY}" + (f": {reason}" if reason and reason != "refused" else "")
    return ""
