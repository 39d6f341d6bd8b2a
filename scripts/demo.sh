#!/usr/bin/env bash
# scripts/demo.sh — set everything up, then run the local demo.
# Extra arguments go to `cachewatch demo`, e.g.
#   bash scripts/demo.sh --redis-addr 127.0.0.1:6379
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh

echo "==> cachewatch demo $*"
exec .venv/bin/cachewatch demo "$@"
