"""Alert detection quality on a simulated year of daily news for 200 entities.

Each entity gets its own daily volume (log-normal around 12 items a day, quieter weekends,
day-to-day overdispersion), mean sentiment, spread of single scores and day-to-day wander
(news days share a theme). Into that calm history go events, one every few weeks per entity,
never closer than 15 days apart:

- sentiment shifts: for 24 hours from a random hour, every score moves by one baseline
  standard deviation (the spread of the entity's single scores), up or down;
- volume spikes: for 24 hours, three times the usual items, sentiment unchanged.

The detector runs as the pipeline would: a check every hour (windows end at whole hours, so the
pipeline's runs every 15 minutes give one look an hour) over the last 24 hours against the 14
days before, with the shipped functions (``focusdig.alerts.detect``) and the
shipped rule that an alert whose window overlaps an earlier alert of the same subject, kind
and direction is the same event. An alert is a true positive when its window overlaps an
injected event of its entity, kind and direction; an event is detected when some alert
matches it; the delay is from the event's start to the end of the first matching window
(the check's time). Thresholds other than z stay at their defaults.

    python benchmarks/alert_detection.py            # -> benchmarks/results/alert_detection.json
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from focusdig.alerts.detect import (
    SENTIMENT_SHIFT,
    VOLUME_SPIKE,
    Bin,
    Series,
    Thresholds,
    overlaps_earlier,
    sentiment_shift,
    volume_spike,
)

RESULTS = Path(__file__).resolve().parent / "results" / "alert_detection.json"
HOURS = 24
EPOCH = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday: weekends fall on days 5, 6, 12, 13 …


@dataclass(frozen=True)
class Event:
    entity: int
    kind: str
    direction: str
    start: int  # hour
    window_items: int  # items in the event's 24 hours


def _calm_spread(mean: float, spread: float, day_spread: float, rng) -> float:
    """The standard deviation of an entity's single scores (clipped to -1..1), by sampling."""
    sample = mean + rng.normal(0, day_spread, 20_000) + rng.normal(0, spread, 20_000)
    return float(np.clip(sample, -1, 1).std())


@dataclass(frozen=True)
class Truth:
    """What the simulation knows and a detector does not (for the bounds of
    ``alert_detectors.py``): each entity's calm mean, spread of single scores and spread of
    the day effect, and per hour the sum of each item's score less its calm mean and its
    day's effect."""

    mean: np.ndarray
    spread: np.ndarray
    day_spread: np.ndarray
    residuals: np.ndarray


