"""Speed of the synthetic-people generator, in images per second on one core.

    PYTHONPATH=src python benchmarks/synth_speed.py --images 100 --repeats 5

Per preset: ``render`` (identity + pose + background + person + noise, in memory, as
``pona.data.synth.example``) and ``write`` (``write_dataset`` with one worker: the same plus the
PNG files and CSVs, at the default ``png_level`` 1 and at 0). Each is timed ``repeats`` times on
``images`` images with the process's CPU time; the best run is reported (as ``timeit`` does: other
processes on a shared machine only ever slow a run down), with the median beside it.
``calib_us`` is the best CPU time of a fixed pure-Python loop (``sum(range(1000))``, under 10 us
on an idle modern core): it tells how fast the core was. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time

from pona.data.synth import example, write_dataset
from pona.data.synth.scene import SIZES


def calibration_us(repeats: int) -> float:
    """Best CPU time of sum(range(1000)), microseconds."""
    best = float("inf")
    for _ in range(repeats):
        t = time.process_time()
        for _ in range(5000):
            sum(range(1000))
        best = min(best, (time.process_time() - t) / 5000 * 1e6)
    return best


def rate_render(preset: str, n: int, run: int) -> float:
    t = time.process_time()
    for i in range(n):
        example(run, 1 + i // 10, i % 10, preset)
    return n / (time.process_time() - t)


def rate_write(preset: str, n: int, run: int, png_level: int) -> float:
    root = tempfile.mkdtemp(prefix="synth-speed-")
    try:
        t = time.process_time()
        s = write_dataset(root, preset, n_train_ids=max(1, n // 10), n_test_ids=0, poses_per_id=10, seed=run,
                          overwrite=True, png_level=png_level)
        return s.images["train"] / (time.process_time() - t)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=100, help="images per run (market; fashion uses a quarter)")
    ap.add_argument("--repeats", type=int, default=5, help="runs per measurement; the best is reported")
    args = ap.parse_args()
    example(0, 1, 0, "market"), example(0, 1, 0, "fashion")     # warm up imports and caches
    rows = {}
    for preset in ("market", "fashion"):
        n = args.images if preset == "market" else max(10, args.images // 4)
        runs = {"render": [rate_render(preset, n, r) for r in range(args.repeats)],
                "write": [rate_write(preset, n, r, 1) for r in range(args.repeats)],
                "write_png0": [rate_write(preset, n, r, 0) for r in range(args.repeats)]}
        rows[preset] = {"size": "x".join(map(str, SIZES[preset]))}
        for key, rates in runs.items():
            rows[preset][key] = {"best": round(max(rates)), "median": round(statistics.median(rates))}
    calib = round(calibration_us(args.repeats), 1)
    print(f"images/s on one core, best (median) of {args.repeats} runs; calib {calib} us")
    print(f"{'preset':8} {'size':8} {'render':>12} {'write':>12} {'write, png 0':>14}")
    for preset, r in rows.items():
        cells = [f"{r[k]['best']} ({r[k]['median']})" for k in ("render", "write", "write_png0")]
        print(f"{preset:8} {r['size']:8} {cells[0]:>12} {cells[1]:>12} {cells[2]:>14}")
    print(json.dumps({"calib_us": calib, **rows}))


if __name__ == "__main__":
    main()
