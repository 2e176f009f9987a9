"""Writing, reviewing, editing and deleting posts through the staff pages, and what the public sees."""

import re

import pytest
from statements import statements_of
from web_support import Web, text_of

from hub.models import Post
from hub.services import posts, users

LAO = "ສິດທິມະນຸດແມ່ນສິດຂອງທຸກຄົນ #ສິດທິມະນຸດ"


@pytest.fixture
def org(make_org):
    """The organisation under test."""
    return make_org("lao_cso", "ອົງການທົດລອງ")


@pytest.fixture
def staff(app, org, make_user):
    """Signed-in browsers of an editor and a contributor of the organisation."""
    make_user("editor@example.la", org, "editor")
    make_user("writer@example.la", org, "contributor")
    editor, writer = Web(app), Web(app)
    editor.signed_in_as(users.find_user("editor@example.la"))
    writer.signed_in_as(users.find_user("writer@example.la"))
    return editor, writer


def _write(web, text, button="submit_review", **fields):
    data = {"source": text, "language": "lo", "visibility": "public", "summary": "", button: "1", **fields}
    return web.submit("/manage/lao_cso/compose", data)


def test_contributor_submits_editor_approves_and_the_post_is_public(app, staff):
    editor, writer = staff
    page = text_of(writer.get("/manage/lao_cso/compose"))
    assert 'name="publish"' not in page and "ສົ່ງໃຫ້ກວດກາ" in page
    sent = _write(writer, LAO)
    assert sent.status_code == 302
    post = Post.query.one()
    assert post.state == "pending"
    assert "ສົ່ງໃຫ້ກວດກາແລ້ວ" in text_of(writer.get(sent.headers["Location"]))
    assert Web(app).get(f"/@lao_cso/{post.id}").status_code == 404
    assert LAO.split()[0] not in text_of(Web(app).get("/@lao_cso"))

    queue = text_of(editor.get("/manage/lao_cso/review"))
    assert "ສິດທິມະນຸດແມ່ນສິດຂອງທຸກຄົນ" in queue and 'class="badge">1<' in queue
    approved = editor.submit(f"/manage/lao_cso/review/{post.id}", {"approve": "1"},
                             page="/manage/lao_cso/review")
    assert approved.status_code == 302
    assert Post.query.one().state == "published"

    profile = text_of(Web(app).get("/@lao_cso"))
    assert "ສິດທິມະນຸດແມ່ນສິດຂອງທຸກຄົນ" in profile and '<article class="post" lang="lo">' in profile
    assert 'rel="tag">#<span>ສິດທິມະນຸດ</span>' in profile  # the hashtag keeps its vowel and tone marks
    feed = text_of(Web(app).get("/@lao_cso/feed.atom"))
    assert f"<id>http://hub.test/@lao_cso/{post.id}</id>" in feed and "ສິດທິມະນຸດແມ່ນສິດຂອງທຸກຄົນ" in feed
    tag_page = text_of(Web(app).get("/tags/ສິດທິມະນຸດ"))
    assert f'href="http://hub.test/@lao_cso/{post.id}"' in tag_page


def test_a_contributor_cannot_publish_by_forging_the_form(app, staff):
    _editor, writer = staff
    forged = _write(writer, "ຂ່າວດ່ວນ", button="publish")
    assert forged.status_code == 302
    post = Post.query.one()
    assert post.state == "pending" and post.published_at is None
    edit_url = f"/manage/lao_cso/posts/{post.id}/edit"
    writer.submit(edit_url, {"source": "ຂ່າວດ່ວນ ແກ້ໄຂ", "language": "lo", "visibility": "public",
                             "publish": "1"})
    assert Post.query.one().state == "pending"
    approve = writer.submit(f"/manage/lao_cso/review/{post.id}", {"approve": "1"}, page=edit_url)
    assert approve.status_code == 403
    assert Post.query.one().state == "pending"
    assert Web(app).get(f"/@lao_cso/{post.id}").status_code == 404


def test_an_empty_post_is_refused_and_nothing_is_saved(staff):
    editor, _writer = staff
    response = _write(editor, "   \n  ", button="publish", summary="ເນື້ອຫາອ່ອນໄຫວ", language="en")
    assert response.status_code == 400
    page = text_of(response)
    assert "ໂພສບໍ່ສາມາດຫວ່າງເປົ່າໄດ້" in page
    assert 'value="ເນື້ອຫາອ່ອນໄຫວ"' in page  # the form is still filled in
    assert re.search(r'<input checked id="language-1" name="language"[^>]* value="en">', page)
    assert Post.query.count() == 0


