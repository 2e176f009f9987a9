"""The hub against fediverse-pasture's one_actor, an independent actor that shows every activity it
receives: it follows a CSO, gets the Accept and the CSO's Lao post, then unfollows."""

import pytest
from e2e_support import ORG, object_id
from polling import wait_for

pytestmark = pytest.mark.e2e
PASTURE_ACTOR = "http://pasture-one-actor/actor"
FOLLOWS_SQL = ("SELECT count(*) FROM follows f JOIN actors a ON a.id = f.follower_id "
               "JOIN actors t ON t.id = f.target_id WHERE a.uri = :follower AND t.uri = :target "
               "AND f.state = 'accepted'")


def received(peers, kind: str, test) -> dict | None:
    """The first activity of this type the one_actor received for which test(activity) holds."""
    return next((a for a in peers.pasture_received() if a.get("type") == kind and test(a)), None)


def test_pasture_follows_the_org_and_receives_its_post(hub, peers):
    """The one_actor's Follow is accepted by the org, and the org's Lao post reaches it."""
    logs = [peers.pasture_log, *hub.logs]
    assert "-> 202" in peers.pasture_follow("follow", f"acct:{ORG}@hub.test")

    accept = wait_for(lambda: received(peers, "Accept", lambda a: object_id(a.get("object")) is not None),
                      "the org's Accept at the one_actor", logs=logs)
    assert accept["actor"] == hub.org_uri
    follow = accept["object"]
    assert isinstance(follow, dict) and follow.get("type") == "Follow", accept
    assert (follow["actor"], object_id(follow["object"])) == (PASTURE_ACTOR, hub.org_uri)
    assert hub.scalar(FOLLOWS_SQL, follower=PASTURE_ACTOR, target=hub.org_uri) == 1

    uri = hub.cli("post", ORG, "ສະບາຍດີ pasture #ທົດລອງ", "--lang", "lo")
    create = wait_for(lambda: received(peers, "Create", lambda a: object_id(a.get("object")) == uri),
                      f"the one_actor to receive Create {uri}", logs=logs)
    note = create["object"]
    assert create["actor"] == note["attributedTo"] == hub.org_uri
    assert "ສະບາຍດີ pasture" in note["content"]
    assert note["contentMap"] == {"lo": note["content"]}
    assert any(t.get("type") == "Hashtag" and t.get("name") == "#ທົດລອງ" for t in note.get("tag", [])), note

    assert "-> 202" in peers.pasture_follow("unfollow", f"acct:{ORG}@hub.test")
    wait_for(lambda: hub.scalar(FOLLOWS_SQL, follower=PASTURE_ACTOR, target=hub.org_uri) == 0,
             "the hub to drop the one_actor's follow after its Undo", logs=logs)
