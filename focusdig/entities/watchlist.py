"""The watchlist: entities with a ticker, an optional exchange and aliases in any language.

Files are ``name,ticker,aliases`` CSVs (``exchange`` optional; ``|`` between aliases), validated
whole before anything is written: every bad line is reported and nothing is imported. Importing
a name that is already on the watchlist merges its aliases and ticker into the existing entity.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from focusdig.schema import Entity, EntityAlias

DATA_DIR = Path(__file__).resolve().parent / "data"
BUILTIN_LISTS = {"sp500": DATA_DIR / "sp500.csv"}
SAMPLES_FILE = Path(__file__).resolve().parent.parent / "samples" / "entities.csv"
TICKER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,15}$")
MAX_NAME, MAX_ALIAS, MAX_EXCHANGE = 200, 300, 32


class WatchlistError(ValueError):
    """A watchlist file or entity that cannot be used; the message says where and why."""


@dataclass(frozen=True)
class EntitySpec:
    """One validated entity to add: name, ticker, exchange and aliases."""

    name: str
    ticker: str | None = None
    exchange: str | None = None
    aliases: tuple[str, ...] = ()


@dataclass
class ImportReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def _clean(text: str | None) -> str:
    return " ".join((text or "").split())


def make_spec(
    name: str, ticker: str | None = None, aliases=(), exchange: str | None = None
) -> EntitySpec:
    """A validated spec (names and aliases whitespace-normalised, the ticker upper-cased)."""
    problems = spec_problems(name, ticker, aliases, exchange)
    if problems:
        raise WatchlistError("; ".join(problems))
    name = _clean(name)
    cleaned = [_clean(a) for a in aliases]
    unique = tuple(dict.fromkeys(a for a in cleaned if a and a != name))
    return EntitySpec(
        name=name,
        ticker=_clean(ticker).upper() or None,
        exchange=_clean(exchange) or None,
        aliases=unique,
    )


def spec_problems(name: str, ticker: str | None, aliases, exchange: str | None) -> list[str]:
    """What is wrong with an entity's fields (empty when nothing is)."""
    problems = []
    name = _clean(name)
    if not name:
        problems.append("empty name")
    elif len(name) > MAX_NAME:
        problems.append(f"name longer than {MAX_NAME} characters")
    ticker = _clean(ticker)
    if ticker and not TICKER.match(ticker):
        problems.append(f"ticker {ticker!r} is not letters, digits, '.' or '-' (at most 16)")
    for alias in aliases:
        alias = _clean(alias)
        if not alias:
            problems.append("empty alias")
        elif len(alias) > MAX_ALIAS:
            problems.append(f"alias longer than {MAX_ALIAS} characters")
    if len(_clean(exchange)) > MAX_EXCHANGE:
        problems.append(f"exchange longer than {MAX_EXCHANGE} characters")
    return problems


