"""Upload limits for the web app: bytes, pixels and image types, checked before anything is decoded;
and the memory decoding takes.

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

Memory (``decode_upload``, what the app uses): an upload is kept only as large as the model needs,
at least ``OVERSAMPLE`` times the model's size per side: a JPEG is decoded at 1/2, 1/4 or 1/8
scale (``Image.draft``: its full-size pixels never exist), other formats are decoded whole, then
shrunk by an integer factor (``reduce``). What is decoded is bounded by a limit sized to the
model (``model_pixel_limit``, 413 above it), and ``DecodeSlots`` lets only a few uploads decode
at once (503 with Retry-After past a short queue): peak memory is slots x the largest decode,
whatever the load; freed buffers go back to the system (``keep_heap_small``, ``release_memory``).

``BodyLimitMiddleware`` refuses whole requests above a byte limit before the multipart parser
buffers them (a Content-Length above the limit, or a chunked body that grows past it).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import io
import json
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from starlette.exceptions import HTTPException

from ..data.dataset import rgb_array

# Formats whose decoders are common and well exercised; the order is the one error messages use.
FORMATS = ("PNG", "JPEG", "WEBP", "BMP")
MULTIPART_OVERHEAD = 64 * 1024  # form fields (poses as JSON) and multipart boundaries
OVERSAMPLE = 4      # uploads are decoded to at least 4x the model's size per side (the person is cropped from it)
MODEL_PIXELS = 32   # decoded pixels allowed: (32 H) x (32 W), a person down to 1/8 of the photo's height
EXIF_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
                  5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
                  8: Image.Transpose.ROTATE_90}  # EXIF orientation tag -> the transposition that makes it upright


class ClientError(Exception):
    """A request the app refuses (bad upload, field or name); ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


@dataclass(frozen=True)
class UploadLimits:
    """Limits on one uploaded image. The defaults admit a 24-megapixel phone photo."""

    max_bytes: int = 16 * 1024 * 1024      # 16 MiB per uploaded file
    max_pixels: int = 25_000_000           # width * height, checked from the header
    max_request_bytes: int | None = None   # whole request; default: 2 uploads + form fields
    decode_slots: int = 2                  # uploads decoded at once
    decode_queue: int = 8                  # uploads waiting for a slot; more get 503

    def __post_init__(self):
        if self.max_bytes < 1 or self.max_pixels < 1 or self.decode_slots < 1 or self.decode_queue < 0:
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


@dataclass(frozen=True)
class Upload:
    """A decoded upload: ``image`` is the photo as received (upright), shrunk ``factor`` times."""

    image: np.ndarray         # (h, w, 3) uint8 RGB
    size: tuple[int, int]     # (H0, W0) of the photo as received, upright
    factor: int = 1           # received pixels per decoded pixel, per side

    def to_decoded(self, keypoints) -> np.ndarray:
        """(..., 2) (y, x) in the received photo -> in ``image``; -1 stays -1 (pixel centres map)."""
        return _rescale(keypoints, 1 / self.factor)

    def to_received(self, keypoints) -> np.ndarray:
        """(..., 2) (y, x) in ``image`` -> in the received photo; -1 stays -1."""
        return _rescale(keypoints, self.factor)


def _rescale(keypoints, s: float) -> np.ndarray:
    kp = np.asarray(keypoints, dtype=np.float64)
    return np.where(kp == -1, -1.0, (kp + 0.5) * s - 0.5) if s != 1 else kp


def model_pixel_limit(model_size: tuple[int, int]) -> int:
    """Pixels worth decoding for a model of ``model_size`` (H, W): (32 H) x (32 W)."""
    return MODEL_PIXELS * model_size[0] * MODEL_PIXELS * model_size[1]


def decode_image(data: bytes, limits: UploadLimits, what: str = "upload") -> np.ndarray:
    """Uploaded bytes -> (H, W, 3) uint8 RGB at full size, EXIF orientation applied, or ``ClientError``."""
    return decode_upload(data, limits, what).image


def decode_upload(data: bytes, limits: UploadLimits, what: str = "upload",
                  model_size: tuple[int, int] | None = None) -> Upload:
    """Uploaded bytes -> ``Upload`` (EXIF orientation applied), or ``ClientError``.

    With ``model_size`` (H, W) the photo is decoded at the smallest scale whose sides are still
    ``OVERSAMPLE`` times the model's (a JPEG by its decoder, at 1/2, 1/4, 1/8; the others decoded,
    then reduced by an integer factor), and refused (413) when more than
    ``model_pixel_limit(model_size)`` pixels would be decoded.
    """
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
            w0, h0 = im.size
            if w0 * h0 > limits.max_pixels:
                raise ClientError(413, f"{what} is {w0}x{h0} = {w0 * h0:,} pixels, above the limit of {limits.max_pixels:,}")
            if model_size is None:
                upload = Upload(rgb_array(ImageOps.exif_transpose(im)), (h0, w0))  # 16-bit greys scaled, not clipped
            else:
                upload = _decode_for_model(im, model_size, what)
    except ClientError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ClientError(413, f"{what} refused as a decompression bomb: {e}") from None
    except UnidentifiedImageError:
        raise ClientError(415, f"{what} is not an image of an accepted type ({accepted})") from None
    except (OSError, ValueError, SyntaxError) as e:  # truncated or corrupt pixel data
        raise ClientError(422, f"{what} cannot be decoded as an image: {e}") from None
    if w0 * h0 >= LARGE_DECODE:  # its full-size buffers are freed now that the image is closed
        release_memory()
    return upload


