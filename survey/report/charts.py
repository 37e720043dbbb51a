"""Server-side SVG charts for the index report.

Pure functions: plain dicts in the model's ``to_dict()`` schema in, an SVG string out. The SVGs carry a
viewBox and no fixed size, so CSS scales them to a phone or a laptop and they print; nothing needs JS
or a CDN. Every piece of text goes through :func:`esc`. Labels are passed in already translated, so this
module knows nothing about locales.
"""
from __future__ import annotations

import math
from xml.sax.saxutils import escape

# System fonts with CJK fallbacks (Debian ships Noto CJK / Droid Sans Fallback; phones their own).
FONT = ("system-ui, -apple-system, 'Segoe UI', Roboto, 'Noto Sans CJK SC', 'Source Han Sans SC', "
        "'PingFang SC', 'Microsoft YaHei', 'Droid Sans Fallback', sans-serif")
INK, MUTED, ACCENT, WEAK, GRID = "#1f2933", "#616e7c", "#1f6feb", "#9aa5b1", "#d9dee3"

# ACSI-style layout, chosen so that no two paths cross (CE→CS runs below PV, PQ→CS above it).
NODE_POS = {"PQ": (100, 80), "CE": (100, 300), "PV": (300, 190), "CS": (520, 190),
            "CC": (720, 80), "CL": (720, 300),
            "IM": (100, 450)}  # ECSI/CCSI image, below expectations: IM→CE, IM→CS, IM→CL cross no path
IMAGE_ROW = 150  # extra height of the diagram when the model has an image construct
NODE_W, NODE_H = 176, 66
SIG_LEVEL = 0.05


def esc(text) -> str:
    """Escape text (and quotes) for use inside SVG elements and attributes."""
    return escape(str(text), {'"': "&quot;", "'": "&#39;"})


