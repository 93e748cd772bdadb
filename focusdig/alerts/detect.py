"""Alert detection as pure functions over windowed series: no database, no clock.

A subject (a source or a watched entity) is seen through its items: when each happened and
its sentiment score (None while unscored). :func:`window_series` cuts them into the latest
window (default the last 24 hours) and a baseline of whole days before it (default 14), each
reduced to a :class:`Bin` of counts and sums. Two tests run on that:

- :func:`sentiment_shift`: the window's mean score against the baseline's, as a z statistic.
  Its standard error comes from the baseline's spread: the spread of single scores, plus how
  much whole days wander around the mean beyond what their size explains (news days share a
  theme, so scores of one day are not independent). Without that day-to-day term a busy
  subject would alert on ordinary day-to-day swings.
- :func:`volume_spike`: the window's item count against the baseline's daily counts (their
  spread, floored at the Poisson spread ``sqrt(mean)``).

Both refuse to judge on too little data (see :class:`Thresholds`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

SENTIMENT_SHIFT = "sentiment_shift"
VOLUME_SPIKE = "volume_spike"
KINDS = (SENTIMENT_SHIFT, VOLUME_SPIKE)
MIN_SPREAD = 0.05  # floor of the score spread: a flat history must not make any wiggle "huge"
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Thresholds:
    """When a window is judged, and how far it must depart to alert.

    - ``window_hours`` / ``baseline_days``: the latest window, and the whole days before it
      that it is compared with.
    - ``z``: |z| of the window's mean score against the baseline's needed for a shift. 4, not
      the textbook 3: checked every hour over a sliding window, 3 raised about two false
      alarms per true one on the simulated year of ``benchmarks/alert_detection.py``.
    - ``min_change``: the least absolute change of the mean score that counts (on -1..1), so a
      very busy subject does not alert on a significant but negligible drift.
    - ``min_window_items`` / ``min_baseline_items``: scored items needed on each side.
    - ``min_baseline_days``: days of history the baseline must cover (days before a subject's
      first item do not count as quiet days).
    - ``volume_z`` / ``min_volume``: z of the window's item count against the baseline's daily
      counts needed for a spike, and the least item count that can be one.
    """

    window_hours: float = 24.0
    baseline_days: int = 14
    z: float = 4.0
    min_change: float = 0.1
    min_window_items: int = 5
    min_baseline_items: int = 10
    min_baseline_days: int = 7
    volume_z: float = 4.0
    min_volume: int = 10

    def __post_init__(self) -> None:
        if self.window_hours <= 0 or self.baseline_days < 1:
            raise ValueError("window_hours must be > 0 and baseline_days >= 1")
        if self.z <= 0 or self.volume_z <= 0:
            raise ValueError("z thresholds must be > 0")
        if not 2 <= self.min_baseline_days <= self.baseline_days:
            raise ValueError("min_baseline_days must be between 2 and baseline_days")

    @property
    def window(self) -> timedelta:
        return timedelta(hours=self.window_hours)


@dataclass(frozen=True)
class Bin:
    """The items of one stretch of time: how many, and sums over their scores."""

    items: int = 0
    scored: int = 0
    total: float = 0.0  # sum of scores
    squares: float = 0.0  # sum of squared scores

    @property
    def mean(self) -> float | None:
        return self.total / self.scored if self.scored else None

    def add(self, score: float | None) -> Bin:
        if score is None:
            return Bin(self.items + 1, self.scored, self.total, self.squares)
        return Bin(self.items + 1, self.scored + 1, self.total + score, self.squares + score**2)


@dataclass(frozen=True)
class Series:
    """One subject cut for one check: the window and the baseline days (oldest first) that
    the subject's history covers."""

    window_start: datetime
    window_end: datetime
    baseline_start: datetime
    window: Bin
    baseline: tuple[Bin, ...]


@dataclass(frozen=True)
class Finding:
    """What a test found: kind, direction, baseline and current figures, z.

    For a sentiment shift the means are mean scores and the counts scored items; for a volume
    spike the means are items per window length and the counts items.
    """

    kind: str
    direction: str  # negative | positive (sentiment), up (volume)
    baseline_mean: float
    current_mean: float
    baseline_count: int
    current_count: int
    z: float


def window_end(moment: datetime) -> datetime:
    """Where a check's window ends: the last whole hour. Checks within one hour (the pipeline
    runs every 15 minutes) judge the same window, so a subject gets one look an hour, as in the
    benchmark."""
    return moment.replace(minute=0, second=0, microsecond=0)


def window_series(
    events: Iterable[tuple[datetime, float | None]],
    now: datetime,
    thresholds: Thresholds,
    first_seen: datetime | None = None,
) -> Series:
    """Cut ``(time, score)`` events into the window ``[now - window, now)`` and whole baseline
    days before it. ``first_seen`` is the subject's first item ever (None: the earliest event);
    baseline days that end before it are left out. Events outside both are ignored."""
    window_start = now - thresholds.window
    baseline_start = window_start - thresholds.baseline_days * DAY
    window = Bin()
    days = [Bin() for _ in range(thresholds.baseline_days)]
    earliest: datetime | None = None
    for at, score in events:
        if at >= now or at < baseline_start:
            continue
        earliest = at if earliest is None else min(earliest, at)
        if at >= window_start:
            window = window.add(score)
        else:
            index = int((at - baseline_start) / DAY)
            days[index] = days[index].add(score)
    first = first_seen if first_seen is not None else earliest
    if first is None or first >= window_start:
        covered: list[Bin] = []
    else:
        # a day the subject began part-way through is not a whole day of its history
        skipped = max(0, math.ceil((first - baseline_start) / DAY))
        covered = days[skipped:]
    return Series(window_start, now, baseline_start, window, tuple(covered))


