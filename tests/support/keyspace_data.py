"""A cache-shaped keyspace loaded inside Redis by Lua (fast): the data of the keyspace tests and of
bench/health_bench.py, so the two measure the same shapes."""

from __future__ import annotations

import redis

# user:<id>:cart hashes without TTL, session:<uuid> strings with a TTL of 10 min to 2 h, product:<id> strings
# without TTL.
LOAD = """
local kind, first, last = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
for i = first, last do
  if kind == 'user' then
    redis.call('HSET', 'user:' .. i .. ':cart', 'item', 'sku-' .. (i % 97), 'qty', i % 7)
  elseif kind == 'session' then
    local id = string.format('%08x-%04x-4%03x-a%03x-%012x', i, i % 65536, i % 4096, (i * 7) % 4096,
                             (i * 2654435761) % 281474976710656)
    redis.call('SET', 'session:' .. id, string.rep('s', 20 + i % 40), 'EX', 600 + i % 7200)
  else
    redis.call('SET', 'product:' .. i, string.rep('p', 100 + i % 50))
  end
end
return last
"""
PATTERNS = {"user": "user:*:cart", "session": "session:*", "product": "product:*"}
BATCH = 100_000  # keys per EVAL: one script call blocks Redis, so the load is cut into pieces


def load_keyspace(client: redis.Redis, total: int) -> dict[str, int]:
    """60% carts, 30% sessions, 10% products; the key count per pattern."""
    counts = {"user": total * 6 // 10, "session": total * 3 // 10, "product": total // 10}
    for kind, n in counts.items():
        for first in range(0, n, BATCH):
            client.eval(LOAD, 0, kind, first, min(first + BATCH, n) - 1)
    return {PATTERNS[kind]: n for kind, n in counts.items()}
