#!/usr/bin/env bash
# scripts/test.sh — set everything up, then lint and run the test suite.
#   bash scripts/test.sh            everything (CI runs exactly this: .ci/run)
#   bash scripts/test.sh --fast     leaves out the e2e tests (Prometheus, Alertmanager, the peer, wheel builds)
#                                   and runs the rest on every core (pytest-xdist)
# Other arguments are passed to pytest (paths are relative to the repo root), e.g.
#   bash scripts/test.sh --fast -k exporter -x
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

args=()
for arg in "$@"; do
    if [[ "$arg" == "--fast" ]]; then
        args+=(-m "not e2e" -n auto --dist worksteal)
    else
        args+=("$arg")
    fi
done
set -- "${args[@]+"${args[@]}"}"

bash scripts/setup.sh

echo "==> ruff check ."
ruff_rc=0
.venv/bin/ruff check . || ruff_rc=$?

# A temp root of this run's own: pytest's shared /tmp/pytest-of-<user> is cleaned by whichever session ends
# first (retention policy "none"), which would pull the files from under a second run on the same machine.
basetemp="$(mktemp -d -t cachewatch-tests-XXXXXX)"
trap 'rm -rf "$basetemp"' EXIT

echo "==> python -m pytest $* (temp files under $basetemp, removed at the end)"
pytest_rc=0
.venv/bin/python -m pytest --basetemp="$basetemp/t" "$@" || pytest_rc=$?

if ((pytest_rc == 5)); then
    echo "ERROR: pytest collected no tests (exit code 5); treating this as a failure" >&2
fi
if ((ruff_rc != 0)); then
    echo "ERROR: ruff check failed (exit code $ruff_rc)" >&2
fi
if ((pytest_rc != 0 && pytest_rc != 5)); then
    echo "ERROR: pytest failed (exit code $pytest_rc)" >&2
fi

if ((pytest_rc != 0)); then
    exit "$pytest_rc"
elif ((ruff_rc != 0)); then
    exit "$ruff_rc"
fi
echo "==> all checks passed"
