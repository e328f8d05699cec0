"""The run directory's safety: one training process at a time, and only pona's own files touched.

A run directory may hold files of the user's (notes, a copied dataset sample, ...) beside the run,
even inside ``samples/`` or ``checkpoints/``; ``--overwrite`` and the start-up clean-up delete only
names pona writes (the patterns below), never a whole folder.

The lock is ``<run>/.pona-train.lock`` holding the owner's pid, created with O_EXCL. A lock whose
pid no longer runs (the owner was killed with -9) is stale and taken over.
"""

from __future__ import annotations

import errno
import logging
import os
import re
from pathlib import Path

from ..errors import PonaError
from . import checkpoint
from .config import ConfigError, TrainConfig, apply_overrides, from_dict, read_yaml

log = logging.getLogger(__name__)

LOCK_FILE = ".pona-train.lock"
# Files pona writes, by folder of the run directory ("" = the run directory itself).
OWN_FILES = {
    "": re.compile(r"config\.yaml|generator\.safetensors|generator-best\.safetensors|metrics\.jsonl"),
    "checkpoints": re.compile(r"state-\d+\.pt"),
    "samples": re.compile(r"iter-\d+\.png"),
    "tensorboard": re.compile(r"events\.out\.tfevents\..+"),
}
# fileio.atomic_path writes ``.<name>.<random>.tmp`` beside ``<name>``; a kill -9 can leave one behind
TEMPORARY = re.compile(r"\.(?P<name>.+)\.[^.]+\.tmp")


def _own(folder: str, name: str) -> bool:
    return bool(OWN_FILES[folder].fullmatch(name))


def _own_temporary(folder: str, name: str) -> bool:
    m = TEMPORARY.fullmatch(name)
    return bool(m) and _own(folder, m.group("name"))


def _remove(run_dir: Path, keep_file) -> list[Path]:
    """Delete the files of pona's folders for which ``keep_file(folder, name)`` is False; then
    the folders left empty."""
    removed = []
    for folder in OWN_FILES:
        directory = run_dir / folder
        if not directory.is_dir():
            continue
        for path in directory.iterdir():
            if path.is_file() and not keep_file(folder, path.name):
                path.unlink(missing_ok=True)
                removed.append(path)
        if folder and not any(directory.iterdir()):
            directory.rmdir()
    return removed


def clear_run_dir(run_dir: str | os.PathLike) -> list[Path]:
    """``--overwrite``: delete pona's run files (and their temporaries); the user's files stay."""
    return _remove(Path(run_dir), lambda folder, name: not (_own(folder, name) or _own_temporary(folder, name)))


def remove_stale_temporaries(run_dir: str | os.PathLike) -> list[Path]:
    """Delete the temporary files an interrupted write left (kill -9 while saving a checkpoint).
    Only call it while holding the lock: then no other process is writing them."""
    removed = _remove(Path(run_dir), lambda folder, name: not _own_temporary(folder, name))
    for path in removed:
        log.info("removed %s, left by an interrupted write", path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


_HOLDERS: dict[Path, int] = {}  # lock path -> RunLocks of this process holding it


class RunLock:
    """Exclusive use of a run directory by this process, until ``release()`` (or exit)."""

    def __init__(self, run_dir: str | os.PathLike):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self.key = self.path.resolve()  # one count per directory, however its path is spelled
        self.created_dir = False
        self.held = False

    def acquire(self) -> "RunLock":
        if not self.run_dir.exists():
            self.run_dir.mkdir(parents=True)
            self.created_dir = True
        for _ in range(2):  # a second try after removing a stale lock
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if owner == os.getpid():  # this process already holds it (a second Trainer on the same run)
                    _HOLDERS[self.key] = _HOLDERS.get(self.key, 0) + 1
                    self.held = True
                    return self
                if owner is not None and _alive(owner):
                    raise PonaError(f"{self.run_dir} is in use by another training process (pid {owner}, "
                                    f"{self.path}): wait for it to stop, or choose another --out") from None
                log.warning("%s: removing a stale lock (pid %s is not running)", self.path, owner)
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                f.write(f"{os.getpid()}\n")
            _HOLDERS[self.key] = 1
            self.held = True
            return self
        raise PonaError(f"{self.path}: cannot take the lock on the run directory")  # pragma: no cover (a race)

    def _owner(self) -> int | None:
        try:
            return int(self.path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None  # unreadable or half-written: treated as stale

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        _HOLDERS[self.key] = _HOLDERS.get(self.key, 1) - 1
        if _HOLDERS[self.key] > 0:
            return  # another holder in this process still trains here
        del _HOLDERS[self.key]
        if self._owner() == os.getpid():
            self.path.unlink(missing_ok=True)
        if self.created_dir:  # a run that failed before writing anything leaves no empty folder
            try:
                self.run_dir.rmdir()
            except OSError as e:
                if e.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                    raise


def holds_run(run_dir: Path) -> bool:
    return (run_dir / "config.yaml").exists() or bool(checkpoint.list_states(run_dir / "checkpoints"))


def prepare_run_dir(run_dir: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to mix two runs in one directory; ``overwrite`` deletes only pona's own run files."""
    if resume and overwrite:
        raise ConfigError("choose one of --resume and --overwrite")
    if resume and not holds_run(run_dir):
        raise PonaError(f"{run_dir}: no run to resume (no config.yaml or checkpoints/state-*.pt)")
    if not resume and holds_run(run_dir):
        if not overwrite:
            raise PonaError(f"{run_dir} already holds a training run: pass --resume to continue it "
                            f"or --overwrite to start again (or choose another --out)")


def load_run_config(run_dir, overrides=()) -> TrainConfig:
    """The config.yaml saved in a run directory, with ``section.key=value`` overrides."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise PonaError(f"{run_dir}: no config.yaml, not a pona run directory")
    return apply_overrides(from_dict(read_yaml(path), str(path)), overrides)
