"""redis-server's own log lines, as the Collector's regex parser reads them.

Redis 7 writes ``pid:role dd Mon yyyy HH:MM:SS.mmm <level> message`` (server.c ``serverLogRaw``): role ``X``
sentinel, ``C`` a child (RDB/AOF fork) or the process before it knows its role, ``S`` replica, ``M`` primary;
level ``.`` debug, ``-`` verbose, ``*`` notice, ``#`` warning. The fixture tests/pipeline/fixtures/redis-server.log
is real output of redis-server 7.0 (a primary, its replica, a BGSAVE, a failover to primary); the tests parse it
and a live server's log with this very pattern. The regex is RE2 (the Collector's) and Python alike: named groups
``(?P<name>...)``, no look-around.
"""

from __future__ import annotations

REGEX = (r"^(?P<pid>\d+):(?P<role>[XCSM]) (?P<time>\d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2}\.\d{3}) "
         r"(?P<level>[.*#-]) (?P<message>.*)$")
TIME_LAYOUT = "%d %b %Y %H:%M:%S.%L"  # the Collector's strptime (%L: milliseconds)
PYTHON_TIME_LAYOUT = "%d %b %Y %H:%M:%S.%f"  # the same, for Python's strptime in the tests
ROLES = {"X": "sentinel", "C": "child", "S": "replica", "M": "primary"}
# Collector severity alias → Redis level character. Verbose sits between debug and notice: debug2.
LEVELS = {"debug": ".", "debug2": "-", "info": "*", "warn": "#"}
