"""Text cut into segments, the attended words marked by weight, for the item pages."""

from __future__ import annotations

from dataclasses import dataclass

LEVELS = 5


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    weight: float
    link: int  # the top word's rank: the same number on both sides of a translation


@dataclass(frozen=True)
class Segment:
    """Plain text (level 0) or a highlighted word with its weight level 1..LEVELS."""

    text: str
    level: int = 0
    weight: float = 0.0
    links: tuple[int, ...] = ()


def _merged(spans: list[Span]) -> list[tuple[int, int, float, tuple[int, ...]]]:
    """Identical spans merged (several English words may align to one source word); a span
    overlapping a heavier one is dropped."""
    by_range: dict[tuple[int, int], tuple[float, tuple[int, ...]]] = {}
    for s in spans:
        weight, links = by_range.get((s.start, s.end), (0.0, ()))
        by_range[(s.start, s.end)] = (max(weight, s.weight), (*links, s.link))
    chosen: list[tuple[int, int, float, tuple[int, ...]]] = []
    for (start, end), (weight, links) in sorted(by_range.items(), key=lambda kv: -kv[1][0]):
        if all(end <= c[0] or start >= c[1] for c in chosen):
            chosen.append((start, end, weight, tuple(sorted(links))))
    return sorted(chosen)


def highlight(text: str, spans: list[Span]) -> list[Segment]:
    """``text`` as segments; spans outside the text are ignored. Levels are relative to the
    heaviest word, so the strongest word of every item is level ``LEVELS``."""
    valid = [s for s in spans if 0 <= s.start < s.end <= len(text)]
    merged = _merged(valid)
    heaviest = max((m[2] for m in merged), default=0.0)
    segments, position = [], 0
    for start, end, weight, links in merged:
        if start > position:
            segments.append(Segment(text[position:start]))
        level = max(1, round(LEVELS * weight / heaviest)) if heaviest > 0 else 1
        segments.append(Segment(text[start:end], level, weight, links))
        position = end
    if position < len(text):
        segments.append(Segment(text[position:]))
    return segments


def english_spans(tokens: list[dict]) -> list[Span]:
    return [Span(t["start"], t["end"], t["weight"], rank) for rank, t in enumerate(tokens, 1)]


def source_spans(tokens: list[dict]) -> list[Span]:
    """The source-language words aligned to the top words of a translated item."""
    return [
        Span(t["source_start"], t["source_end"], t["weight"], rank)
        for rank, t in enumerate(tokens, 1)
        if t.get("source_start") is not None and t.get("source_end") is not None
    ]
