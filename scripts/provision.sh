#!/usr/bin/env bash
# Makes a Docker engine and a Redis server available on a fresh Debian machine, and builds the local base
# image the tests and examples use. Idempotent: when everything already runs, it takes a few seconds.
#   - installs Debian's docker.io, redis-server, busybox-static, postgresql (server binaries for the SQL
#     store's tests, which start clusters of their own) and debootstrap (the Python test image) when
#     missing (needs root);
#   - starts dockerd and redis-server (maxmemory-policy noeviction, as BullMQ requires) when not running;
#   - waits until each answers;
#   - installs the npm dependencies when node_modules is missing or older than package-lock.json;
#   - builds action-worker/busybox:latest when it is missing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
log_dir="${ACTION_WORKER_PROVISION_LOG_DIR:-/var/log/action-worker}"

say() { printf 'provision: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "need root to run: $*"; fi
}

apt_updated=0
apt_install() {
  if [ "$apt_updated" -eq 0 ]; then
    say "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    apt_updated=1
  fi
  say "installing $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local seconds="$1" what="$2"; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || die "$what did not answer within ${seconds}s"
    sleep 0.5
  done
}

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v redis-server >/dev/null || missing+=(redis-server)
# The base image needs a statically linked busybox (Debian's busybox-static puts it at /bin/busybox).
if ! { [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; }; then missing+=(busybox-static); fi
# The SQL store's PostgreSQL tests start clusters of their own with Debian's server binaries; the package's
# own cluster is not used.
if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then missing+=(postgresql); fi
command -v psql >/dev/null || missing+=(postgresql-client)
# The Python test image (docker/python-test/build.sh, built by the tests that need it) is a debootstrap.
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}"; fi

as_root mkdir -p "$log_dir"

if ! docker info >/dev/null 2>&1; then
  say "starting dockerd (log: $log_dir/dockerd.log)"
  as_root sh -c "setsid nohup dockerd >>'$log_dir/dockerd.log' 2>&1 </dev/null &"
  wait_for 90 "dockerd" docker info
fi

if ! redis-cli ping >/dev/null 2>&1; then
  say "starting redis-server"
  as_root redis-server --daemonize yes --maxmemory-policy noeviction --save '' --appendonly no \
    --logfile "$log_dir/redis.log"
  wait_for 30 "redis-server" redis-cli ping
fi
# BullMQ loses jobs under any eviction policy; make sure a Redis that was already running is safe too.
redis-cli config set maxmemory-policy noeviction >/dev/null

if [ ! -d "$root/node_modules" ] || [ "$root/package-lock.json" -nt "$root/node_modules/.package-lock.json" ]; then
  say "npm ci"
  (cd "$root" && npm ci --no-audit --no-fund --loglevel=error)
fi

"$root/docker/busybox/build.sh"
say "ready: $(docker version --format 'docker {{.Server.Version}}'), $(redis-server --version | cut -d' ' -f3)"
