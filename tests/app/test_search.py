"""Search finds Lao words inside sentences written without spaces."""

from hub.services import posts, search


def test_icu_segments_lao_words():
    assert search.segment("ສິດທິມະນຸດແມ່ນສິດຂອງທຸກຄົນ") == ["ສິດທິ", "ມະນຸດ", "ແມ່ນ", "ສິດ", "ຂອງ", "ທຸກຄົນ"]


def test_finds_a_lao_word_inside_a_sentence(make_org, make_user):
    org = make_org()
    editor = make_user("editor@example.la", org, "editor")
    hit = posts.create_post(org, editor, "ພວກເຮົາປົກປ້ອງສິດທິມະນຸດແມ່ນສິດຂອງທຸກຄົນ")
    posts.create_post(org, editor, "ນ້ຳຖ້ວມຢູ່ແຂວງອັດຕະປື")
    hidden = posts.create_post(org, editor, "ມະນຸດ ສຳລັບຜູ້ຕິດຕາມ", visibility="followers")
    assert search.search("ມະນຸດ") == [hit]
    assert search.search("ສິດທິມະນຸດ") == [hit]
    assert hidden not in search.search("ມະນຸດ")


def test_deleted_and_edited_posts_leave_the_index(make_org, make_user):
    org = make_org()
    editor = make_user("editor@example.la", org, "editor")
    post = posts.create_post(org, editor, "flood in Attapeu")
    posts.edit(post, editor, "dam collapse in Attapeu")
    assert search.search("flood") == []
    assert search.search("dam attapeu") == [post]
    posts.delete(post, editor)
    assert search.search("attapeu") == []
