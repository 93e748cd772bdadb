"""Which model version is the champion: the registry rows in ``model_versions``.

Until retraining exists, the champion of each kind (classifier, translator) is the newest
shipped default under ``models/<kind>/``, registered on first use.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from focusdig import __version__
from focusdig.classifier.artifacts import ArtifactError, sha256_file
from focusdig.database import insert_unless_present
from focusdig.paths import SHIPPED_MODELS
from focusdig.schema import ModelVersion, utcnow


def _version_key(path: Path) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def shipped_model_dir(kind: str) -> Path:
    """The newest shipped model directory of ``kind`` (one with a manifest)."""
    root = SHIPPED_MODELS / kind
    dirs = [p for p in root.glob("*") if (p / "manifest.json").is_file()] if root.is_dir() else []
    if not dirs:
        raise ArtifactError(f"no shipped {kind} model under {root}")
    return max(dirs, key=_version_key)


class RegistryError(ValueError):
    """A registry operation that cannot be done, with the reason."""


def register_model(
    session: Session,
    kind: str,
    path: Path,
    *,
    status: str = "candidate",
    parent_version: str | None = None,
    data_fingerprint: str | None = None,
    metrics: dict | None = None,
) -> ModelVersion:
    """The registry row for a model directory (its ``config.json`` names the version).

    Registering is idempotent and safe when two runs register the same version at once.
    """
    config = json.loads((path / "config.json").read_text("utf-8"))
    query = select(ModelVersion).where(
        ModelVersion.kind == kind, ModelVersion.version == config["version"]
    )
    row = session.scalar(query)
    if row is None:
        metrics_file = path / "metrics.json"
        if metrics is None and metrics_file.exists():
            metrics = json.loads(metrics_file.read_text("utf-8"))
        values = {
            "kind": kind,
            "version": config["version"],
            "status": status,
            "artifact_path": str(path.resolve()),
            "artifact_sha256": sha256_file(path / "model.safetensors"),
            "metrics": metrics,
            "parent_version": parent_version,
            "data_fingerprint": data_fingerprint,
            "code_version": f"focusdig {__version__}",
            "promoted_at": utcnow() if status == "champion" else None,
        }
        insert_unless_present(session, ModelVersion, values)
        row = session.scalar(query)
    return row


def champion(session: Session, kind: str = "classifier") -> ModelVersion:
    """The current champion of ``kind``; the shipped default is registered as the first one."""
    row = session.scalar(
        select(ModelVersion)
        .where(ModelVersion.kind == kind, ModelVersion.status == "champion")
        .order_by(ModelVersion.id.desc())
        .limit(1)
    )
    if row is None:
        row = register_model(session, kind, shipped_model_dir(kind), status="champion")
    return row


def artifact_dir(row: ModelVersion) -> Path:
    """Where a registered version's files are; a moved checkout still finds shipped models."""
    path = Path(row.artifact_path)
    if path.is_dir():
        return path
    shipped = SHIPPED_MODELS / row.kind / row.version
    if shipped.is_dir():
        return shipped
    raise FileNotFoundError(f"model {row.kind} {row.version}: no artifact at {path}")


def list_models(session: Session, kind: str = "classifier") -> list[ModelVersion]:
    """Every registered version of ``kind``, oldest first (the champion registered if none)."""
    champion(session, kind)
    query = select(ModelVersion).where(ModelVersion.kind == kind).order_by(ModelVersion.id)
    return list(session.scalars(query))


def describe_model(row: ModelVersion) -> dict:
    """A registry row as plain data (``models list --json`` and the API)."""
    return {
        "kind": row.kind,
        "version": row.version,
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


def promote(session: Session, version: str, kind: str = "classifier") -> ModelVersion:
    """Make ``version`` the champion; the current champion is retired (kept for rollback)."""
    row = session.scalar(
        select(ModelVersion).where(ModelVersion.kind == kind, ModelVersion.version == version)
    )
    if row is None:
        raise RegistryError(f"no {kind} version {version!r}; see `focusdig models list`")
    artifact_dir(row)  # refuse a version whose files are gone
    current = champion(session, kind)
    if current.id == row.id:
        return row
    current.status = "retired"
    row.status, row.promoted_at = "champion", utcnow()
    session.flush()
    return row


def rollback(session: Session, kind: str = "classifier") -> ModelVersion:
    """Bring back the champion before the current one; the current one is retired."""
    current = champion(session, kind)
    previous = session.scalar(
        select(ModelVersion)
        .where(
            ModelVersion.kind == kind,
            ModelVersion.status == "retired",
            ModelVersion.promoted_at.is_not(None),
            ModelVersion.promoted_at < current.promoted_at,
        )
        .order_by(ModelVersion.promoted_at.desc())
        .limit(1)
    )
    if previous is None:
        raise RegistryError(
            f"no previous {kind} champion to roll back to ({current.version} is the first)"
        )
    artifact_dir(previous)
    current.status, current.promoted_at = "retired", None
    previous.status = "champion"
    session.flush()
    return previous
