"""Uploaded images: decoded and re-encoded with Pillow (metadata gone, size capped), stored under a
random name in HUB_MEDIA_DIR and served only as images."""

import io
import re
import secrets
from pathlib import Path

from flask import current_app
from flask_babel import lazy_gettext as _l
from PIL import Image, ImageOps, UnidentifiedImageError

from hub.extensions import db
from hub.models import Actor, Media, User
from hub.services import ServiceError, audit, orgs

MAX_UPLOAD_BYTES = 8 * 1024 * 1024
MAX_SOURCE_PIXELS = 40_000_000  # refuse decompression bombs before decoding
AVATAR_SIZE = 400
ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF"}
MEDIA_TYPES = {"jpg": "image/jpeg", "png": "image/png"}
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{20,64}\.(jpg|png)$")


def media_type_for(name: str) -> str | None:
    """The Content-Type an uploaded file is served with, or None when the name is not one of ours."""
    match = NAME_RE.match(name or "")
    return MEDIA_TYPES[match.group(1)] if match else None


def _decode(data: bytes) -> Image.Image:
    if not data:
        raise ServiceError(_l("The file is empty."))
    if len(data) > MAX_UPLOAD_BYTES:
        raise ServiceError(_l("The picture is too large (at most %(mb)d MB).", mb=MAX_UPLOAD_BYTES // 2**20))
    try:
        image = Image.open(io.BytesIO(data))
        if image.format not in ACCEPTED_FORMATS:
            raise ServiceError(_l("Choose a JPEG, PNG, WebP or GIF picture."))
        if image.width * image.height > MAX_SOURCE_PIXELS:
            raise ServiceError(_l("The picture has too many pixels."))
        image.seek(0)  # first frame of an animation
        image.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ServiceError(_l("This file is not a picture that can be read.")) from exc
    return image


def reencode(data: bytes, max_side: int = AVATAR_SIZE) -> tuple[bytes, str, int, int]:
    """Decode an image and write a fresh copy without metadata: (bytes, extension, width, height).

    Orientation from EXIF is applied first; EXIF, GPS, XMP, ICC and comments are not carried over.
    """
    image = ImageOps.exif_transpose(_decode(data))
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    image = image.convert("RGBA" if has_alpha else "RGB")
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    clean = Image.new(image.mode, image.size)
    clean.paste(image)  # a new image carries no info dict from the upload
    out = io.BytesIO()
    if has_alpha:
        clean.save(out, format="PNG", optimize=True)
        return out.getvalue(), "png", clean.width, clean.height
    clean.save(out, format="JPEG", quality=85, optimize=True, progressive=True)
    return out.getvalue(), "jpg", clean.width, clean.height


def store(data: bytes, extension: str) -> str:
    """Write bytes under a new random name in the media folder; returns the name."""
    folder = Path(current_app.config["HUB_MEDIA_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{secrets.token_urlsafe(24)}.{extension}"
    (folder / name).write_bytes(data)
    return name


def set_avatar(org: Actor, user: User, data: bytes, *, commit: bool = True) -> Media:
    """Replace an organisation's avatar with a cleaned copy of the uploaded image (owners only)."""
    orgs.require_role(user, org, "owner")
    payload, extension, width, height = reencode(data)
    name = store(payload, extension)
    media = Media(owner_id=org.id, file_name=name, media_type=MEDIA_TYPES[extension], width=width,
                  height=height)
    db.session.add(media)
    db.session.flush()
    org.avatar_id = media.id
    audit.record(user, org, "org.avatar")
    if commit:
        db.session.commit()
    return media
