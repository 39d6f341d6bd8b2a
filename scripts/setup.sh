#!/usr/bin/env bash
# scripts/setup.sh — idempotent setup for cachewatch.
#
#   1. installs (with apt, only if missing) redis-server/redis-cli, prometheus/promtool,
#      prometheus-alertmanager/amtool, prometheus-redis-exporter, openssl, postgresql (the alert
#      lifecycle's shared store; tests start private clusters), chromium (the console's browser test) and
#      victoria-metrics/vmalert (scale mode's long-term store and global rules);
#   2. creates .venv (Python >= 3.11) and installs the project editable with the `test` extra.
#
# Always run it as a separate process (`bash scripts/setup.sh`), never `source` it:
# scripts/test.sh and scripts/demo.sh call it that way. Safe to run any number of times.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

VENV=.venv
STAMP="$VENV/.cachewatch-installed"

say() { printf '==> %s\n' "$*"; }
die() {
    printf 'ERROR: %s\n' "$*" >&2
    exit 1
}

# ---------------------------------------------------------------------------------------------
# 1. System packages
# ---------------------------------------------------------------------------------------------
# Commands we need, and the Debian package providing each one.
REQUIRED_CMDS=(
    redis-server:redis-server
    redis-cli:redis-tools
    prometheus:prometheus
    promtool:prometheus
    prometheus-alertmanager:prometheus-alertmanager
    amtool:prometheus-alertmanager
    prometheus-redis-exporter:prometheus-redis-exporter
    openssl:openssl
    chromium:chromium
    victoria-metrics:victoria-metrics
    vmalert:victoria-metrics
)

MISSING_PKGS=()
add_pkg() {
    local p
    for p in "${MISSING_PKGS[@]}"; do
        [[ "$p" == "$1" ]] && return 0
    done
    MISSING_PKGS+=("$1")
}

say "checking system tools"
for entry in "${REQUIRED_CMDS[@]}"; do
    cmd="${entry%%:*}"
    pkg="${entry#*:}"
    if command -v "$cmd" >/dev/null 2>&1; then
        printf '    found   %-26s %s\n' "$cmd" "$(command -v "$cmd")"
    else
        printf '    missing %-26s (apt package %s)\n' "$cmd" "$pkg"
        add_pkg "$pkg"
    fi
done

# PostgreSQL's server binaries are not on PATH in Debian (/usr/lib/postgresql/<major>/bin).
if command -v initdb >/dev/null 2>&1 || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    printf '    found   %-26s %s\n' initdb "$(command -v initdb || ls /usr/lib/postgresql/*/bin/initdb | tail -n 1)"
else
    printf '    missing %-26s (apt package postgresql)\n' initdb
    add_pkg postgresql
fi

# Python: only needed from apt if there is no usable venv yet and python3 / venv support is absent.
if [[ ! -x "$VENV/bin/python" ]]; then
    if ! command -v python3 >/dev/null 2>&1; then
        printf '    missing %-26s (apt packages python3 python3-venv)\n' python3
        add_pkg python3
        add_pkg python3-venv
    elif ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
        printf '    missing %-26s (apt package python3-venv)\n' "python3 venv/ensurepip"
        add_pkg python3-venv
    fi
fi

