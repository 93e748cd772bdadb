"""The database schema (SQLAlchemy 2.0 typed ORM). Alembic revisions in ``db/`` mirror it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
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
it, and date filters and daily series use it; the two indexes below serve those reads."""

Index("ix_items_time", item_time, Item.id)
Index("ix_items_source_time", Item.source_id, item_time, Item.id)


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


class Score(Base):
    """The sentiment of one item under one model version."""

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
