"""Time the three exact attention paths on the attention layers of the 256x176 model.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/attention.py --repeats 3

N = 2816 (64 x 44); self-attention on cat(image, pose) codes: q/k width 64, value width 512;
pose-guided attention: q/k width 32, value width 256. For batch 1 and 8, inference
(``torch.inference_mode``) and forward + backward: the median time of each path, printed as a ratio
to explicit (higher is faster), and the largest difference from explicit (outputs, gradients).
This is what chose ``pona.models.attention.AUTO_IMPL``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from pona.models.attention import attention

LAYERS = {"self": (64, 512), "pose": (32, 256)}


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--n", type=int, default=2816, help="tokens (H/4 x W/4)")
    args = ap.parse_args()
    g = torch.Generator().manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), N = {args.n}")
    print(f"{'batch':>5}  {'layer':5}  {'mode':9}  {'path':8}  {'ms':>8}  {'x explicit':>10}  {'max|diff|':>9}")
    for batch in args.batches:
        for layer, (d, cv) in LAYERS.items():
            # as the layers make them: (B, C, N) conv outputs seen as (B, N, C)
            q, k = (torch.randn(batch, d, args.n, generator=g).mul(0.3).transpose(1, 2).requires_grad_() for _ in range(2))
            v = torch.randn(batch, cv, args.n, generator=g).transpose(1, 2).requires_grad_()
            w = torch.randn(batch, args.n, cv, generator=g)

            def infer(impl):
                with torch.inference_mode():
                    return [attention(q, k, v, impl)[0]]

            def train(impl):
                for t in (q, k, v):
                    t.grad = None
                out = attention(q, k, v, impl)[0]
                out.backward(w)
                return [out.detach(), q.grad, k.grad, v.grad]

            for mode, fn in (("inference", infer), ("train", train)):
                ref = fn("explicit")
                base = median_time(lambda: fn("explicit"), args.repeats)
                for impl in ("explicit", "sdpa", "chunked"):
                    diff = max((a - b).abs().max().item() for a, b in zip(fn(impl), ref))
                    t = base if impl == "explicit" else median_time(lambda: fn(impl), args.repeats)
                    print(f"{batch:5d}  {layer:5}  {mode:9}  {impl:8}  {t * 1e3:8.1f}  {base / t:10.2f}  {diff:9.1e}", flush=True)


if __name__ == "__main__":
    main()