# Stop (after installing) the system service of a package only if this run installed that package,
# i.e. the service can only have been started by the package's postinst just now.
is_pkg_installed() {
    [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" == "installed" ]]
}

if ((${#MISSING_PKGS[@]} > 0)); then
    APT_CMD="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${MISSING_PKGS[*]}"
    command -v apt-get >/dev/null 2>&1 ||
        die "missing packages (${MISSING_PKGS[*]}) and apt-get is not available; install them manually"
    if ((EUID == 0)); then
        SUDO=()
    elif command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        die "not root and sudo is not available; run as root: $APT_CMD"
    fi

    # Remember what was there before, to undo only what the install itself starts.
    SERVICE_PKGS=()
    for pkg in prometheus prometheus-alertmanager prometheus-redis-exporter redis-server postgresql victoria-metrics; do
        for m in "${MISSING_PKGS[@]}"; do
            if [[ "$m" == "$pkg" ]] && ! is_pkg_installed "$pkg"; then
                SERVICE_PKGS+=("$pkg")
            fi
        done
    done
    redis_was_running=yes # unknown counts as running: never stop a redis we did not start
    if command -v pgrep >/dev/null 2>&1 && ! pgrep -x redis-server >/dev/null 2>&1; then
        redis_was_running=no
    fi

    say "apt-get update"
    "${SUDO[@]}" apt-get update ||
        die "apt-get update failed; try manually: $APT_CMD"
    say "apt-get install ${MISSING_PKGS[*]}"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${MISSING_PKGS[@]}" ||
        die "apt-get install failed; try manually: $APT_CMD"

    # Debian's postinst may have started system services on 9090/9093/9121/6379/5432/8428. The project's
    # tests start their own instances on free ports, so stop the ones this install started.
    for pkg in "${SERVICE_PKGS[@]}"; do
        if [[ "$pkg" == redis-server && "$redis_was_running" == yes ]]; then
            say "leaving redis-server service alone (a redis-server was already running before)"
            continue
        fi
        say "stopping service $pkg (started by its package install)"
        if svc="$(command -v service)" || { [[ -x /usr/sbin/service ]] && svc=/usr/sbin/service; }; then
            "${SUDO[@]}" "$svc" "$pkg" stop >/dev/null 2>&1 || true
        elif svc="$(command -v systemctl)"; then
            "${SUDO[@]}" "$svc" stop "$pkg" >/dev/null 2>&1 || true
        fi
    done
else
    say "all system tools present; skipping apt"
fi

# ---------------------------------------------------------------------------------------------
# 2. Python virtualenv + editable install
# ---------------------------------------------------------------------------------------------
PY_CHECK='import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'

if "$VENV/bin/python" -c "$PY_CHECK" >/dev/null 2>&1; then
    say "using existing $VENV ($("$VENV/bin/python" --version 2>&1))"
elif [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c 'pass' >/dev/null 2>&1; then
    die "$VENV uses $("$VENV/bin/python" --version 2>&1); cachewatch needs Python >= 3.11. Remove $VENV and re-run."
else
    command -v python3 >/dev/null 2>&1 || die "python3 not found; install Python >= 3.11"
    python3 -c "$PY_CHECK" ||
        die "python3 is $(python3 --version 2>&1) ($(command -v python3)); cachewatch needs Python >= 3.11"
    if [[ -e "$VENV" ]]; then
        say "recreating broken $VENV with $(python3 --version 2>&1)"
        python3 -m venv --clear "$VENV"
    else
        say "creating $VENV with $(python3 --version 2>&1)"
        python3 -m venv "$VENV"
    fi
fi

if [[ -f "$STAMP" && "$STAMP" -nt pyproject.toml && -x "$VENV/bin/cachewatch" ]]; then
    say "cachewatch already installed in $VENV (stamp newer than pyproject.toml); skipping pip"
else
    if [[ ! -f "$STAMP" ]]; then
        say "upgrading pip in $VENV"
        "$VENV/bin/python" -m pip install --quiet --upgrade pip ||
            say "warning: pip upgrade failed; continuing with the bundled pip"
    fi
    say "pip install -e '.[test]'"
    # Stamp time = start of the install, so an edit of pyproject.toml during it still triggers
    # a reinstall next time.
    touch "$STAMP.new"
    "$VENV/bin/python" -m pip install -e '.[test]'
    mv -f "$STAMP.new" "$STAMP"
fi

# ---------------------------------------------------------------------------------------------
# 3. Report
# ---------------------------------------------------------------------------------------------
version_of() {
    local out
    out="$("$@" 2>&1 | head -n 1)" || true
    printf '    %-28s %s\n' "$1" "${out:-unknown}"
}
say "versions"
version_of redis-server --version
version_of redis-cli --version
version_of promtool --version
version_of amtool --version
version_of prometheus-redis-exporter --version
version_of openssl version
version_of chromium --version
version_of "$VENV/bin/python" --version
say "setup done"
