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


def test_editing_a_draft_moves_it_on_in_one_step_or_not_at_all(make_org, make_user):
    org = make_org()
    writer = make_user("writer@example.la", org, "contributor")
    editor = make_user("editor@example.la", org, "editor")
    draft = posts.create_post(org, writer, "ຮ່າງ", action="draft")
    with pytest.raises(ServiceError):
        posts.edit(draft, writer, "", action="publish")
    assert (draft.state, draft.source) == ("draft", "ຮ່າງ")
    posts.edit(draft, writer, "ຮ່າງໃໝ່", action="publish")
    assert (draft.state, draft.source) == (PENDING, "ຮ່າງໃໝ່")
    own = posts.create_post(org, editor, "ຮ່າງຂອງບັນນາທິການ", action="draft")
    posts.edit(own, editor, "ພ້ອມແລ້ວ", action="publish")
    assert own.state == PUBLISHED and own.approved_by_id == editor.id
