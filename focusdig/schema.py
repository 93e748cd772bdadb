"""The database schema (SQLAlchemy 2.0 typed ORM). Alembic revisions in ``db/`` mirror it."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

SOURCE_KINDS = ("news", "comments")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: DateTime(timezone=True)}


class Source(Base):
    """A feed we poll, with its conditional-GET validators and last outcome."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    url: Mapped[str] = mapped_column(String(2000), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="news")
    language: Mapped[str | None] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    follow_comments: Mapped[bool] = mapped_column(Boolean, default=False)
    parent_url: Mapped[str | None] = mapped_column(String(2000))
    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    last_status: Mapped[str | None] = mapped_column(Text)
    last_fetched_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    items: Mapped[list[Item]] = relationship(back_populates="source", passive_deletes=True)


class FetchLog(Base):
    """One row per fetch attempt of a source."""

    __tablename__ = "fetch_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    http_status: Mapped[int | None]
    items_new: Mapped[int] = mapped_column(Integer, default=0)
    items_duplicate: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    warning: Mapped[str | None] = mapped_column(Text)


class Item(Base):
    """A news article or a reader comment, as plain text.

    Unique keys make dedup a database guarantee: (source, guid), the normalised URL, and a
    content hash across sources.
    """

    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("source_id", "guid", name="uq_items_source_guid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    guid: Mapped[str] = mapped_column(String(2000))
    url: Mapped[str | None] = mapped_column(String(2000), unique=True)
    title: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str | None] = mapped_column(String(500))
    published_at: Mapped[datetime | None] = mapped_column(index=True)
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(16), default="news")
    parent_item_id: Mapped[int | None] = mapped_column(
        ForeignKey("items.id", ondelete="SET NULL"), index=True
    )
    parent_url: Mapped[str | None] = mapped_column(String(2000), index=True)
    comments_url: Mapped[str | None] = mapped_column(String(2000))
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    language: Mapped[str | None] = mapped_column(String(16))
    language_confidence: Mapped[float | None] = mapped_column(Float)

    source: Mapped[Source] = relationship(back_populates="items")
    parent: Mapped[Item | None] = relationship(remote_side="Item.id")


item_time = func.coalesce(Item.published_at, Item.fetched_at)
"""An item's time: when it was published, else when it was fetched. Lists are newest first by
it, and date filters and daily series use it; the indexes below serve those reads."""

Index("ix_items_time", item_time, Item.id)
Index("ix_items_source_time", Item.source_id, item_time, Item.id)
Index("ix_items_source_language_time", Item.source_id, Item.language, item_time, Item.id)
# the text filter's trigram indexes are made by migrations only (see focusdig.search)


