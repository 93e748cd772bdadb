"""Daily sentiment charts as SVG geometry, drawn on the server (no JavaScript, no CDN).

A chart shows, per UTC day, the volume (bars in the lower part, scaled to the busiest day, whose
count is written on the right) and the mean score
(a line on a fixed -1..1 axis, broken where a day has no scored item). The template turns the
geometry into ``<svg>`` elements; every label goes through the template's autoescaping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from focusdig.queries import DayPoint

WIDTH, HEIGHT = 380, 150
LEFT, RIGHT, TOP, BOTTOM = 30, 30, 10, 22
BAR_SHARE = 0.45  # the busiest day's bar fills this share of the plot's height


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    tip: str


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    sign: str  # negative | neutral | positive: the dot's colour
    tip: str


@dataclass
class DailyChart:
    width: int = WIDTH
    height: int = HEIGHT
    left: float = LEFT
    right: float = WIDTH - RIGHT
    top: float = TOP
    bottom: float = HEIGHT - BOTTOM
    bars: list[Bar] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # polyline "x,y x,y …", one per run of days
    dots: list[Dot] = field(default_factory=list)
    score_ticks: list[tuple[float, str]] = field(default_factory=list)
    x_labels: list[tuple[float, str, str]] = field(default_factory=list)  # x, text, anchor
    busiest: int = 0
    busiest_y: float = 0.0
    summary: str = ""


def _sign(score: float) -> str:
    return "positive" if score > 0.05 else "negative" if score < -0.05 else "neutral"


def daily_chart(
    points: list[DayPoint], first: date, last: date, width: int = WIDTH, height: int = HEIGHT
) -> DailyChart:
    """The chart of ``points`` over the days ``first``..``last`` (inclusive), ``width`` by
    ``height`` pixels."""
    chart = DailyChart(width, height, right=width - RIGHT, bottom=height - BOTTOM)
    days = (last - first).days + 1
    slot = (chart.right - chart.left) / days
    plot_height = chart.bottom - chart.top
    chart.busiest = max((p.items for p in points), default=0)
    bar_height = plot_height * BAR_SHARE
    chart.busiest_y = round(chart.bottom - bar_height, 1)

    def score_y(score: float) -> float:
        return round(chart.top + (1 - score) / 2 * plot_height, 1)

    chart.score_ticks = [(score_y(v), f"{v:+.0f}" if v else "0") for v in (1.0, 0.0, -1.0)]
    run: list[str] = []
    by_day = {p.date: p for p in points if first <= p.date <= last}
    for i in range(days):
        day = first + timedelta(days=i)
        point = by_day.get(day)
        center = chart.left + (i + 0.5) * slot
        if point is None or point.mean_score is None:
            if len(run) > 1:
                chart.lines.append(" ".join(run))
            run = []
        if point is None:
            continue
        tip = f"{day.isoformat()}: {point.items} item(s)"
        if point.items and chart.busiest:
            height = round(point.items / chart.busiest * bar_height, 1)
            chart.bars.append(
                Bar(round(center - slot * 0.35, 1), chart.bottom - height, slot * 0.7, height, tip)
            )
        if point.mean_score is not None:
            y = score_y(point.mean_score)
            run.append(f"{round(center, 1)},{y}")
            mix = f"{point.negative} neg / {point.neutral} neu / {point.positive} pos"
            tip = f"{tip}, mean score {point.mean_score:+.2f} ({mix})"
            chart.dots.append(Dot(round(center, 1), y, _sign(point.mean_score), tip))
    if len(run) > 1:
        chart.lines.append(" ".join(run))
    chart.x_labels = [
        (chart.left, first.strftime("%b %d"), "start"),
        (chart.right, last.strftime("%b %d"), "end"),
    ]
    scored = [p for p in points if p.mean_score is not None]
    items = sum(p.items for p in points)
    mean = (
        sum(p.mean_score * (p.negative + p.neutral + p.positive) for p in scored)
        / max(1, sum(p.negative + p.neutral + p.positive for p in scored))
        if scored
        else None
    )
    chart.summary = f"{items} item(s)" + (f", mean score {mean:+.2f}" if mean is not None else "")
    return chart
