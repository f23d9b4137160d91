"""Draw a ``commands.charts.Chart`` as a small PNG with Pillow (pure: bytes in memory, no files).

Pillow is the one drawing dependency: a well-kept library whose wheel (~4.5 MB) ships its own font, so the image
looks the same on every machine without system fonts; matplotlib would bring numpy and ~40 MB for three lines.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import datetime

from PIL import Image, ImageDraw, ImageFont

from commands.charts import Chart, Series

WIDTH = 640
PANEL_HEIGHT = 96
TOP = 30
LEFT, RIGHT = 118, 16
BOTTOM = 26
BACKGROUND = (255, 255, 255)
INK = (29, 28, 29)
MUTED = (110, 110, 110)
GRID = (232, 232, 232)
LINE = (18, 100, 163)
LIMIT = (224, 30, 90)
FLIP = (43, 172, 118)
OVER = (224, 30, 90)


def render_png(chart: Chart) -> bytes:
    height = TOP + PANEL_HEIGHT * len(chart.panels) + BOTTOM
    image = Image.new("RGB", (WIDTH, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=12)
    small = ImageFont.load_default(size=10)
    draw.text((8, 8), chart.title, fill=INK, font=font)
    span = max((chart.until - chart.since).total_seconds(), 1.0)

    def x_of(at: datetime) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * (at - chart.since).total_seconds() / span

    for index, panel in enumerate(chart.panels):
        top = TOP + PANEL_HEIGHT * index
        _panel(draw, panel, top=top, x_of=x_of, font=font, small=small)
    plot_top, plot_bottom = TOP, TOP + PANEL_HEIGHT * len(chart.panels) - 8
    for mark in chart.marks:
        x = x_of(mark.at)
        for y in range(plot_top, plot_bottom, 6):
            draw.line([(x, y), (x, min(y + 3, plot_bottom))], fill=FLIP, width=2)
        draw.text((x + 3, plot_top - 1), mark.label, fill=FLIP, font=small)
    baseline = height - BOTTOM + 6
    draw.text((LEFT, baseline), f"{chart.since:%H:%M}", fill=MUTED, font=small)
    end = f"{chart.until:%H:%M} UTC"
    draw.text((WIDTH - RIGHT - draw.textlength(end, font=small), baseline), end, fill=MUTED, font=small)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _panel(
    draw: ImageDraw.ImageDraw,
    panel: Series,
    *,
    top: int,
    x_of: Callable[[datetime], float],
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    small: ImageFont.FreeTypeFont | ImageFont.ImageFont,
) -> None:
    y0, y1 = top + 14, top + PANEL_HEIGHT - 10  # plot area of this panel
    values = panel.values()
    limit = panel.threshold
    high = max([*values, limit or 0.0, 1e-9]) * 1.15
    if panel.step or not panel.unit:  # on/off states and counts: at least 0…1
        high = max(high, 1.0)

    def y_of(value: float) -> float:
        return y1 - (y1 - y0) * value / high

    draw.rectangle([LEFT, y0, WIDTH - RIGHT, y1], outline=GRID)
    draw.text((8, y0), panel.name, fill=INK, font=font)
    latest = panel.shown(values[-1]) if values else "no data"
    draw.text((8, y0 + 16), f"now {latest}", fill=MUTED, font=small)
    draw.text((LEFT - 4 - draw.textlength(panel.shown(high), font=small), y0 - 5), panel.shown(high), fill=MUTED,
              font=small)  # fmt: skip
    draw.text((LEFT - 10, y1 - 10), "0", fill=MUTED, font=small)
    if limit is not None:
        y = y_of(limit)
        for x in range(LEFT, WIDTH - RIGHT, 8):
            draw.line([(x, y), (min(x + 4, WIDTH - RIGHT), y)], fill=LIMIT, width=1)
        label = f"limit {panel.threshold_label}".replace("≤", "<=")  # the bundled font has no ≤
        draw.text((WIDTH - RIGHT - 4 - draw.textlength(label, font=small), y - 13), label, fill=LIMIT, font=small)
    run: list[tuple[float, float]] = []
    for at, value in (*panel.points, (None, None)):
        if value is None or at is None:
            if len(run) > 1:
                draw.line(run, fill=LINE, width=2, joint="curve")
            run = []
            continue
        point = (x_of(at), y_of(value))
        if panel.step and run:
            run.append((point[0], run[-1][1]))
        run.append(point)
        over = limit is not None and value > limit
        radius = 3 if over else 2
        draw.ellipse(
            [point[0] - radius, point[1] - radius, point[0] + radius, point[1] + radius], fill=OVER if over else LINE
        )
