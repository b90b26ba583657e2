"""Text layout for the charts, computed before anything is drawn: legends that never page, labels that never collide.

ECharts measures text only in the browser, so the app sizes its text here from an estimate that
errs on the wide side (:func:`text_px`, at the projector's enlarged fonts) and a chart width that
errs on the narrow side (:data:`CHART_PX`, a 1024-pixel projector with the sidebar open). A layout that fits these
figures fits every real chart: a wider chart only spreads the labels further apart.

- :func:`legend_rows`: how many rows a plain (wrapping, never paging) legend takes, so that the
  plots start below it.
- :func:`wrap`: line breaks for a subtitle, so that a long one is never cut at the chart's edge.
- :func:`label_rows`: a row for each event label on a time axis, so that labels in one row are at
  least their own width apart (a label starts at its line and reads to the right); rows stack
  upwards above the plot. A label that fits in none of the rows is not drawn (its line is).
"""

from __future__ import annotations

CHART_PX = 560  # the narrowest a chart is drawn: a 1024-px wide projector, the sidebar open
GRID_LEFT = 78  # px left of a time plot (the y axis's labels and name)
GRID_RIGHT = 110  # px right of a time plot (the labels of horizontal lines: "δ_max", "critical" …)
PLOT_PX = CHART_PX - GRID_LEFT - GRID_RIGHT
LABEL_FONT = 12  # px, event labels
LEGEND_FONT = 14  # px, legend entries
SUBTITLE_FONT = 13  # px, a chart's subtitle (where a scenario's numbers go)
SUBTITLE_LINE_PX = 17
ROW_PX = 16  # height of one row of event labels
LEGEND_ROW_PX = 26  # height of one row of the legend
LEGEND_ICON_PX = 25 + 5  # ECharts' legend icon and the gap before its text
LEGEND_GAP_PX = 10  # ECharts' gap between legend entries
MAX_FONT_SCALE = 1.2  # the largest factor the page applies to chart fonts (projector mode)
WIDE = set("MWmw@%—×÷ABCDEFGHKNOQRSUVXYZ")


def text_px(text: str, size: float = LABEL_FONT) -> float:
    """An upper estimate of the width of ``text`` in pixels (sans-serif at ``size`` px, or at the projector's
    larger size: projector mode draws every chart font :data:`MAX_FONT_SCALE` times larger)."""
    return sum(size * MAX_FONT_SCALE * (0.85 if c in WIDE else 0.62) for c in text) + 4


def legend_rows(names: list[str], width: float = CHART_PX - 24, size: float = LEGEND_FONT) -> int:
    """Rows taken by a plain legend of ``names`` (duplicates share one entry) wrapped at ``width`` px."""
    rows, x = 1, 0.0
    for name in dict.fromkeys(names):
        w = LEGEND_ICON_PX + text_px(name, size) + LEGEND_GAP_PX
        if x and x + w > width:
            rows, x = rows + 1, 0.0
        x += w
    return rows


def label_rows(
    xs: list[float], texts: list[str], span: float, n_rows: int, width: float = PLOT_PX, size: float = LABEL_FONT
) -> list[int | None]:
    """A row (0 = nearest the plot) for each label at x (axis units, axis from 0 to ``span``), or None.

    A label occupies [px, px + its width] where px is its line's position; two labels share a
    row only if these intervals are apart. Labels are placed from left to right, each in the
    lowest row where it fits; one that fits in none of the ``n_rows`` rows gets None.
    """
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    ends = [-1e9] * n_rows  # the right end (px) of the last label in each row
    out: list[int | None] = [None] * len(xs)
    for i in order:
        px = xs[i] / max(span, 1e-12) * width
        for r in range(n_rows):
            if px >= ends[r] + 4:
                out[i] = r
                ends[r] = px + text_px(texts[i], size)
                break
    return out


def wrap(text: str, width: float = CHART_PX - 24, size: float = SUBTITLE_FONT) -> str:
    """``text`` with line breaks between words so that no line is wider than ``width`` px (its own breaks kept)."""
    out = []
    for para in text.split("\n"):
        line = ""
        for word in para.split(" "):
            trial = f"{line} {word}" if line else word
            if line and text_px(trial, size) > width:
                out.append(line)
                line = word
            else:
                line = trial
        out.append(line)
    return "\n".join(out)
