"""The wheel is the whole hub: templates, migrations, translations, static files and gunicorn's
settings (for `hub web`) are inside it."""

import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

from image_support import build_wheel

ROOT = Path(__file__).resolve().parents[2]
DATA_FOLDERS = ("hub/templates", "hub/migrations", "hub/translations", "hub/static")
DATA_FILES = ("hub/gunicorn.conf.py",)


def _data_files() -> set[str]:
    """Every file the hub reads at run time from its data folders, as a path inside the wheel."""
    files = [path for folder in DATA_FOLDERS for path in (ROOT / folder).rglob("*") if path.is_file()]
    return {path.relative_to(ROOT).as_posix() for path in files
            if "__pycache__" not in path.parts and path.suffix != ".pot"} | set(DATA_FILES)


def test_the_wheel_holds_every_data_file_and_runs_from_its_own_files(tmp_path):
    wheel = build_wheel(tmp_path / "dist")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path / "site")
    missing = _data_files() - names
    assert not missing, f"not in the wheel: {sorted(missing)}"
    # Outside the source tree, with only the wheel's files for hub: migrate SQLite, render a page.
    script = textwrap.dedent("""
        import hub, sys
        from pathlib import Path
        assert Path(hub.__file__).is_relative_to(Path(sys.argv[1])), hub.__file__
        from flask_migrate import upgrade
        app = hub.create_app({"SQLALCHEMY_DATABASE_URI": "sqlite:///" + sys.argv[2],
                              "HUB_DOMAIN": "wheel.test", "SECRET_KEY": "k", "HUB_INSTANCE_DIR": sys.argv[3]})
        with app.app_context():
            upgrade(directory=str(hub.MIGRATIONS))
        page = app.test_client().get("/login", headers={"Accept-Language": "lo"})
        assert page.status_code == 200, page.status_code
        print(page.get_data(as_text=True))
    """)
    site = tmp_path / "site"
    arguments = [str(site), str(tmp_path / "hub.db"), str(tmp_path / "instance")]
    done = subprocess.run([sys.executable, "-c", script, *arguments], cwd=tmp_path, capture_output=True,
                          env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ເຂົ້າສູ່ລະບົບ" in done.stdout  # the Lao sign-in page, from the wheel's template and catalog
