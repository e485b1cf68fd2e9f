#!/usr/bin/env bash
# Make sure a Docker engine answers. On Debian/Ubuntu as root, install the
# distribution's docker.io when needed and start dockerd in the background.
#
# A dockerd started here is recorded: its pid in $STATE_DIR/dockerd.pid and its
# command line in $STATE_DIR/dockerd.cmd. Only that dockerd may be stopped and
# started again by the engine fault test (tests/e2e/test_resilience.py), which
# starts it again by running this script; any other engine is left alone.
set -euo pipefail

STATE_DIR="${SANDBOX_STATE_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/sandbox}"
mkdir -p "$STATE_DIR"
STATE_DIR="$(cd "$STATE_DIR" && pwd -P)"
LOG="$STATE_DIR/dockerd.log"
PIDFILE="$STATE_DIR/dockerd.pid"
CMDFILE="$STATE_DIR/dockerd.cmd"
DOCKERD=(dockerd) # the command line of the dockerd started here

record() { # the pid of a dockerd started by this script
  echo "$1" >"$PIDFILE"
  printf '%s\n' "${DOCKERD[*]}" >"$CMDFILE"
}

# A pid file naming no running dockerd is stale. A single running dockerd whose
# output goes to our log was started by this script before it kept a pid file.
if [ -e "$PIDFILE" ] && [ "$(cat "/proc/$(cat "$PIDFILE")/comm" 2>/dev/null)" != dockerd ]; then
  rm -f "$PIDFILE" "$CMDFILE"
fi
running="$(pgrep -x dockerd || true)"
if [ ! -e "$PIDFILE" ] && [ -n "$running" ] && [ "$(wc -w <<<"$running")" = 1 ] &&
  [ "$(readlink "/proc/$running/fd/1" 2>/dev/null)" = "$LOG" ]; then
  record "$running"
fi

if docker info >/dev/null 2>&1; then
  exit 0
fi

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "No Docker engine answers 'docker info'." >&2
  echo "Install Docker (Debian/Ubuntu: apt-get install docker.io) and start it, or run this script as root." >&2
  exit 1
fi

if ! command -v dockerd >/dev/null 2>&1; then
  echo "==> installing Debian's docker.io"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io >/dev/null
fi

# Debian's client lives in /usr/bin; prefer it when another client shadows it.
DOCKER=docker
[ -x /usr/bin/docker ] && DOCKER=/usr/bin/docker

if ! pgrep -x dockerd >/dev/null 2>&1; then
  echo "==> starting dockerd (log: $LOG)"
  nohup "${DOCKERD[@]}" >"$LOG" 2>&1 </dev/null &
  record "$!"
fi

for _ in $(seq 1 60); do
  if "$DOCKER" info >/dev/null 2>&1; then
    echo "==> Docker engine is up: $("$DOCKER" version --format '{{.Server.Version}}')"
    exit 0
  fi
  sleep 1
done
echo "dockerd did not answer within 60 s; see $LOG" >&2
tail -n 20 "$LOG" >&2 || true
exit 1
