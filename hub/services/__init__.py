"""Domain operations: the only code that writes to the database or enqueues deliveries."""


class ServiceError(Exception):
    """A domain rule refused an operation; the message is safe to show to the user."""


class PermissionDenied(ServiceError):
    """The person may not do this in this organisation."""


class NotFound(ServiceError):
    """The thing asked for does not exist (or is not visible)."""
