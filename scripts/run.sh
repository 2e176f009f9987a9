#!/usr/bin/env bash
# `make run`: migrate, create a demo organisation on first run, then run the web app with the
# delivery worker in one more gunicorn slot (HUB_WORKER_IN_WEB=1, the default here: forked from the
# loaded app, it shares its memory, and gunicorn restarts it if it dies). With HUB_WORKER_IN_WEB=0
# a separate `hub worker` runs beside it. When one stops (or on Ctrl-C) everything stops.
set -euo pipefail
cd "$(dirname "$0")/.."
export HUB_DOMAIN=${HUB_DOMAIN:-localhost:5000}
export HUB_SCHEME=${HUB_SCHEME:-http}
export HUB_WORKER_IN_WEB=${HUB_WORKER_IN_WEB:-1}
BIND=${HUB_BIND:-127.0.0.1:5000}
.venv/bin/python scripts/can_listen.py "$BIND"
.venv/bin/hub db upgrade
.venv/bin/hub demo
PIDS=()
if [ "$HUB_WORKER_IN_WEB" = 0 ]; then
  .venv/bin/hub worker &
  PIDS+=($!)
fi
# workers, threads and preloading: gunicorn.conf.py; no access log (gunicorn keeps none unless asked)
.venv/bin/gunicorn --bind "$BIND" hub.wsgi:app &
PIDS+=($!)
STOP=""
trap 'STOP=1' INT TERM
trap 'kill "${PIDS[@]}" 2>/dev/null || true; wait' EXIT
echo "CSO Hub is at ${HUB_SCHEME}://${HUB_DOMAIN}, listening on ${BIND}  (Ctrl-C stops web and worker)"
alive() { for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || return 1; done; }
while [ -z "$STOP" ] && alive; do sleep 0.5; done
[ -n "$STOP" ] && exit 130
echo "a process of the hub stopped; stopping the hub" >&2
exit 1
