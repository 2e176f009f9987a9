#!/usr/bin/env bash
# Before the first release there is one migration, regenerated from the models whenever they change.
# (After a release, add new revisions with `hub db migrate -m "…"` instead.)
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rm -f hub/migrations/versions/*_initial.py
DATABASE_URL="sqlite:///$tmp/empty.db" HUB_INSTANCE_DIR="$tmp" .venv/bin/hub db migrate -m initial --rev-id 0001 >/dev/null
ls hub/migrations/versions/
