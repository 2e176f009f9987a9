#!/usr/bin/env bash
# Installs Debian packages the hub needs when they are missing: ICU for Lao word segmentation
# (PyICU builds against it) and, with `--test`, Chromium for the browser tests.
set -euo pipefail
need=()
pkg-config --exists icu-uc 2>/dev/null || need+=(libicu-dev pkg-config)
command -v c++ >/dev/null 2>&1 || need+=(g++)
if [ "${1:-}" = "--test" ]; then
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
fi
[ ${#need[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "Please install: ICU development files (libicu-dev), pkg-config, a C++ compiler${1:+, Chromium}." >&2
  exit 1
fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
echo "Installing ${need[*]} from Debian's packages…"
$SUDO apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need[@]}" >/dev/null
