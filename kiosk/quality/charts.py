"""Charts drawn on the server as SVG text: no script, no colour needed to read them.

Each chart shows one measure, so nothing depends on telling colours apart: bars are
dark grey with a black outline, every bar carries its value as text, and a value that
is not shown (no data, or a per-agency count under 5) is said in words where the bar
would be. Presentation attributes only (``fill``, ``stroke``), never ``style``, so the
page's Content-Security-Policy holds. All text is escaped.
"""

from __future__ import annotations

from html import escape

BAR_FILL = "#555"
FONT = 'font-family="sans-serif"'


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
            + "".join(body) + "</svg>")


def columns(title: str, labels: list[str], values: list[float | None], *, missing: str = "\u2013",
            width: int = 460, height: int = 180) -> str:
    """Vertical bars of fractions 0-1 (e.g. a figure month by month), each labelled with its percentage;
    ``missing`` stands where a value is None (no conference that month)."""
    top, bottom, left = 32, 22, 36
    plot_h = height - top - bottom
    n = max(1, len(labels))
    step = (width - left - 6) / n
    bar_w = max(4.0, step * 0.62)
    body = [f'<text x="0" y="12" {FONT} font-size="12" font-weight="bold">{escape(title)}</text>']
    for frac in (0.0, 0.5, 1.0):  # the scale: 0 %, 50 %, 100 %
        y = top + plot_h * (1 - frac)
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 4}" y2="{y:.1f}" stroke="#999" '
                    f'stroke-width="0.5" stroke-dasharray="{"none" if frac == 0 else "3 3"}"/>')
        body.append(f'<text x="{left - 4}" y="{y + 4:.1f}" {FONT} font-size="10" text-anchor="end">'
                    f'{int(frac * 100)}%</text>')
    for i, (label, value) in enumerate(zip(labels, values)):
        x = left + i * step + (step - bar_w) / 2
        cx = x + bar_w / 2
        if value is None:
            body.append(f'<text x="{cx:.1f}" y="{top + plot_h - 4:.1f}" {FONT} font-size="10" '
                        f'text-anchor="middle">{escape(missing)}</text>')
        else:
            h = plot_h * max(0.0, min(1.0, value))
            y = top + plot_h - h
            body.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{BAR_FILL}" '
                        f'stroke="#000" stroke-width="1"/>')
            body.append(f'<text x="{cx:.1f}" y="{y - 3:.1f}" {FONT} font-size="10" text-anchor="middle">'
                        f'{round(value * 100)}%</text>')
        body.append(f'<text x="{cx:.1f}" y="{height - bottom + 14:.1f}" {FONT} font-size="10" '
                    f'text-anchor="middle">{escape(label)}</text>')
    return _svg(width, height, title, body)


def bars(title: str, labels: list[str], values: list[float | None], notes: list[str], *,
         width: int = 460) -> str:
    """Horizontal bars of fractions 0-1 (e.g. one measure per agency), each with its text (``notes``)."""
    row_h, top, label_w = 22, 22, 150
    height = top + row_h * max(1, len(labels)) + 6
    plot_w = width - label_w - 130
    body = [f'<text x="0" y="12" {FONT} font-size="12" font-weight="bold">{escape(title)}</text>']
    for i, (label, value, note) in enumerate(zip(labels, values, notes)):
        y = top + i * row_h
        body.append(f'<text x="{label_w - 6}" y="{y + 15}" {FONT} font-size="12" text-anchor="end">'
                    f'{escape(label)}</text>')
        body.append(f'<rect x="{label_w}" y="{y + 3}" width="{plot_w}" height="{row_h - 8}" fill="none" '
                    f'stroke="#999" stroke-width="0.5"/>')
        if value is not None:
            w = plot_w * max(0.0, min(1.0, value))
            body.append(f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 8}" fill="{BAR_FILL}" '
                        f'stroke="#000" stroke-width="1"/>')
        body.append(f'<text x="{label_w + plot_w + 6}" y="{y + 15}" {FONT} font-size="12">{escape(note)}</text>')
    return _svg(width, height, title, body)
