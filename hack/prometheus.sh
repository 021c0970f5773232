#!/usr/bin/env bash
# Installs Debian's `prometheus` package (which ships `promtool` too) when it is missing, and
# prints the paths of the two binaries, one per line:
#
#   hack/prometheus.sh            install if missing, print the paths
#   hack/prometheus.sh --print    print the paths; exit 1 (saying what to run) if missing
#
# Tests start their own Prometheus on 127.0.0.1 with a temp config and storage; the package's own
# service instance (0.0.0.0:9090) must never run. So the install runs under a policy-rc.d that
# forbids starting services (Debian's invoke-rc.d and deb-systemd-invoke honour it), and on a
# host booted with systemd the unit is disabled and stopped afterwards. `--no-install-recommends`
# keeps prometheus-node-exporter (a second service, on :9100) out.
set -euo pipefail

find_bins() {
  local p t
  p=$(command -v prometheus 2>/dev/null) || return 1
  t=$(command -v promtool 2>/dev/null) || return 1
  printf '%s\n%s\n' "$p" "$t"
}

if find_bins; then
  exit 0
fi
if [ "${1:-}" = "--print" ]; then
  echo "prometheus.sh: prometheus/promtool not found on PATH; run hack/prometheus.sh (installs Debian's prometheus package) or: apt-get install --no-install-recommends prometheus" >&2
  exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "prometheus.sh: no apt-get here; install Prometheus >= 2.42 so that prometheus and promtool are on PATH" >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "prometheus.sh: installing the prometheus package needs root (or sudo)" >&2
    exit 1
  fi
fi

# One installer at a time (several test binaries or make targets may call this).
lock=${XDG_CACHE_HOME:-$HOME/.cache}/kelos/.lock-prometheus
mkdir -p "$(dirname "$lock")"
exec 9>"$lock"
flock 9
if find_bins; then
  exit 0
fi

# Forbid service starts during the install unless a policy already does (e.g. in containers).
policy=/usr/sbin/policy-rc.d
made_policy=
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# hack/prometheus.sh: no service starts during this install\nexit 101\n' |
    "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod 755 "$policy"
  made_policy=1
fi
cleanup() {
  if [ -n "$made_policy" ]; then "${sudo[@]}" rm -f "$policy"; fi
}
trap cleanup EXIT

echo "prometheus.sh: installing Debian's prometheus package (one-time)" >&2
"${sudo[@]}" apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends prometheus >&2

# On a systemd host the package enables its unit for the next boot; turn it off for good.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  "${sudo[@]}" systemctl disable --now prometheus.service >&2 || true
fi

find_bins || {
  echo "prometheus.sh: the prometheus package is installed but prometheus/promtool are not on PATH" >&2
  exit 1
}
