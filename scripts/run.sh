#!/usr/bin/env bash
# `make run`: migrate, create a demo organisation on first run, then run the worker and the web app
# together; when either stops (or on Ctrl-C) the other is stopped too.
set -euo pipefail
cd "$(dirname "$0")/.."
export HUB_DOMAIN=${HUB_DOMAIN:-localhost:5000}
export HUB_SCHEME=${HUB_SCHEME:-http}
BIND=${HUB_BIND:-127.0.0.1:5000}
.venv/bin/hub db upgrade
.venv/bin/hub demo
.venv/bin/hub worker &
WORKER=$!
# workers, threads and preloading: gunicorn.conf.py; no access log (gunicorn keeps none unless asked)
.venv/bin/gunicorn --bind "$BIND" hub.wsgi:app &
WEB=$!
STOP=""
trap 'STOP=1' INT TERM
trap 'kill $WEB $WORKER 2>/dev/null || true; wait' EXIT
echo "CSO Hub is at ${HUB_SCHEME}://${HUB_DOMAIN}  (Ctrl-C stops web and worker)"
while [ -z "$STOP" ] && kill -0 "$WEB" 2>/dev/null && kill -0 "$WORKER" 2>/dev/null; do sleep 0.5; done
[ -n "$STOP" ] && exit 130
echo "$(kill -0 "$WEB" 2>/dev/null && echo worker || echo web) stopped; stopping the hub" >&2
exit 1