def simulate(seed: int, entities: int, days: int, event_every: float):
    """Hourly bins (items, sum of scores, sum of squares) per entity, the injected events and
    the simulation's :class:`Truth`."""
    rng = np.random.default_rng(seed)
    hours = days * HOURS
    items = np.zeros((entities, hours))
    total = np.zeros((entities, hours))
    squares = np.zeros((entities, hours))
    events: list[Event] = []
    truth = Truth(np.zeros(entities), np.zeros(entities), np.zeros(entities), np.zeros_like(items))
    weekday = np.array([1.0, 1, 1, 1, 1, 0.4, 0.4])
    for e in range(entities):
        volume = float(np.clip(rng.lognormal(np.log(12), 0.9), 2, 300))
        mean = rng.uniform(-0.3, 0.3)
        spread = rng.uniform(0.35, 0.6)
        day_spread = spread * rng.uniform(0, 0.3)
        sd = _calm_spread(mean, spread, day_spread, rng)
        daily = volume * weekday[np.arange(days) % 7] * rng.gamma(8, 1 / 8, days)
        per_day = rng.poisson(daily)
        day_of = np.repeat(np.arange(days), per_day)
        at = day_of * HOURS + rng.uniform(0, HOURS, day_of.size)
        shift = np.zeros(at.size)
        day_effect = rng.normal(0, day_spread, days)
        extra_at: list[np.ndarray] = []
        start = 21 * HOURS + rng.exponential(event_every) * HOURS
        while start < hours - HOURS:
            hour = int(start)
            in_event = (at >= hour) & (at < hour + HOURS)
            if rng.random() < 2 / 3:
                direction = "positive" if rng.random() < 0.5 else "negative"
                shift[in_event] = sd if direction == "positive" else -sd
                events.append(Event(e, SENTIMENT_SHIFT, direction, hour, int(in_event.sum())))
            else:
                added = rng.poisson(2 * daily[hour // HOURS])
                extra_at.append(hour + rng.uniform(0, HOURS, added))
                events.append(Event(e, VOLUME_SPIKE, "up", hour, int(in_event.sum()) + added))
            start += 15 * HOURS + rng.exponential(event_every) * HOURS
        at = np.concatenate([at, *extra_at])
        shift = np.concatenate([shift, np.zeros(at.size - shift.size)])
        hour_of = at.astype(int)
        base = mean + day_effect[hour_of // HOURS] + rng.normal(0, spread, at.size)
        scores = np.clip(base + shift, -1, 1)
        items[e] = np.bincount(hour_of, minlength=hours)
        total[e] = np.bincount(hour_of, weights=scores, minlength=hours)
        squares[e] = np.bincount(hour_of, weights=scores**2, minlength=hours)
        residuals = scores - mean - day_effect[hour_of // HOURS]
        truth.residuals[e] = np.bincount(hour_of, weights=residuals, minlength=hours)
        truth.mean[e], truth.spread[e], truth.day_spread[e] = mean, spread, day_spread
    return items, total, squares, events, truth


def day_sums(hourly: np.ndarray) -> np.ndarray:
    """``out[:, h]``: the sum over the 24 hours before hour ``h``."""
    padded = np.concatenate([np.zeros((hourly.shape[0], 1)), np.cumsum(hourly, axis=1)], axis=1)
    out = np.zeros_like(padded)
    out[:, HOURS:] = padded[:, HOURS:] - padded[:, :-HOURS]
    return out


def run_checks(items, total, squares, thresholds: Thresholds, step: int) -> list[tuple]:
    """Every finding of the shipped detector at ``thresholds``, one check every ``step`` hours:
    (entity, kind, direction, window end hour, |z|, items in the window)."""
    n_items, n_total, n_squares = day_sums(items), day_sums(total), day_sums(squares)
    found: list[tuple] = []
    days = thresholds.baseline_days
    for e in range(items.shape[0]):
        bins = [
            Bin(int(c), int(c), float(t), float(q))
            for c, t, q in zip(n_items[e], n_total[e], n_squares[e], strict=True)
        ]
        for h in range((days + 1) * HOURS, items.shape[1] + 1, step):
            end = EPOCH + timedelta(hours=h)
            start = end - thresholds.window
            baseline = tuple(bins[h - days * HOURS : h : HOURS])
            series = Series(start, end, start - timedelta(days=days), bins[h], baseline)
            for f in (sentiment_shift(series, thresholds), volume_spike(series, thresholds)):
                if f is not None:
                    found.append((e, f.kind, f.direction, h, abs(f.z), f.current_count))
    return found


def alerts_at(found: list[tuple], z: float) -> list[tuple]:
    """The alerts at threshold ``z`` (both kinds): findings with |z| >= z, less those whose
    window overlaps an earlier alert of the same entity, kind and direction (the shipped rule).

    The detector computes z whatever the threshold and only compares it at the end, so the
    findings at a low threshold filtered by z are exactly what it returns at a higher one.
    """
    alerts = []
    last_end: dict[tuple, datetime] = {}
    for entity, kind, direction, h, abs_z, count in found:  # in order of entity, then time
        if abs_z < z:
            continue
        end = EPOCH + timedelta(hours=h)
        key = (entity, kind, direction)
        if overlaps_earlier(end - timedelta(hours=HOURS), last_end.get(key)):
            continue
        last_end[key] = end
        alerts.append((entity, kind, direction, h, count))
    return alerts


BUCKETS = ("0-4", "5-9", "10-19", "20-49", "50+")


def bucket_of(items: int) -> str:
    """The window-volume bucket of an event or an alert (items in its 24 hours)."""
    edges = (5, 10, 20, 50)
    return BUCKETS[sum(items >= edge for edge in edges)]


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def score(alerts: list[tuple], events: list[Event]) -> dict:
    """Precision, recall and delay per kind."""
    by_entity: dict[int, list[Event]] = {}
    for ev in events:
        by_entity.setdefault(ev.entity, []).append(ev)
    detected: dict[Event, int] = {}
    matched_alerts: dict[Event, int] = {}
    false_positives = {SENTIMENT_SHIFT: 0, VOLUME_SPIKE: 0}
    by_bucket = {kind: {b: [0, 0] for b in BUCKETS} for kind in false_positives}  # [true, all]
    for entity, kind, direction, end, count in alerts:
        match = next(
            (
                ev
                for ev in by_entity.get(entity, [])
                if ev.kind == kind
                and ev.direction == direction
                and end - HOURS < ev.start + HOURS
                and end > ev.start
            ),
            None,
        )
        by_bucket[kind][bucket_of(count)][1] += 1
        if match is None:
            false_positives[kind] += 1
            continue
        by_bucket[kind][bucket_of(count)][0] += 1
        detected.setdefault(match, end - match.start)
        matched_alerts[match] = matched_alerts.get(match, 0) + 1
    report = {}
    for kind in (SENTIMENT_SHIFT, VOLUME_SPIKE):
        injected = [ev for ev in events if ev.kind == kind]
        found = [ev for ev in injected if ev in detected]
        true_alerts = sum(matched_alerts[ev] for ev in found)
        raised = true_alerts + false_positives[kind]
        delays = sorted(detected[ev] for ev in found)
        by_volume = {}
        for label in BUCKETS:
            bucket = [ev for ev in injected if bucket_of(ev.window_items) == label]
            true, raised_here = by_bucket[kind][label]
            by_volume[label] = {
                "events": len(bucket),
                "recall": _ratio(sum(ev in detected for ev in bucket), len(bucket)),
                "alerts": raised_here,
                "precision": _ratio(true, raised_here),
            }
        report[kind] = {
            "events": len(injected),
            "detected": len(found),
            "alerts": raised,
            "false_positives": false_positives[kind],
            "precision": round(true_alerts / raised, 4) if raised else None,
            "recall": round(len(found) / len(injected), 4) if injected else None,
            "alerts_per_detected_event": round(true_alerts / len(found), 3) if found else None,
            "delay_hours_median": float(np.median(delays)) if delays else None,
            "delay_hours_p90": float(np.percentile(delays, 90)) if delays else None,
            "by_window_items": by_volume,
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--entities", type=int, default=200)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--event-every", type=float, default=30.0, help="mean days between")
    parser.add_argument("--step", type=int, default=1, help="hours between checks")
    parser.add_argument(
        "--z", type=float, nargs="*", default=[2.5, 3.0, 3.5, 4.0, 4.5, 5.0], help="z and volume z"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    t0 = time.perf_counter()
    items, total, squares, events, _ = simulate(
        args.seed, args.entities, args.days, args.event_every
    )
    simulated = time.perf_counter() - t0
    defaults = Thresholds()
    lowest = min(args.z)
    t1 = time.perf_counter()
    found = run_checks(
        items, total, squares, replace(defaults, z=lowest, volume_z=lowest), args.step
    )
    checked = time.perf_counter() - t1
    first = (defaults.baseline_days + 1) * HOURS
    checks = args.entities * len(range(first, items.shape[1] + 1, args.step))
    rows = []
    for z in sorted({*args.z, defaults.z}):
        rows.append({"z": z, "volume_z": z, **score(alerts_at(found, z), events)})
        shifts, spikes = rows[-1][SENTIMENT_SHIFT], rows[-1][VOLUME_SPIKE]
        print(
            f"z {z:.1f}: shifts precision {shifts['precision']} recall {shifts['recall']} "
            f"median delay {shifts['delay_hours_median']} h; spikes precision "
            f"{spikes['precision']} recall {spikes['recall']}"
        )
    result = {
        "command": "python benchmarks/alert_detection.py "
        + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k not in ("z", "out")
        ),
        "entities": args.entities,
        "days": args.days,
        "items": int(items.sum()),
        "events": {k: sum(ev.kind == k for ev in events) for k in (SENTIMENT_SHIFT, VOLUME_SPIKE)},
        "check_every_hours": args.step,
        "defaults": asdict(defaults),
        "checks": checks,
        "simulate_seconds": round(simulated, 1),
        "check_seconds": round(checked, 1),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
