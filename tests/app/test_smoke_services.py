"""The core services on a migrated database: organisations, staff and the review flow."""

import pytest

from hub.models.post import PENDING, PUBLISHED
from hub.services import PermissionDenied, ServiceError, posts

LAO = "ສິດທິມະນຸດແມ່ນສິດຂອງທຸກຄົນ #ສິດທິມະນຸດ"


def test_contributor_submits_and_editor_approves(make_org, make_user):
    org = make_org()
    writer = make_user("writer@example.la", org, "contributor")
    editor = make_user("editor@example.la", org, "editor")
    post = posts.create_post(org, writer, LAO, language="lo", action="publish")
    assert post.state == PENDING
    posts.approve(post, editor)
    assert post.state == PUBLISHED
    assert [t.display for t in post.tags] == ["ສິດທິມະນຸດ"]
    assert post in posts.public_posts(org)


def test_contributor_cannot_approve_and_empty_post_is_refused(make_org, make_user):
    org = make_org()
    writer = make_user("writer@example.la", org, "contributor")
    post = posts.create_post(org, writer, LAO, action="submit")
    with pytest.raises(PermissionDenied):
        posts.approve(post, writer)
    with pytest.raises(ServiceError):
        posts.create_post(org, writer, "   ")
