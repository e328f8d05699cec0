"""Atomic file writes (a reader never sees a half-written checkpoint, image or report), and the
checks every command runs on its output paths before any work (one clear line, not a traceback
after an hour of computing)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from .errors import PonaError


def _umask() -> int:
    mask = os.umask(0)  # reading the umask means setting it; put it back at once
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename.

    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the mode open() would
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())  # the bytes are on disk before the rename makes them visible
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# -- output paths, checked before any work ----------------------------------------------------

IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}  # what pona writes, by extension


def _first_existing(path: Path) -> Path:
    for parent in (path, *path.parents):
        if parent.exists():
            return parent
    return Path(".")  # pragma: no cover (a relative path's parents end at ".", which exists)


def _check_writable(path: Path, start: Path, option: str) -> None:
    """The nearest existing folder at or above ``start`` must be one we can create files in."""
    anchor = _first_existing(start)
    if not anchor.is_dir():
        raise PonaError(f"{option} {path}: {anchor} is a file, not a folder")
    # os.access says yes to root even on /proc or a read-only mount: a real probe file answers
    try:
        with tempfile.TemporaryFile(dir=anchor):
            pass
    except OSError as e:
        raise PonaError(f"{option} {path}: cannot write in {anchor} ({e.strerror or e})") from None


def check_output_file(path: str | os.PathLike, option: str = "--out", suffixes=None) -> Path:
    """Refuse, before any work, an output file that cannot be written: under a file, in an
    unwritable folder, an existing folder, or (``suffixes``) an extension pona does not write."""
    path = Path(path)
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise PonaError(f"{option} {path}: the extension must be one of {', '.join(sorted(suffixes))}, "
                        f"got {path.suffix or 'none'!r}")
    if path.is_dir():
        raise PonaError(f"{option} {path}: is a folder, expected a file name")
    _check_writable(path, path.parent, option)
    return path


def check_output_dir(path: str | os.PathLike, option: str = "--out") -> Path:
    """Refuse, before any work, an output folder that is a file, lies under a file, or cannot be created."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise PonaError(f"{option} {path}: is a file, expected a folder")
    _check_writable(path, path, option)
    return path


def refuse_overwriting_input(path, option, *outputs) -> None:
    """A file the user gave is never replaced by an output: refuse each ``(out, out_option)`` that
    names the input ``path`` (also through another spelling or a link)."""
    for out, out_option in outputs:
        if out and os.path.exists(out) and os.path.exists(path) and os.path.samefile(path, out):
            raise PonaError(f"{out_option} {out} is the input {option}: choose another output file")


def check_not_inside(path, option: str, folder, what: str) -> None:
    """Refuse an output folder that is ``folder`` or lies inside it (a dataset's files must not mix
    with a run's or a command's outputs: the next reader would take them for data)."""
    resolved, folder = Path(path).resolve(), Path(folder).resolve()
    if resolved == folder or folder in resolved.parents:
        raise PonaError(f"{option} {path}: is {'' if resolved == folder else 'inside '}{what}; "
                        "choose a folder outside it")


def save_image(image, path: str | os.PathLike) -> Path:
    """Write a PIL image atomically in the format its extension names (.png, .jpg, .jpeg)."""
    path = Path(path)
    fmt = IMAGE_FORMATS[path.suffix.lower()]  # callers check the extension up front
    if fmt == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")  # JPEG has no alpha
    with atomic_path(path) as tmp:
        image.save(tmp, format=fmt)
    return path