def test_an_over_long_post_is_refused_and_the_text_is_kept(staff):
    editor, _writer = staff
    text = "ກ" * 5001
    response = _write(editor, text, button="publish")
    assert response.status_code == 400
    assert "ບໍ່ເກີນ 5000 ຕົວອັກສອນ (ໂພສນີ້ມີ 5001 ຕົວອັກສອນ)" in text_of(response)
    assert text in text_of(response)
    assert Post.query.count() == 0


def test_the_language_defaults_to_the_organisations_and_is_marked(app, org, staff):
    editor, _writer = staff
    assert re.search(r'<input checked id="language-0" name="language"[^>]* value="lo">',
                     text_of(editor.get("/manage/lao_cso/compose")))
    _write(editor, "Human rights are for everyone #HumanRights", button="publish", language="en")
    post = Post.query.one()
    assert post.state == "published" and post.language == "en"
    assert '<article class="post" lang="en">' in text_of(Web(app).get(f"/@lao_cso/{post.id}"))


def test_a_content_warning_hides_the_text_behind_details(app, staff):
    editor, _writer = staff
    _write(editor, "ລາຍລະອຽດເຫດການ", button="publish", summary="ຄວາມຮຸນແຮງ")
    page = text_of(Web(app).get(f"/@lao_cso/{Post.query.one().id}"))
    assert re.search(r"<details><summary>.*ຄວາມຮຸນແຮງ.*</summary>\s*<div class=\"content\"><p>ລາຍລະອຽດເຫດການ",
                     page, re.S)


def test_drafts_and_sending_back_with_a_note(app, staff):
    editor, writer = staff
    _write(writer, "ຮ່າງທຳອິດ", button="save_draft")
    post = Post.query.one()
    assert post.state == "draft"
    assert "ຮ່າງທຳອິດ" in text_of(writer.get("/manage/lao_cso/drafts"))
    assert "ຮ່າງທຳອິດ" not in text_of(editor.get("/manage/lao_cso/review"))
    writer.submit(f"/manage/lao_cso/posts/{post.id}/edit",
                  {"source": "ຮ່າງທີສອງ", "language": "lo", "visibility": "public", "submit_review": "1"})
    assert Post.query.one().state == "pending"
    editor.submit(f"/manage/lao_cso/review/{post.id}", {"reject": "1", "note": "ກະລຸນາເພີ່ມແຫຼ່ງຂໍ້ມູນ"},
                  page="/manage/lao_cso/review")
    assert Post.query.one().state == "rejected"
    drafts = text_of(writer.get("/manage/lao_cso/drafts"))
    assert "ກະລຸນາເພີ່ມແຫຼ່ງຂໍ້ມູນ" in drafts and "ຖືກສົ່ງຄືນ" in drafts


def test_another_contributor_cannot_touch_someone_elses_draft(app, org, staff, make_user):
    _editor, writer = staff
    _write(writer, "ບົດຂຽນລັບຂອງແກ້ວ", button="save_draft")
    post = Post.query.one()
    make_user("other@example.la", org, "contributor")
    other = Web(app)
    other.signed_in_as(users.find_user("other@example.la"))
    assert "ບົດຂຽນລັບຂອງແກ້ວ" not in text_of(other.get("/manage/lao_cso/drafts"))
    assert other.get(f"/manage/lao_cso/posts/{post.id}/edit").status_code == 403
    refused = other.submit(f"/manage/lao_cso/posts/{post.id}/delete", {}, page="/manage/lao_cso/compose")
    assert refused.status_code == 403 and Post.query.one().state == "draft"


def test_editing_a_published_post_keeps_its_audience_and_deleting_answers_410(app, staff):
    editor, writer = staff
    _write(editor, "ຕົ້ນສະບັບ", button="publish", visibility="unlisted")
    post = Post.query.one()
    assert writer.get(f"/manage/lao_cso/posts/{post.id}/edit").status_code == 403  # published: editors only
    edit_url = f"/manage/lao_cso/posts/{post.id}/edit"
    assert "ບັນທຶກການປ່ຽນແປງ" in text_of(editor.get(edit_url))
    editor.submit(edit_url, {"source": "ສະບັບແກ້ໄຂ", "language": "lo", "visibility": "public", "publish": "1"})
    post = Post.query.one()
    assert post.source == "ສະບັບແກ້ໄຂ" and post.visibility == "unlisted" and post.edited_at is not None
    page = text_of(Web(app).get(f"/@lao_cso/{post.id}"))
    assert "ສະບັບແກ້ໄຂ" in page and "ແກ້ໄຂແລ້ວ" in page
    assert "ສະບັບແກ້ໄຂ" not in text_of(Web(app).get("/@lao_cso/feed.atom"))  # unlisted: not in the feed
    deleted = editor.submit(f"/manage/lao_cso/posts/{post.id}/delete", {}, page=edit_url)
    assert deleted.status_code == 302 and Post.query.one().state == "deleted"
    gone = Web(app).get(f"/@lao_cso/{post.id}")
    assert gone.status_code == 410 and "ໂພສນີ້ຖືກລຶບແລ້ວ" in text_of(gone)


