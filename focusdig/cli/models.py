"""Models: classify, evaluate, train, translate, and the registry (``focusdig models``)."""

from __future__ import annotations

import json
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from focusdig.cli.app import app
from focusdig.cli.common import (
    Language,
    console,
    fail,
    load_classifier,
    load_settings,
    load_translator,
    open_db,
    plain,
)
from focusdig.database import session_scope

train_app = typer.Typer(help="Train models on the data directory.", no_args_is_help=True)
app.add_typer(train_app, name="train")
models_app = typer.Typer(
    help="The model registry: add, list, promote, roll back.", no_args_is_help=True
)
app.add_typer(models_app, name="models")


@app.command()
def classify(
    texts: Annotated[list[str], typer.Argument(help="Texts to classify.")],
    model: Annotated[
        Path | None, typer.Option(help="Model directory, any backend (default: champion).")
    ] = None,
    top: Annotated[int, typer.Option(help="Top attended words to show.")] = 5,
    entity: Annotated[
        str | None,
        typer.Option(help="Score the sentiment toward this name (it must occur in each text)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Classify texts and show the words the model attended to."""
    from rich.text import Text

    from focusdig.classifier.targets import find_spans

    spans = [find_spans(text, entity) for text in texts] if entity else None
    if spans is not None and not all(spans):
        missing = [t for t, s in zip(texts, spans, strict=True) if not s]
        raise fail(f"{entity!r} does not occur in: {missing[0]!r}")
    classifier = load_classifier(model)
    if spans is None:
        predictions = classifier.predict(texts, top_k=top)
        extra = [{} for _ in texts]
    else:
        predictions = classifier.predict_targets(texts, spans, top_k=top)
        method = "target" if classifier.supports_targets else "sentence"
        extra = [{"entity": entity, "spans": sp, "method": method} for sp in spans]
    if as_json:
        rows = [{**asdict(p), **x} for p, x in zip(predictions, extra, strict=True)]
        print(json.dumps(rows, ensure_ascii=False))
        return
    if spans is not None and not classifier.supports_targets:
        console.print(
            f"[yellow]note:[/yellow] {escape(classifier.version)} has no target support: the score"
            f" toward {escape(repr(entity))} is that of the sentence(s) mentioning it"
            " (method: sentence)"
        )
    colors = {"negative": "red", "neutral": "yellow", "positive": "green"}
    for text, p in zip(texts, predictions, strict=True):
        shown = Text(text)
        for t in p.top_tokens:
            shown.stylize(f"bold reverse {colors[p.label]}", t["start"], t["end"])
        console.print(f"[{colors[p.label]}]{p.label}[/] score {p.score:+.3f}  ", shown)
        words = ", ".join(f"{t['word']} ({t['weight']:.2f})" for t in p.top_tokens)
        console.print(plain(f"  top words: {words}"))


@app.command()
def evaluate(
    path: Annotated[
        Path, typer.Argument(help="CSV with columns text,label (and entity: targeted).")
    ],
    model: Annotated[Path | None, typer.Option(help="Model directory (default: champion).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix.

    With an ``entity`` column each row is scored toward its entity (targeted); ``method`` in
    the output says "sentence" when the model has no target support (fallback)."""
    from focusdig.labels import LabelFileError, csv_columns, read_labeled_csv, read_targeted_csv

    targeted = "entity" in csv_columns(path)
    try:
        if targeted:
            texts, spans, labels = read_targeted_csv(path)
        else:
            texts, labels = read_labeled_csv(path)
    except LabelFileError as exc:
        raise fail(str(exc)) from None
    classifier = load_classifier(model)
    if targeted:
        metrics = classifier.evaluate_targets(texts, spans, labels)
    else:
        metrics = classifier.evaluate(texts, labels)
    metrics["model_version"] = classifier.version
    if as_json:
        print(json.dumps(metrics))
        return
    console.print(
        f"n={metrics['n']}  accuracy={metrics['accuracy']:.4f}  "
        f"macro-F1={metrics['macro_f1']:.4f}  model={classifier.version}"
        + (f"  targeted (method: {metrics['method']})" if targeted else "")
    )
    table = Table("class", "precision", "recall", "F1", "support")
    for name, m in metrics["per_class"].items():
        table.add_row(
            name,
            f"{m['precision']:.3f}",
            f"{m['recall']:.3f}",
            f"{m['f1']:.3f}",
            str(m["support"]),
        )
    console.print(table)
    matrix = Table("true \\ predicted", *metrics["labels"])
    for name, row in zip(metrics["labels"], metrics["confusion_matrix"], strict=True):
        matrix.add_row(name, *map(str, row))
    console.print(matrix)


@train_app.command("classifier")
def train_classifier_command(
    config: Annotated[
        Path | None, typer.Option(help="JSON file of TrainingArguments overrides.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Parent folder of the new model.")] = None,
    no_phrasebank: Annotated[
        bool, typer.Option("--no-phrasebank", help="Train on MIT-licensed data only.")
    ] = False,
    resume: Annotated[bool, typer.Option(help="Resume pretraining from the checkpoint.")] = False,
    pretrain_minutes: Annotated[
        float | None, typer.Option(help="Masked-LM pretraining budget (0 = none).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    encoder: Annotated[
        Path | None,
        typer.Option(help="Fine-tune this Hugging Face encoder directory with our pooling head."),
    ] = None,
) -> None:
    """Train the sentiment classifier on FOCUSDIG_DATA_DIR; writes a model directory."""
    from focusdig.artifacts import ArtifactError
    from focusdig.classifier.trainer import TrainingArguments, train_classifier

    settings = load_settings()
    overrides = json.loads(config.read_text("utf-8")) if config else {}
    overrides.setdefault("data_dir", str(settings.data_dir))
    overrides.setdefault("out_dir", str(out or settings.models_dir / "classifier"))
    overrides.setdefault("work_dir", str(settings.home / "runs" / "classifier"))
    if no_phrasebank:
        overrides["use_phrasebank"] = False
    if resume:
        overrides["resume"] = True
    if pretrain_minutes is not None:
        overrides["pretrain_minutes"] = pretrain_minutes
    if seed is not None:
        overrides["seed"] = seed
    try:
        args = TrainingArguments.from_dict(overrides)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if not Path(args.data_dir).is_dir():
        raise fail(f"no training data at {args.data_dir}; set FOCUSDIG_DATA_DIR")
    if encoder is not None:
        from focusdig.classifier.hf_encoder import train_encoder_classifier

        try:
            path = train_encoder_classifier(args, encoder)
        except (ArtifactError, ValueError) as exc:
            raise fail(str(exc)) from None
    else:
        path = train_classifier(args)
    console.print(plain(f"model written to {path}"))


@app.command()
def translate(
    texts: Annotated[list[str], typer.Argument(help="Texts to translate into English.")],
    source: Annotated[
        Language | None, typer.Option("--from", help="Source language (default: detected).")
    ] = None,
    beam: Annotated[int, typer.Option(help="Beam size (1 = greedy).")] = 4,
    model: Annotated[
        Path | None,
        typer.Option(help="Model directory, any backend (default: each language's champion)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Translate zh/fr/de text into English (focusdig's model or a registered Marian one)."""
    if model is not None:
        translator = load_translator(model, source.value if source else None)
        results = translator.translate(
            texts, src_lang=source.value if source else None, beam_size=beam
        )
    else:
        from focusdig.langid import detect_languages

        langs = [source.value] * len(texts) if source else [x for x, _ in detect_languages(texts)]
        results = [None] * len(texts)
        for lang in sorted(set(langs)):
            chosen = [i for i, x in enumerate(langs) if x == lang]
            translator = load_translator(None, lang if lang in Language.__members__ else None)
            declared = lang if lang in translator.languages else None  # else: left as it is
            done = translator.translate(
                [texts[i] for i in chosen], src_lang=declared, beam_size=beam
            )
            for i, result in zip(chosen, done, strict=True):
                results[i] = result
    if as_json:
        print(json.dumps([asdict(r) for r in results], ensure_ascii=False))
        return
    for text, result in zip(texts, results, strict=True):
        console.print(f"[dim]{result.source_language}[/dim]", plain(text))
        sure = (
            "" if result.confidence is None else f" [dim](confidence {result.confidence:.2f})[/dim]"
        )
        console.print("[bold]en[/bold]", plain(result.text), sure)


@app.command("evaluate-translation")
def evaluate_translation(
    path: Annotated[Path, typer.Argument(help="Lines of English<TAB>source (more columns ok).")],
    source: Annotated[Language, typer.Option("--from", help="Source language.")],
    beam: Annotated[int, typer.Option(help="Beam size (1 = greedy).")] = 4,
    model: Annotated[Path | None, typer.Option(help="Model directory (default: champion).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """sacrebleu BLEU and chrF of the translator on a tab-separated file."""
    from focusdig.translator.evaluate import evaluate_tsv

    if not path.is_file():
        raise fail(f"no such file: {path}")
    translator = load_translator(model)
    try:
        metrics = evaluate_tsv(translator, path, source.value, beam_size=beam)
    except ValueError as exc:
        raise fail(str(exc)) from None
    metrics["model_version"] = translator.version
    if as_json:
        print(json.dumps(metrics))
        return
    console.print(
        f"n={metrics['n']}  BLEU={metrics['bleu']:.2f}  chrF={metrics['chrf']:.2f}"
        f"  model={translator.version}"
    )


class ModelKind(StrEnum):
    classifier = "classifier"
    translator = "translator"


@models_app.command("add")
def models_add(
    path: Annotated[Path, typer.Argument(help="Model directory (focusdig or Hugging Face).")],
    name: Annotated[str | None, typer.Option(help="Version name (default: its own).")] = None,
    languages: Annotated[
        str | None, typer.Option(help="Translator source languages, e.g. zh,fr,de.")
    ] = None,
    make_champion: Annotated[
        bool, typer.Option("--promote", help="Make it the champion (of its languages).")
    ] = False,
) -> None:
    """Register a model directory: its kind and backend are detected, its files' sha256 kept."""
    from focusdig.artifacts import ArtifactError
    from focusdig.registry import RegistryError, add_model

    _, engine = open_db()
    langs = [x.strip() for x in languages.split(",") if x.strip()] if languages else None
    try:
        with session_scope(engine) as session:
            row = add_model(session, path, name=name, languages=langs, make_champion=make_champion)
            kind, version, backend, status = row.kind, row.version, row.backend, row.status
            served = ",".join(row.languages or [])
    except (ArtifactError, RegistryError, FileNotFoundError) as exc:
        raise fail(str(exc)) from None
    console.print(
        f"registered {kind} {version} ({backend}{', ' + served if served else ''}): {status}"
    )


@models_app.command("list")
def models_list(
    kind: Annotated[ModelKind | None, typer.Option(help="Only this kind.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every registered version with its kind, backend, languages, status and metrics."""
    from focusdig.registry import describe_model, list_models

    _, engine = open_db()
    with session_scope(engine) as session:
        rows = [describe_model(m) for m in list_models(session, kind.value if kind else None)]
    if as_json:
        print(json.dumps(rows))
        return
    table = Table("kind", "version", "backend", "languages", "status", "parent", "created", "path")
    for r in rows:
        table.add_row(
            r["kind"],
            plain(r["version"]),
            r["backend"],
            ",".join(r["languages"] or []),
            r["status"],
            plain(r["parent"]),
            r["created_at"][:19],
            plain(r["artifact_path"]),
        )
    console.print(table)


@models_app.command("promote")
def models_promote(
    version: Annotated[str, typer.Argument(help="Version to make champion.")],
    kind: Annotated[ModelKind | None, typer.Option(help="When the name is ambiguous.")] = None,
):
    """Make a registered version the champion (of its languages, for a translator)."""
    from focusdig.registry import RegistryError, promote

    _, engine = open_db()
    try:
        with session_scope(engine) as session:
            row = promote(session, version, kind.value if kind else None)
            served = f" ({', '.join(row.languages)})" if row.languages else ""
            console.print(plain(f"{row.kind} champion: {version}{served}"))
    except (RegistryError, FileNotFoundError) as exc:
        raise fail(str(exc)) from None


@models_app.command("rollback")
def models_rollback(
    kind: Annotated[ModelKind, typer.Option(help="Which champion.")] = ModelKind.classifier,
    language: Annotated[
        Language | None, typer.Option(help="Translator: the champion of this language.")
    ] = None,
) -> None:
    """Bring back the previous champion of a kind (a translator: of the languages it served)."""
    from focusdig.registry import RegistryError, rollback

    _, engine = open_db()
    try:
        with session_scope(engine) as session:
            version = rollback(session, kind.value, language.value if language else None).version
    except (RegistryError, FileNotFoundError) as exc:
        raise fail(str(exc)) from None
    console.print(plain(f"{kind.value} champion: {version}"))


if __name__ == "__main__":
    app()
