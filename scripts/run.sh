#!/usr/bin/env bash
# `make run`: migrate, create a demo organisation on first run, then run the worker and the web app.
set -euo pipefail
cd "$(dirname "$0")/.."
export HUB_DOMAIN=${HUB_DOMAIN:-localhost:5000}
export HUB_SCHEME=${HUB_SCHEME:-http}
BIND=${HUB_BIND:-127.0.0.1:5000}
.venv/bin/hub db upgrade
.venv/bin/hub demo
.venv/bin/hub worker &
WORKER=$!
trap 'kill $WORKER 2>/dev/null || true' EXIT INT TERM
echo "CSO Hub is at ${HUB_SCHEME}://${HUB_DOMAIN}  (Ctrl-C stops web and worker)"
.venv/bin/gunicorn --workers "${HUB_WEB_WORKERS:-2}" --bind "$BIND" --access-logfile /dev/null hub.wsgi:app
