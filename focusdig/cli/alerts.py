"""``focusdig alerts``: check for sentiment shifts and volume spikes, list alerts, test webhooks."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from focusdig.cli.app import app
from focusdig.cli.common import console, err, fail, open_db, plain
from focusdig.database import session_scope
from focusdig.schema import utcnow

alerts_app = typer.Typer(
    help="Alerts: sentiment shifts and volume spikes per source, delivered to webhooks.",
    no_args_is_help=True,
)
app.add_typer(alerts_app, name="alerts")


def _print_alerts(alerts: list[dict]) -> None:
    table = Table("id", "window end", "subject", "kind", "before", "now", "count", "z", "delivered")
    for a in alerts:
        if a["kind"] == "volume_spike":
            before, now = f"{a['baseline_mean']:.1f}/window", f"{a['count']} items"
        else:
            before, now = f"{a['baseline_mean']:+.2f}", f"{a['current_mean']:+.2f}"
        delivered = a["delivered_at"].strftime("%Y-%m-%d %H:%M") if a["delivered_at"] else ""
        if a["pending_deliveries"]:
            delivered = f"[yellow]{a['pending_deliveries']} pending[/yellow]"
        table.add_row(
            str(a["id"]),
            a["window_end"].strftime("%Y-%m-%d %H:%M"),
            Text(f"{a['subject_kind']} {a['subject']}"),
            f"{a['direction']} {a['kind'].replace('_', ' ')}",
            before,
            now,
            str(a["count"]),
            f"{a['z']:+.1f}",
            delivered,
        )
    console.print(table)


def _dump(value) -> None:
    print(json.dumps(value, ensure_ascii=False, default=datetime.isoformat))


@alerts_app.command("check")
def check(
    z: Annotated[float | None, typer.Option(help="|z| of a sentiment shift.")] = None,
    volume_z: Annotated[float | None, typer.Option(help="z of a volume spike.")] = None,
    window_hours: Annotated[float | None, typer.Option(help="The latest window, hours.")] = None,
    baseline_days: Annotated[int | None, typer.Option(help="Days before the window.")] = None,
    min_window_items: Annotated[int | None, typer.Option(help="Scored items in it.")] = None,
    min_baseline_items: Annotated[
        int | None, typer.Option(help="Scored items in the baseline.")
    ] = None,
    min_volume: Annotated[int | None, typer.Option(help="Least items of a spike.")] = None,
    deliver: Annotated[bool, typer.Option(help="Post new and pending alerts.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Look for shifts and spikes in the last window now; store and deliver new alerts.

    Options override the FOCUSDIG_ALERT_* settings for this run.
    """
    from focusdig.alerts.run import run_alerts

    settings, engine = open_db()
    overrides = {
        "z": z,
        "volume_z": volume_z,
        "window_hours": window_hours,
        "baseline_days": baseline_days,
        "min_window_items": min_window_items,
        "min_baseline_items": min_baseline_items,
        "min_volume": min_volume,
    }
    try:
        thresholds = replace(
            settings.alert_thresholds, **{k: v for k, v in overrides.items() if v is not None}
        )
    except ValueError as exc:
        raise fail(str(exc)) from None
    report = run_alerts(engine, settings, thresholds, deliver=deliver)
    if as_json:
        _dump(report.to_dict())
        return
    console.print(f"checked {report.checked} subjects; new alerts: {len(report.new)}")
    if report.new:
        _print_alerts(report.new)
    if settings.alert_webhooks and deliver:
        d = report.delivery
        console.print(f"delivered {d.delivered}; failed {d.failed}; still pending {d.pending}")
        for target, error in d.errors.items():
            err.print(f"[red]{escape(target)}:[/red]", plain(error))
    elif not settings.alert_webhooks:
        console.print("no webhook configured (FOCUSDIG_ALERT_WEBHOOK): alerts are stored only")


@alerts_app.command("list")
def list_command(
    days: Annotated[int, typer.Option(min=1, help="Alerts whose window ended in these days.")] = 7,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Alerts of the last N days, newest first, with whether they were delivered."""
    from focusdig.alerts.store import list_alerts

    _, engine = open_db()
    with session_scope(engine) as session:
        alerts = list_alerts(session, since=utcnow() - timedelta(days=days), limit=limit)
    if as_json:
        _dump(alerts)
    elif alerts:
        _print_alerts(alerts)
    else:
        console.print(f"no alerts in the last {days} days")


@alerts_app.command("test")
def test_command() -> None:
    """Send a sample payload (``"test": true``) to every configured webhook."""
    from focusdig.alerts.deliver import send_test

    settings, _ = open_db()
    if not settings.alert_webhooks:
        raise fail("no webhook configured: set FOCUSDIG_ALERT_WEBHOOK (comma-separated URLs)")
    results = send_test(settings)
    for target, error in results:
        if error is None:
            console.print("[green]ok[/green]", plain(target))
        else:
            err.print("[red]failed[/red]", plain(f"{target}: {error}"))
    if any(error for _, error in results):
        raise typer.Exit(1)
