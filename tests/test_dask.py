"""Scaling out ingestion: the ingest flow on a local Dask cluster (skipped without prefect-dask)."""

from __future__ import annotations

import logging

import pytest
from conftest import FEEDS

from focusdig.database import get_engine, session_scope
from focusdig.settings import Settings
from focusdig.sources import add_source

prefect_dask = pytest.importorskip("prefect_dask")


def test_ingest_flow_on_a_local_dask_cluster(prefect_harness, feed_server):
    from flows.ingest import ingest_flow

    names = ["rss2.xml", "atom.xml", "rss1_rdf.xml", "hostile.xml"]
    for name in names:
        feed_server.add(f"/{name}", (FEEDS / name).read_bytes())
    engine = get_engine(Settings.from_env())
    with session_scope(engine) as session:
        for name in names:
            add_source(session, feed_server.url(f"/{name}"), name=name)
    runner = prefect_dask.DaskTaskRunner(
        cluster_kwargs={
            "n_workers": 2,
            "threads_per_worker": 2,
            "processes": True,
            "dashboard_address": None,
            "silence_logs": logging.ERROR,
        }
    )
    reports = ingest_flow.with_options(task_runner=runner)(fetch_retries=0)
    assert sorted((r.name, r.new) for r in reports) == [
        ("atom.xml", 2),
        ("hostile.xml", 3),
        ("rss1_rdf.xml", 2),
        ("rss2.xml", 3),
    ]
