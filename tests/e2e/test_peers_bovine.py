"""The hub against bovine_herd, an ActivityPub server nobody here wrote: discovery, follows both ways,
a Lao post with its edit and deletion, a boost, and a reply shown under the post."""

import pytest
from e2e_support import AS_JSON, EDITOR, ORG, ORG_NAME
from polling import wait_for

pytestmark = pytest.mark.e2e
PUBLIC = {"as:Public", "Public", "https://www.w3.org/ns/activitystreams#Public"}


def as_list(value) -> list:
    """A JSON-LD value that may be absent, single or a list, as a list."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def addressed(activity: dict) -> set:
    """Everyone in an activity's to and cc."""
    return set(as_list(activity.get("to")) + as_list(activity.get("cc")))


def test_bovine_finds_the_org_and_a_network_by_their_handles(hub, peers):
    """bovine resolves org@hub.test and a network by WebFinger and reads them as Organization and Group."""
    network_uri = hub.cli("network", "create", "net", "--name", "ເຄືອຂ່າຍ Network").splitlines()[-1]
    cow = peers.cow_a

    assert cow.ctl("resolve", f"acct:{ORG}@hub.test") == hub.org_uri
    assert cow.ctl("resolve", "acct:net@hub.test") == network_uri

    org = cow.client("get", hub.org_uri)
    assert (org["id"], org["type"], org["preferredUsername"], org["name"]) == (
        hub.org_uri, "Organization", ORG, ORG_NAME)
    assert org["publicKey"]["owner"] == hub.org_uri
    assert "BEGIN PUBLIC KEY" in org["publicKey"]["publicKeyPem"]
    network = cow.client("get", network_uri)
    assert (network["id"], network["type"], network["preferredUsername"]) == (network_uri, "Group", "net")


def test_followers_receive_a_lao_post_then_its_edit_then_its_deletion(hub, org_followers):
    """Both bovine followers store the Lao post (contentMap, hashtag), then its edit, then a Tombstone."""
    uri = hub.cli("post", ORG, "ສະບາຍດີ #ທົດລອງ", "--lang", "lo")
    assert uri.startswith("http://hub.test/@org/")

    for cow in org_followers:
        create = wait_for(lambda c=cow: c.find("Create", uri, actor=hub.org_uri),
                          f"{cow.handle} to receive Create {uri}", logs=[cow.log, *hub.logs])
        note = create["object"]
        assert isinstance(note, dict), create
        assert note["attributedTo"] == hub.org_uri
        assert "ສະບາຍດີ" in note["content"]
        assert note["contentMap"] == {"lo": note["content"]}
        tags = [(t.get("type"), t.get("name")) for t in as_list(note.get("tag"))]
        assert ("Hashtag", "#ທົດລອງ") in tags, note
        assert addressed(note) & PUBLIC, note

    hub.cli("post-edit", uri, "ສະບາຍດີ ທຸກຄົນ #ທົດລອງ", "--as", EDITOR)
    for cow in org_followers:
        update = wait_for(lambda c=cow: c.find("Update", uri, actor=hub.org_uri),
                          f"{cow.handle} to receive Update {uri}", logs=[cow.log, *hub.logs])
        assert update["id"] != create["id"]
        stored = cow.find("Create", uri)["object"]  # bovine's copy of the note, as it shows it now
        assert "ສະບາຍດີ ທຸກຄົນ" in stored["content"] and stored.get("updated"), stored
        assert stored["contentMap"] == {"lo": stored["content"]}

    hub.cli("post-delete", uri, "--as", EDITOR)
    for cow in org_followers:
        wait_for(lambda c=cow: c.find("Delete", uri, actor=hub.org_uri),
                 f"{cow.handle} to receive Delete {uri}", logs=[cow.log, *hub.logs])
        assert cow.find("Create", uri)["object"]["type"] == "Tombstone"
    assert hub.get(uri, accept=AS_JSON).status_code == 410


def test_org_follows_a_bovine_account_and_boosts_its_post(hub, peers, org_followers):
    """hub follow → alicea accepts → the org boosts her post → the Announce reaches her and its followers."""
    cow_a, cow_b = org_followers
    assert hub.cli("follow", ORG, "acct:alicea@cow-a.test").split() == [cow_a.actor_id, "pending"]
    wait_for(lambda: cow_a.ctl("accept") >= 1, "alicea to receive the hub's Follow (and accept it)",
             logs=[cow_a.log, *hub.logs])
    state_sql = ("SELECT f.state FROM follows f JOIN actors a ON a.id = f.follower_id "
                 "JOIN actors t ON t.id = f.target_id WHERE a.uri = :follower AND t.uri = :target")
    wait_for(lambda: hub.scalar(state_sql, follower=hub.org_uri, target=cow_a.actor_id) == "accepted",
             "the hub to record alicea's Accept", logs=[cow_a.log, *hub.logs])

    note_id = cow_a.ctl("post", "Hello from cow-a, please boost")
    boost_uri = hub.cli("boost", ORG, note_id)  # the hub fetches the note from cow-a (signed GET)
    for cow in (cow_a, cow_b):
        announce = wait_for(lambda c=cow: c.find("Announce", note_id, actor=hub.org_uri),
                            f"{cow.handle} to receive the Announce of {note_id}", logs=[cow.log, *hub.logs])
        assert announce["id"] == boost_uri
        assert addressed(announce) & PUBLIC, announce
        assert cow_a.actor_id in addressed(announce), announce


def test_a_bovine_reply_appears_under_the_post(hub, peers, org_followers):
    """aliceb replies to the org's post from bovine; the reply shows on the post's permalink page."""
    _, cow_b = org_followers
    uri = hub.cli("post", ORG, "ຂໍຄຳເຫັນແດ່ #ທົດລອງ", "--lang", "lo")
    wait_for(lambda: cow_b.find("Create", uri), f"{cow_b.handle} to receive {uri}",
             logs=[cow_b.log, *hub.logs])

    reply_id = cow_b.client("reply", uri, "ຂອບໃຈ! A reply from cow-b")
    assert reply_id.startswith("http://cow-b.test/")
    page = wait_for(lambda: (r := hub.get(uri)).status_code == 200 and "A reply from cow-b" in r.text and r,
                    f"the reply {reply_id} on the permalink page {uri}", logs=[cow_b.log, *hub.logs])
    assert "ຂອບໃຈ!" in page.text
    in_reply_to = hub.scalar("SELECT p.uri FROM posts r JOIN posts p ON p.id = r.in_reply_to_id "
                             "WHERE r.uri = :uri", uri=reply_id)
    assert in_reply_to == uri


def test_bovine_likes_and_boosts_count_under_the_post(hub, org_followers):
    """alicea likes and aliceb boosts the org's post from bovine; the permalink page counts both."""
    cow_a, cow_b = org_followers
    uri = hub.cli("post", ORG, "ກົດໄລ້ ແລະ ແບ່ງປັນ #ທົດລອງ", "--lang", "lo")
    for cow in org_followers:
        wait_for(lambda c=cow: c.find("Create", uri), f"{cow.handle} to receive {uri}",
                 logs=[cow.log, *hub.logs])

    cow_a.client("like", uri)
    cow_b.client("announce", uri)
    wait_for(lambda: "Boosts: 1 · Likes: 1" in hub.get(uri, language="en").text,
             f"'Boosts: 1 · Likes: 1' on the permalink page {uri}", logs=[cow_a.log, cow_b.log, *hub.logs])