def fmt(value, digits=2) -> str:
    """Format a number for a chart label; None/NaN become an en dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def _svg(width, height, body, title, css_class) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
            f'class="chart {css_class}" font-family="{esc(FONT)}" font-size="14" '
            f'preserveAspectRatio="xMidYMid meet">'
            f'<title>{esc(title)}</title>{"".join(body)}</svg>')


def _text(x, y, text, *, size=14, anchor="middle", weight="normal", fill=INK, cls=None) -> str:
    klass = f' class="{cls}"' if cls else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'font-weight="{weight}" fill="{fill}"{klass}>{esc(text)}</text>')


def _box_edge(cx, cy, dx, dy):
    """Point where a ray from a node's centre along (dx, dy) leaves the node's rectangle."""
    scale = min((NODE_W / 2) / abs(dx) if dx else math.inf, (NODE_H / 2) / abs(dy) if dy else math.inf)
    return cx + dx * scale, cy + dy * scale


def _fit_size(text, width, size=15, smallest=11):
    """Font size at which bold text fits a width (CJK glyphs count about twice a Latin letter)."""
    units = sum(1.0 if ord(ch) > 0x2E80 else 0.6 for ch in str(text))
    return max(smallest, min(size, int(width / max(units, 1))))


def is_significant(path) -> bool:
    """A path counts as significant when its p value is known and below 0.05."""
    p = path.get("p_value")
    return p is not None and not (isinstance(p, float) and math.isnan(p)) and p < SIG_LEVEL


def path_diagram(result: dict, *, names: dict | None = None, title="Path model",
                 legend=("p < .05", "not significant (p ≥ .05)"), notes: dict | None = None) -> str:
    """Draw the constructs with standardized path coefficients and R² on endogenous constructs.

    ``notes`` = {code: short text} is shown small after a construct's index (e.g. "lower is better").

    Significant paths are solid and blue, non-significant ones dashed and grey (colour is not the only
    cue, so the diagram survives black-and-white printing).
    """
    constructs = result.get("constructs", {})
    names = names or {code: c.get("name_en", code) for code, c in constructs.items()}
    body = ['<defs>'
            f'<marker id="arrow-sig" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
            f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{ACCENT}"/></marker>'
            f'<marker id="arrow-ns" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
            f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{WEAK}"/></marker>'
            '</defs>']
    labels = []
    for path in result.get("paths", []):
        src, dst = NODE_POS.get(path["from"]), NODE_POS.get(path["to"])
        if src is None or dst is None:
            continue
        dx, dy = dst[0] - src[0], dst[1] - src[1]
        x1, y1 = _box_edge(*src, dx, dy)
        x2, y2 = _box_edge(*dst, -dx, -dy)
        sig = is_significant(path)
        style = (f'stroke="{ACCENT}" stroke-width="2.5" marker-end="url(#arrow-sig)"' if sig else
                 f'stroke="{WEAK}" stroke-width="2" stroke-dasharray="6 4" marker-end="url(#arrow-ns)"')
        body.append(f'<line class="path {"sig" if sig else "ns"}" data-from="{esc(path["from"])}" '
                    f'data-to="{esc(path["to"])}" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
                    f'{style}/>')
        mx, my = (x1 + x2) / 2, (y1 + y2) / 2
        if math.hypot(x2 - x1, y2 - y1) < 70:  # short arrow: put the number above it, not on the boxes
            my -= 16
        label = fmt(path.get("std_estimate"))
        labels.append(f'<rect x="{mx - 22:.1f}" y="{my - 11:.1f}" width="44" height="20" rx="4" '
                      f'fill="#fff" opacity="0.9"/>'
                      + _text(mx, my + 4.5, label, size=14, weight="bold" if sig else "normal",
                              fill=INK if sig else MUTED, cls="coef"))
    for code, (cx, cy) in NODE_POS.items():
        if code not in constructs:
            continue
        c = constructs[code]
        body.append(f'<g class="node" data-code="{esc(code)}">'
                    f'<rect x="{cx - NODE_W / 2}" y="{cy - NODE_H / 2}" width="{NODE_W}" height="{NODE_H}" '
                    f'rx="10" fill="#f4f7fb" stroke="{INK}" stroke-width="1.5"/>')
        name = names.get(code, code)
        body.append(_text(cx, cy - 10, name, size=_fit_size(name, NODE_W - 12), weight="bold"))
        note = (notes or {}).get(code)
        index = _text(cx, cy + 10, fmt(c.get("index"), 1), size=15, cls="index")
        if note:
            index = index.replace("</text>", f'<tspan font-size="11" fill="{MUTED}" class="note"> · '
                                             f'{esc(note)}</tspan></text>')
        body.append(index)
        if c.get("r2") is not None:
            body.append(_text(cx, cy + 27, f"R² = {fmt(c['r2'])}", size=13, fill=MUTED, cls="r2"))
        body.append("</g>")
    body.extend(labels)
    low = IMAGE_ROW if "IM" in constructs else 0
    body.append(f'<line x1="20" y1="{378 + low}" x2="60" y2="{378 + low}" stroke="{ACCENT}" stroke-width="2.5"/>'
                + _text(68, 383 + low, legend[0], size=13, anchor="start")
                + f'<line x1="250" y1="{378 + low}" x2="290" y2="{378 + low}" stroke="{WEAK}" stroke-width="2" '
                  f'stroke-dasharray="6 4"/>' + _text(298, 383 + low, legend[1], size=13, anchor="start"))
    return _svg(820, 395 + low, body, title, "path-diagram")


def _nice_ceiling(value):
    """Round an axis maximum up to 1, 2, 2.5 or 5 times a power of ten."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


ZONE_COLOURS = {"improve_first": ("#b42318", "#fdecea"), "next": ("#b54708", "#fef4e6"), "later": (ACCENT, "#ffffff")}


def _zone_band(upper, lower, x_lo, x_hi, y_lo, y_hi, sx, sy, steps=40) -> str:
    """Polygon points of the region between two iso-gain curves importance = g / (100 − performance)
    (``upper`` None = the top of the plot, ``lower`` None = its bottom), clipped to the plot."""
    xs = [x_lo + (x_hi - x_lo) * k / steps for k in range(steps + 1)]

    def curve(g):
        if g is None:
            return None
        return [min(y_hi, max(y_lo, g / max(100 - x, 1e-9))) for x in xs]

    top = curve(upper) or [y_hi] * len(xs)
    bottom = curve(lower) or [y_lo] * len(xs)
    pts = [(sx(x), sy(y)) for x, y in zip(xs, top)] + [(sx(x), sy(y)) for x, y in zip(reversed(xs), reversed(bottom))]
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)


