"""The internal audit log: who wrote, approved, edited and deleted what."""

from hub.extensions import db
from hub.models import AuditEntry


def record(user, org, action: str, post=None, detail: str = "") -> None:
    """Add an audit entry to the current transaction."""
    db.session.add(AuditEntry(
        user_id=user.id if user else None,
        org_id=org.id if org else None,
        action=action,
        post_id=post.id if post else None,
        detail=detail,
    ))
