#!/usr/bin/env bash
# Make sure a Docker engine answers. On Debian/Ubuntu as root, install the
# distribution's docker.io when needed and start dockerd in the background.
set -euo pipefail

STATE_DIR="${SANDBOX_STATE_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/sandbox}"
mkdir -p "$STATE_DIR"

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
  echo "==> starting dockerd (log: $STATE_DIR/dockerd.log)"
  nohup dockerd >"$STATE_DIR/dockerd.log" 2>&1 &
fi

for _ in $(seq 1 60); do
  if "$DOCKER" info >/dev/null 2>&1; then
    echo "==> Docker engine is up: $("$DOCKER" version --format '{{.Server.Version}}')"
    exit 0
  fi
  sleep 1
done
echo "dockerd did not answer within 60 s; see $STATE_DIR/dockerd.log" >&2
tail -n 20 "$STATE_DIR/dockerd.log" >&2 || true
exit 1