def _place_labels(points, width_of, height=15):
    """Label positions (x, y, anchor) beside each point, nudged up or down so no two labels overlap."""
    placed, out = [], []
    for x, y, text, right_half in points:
        w = width_of(text)
        anchor, x0 = ("end", x - 9 - w) if right_half else ("start", x + 9)
        for dy in (-8, 18, -24, 34, -40, 50, -56, 66):
            box = (x0, y + dy - 12, x0 + w, y + dy + 3)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
                break
        placed.append(box)
        out.append((x - 9 if right_half else x + 9, y + dy, anchor))
    return out


def ipma_chart(levers: list[dict], zones: list[dict], *, title="Importance–performance",
               x_label="Performance (0–100)", y_label="Importance (total effect on satisfaction)",
               zone_labels: dict | None = None) -> str:
    """Importance (y) against performance (x) of the levers, in the decision rule's zones.

    ``levers`` are ``improve_first`` rows and ``zones`` the decision's ``zones`` (``model.decision``):
    the zone borders are the iso-gain curves importance = min_gain / (100 − performance), so a point lies
    in the zone the list gives it. Points are labelled with their priority and item code, as the list.
    """
    zone_labels = zone_labels or {"improve_first": "Improve first", "next": "Next", "later": "Later"}
    width, height, left, right, top, bottom = 640, 470, 70, 20, 20, 90
    points = [r for r in levers if r.get("importance") is not None and r.get("performance") is not None]
    perf = [r["performance"] for r in points] or [50.0]
    imp = [r["importance"] for r in points] or [0.5]
    x_lo = max(0.0, math.floor((min(perf) - 5) / 10) * 10)
    x_hi = min(100.0, math.ceil((max(perf) + 5) / 10) * 10)
    if x_hi <= x_lo:
        x_lo, x_hi = 0.0, 100.0
    y_lo = min(0.0, math.floor(min(imp) * 10) / 10)
    y_hi = _nice_ceiling(max(imp) * 1.15) if max(imp) > 0 else 1.0
    plot_w, plot_h = width - left - right, height - top - bottom

    def sx(v):
        return left + (v - x_lo) / (x_hi - x_lo) * plot_w

    def sy(v):
        return top + (1 - (v - y_lo) / (y_hi - y_lo)) * plot_h

    body = [f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fff" stroke="{GRID}"/>']
    edges = [z.get("min_gain") for z in zones]
    for k, z in enumerate(zones):
        upper = edges[k - 1] if k else None
        body.append(f'<polygon class="zone" data-zone="{esc(z["zone"])}" data-min-gain="'
                    f'{"" if edges[k] is None else f"{edges[k]:.6f}"}" points="'
                    f'{_zone_band(upper, edges[k], x_lo, x_hi, y_lo, y_hi, sx, sy)}" '
                    f'fill="{ZONE_COLOURS.get(z["zone"], (ACCENT, "#fff"))[1]}" stroke="none"/>')
        if edges[k] is not None:
            xs = [x_lo + (x_hi - x_lo) * i / 40 for i in range(41)]
            pts = [(sx(x), sy(edges[k] / max(100 - x, 1e-9))) for x in xs if edges[k] / max(100 - x, 1e-9) <= y_hi]
            if len(pts) > 1:
                body.append(f'<polyline class="zone-edge" points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in pts)}" '
                            f'fill="none" stroke="{MUTED}" stroke-dasharray="4 3"/>')
    body.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="{GRID}"/>')
    for k in range(6):
        xv = x_lo + (x_hi - x_lo) * k / 5
        yv = y_lo + (y_hi - y_lo) * k / 5
        body.append(f'<line x1="{sx(xv):.1f}" y1="{top + plot_h}" x2="{sx(xv):.1f}" y2="{top + plot_h + 5}" '
                    f'stroke="{MUTED}"/>' + _text(sx(xv), top + plot_h + 20, fmt(xv, 0), size=12, fill=MUTED))
        body.append(_text(left - 8, sy(yv) + 4, fmt(yv, 2), size=12, anchor="end", fill=MUTED))
    labels = [f'{r.get("priority", "")}. {r.get("item") or r.get("construct")}' for r in points]
    spots = _place_labels([(sx(r["performance"]), sy(r["importance"]), text, sx(r["performance"]) > left + plot_w * 0.75)
                           for r, text in zip(points, labels)], lambda text: 7.5 * len(text))
    for r, text, (lx, ly, anchor) in zip(points, labels, spots):
        x, y = sx(r["performance"]), sy(r["importance"])
        colour = ZONE_COLOURS.get(r.get("zone"), (ACCENT, ""))[0]
        body.append(f'<g class="point" data-key="{esc(r.get("item") or r.get("construct", ""))}" '
                    f'data-zone="{esc(r.get("zone") or "")}" data-importance="{r["importance"]:.6f}" '
                    f'data-performance="{r["performance"]:.6f}">'
                    f'<circle cx="{x:.1f}" cy="{y:.1f}" r="6" fill="{colour}"/>'
                    + _text(lx, ly, text, size=13, anchor=anchor) + "</g>")
    body.append(_text(left + plot_w / 2, top + plot_h + 42, x_label, size=13))
    body.append(f'<text x="16" y="{top + plot_h / 2:.1f}" font-size="13" text-anchor="middle" fill="{INK}" '
                f'transform="rotate(-90 16 {top + plot_h / 2:.1f})">{esc(y_label)}</text>')
    x = left
    for z in zones:
        colour, tint = ZONE_COLOURS.get(z["zone"], (ACCENT, "#fff"))
        label = zone_labels.get(z["zone"], z["zone"])
        body.append(f'<g class="legend" data-zone="{esc(z["zone"])}"><rect x="{x}" y="{height - 26}" width="14" '
                    f'height="14" fill="{tint}" stroke="{colour}"/><circle cx="{x + 7}" cy="{height - 19}" r="4" '
                    f'fill="{colour}"/>' + _text(x + 20, height - 14, label, size=13, anchor="start") + "</g>")
        x += 36 + _fit_width(label)
    return _svg(width, height, body, title, "ipma-chart")


def _fit_width(text) -> float:
    """Approximate width of 13 px text (CJK glyphs count about twice a Latin letter)."""
    return sum(13.0 if ord(ch) > 0x2E80 else 7.2 for ch in str(text))


def bar_chart(bars: list[dict], *, title="Scores", max_value=100.0) -> str:
    """Horizontal 0–100 bars with 95% CI whiskers; bars are ``{label, value, ci: [lo, hi], note, sub}``
    (``note`` stands in for a missing value, ``sub`` is a small second line under the label)."""
    label_w, width, row_h, top = 170, 500, 34, 10
    plot_w = width - label_w - 56
    height = top + row_h * max(len(bars), 1) + 28

    def sx(v):
        return label_w + max(0.0, min(v, max_value)) / max_value * plot_w

    body = []
    label_size = min([_fit_size(bar["label"], label_w - 10, 14) for bar in bars] or [14])
    for k in range(0, 101, 20):
        x = sx(max_value * k / 100)
        body.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - 24}" stroke="{GRID}"/>'
                    + _text(x, height - 8, fmt(max_value * k / 100, 0), size=12, fill=MUTED))
    for i, bar in enumerate(bars):
        y = top + i * row_h
        if bar.get("sub"):
            body.append(_text(label_w - 8, y + row_h / 2 - 3, bar["label"], size=label_size, anchor="end")
                        + _text(label_w - 8, y + row_h / 2 + 13, bar["sub"], size=11, anchor="end", fill=MUTED,
                                cls="sub"))
        else:
            body.append(_text(label_w - 8, y + row_h / 2 + 5, bar["label"], size=label_size, anchor="end"))
        value = bar.get("value")
        if value is None:
            body.append(_text(label_w + 6, y + row_h / 2 + 5, bar.get("note") or "–", size=13,
                              anchor="start", fill=MUTED))
            continue
        body.append(f'<rect class="bar" data-value="{value:.4f}" x="{label_w}" y="{y + 6}" '
                    f'width="{sx(value) - label_w:.1f}" height="{row_h - 12}" fill="{ACCENT}" opacity="0.85"/>')
        ci = bar.get("ci") or [None, None]
        end = sx(value)
        if ci[0] is not None and ci[1] is not None:
            lo, hi, cy = sx(ci[0]), sx(ci[1]), y + row_h / 2
            end = hi
            body.append(f'<g class="whisker" data-lo="{ci[0]:.4f}" data-hi="{ci[1]:.4f}" stroke="{INK}" '
                        f'stroke-width="1.5"><line x1="{lo:.1f}" y1="{cy}" x2="{hi:.1f}" y2="{cy}"/>'
                        f'<line x1="{lo:.1f}" y1="{cy - 6}" x2="{lo:.1f}" y2="{cy + 6}"/>'
                        f'<line x1="{hi:.1f}" y1="{cy - 6}" x2="{hi:.1f}" y2="{cy + 6}"/></g>')
        body.append(_text(end + 6, y + row_h / 2 + 5, fmt(value, 1), size=13, anchor="start", cls="value"))
    return _svg(width, height, body, title, "bar-chart")


