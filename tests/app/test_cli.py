"""The `hub` command as operators and scripts use it (DESIGN.md §4)."""

import os
import subprocess
import sys

import pytest
import sqlalchemy as sa
from databases import fresh_database, unreachable_postgresql_url

from hub.console import database_trouble
from hub.models import Post
from hub.services import orgs, users


def _run(app, *args, stdin=None):
    return app.test_cli_runner().invoke(args=list(args), input=stdin)


def test_org_create_prints_actor_id_and_refuses_duplicates(app):
    result = _run(app, "org", "create", "lao_women", "--name", "ສະມາຄົມແມ່ຍິງ")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "http://hub.test/actors/lao_women"
    again = _run(app, "org", "create", "LAO_WOMEN", "--name", "Other")
    assert again.exit_code != 0
    assert "already taken" in again.output


def test_org_create_refuses_bad_handles(app):
    for handle in ("bad handle", "ສິດ", "x" * 31, "admin"):
        result = _run(app, "org", "create", handle, "--name", "X")
        assert result.exit_code != 0, handle
        assert "Error" in result.output


def test_user_create_reads_password_from_stdin_and_joins_org(app):
    _run(app, "org", "create", "cso", "--name", "CSO")
    result = _run(app, "user", "create", "Staff@Example.la", "--org", "cso", "--role", "editor",
                  stdin="a long enough password\n")
    assert result.exit_code == 0, result.output
    user = users.find_user("staff@example.la")
    assert orgs.role_of(user, orgs.require_org("cso")) == "editor"
    assert users.authenticate("staff@example.la", "a long enough password") == user


def test_user_create_with_unknown_org_creates_nothing(app):
    result = _run(app, "user", "create", "x@example.la", "--org", "nope", stdin="a long enough password\n")
    assert result.exit_code != 0
    assert users.find_user("x@example.la") is None


def test_short_password_is_refused(app):
    result = _run(app, "user", "create", "x@example.la", "--admin", stdin="short\n")
    assert result.exit_code != 0
    assert "at least" in result.output
    assert users.find_user("x@example.la") is None


def test_post_publishes_and_prints_its_id(app):
    _run(app, "org", "create", "cso", "--name", "CSO")
    result = _run(app, "post", "cso", "ສະບາຍດີ #ທົດລອງ", "--lang", "lo", "--cw", "ທົດລອງ")
    assert result.exit_code == 0, result.output
    post = Post.query.one()
    assert result.output.strip() == post.uri == f"http://hub.test/@cso/{post.id}"
    assert post.state == "published" and post.language == "lo" and post.summary == "ທົດລອງ"


def test_post_errors_are_clear(app):
    assert "No organisation" in _run(app, "post", "ghost", "hello").output
    _run(app, "org", "create", "cso", "--name", "CSO")
    empty = _run(app, "post", "cso", "   ")
    assert empty.exit_code != 0 and "empty" in empty.output
    bad = _run(app, "post", "cso", "hi", "--visibility", "secret")
    assert bad.exit_code != 0


def test_demo_creates_an_admin_once(app):
    first = _run(app, "demo")
    assert "password" in first.output
    assert users.find_user("admin@example.org").is_admin
    second = _run(app, "demo")
    assert "already has accounts" in second.output


def _hub(tmp_path, *args, **env):
    """The installed `hub` command's entry point in a process of its own, with these settings."""
    environment = dict(os.environ, HUB_INSTANCE_DIR=str(tmp_path), **env)
    return subprocess.run([sys.executable, "-c", "import sys; from hub.console import main; "
                           "sys.argv[0] = 'hub'; main()", *args],
                          env=environment, capture_output=True, text=True, timeout=60)


def test_a_malformed_setting_stops_any_command_with_its_name_and_no_traceback(tmp_path):
    done = _hub(tmp_path, "prune", HUB_KEEP_RECEIVED_DAYS="a week")
    assert done.returncode == 1
    assert done.stderr.strip() == "Error: HUB_KEEP_RECEIVED_DAYS must be a positive number, not 'a week'"


def test_a_database_that_is_not_running_is_one_line_without_the_password(tmp_path):
    url = unreachable_postgresql_url().replace("hub@", "hub:s3cret-pw@")
    for command in (["org", "create", "lao_cso", "--name", "ອົງການ"], ["worker", "--once"], ["db", "upgrade"]):
        done = _hub(tmp_path, *command, DATABASE_URL=url)
        assert done.returncode == 1, command
        assert done.stderr.startswith("Error: the database at postgresql+psycopg://hub:***@127.0.0.1:")
        assert "Connection refused" in done.stderr and "is DATABASE_URL right?" in done.stderr
        assert "Traceback" not in done.stderr and "s3cret" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


def test_a_database_without_the_hubs_tables_says_to_run_the_migrations(tmp_path):
    done = _hub(tmp_path, "org", "create", "lao_cso", "--name", "ອົງການ")  # SQLite, never upgraded
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip() == (f"Error: the database at sqlite:///{tmp_path}/hub.db has no hub tables "
                                   "yet (no such table: actors): run `hub db upgrade` first")
    server = os.environ.get("HUB_TEST_DATABASE_URL", "")
    if server.startswith("postgresql"):
        with fresh_database(server, "cli_empty") as empty:
            done = _hub(tmp_path, "prune", DATABASE_URL=empty)
        assert done.returncode == 1 and "Traceback" not in done.stderr
        assert "has no hub tables yet" in done.stderr and "does not exist" in done.stderr


def test_other_errors_are_not_taken_for_database_trouble(tmp_path, monkeypatch):
    monkeypatch.setenv("HUB_INSTANCE_DIR", str(tmp_path))
    engine = sa.create_engine(f"sqlite:///{tmp_path}/hub.db")
    with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError) as wrong_query:
        conn.execute(sa.text("SELEKT 1"))
    assert database_trouble(wrong_query.value) is None  # a bug to report, with its traceback
    assert database_trouble(ValueError("not a database error")) is None
