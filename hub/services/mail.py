"""Optional e-mail (HUB_SMTP_URL, e.g. smtp://user:pass@mail.example:587 or smtps://…:465)."""

import smtplib
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from flask import current_app


def configured() -> bool:
    """True when an SMTP server is configured."""
    return bool(current_app.config.get("HUB_SMTP_URL"))


def send(to: str, subject: str, body: str) -> bool:
    """Send a plain-text mail; returns False (never raises) when it could not be sent."""
    url = current_app.config.get("HUB_SMTP_URL") or ""
    if not url:
        return False
    parts = urlsplit(url)
    message = EmailMessage()
    message["From"] = current_app.config["HUB_MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    try:
        if parts.scheme == "smtps":
            server = smtplib.SMTP_SSL(parts.hostname, parts.port or 465, timeout=20)
        else:
            server = smtplib.SMTP(parts.hostname, parts.port or 587, timeout=20)
        with server:
            if parts.scheme == "smtp+starttls" or (parts.scheme == "smtp" and (parts.port or 587) == 587):
                server.starttls()
            if parts.username:
                server.login(unquote(parts.username), unquote(parts.password or ""))
            server.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        current_app.logger.warning("mail to %s not sent: %s", to.split("@")[-1], exc)
        return False
    return True
