"""The warm-up the gunicorn master runs before forking (hub.warmup): typical public requests that
all succeed, leave nothing in the public cache and write nothing."""

from sqlalchemy import func, select, update

from hub import warmup
from hub.extensions import db
from hub.models import Actor

AS = {"Accept": "application/activity+json"}


def test_the_paths_are_typical_public_requests_that_succeed(app, client, make_org):
    make_org("lao_cso", "ອົງການທົດລອງ")
    paths = warmup.paths(app)
    assert ("/actors/lao_cso", "application/activity+json") in paths
    for path, accept in paths:
        response = client.get(path, headers=dict(warmup.HEADERS, Accept=accept))
        assert response.status_code == 200, path


def test_without_organisations_it_warms_the_home_page_and_nodeinfo(app):
    assert [path for path, _ in warmup.paths(app)] == ["/", "/nodeinfo/2.1"]


def test_its_answers_are_not_served_from_the_cache_later(app, client, make_org):
    make_org("lao_cso", "ອົງການທົດລອງ")
    db.session.commit()
    warmup.warm_up(app)
    with db.engine.begin() as conn:  # another process renames it: only a cached answer keeps the old name
        conn.execute(update(Actor.__table__).where(Actor.__table__.c.handle == "lao_cso").values(name="ໃໝ່"))
    db.session.expire_all()
    assert client.get("/actors/lao_cso", headers=AS).get_json()["name"] == "ໃໝ່"


def test_it_writes_nothing(app, make_org):
    make_org("lao_cso", "ອົງການທົດລອງ")
    db.session.commit()
    before = db.session.scalar(select(func.count()).select_from(Actor))
    warmup.warm_up(app)
    assert db.session.scalar(select(func.count()).select_from(Actor)) == before


def test_a_database_error_does_not_stop_the_start(app, monkeypatch, caplog):
    def broken(*_args, **_kwargs):
        raise RuntimeError("database not ready")

    monkeypatch.setattr(warmup.orgs, "local_orgs", broken)
    monkeypatch.setattr(warmup.log, "disabled", False)  # the migrations' logging.fileConfig disabled it
    warmup.warm_up(app)
    assert "warm-up stopped early" in caplog.text
