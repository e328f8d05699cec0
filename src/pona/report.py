"""The demo's HTML report: one self-contained file (images embedded as data URIs, charts as SVG)."""

from __future__ import annotations

import base64
import html
import math
import os
from pathlib import Path

from .fileio import atomic_path

PALETTE = ("#1f6feb", "#d1495b", "#2a9d8f", "#e9c46a")
STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1400px; color: #1c1c1c; padding: 0 1em; }
h1 { margin-bottom: 0; } .sub { color: #555; margin-top: .2em; }
table { border-collapse: collapse; margin: 1em 0; } td, th { border-bottom: 1px solid #ddd; padding: .35em .8em; text-align: right; }
th:first-child, td:first-child { text-align: left; } .better { font-weight: 600; color: #11753a; }
img.fig { image-rendering: pixelated; border: 1px solid #ddd; max-width: 100%; }
figure { margin: 1.2em 0; } figcaption { color: #555; font-size: 90%; }
code, pre { background: #f4f4f4; padding: .1em .3em; border-radius: 3px; } pre { padding: .8em; overflow-x: auto; }
.charts { display: flex; gap: 1em; flex-wrap: wrap; }
"""
# Metrics where a lower value is better (everything else: higher is better).
LOWER_IS_BETTER = {"l1", "colour_de", "fid_torchvision", "fid_2015", "lpips"}


def data_uri(path: str | os.PathLike) -> str:
    path = Path(path)
    kind = {".png": "image/png", ".gif": "image/gif", ".jpg": "image/jpeg", ".mp4": "video/mp4"}[path.suffix.lower()]
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode()}"


def svg_line_chart(series: dict, title: str, xlabel: str, width: int = 460, height: int = 260) -> str:
    """Lines ``{name: (xs, ys)}`` as an inline SVG with axes, ticks and a legend."""
    left, right, top, bottom = 52, 12, 28, 40
    xs = [x for s in series.values() for x in s[0]]
    ys = [y for s in series.values() for y in s[1] if y is not None and math.isfinite(y)]
    if not xs or not ys:
        return ""
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y0, y1 = min(ys), max(ys)
    if y1 - y0 < 1e-9:
        y0, y1 = y0 - 0.5, y1 + 0.5
    pad = 0.05 * (y1 - y0)
    y0, y1 = y0 - pad, y1 + pad

    def px(x, y):
        return (left + (x - x0) / (x1 - x0) * (width - left - right),
                top + (1 - (y - y0) / (y1 - y0)) * (height - top - bottom))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-size="11" font-family="sans-serif">',
             f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13">{html.escape(title)}</text>',
             f'<rect x="{left}" y="{top}" width="{width - left - right}" height="{height - top - bottom}" fill="none" stroke="#999"/>']
    for i in range(5):
        yv = y0 + (y1 - y0) * i / 4
        _, yp = px(x0, yv)
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{yp:.1f}" y2="{yp:.1f}" stroke="#eee"/>'
                     f'<text x="{left - 4}" y="{yp + 4:.1f}" text-anchor="end">{yv:.3g}</text>')
        xv = x0 + (x1 - x0) * i / 4
        xp, _ = px(xv, y0)
        parts.append(f'<text x="{xp:.1f}" y="{height - bottom + 14}" text-anchor="middle">{xv:.0f}</text>')
    parts.append(f'<text x="{(left + width - right) / 2}" y="{height - 6}" text-anchor="middle">{html.escape(xlabel)}</text>')
    for i, (name, (sx, sy)) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        points = " ".join(f"{a:.1f},{b:.1f}" for a, b in (px(x, y) for x, y in zip(sx, sy) if y is not None and math.isfinite(y)))
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.6" points="{points}"/>')
        parts.append(f'<text x="{left + 8}" y="{top + 14 + 14 * i}" fill="{color}">{html.escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def metrics_table(results: dict) -> str:
    """Rows = metrics, columns = the compared methods (``{name: pona.metrics.Results}``); the best
    value of each row in bold."""
    names = list(results)
    first = results[names[0]]
    rows = []
    for m in first.metrics:
        values = {n: results[n][m.key] for n in names}
        finite = {n: v.value for n, v in values.items() if v.value is not None and math.isfinite(v.value)}
        best = None
        if len(finite) == len(names):
            pick = min if m.key in LOWER_IS_BETTER else max
            best = pick(finite, key=finite.get)
        cells = "".join(f'<td class="{"better" if n == best else ""}">{html.escape(values[n].formatted())}</td>' for n in names)
        why = html.escape(m.error.split(". ")[0]) if m.error else html.escape(m.detail)
        rows.append(f"<tr><td>{html.escape(m.label)}</td>{cells}<td style='text-align:left;color:#666'>{why}</td></tr>")
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    return f"<table><tr><th>metric</th>{head}<th style='text-align:left'>how / why skipped</th></tr>{''.join(rows)}</table>"


def write_demo_report(path: str | os.PathLike, summary: dict, results: dict, figures: dict, curves_html: str) -> Path:
    """The demo report: what ran, the metric table, examples, animation, attention, curves."""
    path = Path(path)
    cfg = summary["config"]
    trained = ("the packaged pretrained checkpoint" if summary["pretrained"]
               else f"{summary['iterations']} iterations ({summary['timings_s'].get('train', 0) / 60:.1f} min, "
                    f"seed {summary['seed']})")
    precision = summary["precision"]
    ran = (f"training in {precision['training']}, " if precision.get("training") else "") + f"inference in {precision['inference']}"
    data = summary["data"]
    scene = {"studio": "in a photo studio (one plain backdrop per person, as in DeepFashion)",
             "street": "in street scenes seen by 6 cameras (as in Market-1501)"}.get(summary["scene"], summary["scene"])
    evaluated = next(iter(results.values()))
    serve = f"pona serve --checkpoint {summary['checkpoint']} --data {Path(path).parent / 'data'}"
    h, w = cfg["image_size"]
    body = f"""<!doctype html><html><head><meta charset="utf-8"><title>pona demo report</title><style>{STYLE}</style></head><body>
<h1>pona demo</h1>
<p class="sub">PoNA (Pose-guided Non-local Attention, Li, Zhang et al., IEEE TIP 2020) trained on synthetic people, on this machine.</p>
<p>Model: {cfg['n_blocks']} PoNA blocks, ngf {cfg['ngf']}, {cfg['norm']} norm, {h}x{w},
{summary['parameters']:,} parameters; trained: {trained}; {html.escape(ran)}.
Data: synthetic people {scene}: {data['train_ids']} for training, {data['test_ids']} held out (never seen in training),
{data['poses']} images each.
Time: {', '.join(f'{k} {v:.0f} s' for k, v in summary['timings_s'].items())}.</p>

<h2>Held-out metrics</h2>
<p>{evaluated.evaluated} held-out pairs of the {data['test_ids']} held-out people, one trained model
({"the packaged checkpoint" if summary["pretrained"] else f"one seed, {summary['seed']}"}; docs/guide/demo-and-web.md gives the spread over seeds).
Legacy protocol of the paper's Table I (see docs/guide/evaluation.md), against copying the condition image,
the answer that keeps the appearance and ignores the pose. Metrics that need pretrained networks are skipped: nothing is downloaded.</p>
{metrics_table(results)}

<h2>Held-out examples</h2>
<figure><img class="fig" src="{data_uri(figures['examples'])}" style="width:100%">
<figcaption>Each example: condition image | target pose | <b>generated</b> | ground truth, for people the model never saw
({h}x{w} pixels, enlarged without smoothing).</figcaption></figure>

<h2>Animation</h2>
<figure><img class="fig" src="{data_uri(figures['animation'])}" style="height:{max(2 * h, 384)}px">
<figcaption>A held-out person driven by a synthetic walk cycle: skeleton | generated frame.</figcaption></figure>

<h2>Where each block looks</h2>
<figure><img class="fig" src="{data_uri(figures['attention'])}">
<figcaption>Fig. 13-style view: for the marked target location, each block's pose-guided attention over the condition image,
and the mean activations of the pose and image codes.</figcaption></figure>

<h2>Training curves</h2>
<div class="charts">{curves_html}</div>

<h2>Next</h2>
<pre>{html.escape(serve)}          # the web app on this model
pona transfer --checkpoint {html.escape(str(summary['checkpoint']))} --image PERSON.png --pose TARGET.json --out out.png</pre>
</body></html>
"""
    with atomic_path(path) as tmp:
        tmp.write_text(body, encoding="utf-8")
    return path
