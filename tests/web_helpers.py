"""The tiny generator as a checkpoint, and a small crafted PATN-layout dataset for the web app's tests;
``pona serve`` in a subprocess, and its memory."""

import contextlib
import dataclasses
import io
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import pona
from helpers import TINY_CONFIG
from pona.data.layout import write_annotations, write_pairs
from pona.pose import draw_pose

SIZE = (64, 32)

# A standing person as fractions of (H, W), arms then legs moved per image below.
BASE = np.array([
    (0.12, 0.50), (0.22, 0.50), (0.23, 0.34), (0.38, 0.30), (0.52, 0.28), (0.23, 0.66), (0.38, 0.70),
    (0.52, 0.72), (0.52, 0.40), (0.70, 0.40), (0.88, 0.40), (0.52, 0.60), (0.70, 0.60), (0.88, 0.60),
    (0.10, 0.46), (0.10, 0.54), (0.11, 0.40), (0.11, 0.60),
])


def web_config(size=SIZE):
    return dataclasses.replace(TINY_CONFIG, image_size=size)


def make_checkpoint(path, size=SIZE, seed=0):
    """The tiny generator (helpers.TINY_CONFIG) at ``size``, random, made so that its attention matters; saved to ``path``.

    At init gamma = 0 makes every attention layer a no-op, and random query/key convs give
    near-uniform maps (the output hardly depends on the pose): open the gates and sharpen the
    maps (queries and keys x 20) so that, as in a trained model, moving a joint moves pixels.
    """
    torch.manual_seed(seed)
    g = pona.Generator(web_config(size))
    with torch.no_grad():
        for m in g.modules():
            if isinstance(m, (pona.models.PoseAttention, pona.models.SelfAttention)):
                m.gamma.fill_(1.0)
                m.query.weight.mul_(20.0)
                m.key.weight.mul_(20.0)
    pona.save_generator(g, path)
    return path


def person_pose(i, size=SIZE):
    """Keypoints (18, 2) of person i: arms raised by i steps, the left wrist missing for i = 2."""
    h, w = size
    kp = BASE * np.array([h, w])
    kp[[4, 7], 0] -= 6 * i   # wrists up
    kp[[3, 6], 0] -= 3 * i   # elbows up
    kp = np.round(kp).astype(np.int64)
    if i == 2:
        kp[7] = -1
    return kp


def make_dataset(root, size=SIZE, n=4):
    """A PATN-layout dataset with n test images (people drawn as coloured skeletons) and one train image.

    Crafted, not the tests' tiny world (conftest): the web tests need what the synthetic set never
    has: an image without annotation and an annotation without image (neither may be served), a
    training image that must stay private, a person with a missing wrist, and poses known by hand
    (the arms raised step by step) at the 64x32 size the uploads are scaled against."""
    h, w = size
    rng = np.random.default_rng(0)
    ann = {}
    (root / "test").mkdir(parents=True)
    for i in range(n):
        background = np.zeros((h, w, 3), np.uint8) + np.array([40 + 40 * i, 90, 160 - 30 * i], np.uint8)
        background = (background + rng.integers(0, 20, (h, w, 3))).astype(np.uint8)
        kp = person_pose(i, size)
        draw_pose(background, kp, radius=2, width=4).save(root / "test" / f"person{i}.png")
        ann[f"person{i}.png"] = kp
    # An image on disk without annotation, and an annotation without image: neither is served.
    Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(root / "test" / "unannotated.png")
    ann["missing.png"] = person_pose(0, size)
    write_annotations(root / "toy-annotation-test.csv", ann)
    write_pairs(root / "toy-pairs-test.csv", [("person0.png", "person1.png")])
    (root / "train").mkdir()
    draw_pose(None, person_pose(0, size), size=size).save(root / "train" / "secret.png")
    write_annotations(root / "toy-annotation-train.csv", {"secret.png": person_pose(0, size)})
    return ann


def png(array_or_size, color=(200, 100, 50), fmt="PNG"):
    """Encoded image bytes: a given (H, W, 3) array, or a plain colour of (H, W)."""
    arr = array_or_size if isinstance(array_or_size, np.ndarray) else np.full((*array_or_size, 3), color, np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


@contextlib.contextmanager
def pona_serve(checkpoint, data, *args, timeout=60.0):
    """``pona serve`` in a subprocess on 127.0.0.1 and a free port: yields (process, base URL);
    stopped (SIGTERM, then SIGKILL) on exit. Its output goes to a temporary file, shown on failure."""
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pona = Path(sys.executable).parent / "pona"
    cmd = [str(pona) if pona.exists() else "pona", "serve", "--checkpoint", str(checkpoint), "--data", str(data),
           "--no-pose-estimator", "--host", "127.0.0.1", "--port", str(port), *args]
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"pona serve did not start (exit {proc.poll()}):\n{log.read()[-3000:]}")
                try:
                    if httpx.get(url + "/api/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            yield proc, url
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def memory_mb(pid) -> dict[str, float]:
    """A process's resident memory now (VmRSS) and at its peak (VmHWM), in MB, from /proc."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024  # kB
    return out
