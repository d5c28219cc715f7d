#!/usr/bin/env python3
"""Plots a handover run's pace from its JSON debug log (HANDOVER_LOG=handover=debug,
--log-format json): requests answered per second and their round trips (median and 95th
percentile per second) over time, with the pace controller's decisions marked. Writes an
SVG by hand (no plotting library).

    plot_pace.py LOG.jsonl OUT.svg [SWITCH_EPOCH_SECONDS]
"""
import json
import sys
from datetime import datetime

log, out = sys.argv[1], sys.argv[2]
switch = float(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[3] not in ("", "0") else None

answers, decisions = [], []
for line in open(log):
    try:
        ev = json.loads(line)
    except ValueError:
        continue
    f = ev.get("fields", {})
    t = datetime.fromisoformat(ev["timestamp"].replace("Z", "+00:00")).timestamp()
    msg = f.get("message", "")
    if msg == "http" and "elapsed_ms" in f:
        answers.append((t, f["elapsed_ms"], f.get("status")))
    elif msg.startswith("pace:"):
        decisions.append((t, f.get("reason", "?")))
if not answers:
    sys.exit("plot_pace: no http events in the log (was HANDOVER_LOG=handover=debug set?)")

t0 = answers[0][0]
end = answers[-1][0]
secs = int(end - t0) + 1
rate = [0] * secs
throttled = [0] * secs
rtts = [[] for _ in range(secs)]
for t, ms, status in answers:
    i = int(t - t0)
    rate[i] += 1
    if status == 429:
        throttled[i] += 1
    else:
        rtts[i].append(ms)


def q(v, p):
    if not v:
        return None
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))]


p50 = [q(v, 0.5) for v in rtts]
p95 = [q(v, 0.95) for v in rtts]

W, H, PAD = 900, 560, 60
panel_h = (H - 3 * PAD) / 2
x = lambda s: PAD + (W - 2 * PAD) * s / max(secs, 1)
rmax = max(rate) * 1.1 or 1
lmax = max(v for v in p95 if v is not None) * 1.1 or 1


def y_rate(v):
    return PAD + panel_h * (1 - v / rmax)


def y_lat(v):
    return 2 * PAD + panel_h + panel_h * (1 - v / lmax)


def poly(points, colour, width=2):
    pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in points)
    return f'<polyline fill="none" stroke="{colour}" stroke-width="{width}" points="{pts}"/>'


svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
       f'<rect width="{W}" height="{H}" fill="white"/>']
for top, label, vmax in [(PAD, "requests answered per second", rmax), (2 * PAD + panel_h, "round trip, ms (p50 solid, p95 dashed)", lmax)]:
    svg.append(f'<rect x="{PAD}" y="{top}" width="{W - 2 * PAD}" height="{panel_h}" fill="none" stroke="#888"/>')
    svg.append(f'<text x="{PAD}" y="{top - 8}">{label}</text>')
    for k in range(5):
        v = vmax * k / 4
        yy = top + panel_h * (1 - k / 4)
        svg.append(f'<text x="{PAD - 6}" y="{yy + 4:.1f}" text-anchor="end">{v:.0f}</text>')
        svg.append(f'<line x1="{PAD}" x2="{W - PAD}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#eee"/>')
for s in range(0, secs + 1, max(1, secs // 10)):
    svg.append(f'<text x="{x(s):.1f}" y="{H - PAD + 18}" text-anchor="middle">{s} s</text>')
svg.append(poly([(x(i + 0.5), y_rate(v)) for i, v in enumerate(rate)], "#1f77b4"))
svg.append(poly([(x(i + 0.5), y_rate(v)) for i, v in enumerate(throttled)], "#d62728", 1))
svg.append(poly([(x(i + 0.5), y_lat(v)) for i, v in enumerate(p50) if v is not None], "#2ca02c"))
svg.append(poly([(x(i + 0.5), y_lat(v)) for i, v in enumerate(p95) if v is not None], "#2ca02c", 1).replace("<polyline", '<polyline stroke-dasharray="4 3"'))
colours = {"429": "#d62728", "latency": "#ff7f0e", "probe": "#9467bd", "slower server": "#8c564b", "5xx": "#e377c2"}
for t, reason in decisions:
    xx = x(t - t0)
    svg.append(f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{PAD + panel_h - 8}" y2="{PAD + panel_h}" stroke="{colours.get(reason, "#555")}"/>')
if switch:
    xx = x(switch - t0)
    svg.append(f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{PAD}" y2="{H - PAD}" stroke="#000" stroke-dasharray="2 4"/>')
    svg.append(f'<text x="{xx + 4:.1f}" y="{PAD + 14}">server: 20 ms → 400 ms</text>')
legend = [("answered/s", "#1f77b4"), ("429/s", "#d62728"), ("round trip", "#2ca02c")] + \
    [(f"decision: {k}", c) for k, c in colours.items() if any(r == k for _, r in decisions)]
# Laid out by the names' lengths (about 7 px a character at 12 px), wrapping to a second
# row rather than running off the picture.
lx, ly = PAD + 10, H - 30
for name, colour in legend:
    width = 14 + 7 * len(name) + 18
    if lx + width > W - 10:
        lx, ly = PAD + 10, ly + 16
    svg.append(f'<rect x="{lx}" y="{ly}" width="10" height="10" fill="{colour}"/>')
    svg.append(f'<text x="{lx + 14}" y="{ly + 9}">{name}</text>')
    lx += width
svg.append("</svg>")
open(out, "w").write("\n".join(svg) + "\n")
print(f"plot_pace: {len(answers)} answers over {secs} s, {len(decisions)} decisions -> {out}")
