"""Does ``pona serve`` hold its memory over many ordinary requests? Resident memory (VmRSS) of the
server process, sampled every --every requests, for each kind of request a user of the page makes:

- ``names``: transfer between two dataset images, PNG back (the page's first click);
- ``attention``: the same as JSON with the attention maps kept for the hover view;
- ``upload``: a JPEG upload (a dataset image enlarged 2-16x, up to 2048x1024) with its pose given;
- ``estimate``: a real photo (``docs/photos-astronaut.jpg``, 1-3x) with its pose estimated by
  MediaPipe (needs the pose extra; skipped without it).

    python benchmarks/web_memory.py --checkpoint pretrained-market --data demo-street/data --requests 300

A server whose memory keeps growing with requests shows it in the last columns; warm-up (the
first model calls, MediaPipe's graph, the allocator's pools) shows in the first.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from PIL import Image

from pona.data.layout import find_split, read_annotations

PHOTO = Path(__file__).resolve().parent.parent / "docs" / "photos-astronaut.jpg"
KINDS = ("names", "attention", "upload", "estimate")


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS:"))


def start_server(checkpoint: str, data: Path, estimator: bool, log) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "pona", "serve", "--checkpoint", checkpoint, "--data", str(data),
           "--host", "127.0.0.1", "--port", str(port), *([] if estimator else ["--no-pose-estimator"])]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 600
    while True:
        if proc.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            raise SystemExit(f"pona serve did not start:\n{log.read()[-2000:]}")
        try:
            if httpx.get(url + "/api/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.3)


def request(kind: str, client: httpx.Client, url: str, split, ann: dict, names: list, rng: random.Random):
    a, b = rng.sample(names, 2)
    if kind in ("names", "attention"):
        query = "?format=json&attention=true" if kind == "attention" else ""
        return client.post(url + "/api/transfer" + query, data={"condition_name": a, "target_name": b})
    if kind == "upload":
        scale = rng.choice([2, 4, 8, 12, 16])
        image = Image.open(split.images / a).convert("RGB")
        image = image.resize((image.width * scale, image.height * scale))
        kp = ann[a].astype(float)
        kp[kp >= 0] *= scale
        pose = json.dumps({"keypoints": kp.tolist(), "image_size": [image.height, image.width]})
        extra = {"source_pose": pose}
    else:
        scale = rng.choice([1.0, 1.25, 1.5, 2.0, 3.0])
        photo = Image.open(PHOTO).convert("RGB")
        image, extra = photo.resize((int(photo.width * scale), int(photo.height * scale))), {}
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=90)
    return client.post(url + "/api/transfer", files={"condition": ("photo.jpg", buf.getvalue(), "image/jpeg")},
                       data={"target_name": b, **extra})


def run(kind: str, checkpoint: str, data: Path, requests: int, every: int) -> list[float]:
    split = find_split(data, "test")
    ann = read_annotations(split.annotations)
    names, rng = sorted(ann)[:40], random.Random(0)
    with tempfile.TemporaryFile("w+") as log:
        proc, url = start_server(checkpoint, data, estimator=kind == "estimate", log=log)
        try:
            samples = [rss_mb(proc.pid)]
            with httpx.Client(timeout=300) as client:
                for i in range(1, requests + 1):
                    r = request(kind, client, url, split, ann, names, rng)
                    if r.status_code != 200:
                        raise SystemExit(f"{kind} request {i}: HTTP {r.status_code}: {r.text[:300]}")
                    if i % every == 0:
                        samples.append(rss_mb(proc.pid))
            return samples
        finally:
            proc.terminate()
            proc.wait(30)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default="pretrained-market")
    p.add_argument("--data", type=Path, required=True, help="a PATN-layout dataset with a test split")
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--every", type=int, default=50, help="sample the memory every so many requests")
    p.add_argument("--kinds", default=",".join(KINDS))
    args = p.parse_args(argv)
    kinds = args.kinds.split(",")
    if "estimate" in kinds and importlib.util.find_spec("mediapipe") is None:
        print("estimate: skipped (MediaPipe not installed: make install-pose)")
        kinds.remove("estimate")
    steps = list(range(0, args.requests + 1, args.every))
    print(f"VmRSS of pona serve (MB) after n requests; {args.checkpoint}, {args.data}")
    print("| kind | " + " | ".join(f"n={n}" for n in steps) + " | last - first sample after warm-up |")
    print("|---|" + "---:|" * (len(steps) + 1))
    for kind in kinds:
        mb = run(kind, args.checkpoint, args.data, args.requests, args.every)
        print(f"| {kind} | " + " | ".join(f"{m:.0f}" for m in mb) + f" | {mb[-1] - mb[1]:+.0f} |", flush=True)


if __name__ == "__main__":
    main()