PALETTE = ("#1f6feb", "#b42318", "#067647", "#b54708", "#6941c6", "#3e4c59", "#0e9384")


def trend_chart(waves: list[str], series: list[dict], *, title="Trend across waves",
                y_label="Score (0–100)") -> str:
    """Lines across waves, one per series ``{name, values: [float|None per wave], note}``; gaps stay gaps.
    A series' ``note`` is a small second line under its end label."""
    width, height, left, right, top, bottom = 720, 340, 56, 230, 20, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for s in series for v in s["values"] if v is not None]
    y_lo = max(0.0, math.floor((min(values, default=0) - 5) / 10) * 10)
    y_hi = min(100.0, math.ceil((max(values, default=100) + 5) / 10) * 10)
    if y_hi <= y_lo:
        y_lo, y_hi = 0.0, 100.0
    n = len(waves)

    def sx(i):
        return left + (plot_w / 2 if n == 1 else i * plot_w / (n - 1))

    def sy(v):
        return top + (1 - (v - y_lo) / (y_hi - y_lo)) * plot_h

    body = []
    for k in range(5):
        v = y_lo + (y_hi - y_lo) * k / 4
        body.append(f'<line x1="{left}" y1="{sy(v):.1f}" x2="{left + plot_w}" y2="{sy(v):.1f}" stroke="{GRID}"/>'
                    + _text(left - 6, sy(v) + 4, fmt(v, 0), size=12, anchor="end", fill=MUTED))
    for i, wave in enumerate(waves):
        body.append(_text(sx(i), top + plot_h + 20, wave, size=13))
    end_labels = []
    for j, s in enumerate(series):
        colour = PALETTE[j % len(PALETTE)]
        dash = "" if j < len(PALETTE) else ' stroke-dasharray="5 3"'
        segments, current = [], []
        for i, v in enumerate(s["values"]):
            if v is None:
                if current:
                    segments.append(current)
                current = []
            else:
                current.append((sx(i), sy(v)))
        if current:
            segments.append(current)
        parts = [f'<g class="series" data-name="{esc(s["name"])}">']
        for seg in segments:
            pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in seg)
            parts.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2.5"{dash}/>')
        for i, v in enumerate(s["values"]):
            if v is not None:
                parts.append(f'<circle cx="{sx(i):.1f}" cy="{sy(v):.1f}" r="4" fill="{colour}">'
                             f'<title>{esc(s["name"])}: {fmt(v, 1)}</title></circle>')
        last = next((i for i in range(len(s["values"]) - 1, -1, -1) if s["values"][i] is not None), None)
        if last is not None:
            end_labels.append([sy(s["values"][last]) + 4, f'{s["name"]} {fmt(s["values"][last], 1)}', colour,
                               s.get("note")])
        parts.append("</g>")
        body.extend(parts)
    end_labels.sort()
    for k in range(1, len(end_labels)):  # keep end labels (and a label's note line) at least one line apart
        end_labels[k][0] = max(end_labels[k][0], end_labels[k - 1][0] + (28 if end_labels[k - 1][3] else 15))
    for y, text, colour, note in end_labels:
        body.append(_text(left + plot_w + 10, y, text, size=13, anchor="start", fill=colour, cls="end-label"))
        if note:
            body.append(_text(left + plot_w + 10, y + 13, note, size=11, anchor="start", fill=MUTED, cls="sub"))
    body.append(f'<text x="14" y="{top + plot_h / 2:.1f}" font-size="12" text-anchor="middle" fill="{MUTED}" '
                f'transform="rotate(-90 14 {top + plot_h / 2:.1f})">{esc(y_label)}</text>')
    return _svg(width, height, body, title, "trend-chart")
