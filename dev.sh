#!/usr/bin/env bash
# zdm developer entry point.
#   ./dev.sh demo [zdm demo options]   set up .venv and run the demo (embedded Postgres + demo app + shell)
#   ./dev.sh test                      set up .venv, then lint, format check, type check and the whole test suite
#   ./dev.sh bench                     run every benchmark in bench/
#   ./dev.sh setup                     only create/refresh .venv
set -euo pipefail
cd "$(dirname "$0")"

setup() {
    local python=${PYTHON:-python3}
    if [ ! -x .venv/bin/python ]; then
        "$python" -m venv .venv
    fi
    if [ ! -f .venv/.zdm-installed ] || [ pyproject.toml -nt .venv/.zdm-installed ] \
        || [ requirements.lock -nt .venv/.zdm-installed ]; then
        echo "Installing zdm and its pinned dependencies into .venv …" >&2
        .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
        .venv/bin/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
        touch .venv/.zdm-installed
    fi
    setup_prometheus
    setup_supabase_cli
    setup_chromium
}

# Debian's chromium, for the browser test of `zdm demo --web` (Playwright drives it; Playwright's own browser
# download is not used). Only as root with apt-get; quiet and optional: without it that test is skipped, saying why.
setup_chromium() {
    command -v chromium >/dev/null 2>&1 && return 0
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "warning: chromium is not installed (installing it needs root and apt-get); the browser test will be skipped" >&2
        return 0
    fi
    local install="apt-get install -y -qq --no-install-recommends chromium"
    if DEBIAN_FRONTEND=noninteractive $install >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive $install >/dev/null 2>&1; }; then
        echo "Installed Debian's chromium for the browser test" >&2
    else
        echo "warning: could not install chromium with apt-get; the browser test will be skipped" >&2
    fi
}

# The real Supabase CLI (npm package `supabase`, which downloads its binary from the npm registry), pinned, in a
# project-local folder. Optional: without npm its integration tests are skipped, saying why.
SUPABASE_CLI_VERSION=2.117.0
setup_supabase_cli() {
    local dir=.venv/supabase-cli
    if [ -x "$dir/node_modules/.bin/supabase" ] && [ "$(cat "$dir/.version" 2>/dev/null)" = "$SUPABASE_CLI_VERSION" ]; then
        return 0
    fi
    if ! command -v npm >/dev/null 2>&1; then
        echo "warning: npm not found; the Supabase CLI is not installed and its integration tests will be skipped" >&2
        return 0
    fi
    mkdir -p "$dir"
    if (cd "$dir" && npm i -E --no-audit --no-fund --loglevel=error "supabase@$SUPABASE_CLI_VERSION" >/dev/null) \
        && [ -x "$dir/node_modules/.bin/supabase" ]; then
        echo "$SUPABASE_CLI_VERSION" >"$dir/.version"
        echo "Installed the Supabase CLI $SUPABASE_CLI_VERSION into $dir" >&2
    else
        echo "warning: could not install supabase@$SUPABASE_CLI_VERSION with npm into $dir; its tests will be skipped" >&2
    fi
}

# Debian's prometheus package, unpacked (no root needed) for the real-Prometheus integration test of the KPI source.
# Optional: without it that one test is skipped.
setup_prometheus() {
    [ -x .venv/prometheus/usr/bin/prometheus ] && return 0
    local tmp
    tmp=$(mktemp -d)
    if (cd "$tmp" && apt-get download prometheus >/dev/null 2>&1) \
        && dpkg-deb -x "$tmp"/prometheus_*.deb .venv/prometheus 2>/dev/null \
        && [ -x .venv/prometheus/usr/bin/prometheus ]; then
        echo "Installed Prometheus $(.venv/prometheus/usr/bin/prometheus --version 2>&1 | head -n1 | awk '{print $3}') into .venv/prometheus" >&2
    else
        echo "warning: could not install Debian's prometheus package into .venv/prometheus; its integration test will be skipped" >&2
    fi
    rm -rf "$tmp"
}

cmd=${1:-demo}
[ $# -gt 0 ] && shift
case "$cmd" in
    setup) setup ;;
    demo) setup; exec .venv/bin/zdm demo "$@" ;;
    test)
        setup
        .venv/bin/ruff check .
        .venv/bin/ruff format --check .
        .venv/bin/mypy
        # one worker per core (each with its own embedded Postgres); `./dev.sh test -n 0` runs in one process
        exec .venv/bin/pytest -q -n auto --dist worksteal "$@"
        ;;
    bench)
        setup
        for script in bench/[!_]*.py; do echo "== $script"; .venv/bin/python "$script"; done
        ;;
    *) echo "usage: ./dev.sh demo|test|bench|setup" >&2; exit 2 ;;
esac
