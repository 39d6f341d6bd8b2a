#!/usr/bin/env bash
# scripts/demo.sh — set everything up (scripts/setup.sh), then run the whole-stack demo (`cachewatch demo`):
# Redis primary + replica, the exporter with its health probes, Prometheus and Alertmanager on the generated
# artifacts, VictoriaMetrics (when installed), the alert lifecycle service and an instrumented application; then a
# fault, its page, its ack, and the heal. Everything runs in a temp directory and is stopped at the end.
# Extra arguments go to `cachewatch demo`:
#   bash scripts/demo.sh --serve                               # keep the stack running until Ctrl-C
#   bash scripts/demo.sh --redis-addr redis://127.0.0.1:6379   # only the exporter, in front of an existing Redis
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# setup.sh's steps as they happen (its ==> lines); its whole output only when it fails.
setup_log="$(mktemp)"
trap 'rm -f "$setup_log"' EXIT
if ! bash scripts/setup.sh 2>&1 | tee "$setup_log" | grep --line-buffered -P '^==> (?!versions$)'; then
    cat "$setup_log" >&2
    exit 1
fi
rm -f "$setup_log"
trap - EXIT

echo "==> cachewatch demo${*:+ $*}"
exec .venv/bin/cachewatch demo "$@"
