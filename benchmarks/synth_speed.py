"""Speed of the synthetic-people generator, in images per second on one core.

    PYTHONPATH=src python benchmarks/synth_speed.py --images 400

Two numbers per preset: ``render`` (identity + pose + background + person + noise, in memory, as
``pona.data.synth.example``) and ``write`` (``write_dataset`` with one worker: the same plus the
PNG files and CSVs; at the default ``png_level`` 1 and at 0). Rates use the process's CPU time, so other processes on the machine slow
them less than wall-clock time; ``calib_us``, the CPU time of a fixed pure-Python loop
(``sum(range(1000))``, under 10 us on an idle modern core), shows how much a busy machine (shared
caches and SMT siblings) slowed the core down. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time

from pona.data.synth import example, write_dataset
from pona.data.synth.scene import SIZES


def calibration_us() -> float:
    """CPU time of sum(range(1000)), microseconds."""
    t = time.process_time()
    for _ in range(20000):
        sum(range(1000))
    return (time.process_time() - t) / 20000 * 1e6


def rate_render(preset: str, n: int) -> float:
    t = time.process_time()
    for i in range(n):
        example(0, 1 + i // 10, i % 10, preset)
    return n / (time.process_time() - t)


def rate_write(preset: str, n: int, png_level: int) -> float:
    root = tempfile.mkdtemp(prefix="synth-speed-")
    try:
        t = time.process_time()
        s = write_dataset(root, preset, n_train_ids=max(1, n // 10), n_test_ids=0, poses_per_id=10, overwrite=True,
                          png_level=png_level)
        return s.images["train"] / (time.process_time() - t)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=400, help="images per measurement (market; fashion uses a quarter)")
    args = ap.parse_args()
    example(0, 1, 0, "market"), example(0, 1, 0, "fashion")     # warm up imports and caches
    rows = {}
    for preset in ("market", "fashion"):
        n = args.images if preset == "market" else max(10, args.images // 4)
        rows[preset] = {"size": "x".join(map(str, SIZES[preset])), "render_per_s": round(rate_render(preset, n)),
                        "write_per_s": round(rate_write(preset, n, 1)),
                        "write_png0_per_s": round(rate_write(preset, n, 0))}
    calib = round(calibration_us(), 1)
    print(f"{'preset':8} {'size':8} {'render img/s':>13} {'write img/s':>12} {'--png-level 0':>14}   (one core; calib {calib} us)")
    for preset, r in rows.items():
        print(f"{preset:8} {r['size']:8} {r['render_per_s']:>13} {r['write_per_s']:>12} {r['write_png0_per_s']:>14}")
    print(json.dumps({"calib_us": calib, **rows}))


if __name__ == "__main__":
    main()
