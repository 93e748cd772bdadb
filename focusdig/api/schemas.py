"""Response and request bodies of the JSON API (Pydantic)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SentimentLabel = Literal["negative", "neutral", "positive"]
QueueStrategy = Literal["margin", "entropy", "random"]
EXPLANATION = (
    "how top_tokens were weighted: flow or pooling (focusdig's model), rollout or cls (a "
    "Hugging Face classification model); null: not recorded (scores stored before the method "
    "was recorded, 2026-11-27)"
)


class TopToken(BaseModel):
    """A word the model attended to; offsets index the scored text (the English translation
    for translated items, whose words also carry the aligned source-language word)."""

    word: str
    weight: float
    start: int
    end: int
    source_word: str | None = None
    source_start: int | None = None
    source_end: int | None = None


class Probs(BaseModel):
    negative: float
    neutral: float
    positive: float


class EntityToken(BaseModel):
    """A word that drove an item's score toward an entity; offsets index the scored text."""

    word: str
    weight: float
    start: int
    end: int


class EntityMentionOut(BaseModel):
    matched: str = Field(description="the text that matched, as written")
    how: Literal["name", "alias", "ticker", "cashtag", "exchange"]
    start: int
    end: int
    in_source: bool = Field(
        description="offsets index the original text of a translated item, not the scored text"
    )


class ItemEntityOut(BaseModel):
    """A watched entity an item mentions, with the item's newest score toward it."""

    name: str
    ticker: str | None
    label: SentimentLabel | None = Field(description="null while not scored toward the entity")
    score: float | None = Field(description="P(positive) - P(negative) toward the entity")
    probs: Probs | None
    method: Literal["target", "sentence"] | None = Field(
        description="target: the model was told the entity; sentence: the score of the "
        "sentence(s) that mention it (a model without target support)"
    )
    model_version: str | None
    top_tokens: list[EntityToken]
    explanation: str | None = Field(description=EXPLANATION)
    mentions: list[EntityMentionOut]


class ItemOut(BaseModel):
    id: int
    source: str
    kind: str
    url: str | None
    title: str
    text: str
    language: str | None
    published_at: datetime | None
    fetched_at: datetime
    parent_item_id: int | None
    translated_text: str | None
    translation_confidence: float | None = Field(
        description="the translator's confidence in translated_text, in [0, 1] (null: not "
        "translated, or translated before confidences were recorded)"
    )
    translation_flagged: bool = Field(
        description="the translation's confidence is below FOCUSDIG_MIN_TRANSLATION_CONFIDENCE: "
        "the translation, and so the score, may be noise"
    )
    label: SentimentLabel | None = Field(description="the latest score's label")
    score: float | None = Field(description="P(positive) - P(negative), in [-1, 1]")
    probs: Probs | None
    top_tokens: list[TopToken]
    explanation: str | None = Field(description=EXPLANATION)
    model_version: str | None
    user_label: SentimentLabel | None = Field(description="the current label given by a person")
    entities: list[ItemEntityOut] = Field(description="watched entities the item mentions")


class ItemPageOut(BaseModel):
    items: list[ItemOut]
    total: int = Field(description="matching items, counted up to a cap (see total_exact)")
    total_exact: bool = Field(description="false when more items match than the count cap")
    limit: int
    offset: int


class EntityOut(BaseModel):
    """A watched entity with its figures over the window of ``days`` UTC days (today
    included), from the daily rollups."""

    name: str
    ticker: str | None
    exchange: str | None
    origin: str = Field(description="how it joined the watchlist: cli, import, sp500, samples")
    aliases: list[str]
    mentions: int = Field(description="items that mention it")
    scored: int = Field(description="of those, items scored toward it")
    mean_score: float | None = Field(description="mean score toward it, in [-1, 1]")
    recent_days: int = Field(description="the window's last days that the trend calls recent")
    recent_mentions: int
    recent_mean_score: float | None
    trend: float | None = Field(
        description="mean score of the recent days minus that of the window's days before them"
    )
    last_mentioned: date | None = Field(description="the latest UTC day with a mention")


class EntityPageOut(BaseModel):
    entities: list[EntityOut]
    total: int = Field(description="entities on the watchlist")
    days: int
    sort: str
    limit: int
    offset: int


class EntityDayOut(BaseModel):
    date: date
    mentions: int
    scored: int
    mean_score: float | None
    negative: int
    neutral: int
    positive: int


class EntityItemOut(ItemOut):
    entity_score: ItemEntityOut = Field(description="this item's entry for the entity shown")


class EntityDetailOut(EntityOut):
    days: int
    series: list[EntityDayOut] = Field(description="one row per UTC day with mentions")
    items: list[EntityItemOut] = Field(description="the newest items that mention it")


class SourceOut(BaseModel):
    name: str
    kind: str
    language: str | None
    enabled: bool
    url: str
    last_status: str | None
    last_fetched_at: datetime | None


class ModelOut(BaseModel):
    kind: str
    version: str
    backend: str  # focusdig, hf-encoder, hf-sequence-classification or marian
    languages: list[str] | None  # a translator's source languages (None: all it knows)
    status: str
    metrics: dict | None
    parent: str | None
    created_at: datetime
    promoted_at: datetime | None
    artifact_sha256: str | None
    data_fingerprint: str | None
    code_version: str | None


class HealthOut(BaseModel):
    status: Literal["ok", "error"]
    version: str
    database: str
    champions: dict[str, str | None]
    writes_enabled: bool


class QueueToken(BaseModel):
    word: str
    weight: float
    start: int
    end: int


class QueueEntry(BaseModel):
    item_id: int
    text: str = Field(description="the scored text (English translation if translated)")
    source_text: str | None = Field(description="the original of a translated item")
    language: str | None
    label: SentimentLabel
    score: float
    probs: Probs
    uncertainty: float
    top_tokens: list[QueueToken]
    explanation: str | None = Field(description=EXPLANATION)


class LabelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_id: int = Field(ge=1)
    label: SentimentLabel


class LabelOut(BaseModel):
    item_id: int
    label: SentimentLabel
    annotator: str
    stored: bool = Field(description="false when the item already had this label")


class AlertWord(BaseModel):
    word: str
    weight: float


class AlertItem(BaseModel):
    """An item that drove an alert, as it was when the alert was made."""

    id: int
    source: str
    title: str
    url: str | None
    time: datetime = Field(description="published time, else fetch time")
    score: float | None
    top_words: list[AlertWord]
    explanation: str | None = Field(
        None, description="how the top words were weighted (flow, pooling, rollout, cls)"
    )


class AlertOut(BaseModel):
    """A sentiment shift or a volume spike of one subject in one window (also the body of the
    webhook posts, with ``schema`` and ``text`` added)."""

    id: int
    subject_kind: Literal["source", "entity"]
    subject: str = Field(description="the source's or entity's name")
    source: str | None
    entity: str | None
    kind: Literal["sentiment_shift", "volume_spike"]
    direction: Literal["negative", "positive", "up"]
    window_start: datetime
    window_end: datetime
    baseline_start: datetime
    baseline_mean: float = Field(description="mean score; for a spike, items expected")
    current_mean: float = Field(description="mean score in the window; for a spike, items")
    baseline_count: int = Field(description="scored items (a spike: items) in the baseline")
    count: int = Field(description="scored items (a spike: items) in the window")
    z: float
    items: list[AlertItem]
    created_at: datetime
    delivered_at: datetime | None = Field(description="when every webhook had acknowledged it")
    pending_deliveries: int