def normal_equivalent(t: float, df: float) -> float:
    """The z whose normal tail probability equals that of ``t`` under Student's t with ``df``
    degrees of freedom: a spread estimated from a short baseline makes large values commoner
    than the normal curve says, and this puts them back on the normal scale (|result| <= |t|).

    scipy.special's distribution functions, imported here: scipy.stats (the same functions
    behind ``t.sf`` and ``norm.isf``) costs every command that reads the settings ~0.5 s."""
    from scipy.special import ndtri, stdtr

    tail = float(stdtr(df, -abs(t)))  # Student's t upper tail
    if tail <= 0.0:  # beyond floating point: t is enormous either way
        return t
    return math.copysign(-float(ndtri(tail)), t)  # the normal z with that upper tail


def _sentiment_spread(days: Sequence[Bin]) -> tuple[float, float]:
    """(variance of single scores, variance of the day effect) over the baseline days."""
    n = sum(d.scored for d in days)
    total = sum(d.total for d in days)
    variance = max(0.0, (sum(d.squares for d in days) - total**2 / n) / (n - 1))
    variance = max(variance, MIN_SPREAD**2)
    with_data = [d for d in days if d.scored]
    if len(with_data) < 2:
        return variance, 0.0
    # one-way random effects (method of moments): the between-day sum of squares beyond
    # what the within-day spread explains, per effective item
    between = sum(d.total**2 / d.scored for d in with_data) - total**2 / n
    within = sum(d.squares - d.total**2 / d.scored for d in with_data)
    if n > len(with_data):
        within_variance = max(within / (n - len(with_data)), MIN_SPREAD**2)
    else:
        within_variance = variance
    effective = n - sum(d.scored**2 for d in with_data) / n
    day_variance = (between - (len(with_data) - 1) * within_variance) / effective
    return variance, max(0.0, day_variance)


def sentiment_shift(series: Series, thresholds: Thresholds) -> Finding | None:
    """A shift of the window's mean score against the baseline's, or None (calm, or too little
    data: fewer scored items than the minimums, or a baseline shorter than required)."""
    window, days = series.window, series.baseline
    n_baseline = sum(d.scored for d in days)
    if (
        len(days) < thresholds.min_baseline_days
        or window.scored < thresholds.min_window_items
        or n_baseline < max(2, thresholds.min_baseline_items)
    ):
        return None
    baseline_mean = sum(d.total for d in days) / n_baseline
    current_mean = window.total / window.scored
    variance, day_variance = _sentiment_spread(days)
    day_weight = sum(d.scored**2 for d in days) / n_baseline**2
    item_part = variance * (1 / window.scored + 1 / n_baseline)
    day_part = day_variance * (1 + day_weight)
    change = current_mean - baseline_mean
    t = change / math.sqrt(item_part + day_part)
    if abs(t) < thresholds.z or abs(change) < thresholds.min_change:
        return None  # the normal-equivalent z is never larger than t
    # Welch-Satterthwaite degrees of freedom of the two variance estimates
    days_with_data = sum(1 for d in days if d.scored)
    spread_df = item_part**2 / (n_baseline - 1)
    if day_part > 0:
        spread_df += day_part**2 / (days_with_data - 1)
    z = normal_equivalent(t, (item_part + day_part) ** 2 / spread_df)
    if abs(z) < thresholds.z:
        return None
    direction = "positive" if change > 0 else "negative"
    return Finding(
        SENTIMENT_SHIFT, direction, baseline_mean, current_mean, n_baseline, window.scored, z
    )


def volume_spike(series: Series, thresholds: Thresholds) -> Finding | None:
    """A spike of the window's item count against the baseline's daily counts, or None.

    A window shorter or longer than a day is compared with the daily figures scaled to it.
    """
    days = series.baseline
    if len(days) < thresholds.min_baseline_days:
        return None
    count = series.window.items
    if count < thresholds.min_volume:
        return None
    scale = thresholds.window_hours / 24
    counts = [d.items for d in days]
    mean = sum(counts) / len(counts)
    spread = math.sqrt(sum((c - mean) ** 2 for c in counts) / (len(counts) - 1))
    expected = mean * scale
    floor = math.sqrt(max(expected, 1.0))  # Poisson spread at least, and never below one item
    if spread * scale > floor:  # the spread estimated from the baseline's days
        t = (count - expected) / (spread * scale)
        z = normal_equivalent(t, len(counts) - 1) if t >= thresholds.volume_z else t
    else:
        z = (count - expected) / floor
    if z < thresholds.volume_z:
        return None
    return Finding(VOLUME_SPIKE, "up", expected, float(count), sum(counts), count, z)


def detect(series: Series, thresholds: Thresholds) -> list[Finding]:
    """Every finding of one subject's series: a sentiment shift, a volume spike, both or none."""
    found = (sentiment_shift(series, thresholds), volume_spike(series, thresholds))
    return [f for f in found if f is not None]


def overlaps_earlier(window_start: datetime, earlier_window_end: datetime | None) -> bool:
    """Whether an earlier alert of the same subject, kind and direction covers part of this
    window (then this window is the same event seen again, and does not alert again)."""
    return earlier_window_end is not None and earlier_window_end > window_start
