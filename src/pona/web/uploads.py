"""Upload limits for the web app: bytes, pixels and image types, checked before anything is decoded.

An upload is refused (``ClientError`` with an HTTP status and a one-line message) when:
- it has more than ``max_bytes`` bytes (413), counted while reading, never trusting a header;
- Pillow cannot identify it as one of ``FORMATS`` (415): the type is the decoded one, never the
  file name or the Content-Type; ``Image.open(formats=...)`` also keeps other decoders (EPS, which
  calls Ghostscript; TIFF; ...) from ever seeing the bytes;
- its header declares more than ``max_pixels`` pixels (413), checked before the pixels are
  decoded, so a small file that would expand to gigabytes (a decompression bomb) costs nothing;
  Pillow's own bomb guard (``DecompressionBombError``) is caught too, should our limit be set
  above Pillow's;
- its pixels cannot be decoded (422, e.g. a truncated file).

``BodyLimitMiddleware`` refuses whole requests above a byte limit before the multipart parser
buffers them (a Content-Length above the limit, or a chunked body that grows past it).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from starlette.exceptions import HTTPException

# Formats whose decoders are common and well exercised; the order is the one error messages use.
FORMATS = ("PNG", "JPEG", "WEBP", "BMP")
MULTIPART_OVERHEAD = 64 * 1024  # form fields (poses as JSON) and multipart boundaries


class ClientError(Exception):
    """A request the app refuses (bad upload, field or name); ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class UploadLimits:
    """Limits on one uploaded image. The defaults admit a 24-megapixel phone photo."""

    max_bytes: int = 16 * 1024 * 1024      # 16 MiB per uploaded file
    max_pixels: int = 25_000_000           # width * height, checked from the header
    max_request_bytes: int | None = None   # whole request; default: 2 uploads + form fields

    def __post_init__(self):
        if self.max_bytes < 1 or self.max_pixels < 1:
            raise ValueError(f"upload limits must be positive, got {self}")

    @property
    def request_bytes(self) -> int:
        return self.max_request_bytes or 2 * self.max_bytes + MULTIPART_OVERHEAD


def read_limited(stream: BinaryIO, max_bytes: int, what: str = "upload") -> bytes:
    """Read at most ``max_bytes`` from ``stream``; one byte more means the upload is too large."""
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ClientError(413, f"{what} is larger than the limit of {max_bytes:,} bytes")
    return data


def decode_image(data: bytes, limits: UploadLimits, what: str = "upload") -> np.ndarray:
    """Uploaded bytes -> (H, W, 3) uint8 RGB, EXIF orientation applied, or ``ClientError``."""
    if len(data) > limits.max_bytes:
        raise ClientError(413, f"{what} is larger than the limit of {limits.max_bytes:,} bytes")
    if not data:
        raise ClientError(422, f"{what} is empty")
    accepted = ", ".join(FORMATS)
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as im:
            # Only the header has been read so far: check the type and size before decoding.
            if im.format not in FORMATS:
                raise ClientError(415, f"{what} is a {im.format} image; accepted types: {accepted}")
            w, h = im.size
            if w * h > limits.max_pixels:
                raise ClientError(413, f"{what} is {w}x{h} = {w * h:,} pixels, above the limit of {limits.max_pixels:,}")
            im = ImageOps.exif_transpose(im)  # phone photos store rotation in EXIF
            return np.array(im.convert("RGB"))
    except ClientError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ClientError(413, f"{what} refused as a decompression bomb: {e}") from None
    except UnidentifiedImageError:
        raise ClientError(415, f"{what} is not an image of an accepted type ({accepted})") from None
    except (OSError, ValueError, SyntaxError) as e:  # truncated or corrupt pixel data
        raise ClientError(422, f"{what} cannot be decoded as an image: {e}") from None


class BodyLimitMiddleware:
    """ASGI middleware answering 413 to requests whose body exceeds ``max_bytes``.

    A declared Content-Length above the limit is refused before any byte is read; a body without
    one (chunked) is counted as it arrives and refused once it passes the limit.
    """

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            return await self._refuse(send)
        seen = 0
        started = False

        async def counting_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge(413, _too_large(self.max_bytes))
            return message

        async def tracking_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send):
        body = json.dumps({"detail": _too_large(self.max_bytes)}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def _too_large(limit: int) -> str:
    return f"request body is larger than the limit of {limit:,} bytes"


class _TooLarge(HTTPException):
    """Raised from ``receive``: FastAPI passes an HTTPException from the body reader through to
    its handler (a 413 JSON answer); anything else would become a generic 400."""