def test_an_edit_with_an_error_changes_nothing(staff):
    editor, _writer = staff
    _write(editor, "ກ່ອນ", button="publish")
    post = Post.query.one()
    response = editor.submit(f"/manage/lao_cso/posts/{post.id}/edit",
                             {"source": "", "language": "lo", "summary": "ໃໝ່", "publish": "1"})
    assert response.status_code == 400 and "ໂພສບໍ່ສາມາດຫວ່າງເປົ່າໄດ້" in text_of(response)
    post = Post.query.one()
    assert post.source == "ກ່ອນ" and post.summary == "" and post.edited_at is None


def test_an_editor_publishes_at_once_unless_the_org_wants_review(app, org, staff):
    editor, _writer = staff
    _write(editor, "ທັນທີ", button="publish")
    assert Post.query.one().state == "published"
    org.requires_review = True
    posts.db.session.commit()
    assert 'name="publish"' not in text_of(editor.get("/manage/lao_cso/compose"))
    _write(editor, "ຕ້ອງກວດ", button="publish")
    assert Post.query.order_by(Post.id.desc()).first().state == "pending"


def test_the_staff_home_checks_the_role_once_however_many_posts_it_lists(app, org, staff):
    editor, writer = staff
    author = users.find_user("editor@example.la")
    posts.create_post(org, author, "ຂ່າວທຳອິດ")
    one = len(statements_of(lambda: editor.get("/manage/lao_cso")))
    for n in range(15):
        posts.create_post(org, author, f"ຂ່າວ {n}")
    page = statements_of(lambda: editor.get("/manage/lao_cso"))
    assert len(page) == one, page
    assert text_of(editor.get("/manage/lao_cso")).count("/edit") == 16
    assert "/edit" not in text_of(writer.get("/manage/lao_cso"))  # published: editors only


def test_the_staff_home_links_older_posts_only_when_there_are_some(app, org, staff):
    editor, _ = staff
    author = users.find_user("editor@example.la")
    made = [posts.create_post(org, author, f"ຂ່າວເກົ່າ {n}") for n in range(21)]
    assert "ໂພສເກົ່າກວ່າ" in text_of(editor.get("/manage/lao_cso"))
    assert "ຂ່າວເກົ່າ 0<" not in text_of(editor.get("/manage/lao_cso"))
    older = text_of(editor.get(f"/manage/lao_cso?before={made[1].id}"))
    assert "ຂ່າວເກົ່າ 0<" in older and "ຂ່າວເກົ່າ 1<" not in older and "ໂພສເກົ່າກວ່າ" not in older
    posts.delete(made[0], author)
    assert "ໂພສເກົ່າກວ່າ" not in text_of(editor.get("/manage/lao_cso"))  # exactly one page left


def test_the_edit_rule_of_a_page_agrees_with_may_edit(app, org, staff, make_org):
    editor, writer = (users.find_user(f"{name}@example.la") for name in ("editor", "writer"))
    published = posts.create_post(org, editor, "ເຜີຍແຜ່ແລ້ວ")
    own_draft = posts.create_post(org, writer, "ຮ່າງຂອງຂ້ອຍ", action="draft")
    their_draft = posts.create_post(org, editor, "ຮ່າງຂອງບັນນາທິການ", action="draft")
    elsewhere = posts.publish_as_operator(make_org("other", "ອົງການອື່ນ"), "ຂ່າວຂອງອົງການອື່ນ")
    outsider = users.create_user("outsider@example.la", "correct horse battery")
    for user in (editor, writer, outsider):
        rule = posts.edit_rule(org, user)
        for post in (published, own_draft, their_draft):
            assert rule(post) == posts.may_edit(post, user), (user.email, post.source)
    writers_rule = posts.edit_rule(org, writer)
    assert [writers_rule(p) for p in (published, own_draft, their_draft)] == [False, True, False]
    assert not posts.edit_rule(org, editor)(elsewhere)  # a post of another organisation
