"""SQLAlchemy models only: columns, relationships and tiny properties."""

from hub.models.activity import Delivery, InboxItem, Notification, OutgoingActivity, PostReach, Report
from hub.models.actor import (
    APPLICATION,
    GROUP,
    ORGANIZATION,
    Actor,
    Block,
    DomainState,
    Follow,
    NetworkMember,
)
from hub.models.post import Boost, Like, Media, Mention, Post, PostRevision, PostTag, SearchTerm, Tag
from hub.models.user import CONTRIBUTOR, EDITOR, OWNER, ROLES, AuditEntry, Invitation, Membership, User

__all__ = [
    "APPLICATION", "GROUP", "ORGANIZATION", "CONTRIBUTOR", "EDITOR", "OWNER", "ROLES",
    "Actor", "AuditEntry", "Block", "Boost", "Delivery", "DomainState", "Follow", "InboxItem",
    "Invitation", "Like", "Media", "Membership", "Mention", "NetworkMember", "Notification",
    "OutgoingActivity", "Post", "PostReach", "PostRevision", "PostTag", "Report", "SearchTerm", "Tag", "User",
]
