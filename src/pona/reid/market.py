"""Market-1501 file naming and folder layout, and the paper's portion selection (Sec. IV-D).

A Market-1501 image name encodes who and where: ``0002_c1s1_000451_03.jpg`` is identity 0002, seen
by camera 1 in video sequence 1, frame 000451, detected box 03 of that frame. Identity ``-1`` marks
"junk" boxes (bad detections that must not influence the evaluation) and ``0000`` "distractors"
(false-alarm boxes in the gallery). Every re-ID framework reads a Market-style root::

    bounding_box_train/   training images (identities 0002..1500 in the real set)
    query/                one or more images per test identity
    bounding_box_test/    the gallery: test identities, distractors (0000) and junk (-1)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import DataError

TRAIN_DIR = "bounding_box_train"
QUERY_DIR = "query"
GALLERY_DIR = "bounding_box_test"
JUNK_ID = -1
DISTRACTOR_ID = 0

_NAME = re.compile(r"^(-1|\d+)_c(\d+)s(\d+)_(\d+)_(\d+)(\.[A-Za-z]+)$")


@dataclass(frozen=True)
class MarketName:
    """The fields of a Market-1501 image name."""

    identity: int      # -1 junk, 0 distractor, else a person
    camera: int        # 1..6 in Market-1501
    sequence: int
    frame: int
    box: int
    suffix: str = ".jpg"

    @property
    def is_junk(self) -> bool:
        """Junk (-1) or distractor (0000): not a person that training or a query may use."""
        return self.identity in (JUNK_ID, DISTRACTOR_ID)

    def format(self) -> str:
        pid = "-1" if self.identity == JUNK_ID else f"{self.identity:04d}"
        return f"{pid}_c{self.camera}s{self.sequence}_{self.frame:06d}_{self.box:02d}{self.suffix}"


def parse_market_name(name: str, where: str | None = None) -> MarketName:
    """``0002_c1s1_000451_03.jpg`` -> MarketName(2, 1, 1, 451, 3, ".jpg"); DataError otherwise."""
    m = _NAME.match(os.path.basename(name))
    if m is None:
        raise DataError(f"{where or name}: {os.path.basename(name)!r} is not a Market-1501 name "
                        f"(expected IDENTITY_cCAMsSEQ_FRAME_BOX.jpg, e.g. 0002_c1s1_000451_03.jpg)")
    pid, cam, seq, frame, box, suffix = m.groups()
    return MarketName(int(pid), int(cam), int(seq), int(frame), int(box), suffix)


def format_market_name(identity: int, camera: int, sequence: int = 1, frame: int = 0, box: int = 1,
                       suffix: str = ".jpg") -> str:
    """The Market-1501 name of these fields; inverse of :func:`parse_market_name`."""
    if identity < JUNK_ID or camera < 0 or sequence < 0 or frame < 0 or box < 0:
        raise ValueError(f"invalid Market-1501 fields: identity={identity} camera={camera} "
                         f"sequence={sequence} frame={frame} box={box}")
    return MarketName(identity, camera, sequence, frame, box, suffix).format()


def read_market_folder(folder: str | os.PathLike) -> tuple[list[str], np.ndarray, np.ndarray]:
    """All images of a Market folder, sorted -> (names, identities (N,) int64, cameras (N,) int64).

    Junk and distractor images are listed too: the evaluation decides what to do with them.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: folder not found (Market-1501 layout: {TRAIN_DIR}/, {QUERY_DIR}/, {GALLERY_DIR}/)")
    names = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not names:
        raise DataError(f"{folder}: no images")
    parsed = [parse_market_name(n, str(folder / n)) for n in names]
    return (names, np.array([p.identity for p in parsed], dtype=np.int64),
            np.array([p.camera for p in parsed], dtype=np.int64))


def group_by_identity(names: list[str]) -> dict[int, list[str]]:
    """{identity: sorted names}; raises on a name that is not Market-1501's."""
    groups: dict[int, list[str]] = {}
    for n in names:
        groups.setdefault(parse_market_name(n).identity, []).append(n)
    return {pid: sorted(v) for pid, v in sorted(groups.items())}


def kept_count(n: int, portion: float) -> int:
    """Images of an identity with ``n`` images that a portion ``p`` keeps.

    ``max(1, floor(p * n + 1/2))``: p * n rounded half up, computed exactly on the decimal value
    of p (0.1 * 5 keeps 1, not 0 or float noise), and never fewer than one image, so that every
    identity survives the reduction (the paper: "the same identities").
    """
    if not 0.0 < portion <= 1.0:
        raise ValueError(f"portion must be in (0, 1], got {portion}")
    k = int(Fraction(str(portion)) * n + Fraction(1, 2))
    return max(1, min(n, k))


@dataclass(frozen=True)
class Replacement:
    """A dropped image and the kept image of the same identity it is generated from."""

    target: str        # the dropped image: its name and pose are the generated image's
    source: str        # a kept image of the same identity: its appearance is transferred


def select_portion(groups: dict[int, list[str]], portion: float, seed: int = 0
                   ) -> tuple[list[str], list[Replacement]]:
    """The paper's reduced training set and, for every dropped image, the image it is made from.

    For each identity (with its names sorted), an RNG seeded by ``(seed, identity)`` draws
    :func:`kept_count` images to keep, without replacement, then picks for each dropped image (in
    name order) a source uniformly among the kept ones. Seeding per identity makes an identity's
    choice independent of the others (adding an identity changes nothing else).

    Returns:
        kept: sorted names of the reduced set.
        replacements: one per dropped image, sorted by target name.
    """
    kept, replacements = [], []
    for pid, names in groups.items():
        if pid < 0:
            raise ValueError(f"identity {pid} cannot be selected (junk images are not training data)")
        names = sorted(names)
        rng = np.random.default_rng([seed, pid])
        k = kept_count(len(names), portion)
        keep_idx = set(rng.choice(len(names), size=k, replace=False).tolist())
        keep = [n for i, n in enumerate(names) if i in keep_idx]
        kept += keep
        for i, name in enumerate(names):
            if i not in keep_idx:
                replacements.append(Replacement(name, keep[int(rng.integers(k))]))
    return sorted(kept), sorted(replacements, key=lambda r: r.target)
