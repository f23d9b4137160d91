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
        exec .venv/bin/pytest -q "$@"
        ;;
    bench)
        setup
        for script in bench/[!_]*.py; do echo "== $script"; .venv/bin/python "$script"; done
        ;;
    *) echo "usage: ./dev.sh demo|test|bench|setup" >&2; exit 2 ;;
esac
