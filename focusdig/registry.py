"""The model registry: every model version in ``model_versions``, and which are champions.

A row records the directory, its backend (``focusdig.artifacts.BACKENDS``), the sha256 of its
files (checked whenever the pipeline loads it) and, for translators, the source languages it
serves. There is one classifier champion, and one translator champion per source language: the
most recently promoted translator that serves it (a Marian fr->en model can take French while
the multilingual default keeps Chinese and German). Until something else is promoted, the
newest shipped default under ``models/<kind>/`` is the champion, registered on first use.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from focusdig import __version__
from focusdig.artifacts import (
    FOCUSDIG,
    MANIFEST,
    PICKLE_SUFFIXES,
    ArtifactError,
    build_manifest,
    describe,
    model_files,
    newest_model_dir,
    require_safetensors,
    verify_manifest,
)
from focusdig.database import insert_unless_present
from focusdig.langid import normalize_code
from focusdig.paths import SHIPPED_MODELS
from focusdig.schema import ModelVersion, utcnow

KINDS = ("classifier", "translator")
ALL = "*"  # what a classifier serves: everything


def shipped_model_dir(kind: str) -> Path:
    """The newest shipped model directory of ``kind`` (one with a manifest)."""
    return newest_model_dir(SHIPPED_MODELS / kind, f"shipped {kind}")


class RegistryError(ValueError):
    """A registry operation that cannot be done, with the reason."""


def _weights_sha256(files: dict) -> str | None:
    for name in ("model.safetensors", "model.safetensors.index.json"):
        if name in files:
            return files[name]["sha256"]
    return None


def register_model(
    session: Session,
    kind: str,
    path: Path,
    *,
    status: str = "candidate",
    parent_version: str | None = None,
    data_fingerprint: str | None = None,
    metrics: dict | None = None,
    version: str | None = None,
    languages: list[str] | None = None,
    files: dict | None = None,
) -> ModelVersion:
    """The registry row for a model directory (default version: the one its config names).

    ``files``: the manifest to record (default: the directory's manifest.json). Registering is
    idempotent and safe when two runs register the same version at once.
    """
    info = describe(path)
    version = version or info.version
    if not version:
        raise RegistryError(f"{path}: give the model a name")
    query = select(ModelVersion).where(ModelVersion.kind == kind, ModelVersion.version == version)
    row = session.scalar(query)
    if row is None:
        files = files if files is not None else verify_manifest(path)["files"]
        metrics_file = path / "metrics.json"
        if metrics is None and metrics_file.exists():
            metrics = json.loads(metrics_file.read_text("utf-8"))
        if kind == "translator" and languages is None:
            languages = list(info.languages) or None
        values = {
            "kind": kind,
            "version": version,
            "status": status,
            "artifact_path": str(path.resolve()),
            "artifact_sha256": _weights_sha256(files),
            "metrics": metrics,
            "parent_version": parent_version,
            "data_fingerprint": data_fingerprint,
            "code_version": f"focusdig {__version__}",
            "promoted_at": utcnow() if status == "champion" else None,
            "backend": info.backend,
            "languages": languages,
            "files": files,
        }
        insert_unless_present(session, ModelVersion, values)
        row = session.scalar(query)
    return row


def registered_manifest(row: ModelVersion) -> dict | None:
    """The manifest recorded for ``row`` (None for rows registered before it was recorded)."""
    return {"files": row.files} if row.files else None


def manifest_for(session: Session, path: Path) -> dict | None:
    """The recorded manifest of the registered version at ``path``, if any."""
    row = session.scalar(
        select(ModelVersion)
        .where(ModelVersion.artifact_path == str(Path(path).resolve()))
        .order_by(ModelVersion.id.desc())
        .limit(1)
    )
    return registered_manifest(row) if row is not None else None


def artifact_dir(row: ModelVersion) -> Path:
    """Where a registered version's files are; a moved checkout still finds shipped models."""
    path = Path(row.artifact_path)
    if path.is_dir():
        return path
    shipped = SHIPPED_MODELS / row.kind / row.version
    if shipped.is_dir():
        return shipped
    raise FileNotFoundError(f"model {row.kind} {row.version}: no artifact at {path}")


def serves(row: ModelVersion) -> set[str]:
    """The source languages a translator serves (a classifier serves ``ALL``)."""
    if row.kind != "translator":
        return {ALL}
    if row.languages:
        return set(row.languages)
    try:  # rows registered before languages were recorded: what the directory says
        return set(describe(artifact_dir(row)).languages)
    except (ArtifactError, FileNotFoundError):
        return set()


def _champions(session: Session, kind: str) -> list[ModelVersion]:
    """Champions of ``kind``, the most recently promoted first."""
    return list(
        session.scalars(
            select(ModelVersion)
            .where(ModelVersion.kind == kind, ModelVersion.status == "champion")
            .order_by(ModelVersion.promoted_at.desc().nulls_last(), ModelVersion.id.desc())
        )
    )


def _ensure_default(session: Session, kind: str) -> None:
    """Register the shipped default as the first champion of ``kind`` if there is none."""
    if not _champions(session, kind):
        register_model(session, kind, shipped_model_dir(kind), status="champion")


def champion(
    session: Session, kind: str = "classifier", language: str | None = None
) -> ModelVersion:
    """The champion of ``kind`` (for a translator: the one serving ``language``; None: the most
    recently promoted); the shipped default is registered as the first one."""
    _ensure_default(session, kind)
    for row in _champions(session, kind):
        if language is None or ALL in serves(row) or language in serves(row):
            return row
    raise RegistryError(f"no {kind} champion serves {language!r}")


def champions(session: Session, kind: str = "translator") -> dict[str, ModelVersion]:
    """Source language -> the champion serving it (the most recently promoted one)."""
    _ensure_default(session, kind)
    out: dict[str, ModelVersion] = {}
    for row in _champions(session, kind):
        for language in sorted(serves(row)):
            out.setdefault(language, row)
    return out


def list_models(session: Session, kind: str | None = None) -> list[ModelVersion]:
    """Every registered version of ``kind`` (None: every kind), oldest first; each kind's
    shipped default is registered if it has no champion yet."""
    kinds = [kind] if kind else list(KINDS)
    for k in kinds:
        try:
            _ensure_default(session, k)
        except ArtifactError:
            if kind:
                raise
    query = select(ModelVersion).where(ModelVersion.kind.in_(kinds)).order_by(ModelVersion.id)
    return list(session.scalars(query))


def describe_model(row: ModelVersion) -> dict:
    """A registry row as plain data (``models list --json`` and the API)."""
    return {
        "kind": row.kind,
        "version": row.version,
        "backend": row.backend,
        "languages": row.languages,
        "status": row.status,
        "metrics": row.metrics,
        "parent": row.parent_version,
        "created_at": row.created_at.isoformat(),
        "promoted_at": row.promoted_at.isoformat() if row.promoted_at else None,
        "artifact_path": row.artifact_path,
        "artifact_sha256": row.artifact_sha256,
        "data_fingerprint": row.data_fingerprint,
        "code_version": row.code_version,
    }


def _retire_covered(session: Session, kind: str) -> None:
    """Retire champions whose every language is served by a more recently promoted one."""
    covered: set[str] = set()
    for row in _champions(session, kind):
        languages = serves(row)
        if ALL in covered or (covered and languages <= covered):
            row.status = "retired"
        covered |= languages
    session.flush()


def find_version(session: Session, version: str, kind: str | None = None) -> ModelVersion:
    """The registered row named ``version`` (of ``kind`` when the name is ambiguous)."""
    query = select(ModelVersion).where(ModelVersion.version == version)
    if kind:
        query = query.where(ModelVersion.kind == kind)
    rows = list(session.scalars(query))
    if not rows:
        raise RegistryError(f"no {kind or 'model'} version {version!r}; see `focusdig models list`")
    if len(rows) > 1:
        raise RegistryError(f"{version!r} names a classifier and a translator; pass --kind")
    return rows[0]


def promote(session: Session, version: str, kind: str | None = "classifier") -> ModelVersion:
    """Make ``version`` a champion; champions it fully replaces are retired (kept for rollback).

    A translator becomes the champion of every language it serves."""
    row = find_version(session, version, kind)
    artifact_dir(row)  # refuse a version whose files are gone
    _ensure_default(session, row.kind)
    if _champions(session, row.kind)[0].id == row.id:
        return row
    row.status, row.promoted_at = "champion", utcnow()
    session.flush()
    _retire_covered(session, row.kind)
    return row


def rollback(
    session: Session, kind: str = "classifier", language: str | None = None
) -> ModelVersion:
    """Retire the current champion (for a translator: the one serving ``language``, default the
    most recently promoted) and bring back, for each language it served, the champion before
    it; returns the champion now serving (the first of) those languages."""
    current = champion(session, kind, language)
    others = [r for r in _champions(session, kind) if r.id != current.id]
    restore: list[ModelVersion] = []
    for lang in sorted(serves(current)):
        if any(lang in serves(r) for r in others):
            continue  # an older champion still serves it
        previous = next(
            (
                r
                for r in session.scalars(
                    select(ModelVersion)
                    .where(
                        ModelVersion.kind == kind,
                        ModelVersion.status == "retired",
                        ModelVersion.promoted_at.is_not(None),
                        ModelVersion.promoted_at < current.promoted_at,
                    )
                    .order_by(ModelVersion.promoted_at.desc())
                )
                if ALL in serves(r) or lang in serves(r)
            ),
            None,
        )
        if previous is None:
            where = f" for {lang}" if lang != ALL else ""
            raise RegistryError(
                f"no previous {kind} champion{where} to roll back to "
                f"({current.version} is the first)"
            )
        artifact_dir(previous)
        restore.append(previous)
    current.status, current.promoted_at = "retired", None
    for row in restore:
        row.status = "champion"
    session.flush()
    first = sorted(serves(current))[0]
    return champion(session, kind, None if first == ALL else first)


def add_model(
    session: Session,
    path: Path,
    *,
    name: str | None = None,
    languages: list[str] | None = None,
    make_champion: bool = False,
) -> ModelVersion:
    """Register any supported model directory (focusdig's or Hugging Face's) after loading it
    once; records its backend, the sha256 of its files and, for a translator, its languages."""
    from focusdig.classifier import Classifier
    from focusdig.translator import Translator

    path = Path(path).resolve()
    info = describe(path)
    if info.kind == "encoder":
        raise RegistryError(
            f"{path}: an encoder without a classification head; fine-tune it first with "
            "`focusdig train classifier --encoder DIR` and add the directory that writes"
        )
    if (path / MANIFEST).is_file():
        files = verify_manifest(path)["files"]
    else:  # every file the loader may read; pickle and other frameworks' weights never are
        require_safetensors(path)
        names = [n for n in model_files(path) if Path(n).suffix not in PICKLE_SUFFIXES]
        files = build_manifest(path, names)["files"]
    version = name or info.version or path.name
    if languages:
        languages = sorted({normalize_code(lang) for lang in languages})
        if info.kind != "translator":
            raise RegistryError("--languages is for translators (their source languages)")
        if info.backend == FOCUSDIG and not set(languages) <= set(info.languages):
            raise RegistryError(f"{path} translates only {', '.join(info.languages)}")
    elif info.kind == "translator":
        languages = sorted(info.languages)
        if not languages:
            raise RegistryError(f"{path}: say which source languages it serves: --languages xx")
    taken = session.scalar(
        select(ModelVersion.id).where(
            ModelVersion.kind == info.kind, ModelVersion.version == version
        )
    )
    if taken is not None:
        raise RegistryError(f"{info.kind} {version!r} is already registered; pick another --name")
    manifest = {"files": files}
    if info.kind == "classifier":
        Classifier.load(path, device="cpu", manifest=manifest, version=version)
    else:
        Translator.load(path, device="cpu", manifest=manifest, languages=languages, version=version)
    row = register_model(
        session, info.kind, path, version=version, languages=languages, files=files
    )
    if make_champion:
        promote(session, version, info.kind)
    return row
