"""Memory (issue 4): web processes import neither the delivery machinery nor Alembic nor ICU, even
after the master's warm-up; the delivery worker does not import Alembic, and still starts; `hub db`
still migrates. On SQLite (these checks' database, the default) none of them imports psycopg, which
only a PostgreSQL engine needs. Each check runs in a fresh interpreter, since this test process has imported
everything already."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HUB = Path(sys.executable).parent / "hub"
HEAVY = ("aiohttp", "alembic", "flask_migrate", "icu", "hub.worker", "hub.services.sender",
         "federation.delivery", "psycopg")


def _env(tmp_path) -> dict:
    return dict(os.environ, HUB_INSTANCE_DIR=str(tmp_path / "instance"), DATABASE_URL="")


def _loaded_after(code: str, tmp_path) -> set[str]:
    """Which of HEAVY a fresh interpreter has imported after running `code`."""
    script = f"import json, sys\n{code}\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    done = subprocess.run([sys.executable, "-c", script], env=_env(tmp_path), cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=True)
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_the_web_app_imports_no_delivery_machinery_alembic_or_icu(tmp_path):
    assert _loaded_after("import hub.wsgi", tmp_path) == set()


def test_the_masters_warm_up_adds_none_of_them_to_web_processes(tmp_path):
    assert _loaded_after("import hub.wsgi\nimport hub.warmup", tmp_path) == set()


def test_the_worker_command_imports_the_sender_but_not_alembic(tmp_path):
    code = "import hub.console\nfrom hub import create_app\ncreate_app()"
    assert _loaded_after(code, tmp_path) == {"aiohttp", "hub.worker", "hub.services.sender",
                                             "federation.delivery"}


def test_search_loads_icu_when_it_segments(tmp_path):
    code = "from hub.services.search import segment\nassert segment('ສະບາຍດີ hello') != []"
    assert "icu" in _loaded_after(code, tmp_path)


def test_hub_worker_still_starts_and_drains(tmp_path):
    env = dict(_env(tmp_path), DATABASE_URL=f"sqlite:///{tmp_path / 'hub.db'}")
    subprocess.run([HUB, "db", "upgrade"], env=env, capture_output=True, timeout=120, check=True)
    once = subprocess.run([HUB, "worker", "--once"], env=env, capture_output=True, text=True, timeout=120)
    assert once.returncode == 0, once.stderr
    assert "delivered=0" in once.stdout and "processed=0" in once.stdout


def test_hub_db_upgrade_still_migrates(tmp_path):
    env = dict(_env(tmp_path), DATABASE_URL=f"sqlite:///{tmp_path / 'hub.db'}")
    upgrade = subprocess.run([HUB, "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120)
    assert upgrade.returncode == 0, upgrade.stderr
    current = subprocess.run([HUB, "db", "current"], env=env, capture_output=True, text=True, timeout=120)
    assert "(head)" in current.stdout, current.stderr
    helped = subprocess.run([HUB, "--help"], env=env, capture_output=True, text=True, timeout=120)
    assert "db " in helped.stdout and "worker " in helped.stdout
