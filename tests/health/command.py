"""Running ``cachewatch health`` as scripts do (a subprocess), for the command-line tests."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.health.probe import PASSWORD

HEALTHY_ARGS = ("--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru", "--latency-monitor-threshold", "100")
EX_USAGE = 4


def environment(**extra: str) -> dict[str, str]:
    """This process's environment without REDIS_* (the command reads them), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDIS_")}
    return {**env, **extra}


def health(*args: str, env: dict[str, str] | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cachewatch", "health", *args], capture_output=True, text=True,
                          env=env or environment(REDIS_PASSWORD=PASSWORD), timeout=timeout)