def read_watchlist_file(path: Path) -> list[EntitySpec]:
    """Validate a whole ``name,ticker,aliases`` CSV; raise listing every bad line."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise WatchlistError(f"{path}: {exc.strerror}") from None
    specs: list[EntitySpec] = []
    errors: list[str] = []
    seen: dict[str, int] = {}
    with handle:
        reader = csv.DictReader(handle)
        columns = [c.strip() for c in reader.fieldnames or []]
        missing = [c for c in ("name", "ticker", "aliases") if c not in columns]
        if missing:
            raise WatchlistError(
                f"{path}: line 1: missing column(s) {', '.join(missing)}; "
                "need name,ticker,aliases (exchange optional)"
            )
        reader.fieldnames = columns
        try:
            for row in reader:
                line = reader.line_num
                if None in row:
                    errors.append(f"line {line}: more fields than columns")
                    continue
                raw_aliases = row.get("aliases") or ""
                aliases = raw_aliases.split("|") if raw_aliases.strip() else []
                problems = spec_problems(
                    row.get("name") or "", row.get("ticker"), aliases, row.get("exchange")
                )
                key = _clean(row.get("name")).casefold()
                if key and key in seen:
                    problems.append(f"{_clean(row.get('name'))!r} already on line {seen[key]}")
                if problems:
                    errors.append(f"line {line}: " + "; ".join(problems))
                    continue
                seen[key] = line
                specs.append(
                    make_spec(row["name"], row.get("ticker"), aliases, row.get("exchange"))
                )
        except (csv.Error, UnicodeDecodeError) as exc:
            errors.append(f"line {reader.line_num}: {exc}")
    if errors:
        raise WatchlistError(
            f"{path}: {len(errors)} bad line(s), nothing imported:\n  " + "\n  ".join(errors)
        )
    if not specs:
        raise WatchlistError(f"{path}: no entities")
    return specs


def current_revision(session: Session) -> int:
    """The watchlist revision: the newest revision of any entity (0 when the list is empty)."""
    return session.scalar(select(func.coalesce(func.max(Entity.revision), 0)))


def find_entity(session: Session, name: str) -> Entity | None:
    """An entity by name (any case), else by ticker, else by alias."""
    key = _clean(name)
    for query in (
        select(Entity).where(func.lower(Entity.name) == key.lower()),
        select(Entity).where(Entity.ticker == key.upper()),
        select(Entity).join(EntityAlias).where(func.lower(EntityAlias.alias) == key.lower()),
    ):
        found = session.scalars(query.order_by(Entity.id).limit(1)).first()
        if found is not None:
            return found
    return None


def save_specs(session: Session, specs: list[EntitySpec], origin: str) -> ImportReport:
    """Add new entities and merge aliases/tickers into existing ones, as one new revision."""
    revision = current_revision(session) + 1
    existing = {
        e.name.casefold(): e
        for e in session.scalars(select(Entity).options(selectinload(Entity.aliases)))
    }
    report = ImportReport()
    for spec in specs:
        entity = existing.get(spec.name.casefold())
        if entity is None:
            entity = Entity(
                name=spec.name,
                ticker=spec.ticker,
                exchange=spec.exchange,
                origin=origin,
                revision=revision,
                aliases=[EntityAlias(alias=a) for a in spec.aliases],
            )
            session.add(entity)
            existing[spec.name.casefold()] = entity
            report.added.append(spec.name)
            continue
        known = {a.alias for a in entity.aliases} | {entity.name}
        new_aliases = [a for a in spec.aliases if a not in known]
        changed = bool(new_aliases)
        entity.aliases.extend(EntityAlias(alias=a) for a in new_aliases)
        for attr in ("ticker", "exchange"):
            value = getattr(spec, attr)
            if value and value != getattr(entity, attr):
                setattr(entity, attr, value)
                changed = True
        if changed:
            entity.revision = revision
            report.updated.append(entity.name)
        else:
            report.unchanged.append(entity.name)
    session.flush()
    return report


def add_entity(
    session: Session,
    name: str,
    ticker: str | None = None,
    aliases=(),
    exchange: str | None = None,
    origin: str = "cli",
) -> ImportReport:
    """Add one entity (or merge new aliases/ticker into the entity of that name)."""
    return save_specs(session, [make_spec(name, ticker, aliases, exchange)], origin)


def remove_entity(session: Session, name: str) -> str:
    """Delete an entity with its aliases, mentions, scores and rollups; returns its name."""
    entity = find_entity(session, name)
    if entity is None:
        raise WatchlistError(f"no entity named {name!r}")
    removed = entity.name
    session.delete(entity)
    session.flush()
    return removed


def import_file(session: Session, path: Path, origin: str = "import") -> ImportReport:
    """Import a watchlist CSV: validated whole first, then saved in the caller's transaction."""
    return save_specs(session, read_watchlist_file(path), origin)


def import_builtin(session: Session, name: str) -> ImportReport:
    """Import one of the lists shipped with focusdig (``BUILTIN_LISTS``)."""
    if name not in BUILTIN_LISTS:
        raise WatchlistError(f"unknown built-in list {name!r}; use one of {sorted(BUILTIN_LISTS)}")
    return save_specs(session, read_watchlist_file(BUILTIN_LISTS[name]), name)


def register_sample_entities(session: Session) -> ImportReport:
    """The fictional companies of the bundled sample feeds (``samples/entities.csv``)."""
    return save_specs(session, read_watchlist_file(SAMPLES_FILE), "samples")
