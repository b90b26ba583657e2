#!/usr/bin/env bash
# Coherence Lab set-up and tasks. Each command creates the virtual environment (.venv) and
# installs what it needs by itself, so both work on a fresh machine:
#   ./dev.sh app    start the browser app on http://localhost:8765
#   ./dev.sh test   run the whole test suite (lint, format check, unit and browser tests)
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
VENV=.venv

ensure_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating $VENV"
    "$PY" -m venv "$VENV"
  fi
  local stamp="$VENV/.installed" want
  # reinstall when the dependencies or the compiled core change (pip builds model/_fastcore.c)
  want=$(cat pyproject.toml setup.py model/_fastcore.c | sha256sum | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "==> installing Coherence Lab and its pinned dependencies"
    local log="$VENV/install.log"
    if ! { "$VENV/bin/python" -m pip install --upgrade pip && "$VENV/bin/python" -m pip install -e ".[test]"; } \
      >"$log" 2>&1; then
      tail -n 30 "$log" >&2
      echo "installation failed (full log: $log)" >&2
      exit 1
    fi
    echo "$want" >"$stamp"
  fi
}

ensure_chromium() {
  # Playwright cannot download its own browser here: use Debian's chromium.
  if [ -x /usr/bin/chromium ]; then return; fi
  echo "==> installing Debian's chromium for the browser tests"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
}

case "${1:-}" in
  app)
    shift
    ensure_venv
    exec "$VENV/bin/cohlab" app "$@"
    ;;
  test)
    shift
    ensure_venv
    ensure_chromium
    echo "==> ruff check"
    "$VENV/bin/ruff" check .
    echo "==> ruff format --check"
    "$VENV/bin/ruff" format --check .
    echo "==> pytest"
    set +e
    "$VENV/bin/python" -m pytest "$@"
    rc=$?
    set -e
    if [ "$rc" -eq 5 ]; then
      echo "pytest collected no tests: that is a failure, not a pass" >&2
      exit 1
    fi
    exit "$rc"
    ;;
  *)
    echo "usage: ./dev.sh app [--port N] | ./dev.sh test [pytest args]" >&2
    exit 2
    ;;
esac