class ModelVersion(Base):
    """A trained model artifact known to this installation."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("kind", "version", name="uq_model_versions_kind_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # classifier | translator
    version: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="champion")
    artifact_path: Mapped[str] = mapped_column(String(2000))
    artifact_sha256: Mapped[str | None] = mapped_column(String(64))
    metrics: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    parent_version: Mapped[str | None] = mapped_column(String(100))
    data_fingerprint: Mapped[str | None] = mapped_column(String(64))
    code_version: Mapped[str | None] = mapped_column(String(100))
    promoted_at: Mapped[datetime | None]
    # which code reads it (focusdig.artifacts.BACKENDS), the source languages a translator
    # serves (None: all it knows), and the sha256 manifest its files are checked against
    backend: Mapped[str] = mapped_column(String(32), default="focusdig", server_default="focusdig")
    languages: Mapped[list | None] = mapped_column(JSON)
    files: Mapped[dict | None] = mapped_column(JSON)


class Score(Base):
    """The sentiment of one item under one model version.

    ``explanation`` names how the words in ``score_tokens`` were weighted (the loaded model's
    ``explanation``: ``flow`` or ``pooling`` for focusdig's model, ``rollout`` or ``cls`` for a
    Hugging Face classification model, ``pooling`` for a fine-tuned encoder); NULL: not
    recorded (scores stored before revision 0014; focusdig's model then used ``pooling`` until
    2026-11-27 and ``flow`` after).
    """

    __tablename__ = "scores"
    __table_args__ = (UniqueConstraint("item_id", "model_version_id", name="uq_scores_item_model"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    label: Mapped[str] = mapped_column(String(16))
    score: Mapped[float] = mapped_column(Float)
    prob_negative: Mapped[float] = mapped_column(Float)
    prob_neutral: Mapped[float] = mapped_column(Float)
    prob_positive: Mapped[float] = mapped_column(Float)
    scored_at: Mapped[datetime] = mapped_column(default=utcnow)
    explanation: Mapped[str | None] = mapped_column(String(16))  # NULL: not recorded

    tokens: Mapped[list[ScoreToken]] = relationship(
        order_by="ScoreToken.rank", cascade="all, delete-orphan", passive_deletes=True
    )
    model_version: Mapped[ModelVersion] = relationship()


class ScoreToken(Base):
    """A top-attended word of a scored item: rank, weight and character offsets."""

    __tablename__ = "score_tokens"
    __table_args__ = (
        UniqueConstraint("score_id", "rank", name="uq_score_tokens_rank"),
        Index("ix_score_tokens_word", "word"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    score_id: Mapped[int] = mapped_column(ForeignKey("scores.id", ondelete="CASCADE"))
    rank: Mapped[int] = mapped_column(Integer)
    word: Mapped[str] = mapped_column(String(200))
    weight: Mapped[float] = mapped_column(Float)
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)
    # for translated items: the source-language word the English word aligns to
    source_word: Mapped[str | None] = mapped_column(String(200))
    source_start: Mapped[int | None] = mapped_column(Integer)
    source_end: Mapped[int | None] = mapped_column(Integer)


class Translation(Base):
    """The English translation of a non-English item (one per item, never redone)."""

    __tablename__ = "translations"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), unique=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    source_language: Mapped[str] = mapped_column(String(16))
    source_text: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    alignment: Mapped[list | None] = mapped_column(JSON)
    # the model's own probability of its output, length-normalised, in [0, 1]; NULL: unknown
    # (stored before confidences existed) or nothing to translate
    confidence: Mapped[float | None] = mapped_column(Float)
    translated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Label(Base):
    """A person's label for an item or a free text; newer labels supersede, all are kept."""

    __tablename__ = "labels"
    __table_args__ = (Index("ix_labels_text_hash", "text_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int | None] = mapped_column(
        ForeignKey("items.id", ondelete="SET NULL"), index=True
    )
    text: Mapped[str] = mapped_column(Text)
    text_hash: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(16))
    annotator: Mapped[str | None] = mapped_column(String(200))
    origin: Mapped[str] = mapped_column(String(16))  # import | cli | api
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Entity(Base):
    """A company (or any named thing) on the watchlist, with its ticker and aliases.

    ``revision`` is the watchlist revision at which its matching forms last changed: items
    scanned before it are scanned again (see ``focusdig.entities.pipeline``).
    """

    __tablename__ = "entities"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    ticker: Mapped[str | None] = mapped_column(String(32), index=True)
    exchange: Mapped[str | None] = mapped_column(String(32))
    origin: Mapped[str] = mapped_column(String(32), default="cli")  # cli | import | sp500 | samples
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    aliases: Mapped[list[EntityAlias]] = relationship(
        order_by="EntityAlias.id", cascade="all, delete-orphan", passive_deletes=True
    )