def _decode_for_model(im: Image.Image, model_size: tuple[int, int], what: str) -> Upload:
    (H, W), (w0, h0) = model_size, im.size

    def orientation() -> int | None:  # the EXIF tag; a PNG's EXIF may follow its pixels, so it is read after load()
        return im.getexif().get(0x0112)

    def factor(turn: int | None) -> int:  # per side, the most that keeps OVERSAMPLE x the model's size, upright
        uh, uw = (w0, h0) if turn in (5, 6, 7, 8) else (h0, w0)
        return max(1, min(uh // (OVERSAMPLE * H), uw // (OVERSAMPLE * W)))

    drafted = 1
    if im.format == "JPEG" and (f := factor(orientation())) > 1:  # decoded at 1/2, 1/4 or 1/8 by the DCT
        drafted_to = im.draft("RGB" if im.mode == "RGB" else None, (w0 // f, h0 // f))
        drafted = 1 if drafted_to is None else round(w0 / drafted_to[1][2])
    w, h = im.size  # what will be decoded
    limit = model_pixel_limit(model_size)
    if w * h > limit:
        raise ClientError(413, f"{what} is {w0}x{h0} = {w0 * h0:,} pixels, above the limit of {limit * drafted**2:,} "
                               f"for this {H}x{W} model ({MODEL_PIXELS} times its height and width): scale it down")
    im.load()
    turn = orientation()
    rest = factor(turn) // drafted
    small = im
    if rest > 1:
        try:
            small = im.reduce(rest)  # the mean of each rest x rest block
        except ValueError:  # a mode reduce does not take (16-bit grey, ...)
            small = Image.fromarray(rgb_array(im)).reduce(rest)
    if turn in EXIF_TRANSPOSE:
        small = small.transpose(EXIF_TRANSPOSE[turn])
    image = rgb_array(small)
    upright = (w0, h0) if turn in (5, 6, 7, 8) else (h0, w0)
    return Upload(image, upright, drafted * rest)


# --- memory -------------------------------------------------------------------------------------
# glibc keeps freed memory in its heaps for reuse: after a burst of large decodes (in many threads,
# hence many heaps) the server stays at its peak RSS. Measured with 20 concurrent 25-megapixel
# uploads (docs/guide/demo-and-web.md, "Safety limits"): without what follows RSS stayed 700 MB above idle, with
# malloc_trim alone 40-100 MB, with both within 10 MB.

LARGE_DECODE = 4_000_000   # pixels; after freeing a decode this large, trim the heaps
MMAP_THRESHOLD = 4 * 2**20  # bytes; larger blocks (image buffers, big tensors) are mmapped: freed = returned

_libc = None
if ctypes.util.find_library("c"):
    try:
        _libc = ctypes.CDLL(ctypes.util.find_library("c"))
        _libc.malloc_trim, _libc.mallopt  # glibc only (not musl, macOS): elsewhere, nothing to do
    except (OSError, AttributeError):
        _libc = None


def keep_heap_small() -> None:
    """Have glibc allocate blocks above ``MMAP_THRESHOLD`` with mmap, always (M_MMAP_THRESHOLD;
    by default the threshold grows up to 32 MiB as blocks are freed, and image buffers then stay in
    the heaps). For a server process: it costs page faults on each large allocation."""
    if _libc is not None:
        _libc.mallopt(-3, MMAP_THRESHOLD)  # M_MMAP_THRESHOLD = -3 (malloc.h)


def release_memory() -> None:
    """Return the heaps' free pages to the OS (glibc ``malloc_trim``)."""
    if _libc is not None:
        _libc.malloc_trim(0)


class DecodeSlots:
    """At most ``slots`` uploads decode at once, at most ``queue`` more wait for a slot (at most
    ``wait`` seconds); any other upload is refused at once with 503 and ``Retry-After``."""

    def __init__(self, slots: int = 2, queue: int = 8, wait: float = 30.0, retry_after: int = 2):
        self._slots = threading.BoundedSemaphore(slots)
        self._lock = threading.Lock()
        self._admitted, self._max = 0, slots + queue
        self.wait, self.retry_after = wait, retry_after

    def _busy(self, what: str) -> ClientError:
        return ClientError(503, f"the server is busy decoding other uploads; send {what} again in a few seconds",
                           headers={"Retry-After": str(self.retry_after)})

    @contextmanager
    def __call__(self, what: str = "upload"):
        with self._lock:
            if self._admitted >= self._max:
                raise self._busy(what)
            self._admitted += 1
        try:
            if not self._slots.acquire(timeout=self.wait):
                raise self._busy(what)
            try:
                yield
            finally:
                self._slots.release()
        finally:
            with self._lock:
                self._admitted -= 1


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
