#!/usr/bin/env bash
# Installs Debian packages the hub needs when they are missing: ICU for Lao word segmentation
# (PyICU builds against it), a compiler, Python's venv; with `--test`, Chromium for the browser
# tests, what the real peers need (Node.js and npm for their JSON-LD contexts, curl) and wrk, the
# load generator of `make bench` (its smoke mode runs in `make test`); with `--image`, when no Docker
# daemon answers, Podman and debootstrap (`make image-check` builds the image with them).
set -euo pipefail
need=()
pkg-config --exists icu-uc 2>/dev/null || need+=(libicu-dev pkg-config)
command -v c++ >/dev/null 2>&1 || need+=(g++)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
if [ "${1:-}" = "--test" ]; then
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  command -v node >/dev/null 2>&1 || need+=(nodejs)
  command -v npm >/dev/null 2>&1 || need+=(npm)
  command -v curl >/dev/null 2>&1 || need+=(curl)
  command -v wrk >/dev/null 2>&1 || need+=(wrk)
fi
if [ "${1:-}" = "--image" ] && ! docker info >/dev/null 2>&1; then
  command -v podman >/dev/null 2>&1 || need+=(podman)
  command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
fi
[ ${#need[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "Please install: ${need[*]} (or their equivalents on your system)." >&2
  exit 1
fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
echo "Installing ${need[*]} from Debian's packages…"
$SUDO apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need[@]}" >/dev/null