class EntityAlias(Base):
    """Another name of an entity, in any language (e.g. a Chinese or German company name)."""

    __tablename__ = "entity_aliases"
    __table_args__ = (UniqueConstraint("entity_id", "alias", name="uq_entity_aliases_alias"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id", ondelete="CASCADE"))
    alias: Mapped[str] = mapped_column(String(300))


class EntityMention(Base):
    """Where an item mentions an entity: the matched form and its character offsets.

    Offsets index into the scored text (``focusdig.scoring.item_text`` or the English
    translation), or, when ``in_source`` is true, into the original-language text of a
    translated item (``translations.source_text``).
    """

    __tablename__ = "entity_mentions"
    __table_args__ = (
        UniqueConstraint(
            "item_id", "entity_id", "in_source", "start", name="uq_entity_mentions_position"
        ),
        # an entity's mentioned items from the index alone (the API's entity filter)
        Index("ix_entity_mentions_entity_item", "entity_id", "item_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id", ondelete="CASCADE"))
    in_source: Mapped[bool] = mapped_column(Boolean, default=False)
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)
    matched: Mapped[str] = mapped_column(String(300))
    how: Mapped[str] = mapped_column(String(16))  # name | alias | ticker | cashtag | exchange


class EntityScore(Base):
    """The sentiment of one item toward one entity, under one model version.

    ``method`` is ``target`` when the classifier was told the target (marker tokens around the
    mentions), ``sentence`` when the model has no target support (or the mention has no
    position in the English text) and the score is that of the sentence(s) containing it.
    ``explanation`` names how the ``top_tokens`` were weighted, as for :class:`Score` (NULL: not
    recorded).
    """

    __tablename__ = "entity_scores"
    __table_args__ = (
        UniqueConstraint(
            "item_id", "entity_id", "model_version_id", name="uq_entity_scores_item_entity_model"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    entity_id: Mapped[int] = mapped_column(
        ForeignKey("entities.id", ondelete="CASCADE"), index=True
    )
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    method: Mapped[str] = mapped_column(String(16))  # target | sentence
    label: Mapped[str] = mapped_column(String(16))
    score: Mapped[float] = mapped_column(Float)
    prob_negative: Mapped[float] = mapped_column(Float)
    prob_neutral: Mapped[float] = mapped_column(Float)
    prob_positive: Mapped[float] = mapped_column(Float)
    top_tokens: Mapped[list] = mapped_column(JSON)  # [{word, weight, start, end}], best first
    scored_at: Mapped[datetime] = mapped_column(default=utcnow)
    explanation: Mapped[str | None] = mapped_column(String(16))  # NULL: not recorded


class EntityScan(Base):
    """An item was scanned for entities against the watchlist as of ``revision``."""

    __tablename__ = "entity_scans"

    item_id: Mapped[int] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), primary_key=True
    )
    revision: Mapped[int] = mapped_column(Integer)
    scanned_at: Mapped[datetime] = mapped_column(default=utcnow)


class EntityDay(Base):
    """Per entity and UTC day (published time, else fetch time): mentions and sentiment.

    Recomputed from the mention and score rows for the (entity, day) pairs a run touched,
    never incremented, so concurrent runs converge.
    """

    __tablename__ = "entity_daily"
    __table_args__ = (Index("ix_entity_daily_day", "day"),)  # the entity list's window

    entity_id: Mapped[int] = mapped_column(
        ForeignKey("entities.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    mentions: Mapped[int] = mapped_column(Integer)  # items that mention the entity
    scored: Mapped[int] = mapped_column(Integer)  # of those, items with an entity score
    mean_score: Mapped[float | None] = mapped_column(Float)
    negative: Mapped[int] = mapped_column(Integer)
    neutral: Mapped[int] = mapped_column(Integer)
    positive: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Alert(Base):
    """A sentiment shift or volume spike of a source (or a watched entity) in one window.

    The unique key makes "once" a database guarantee: one alert per subject, kind, direction
    and UTC day of the window's end, however many runs (concurrent ones included) see it.
    """

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint(
            "subject_kind", "subject", "kind", "direction", "window_day", name="uq_alerts_once"
        ),
        Index("ix_alerts_window_end", "window_end"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_kind: Mapped[str] = mapped_column(String(16))  # source | entity
    subject: Mapped[str] = mapped_column(String(200))  # the source's or entity's name
    source_id: Mapped[int | None] = mapped_column(
        ForeignKey("sources.id", ondelete="SET NULL"), index=True
    )
    entity_id: Mapped[int | None] = mapped_column(
        ForeignKey("entities.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))  # sentiment_shift | volume_spike
    direction: Mapped[str] = mapped_column(String(16))  # negative | positive | up
    window_day: Mapped[date] = mapped_column(Date)
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    baseline_start: Mapped[datetime]
    baseline_mean: Mapped[float] = mapped_column(Float)
    current_mean: Mapped[float] = mapped_column(Float)
    baseline_count: Mapped[int] = mapped_column(Integer)
    current_count: Mapped[int] = mapped_column(Integer)
    z: Mapped[float] = mapped_column(Float)
    items: Mapped[list] = mapped_column(JSON)  # the items that drove it, with their top words
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    deliveries: Mapped[list[AlertDelivery]] = relationship(
        order_by="AlertDelivery.id", passive_deletes=True
    )


class AlertDelivery(Base):
    """The outbox: one row per alert and webhook, written with the alert in one transaction.

    A row stays ``pending`` until its webhook acknowledges it (2xx), and is then never sent
    again. ``target`` is the SHA-256 of the webhook URL (URLs such as Slack's carry a secret),
    ``target_label`` its scheme and host for display. ``claimed_until`` is a short lease so
    that two runs never post the same row at once.
    """

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        UniqueConstraint("alert_id", "target", name="uq_alert_deliveries_target"),
        Index("ix_alert_deliveries_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    target: Mapped[str] = mapped_column(String(64))
    target_label: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | delivered
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_attempt_at: Mapped[datetime | None]
    claimed_until: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
