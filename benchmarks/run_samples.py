"""Wall and CPU time of `focusdig run` on the bundled samples, on a warm install.

Warm: the Prefect home already holds its migrated database (one untimed run first) and the
files are in the page cache. Each repetition is a first run on a new FOCUSDIG_HOME (ingest,
language id, translation, scoring, entities, alerts of the 54 sample items) followed by an
unchanged rerun on the same home. CPU is user + system of the whole process tree (the
temporary Prefect API included); the load average is recorded with every run, since on a
shared machine wall time is only comparable at the same load.

    python benchmarks/run_samples.py [--repeat 3] [--out benchmarks/results/run_samples.json]

To compare two versions back to back, run it twice with PYTHONPATH pointing at each checkout.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOCUSDIG = [sys.executable, "-m", "focusdig"]  # as the console script, from PYTHONPATH too


def timed_run(env: dict) -> dict:
    """One `focusdig run --json`: wall, CPU of the process tree, load, the summary's timings."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]
    start = time.perf_counter()
    result = subprocess.run(
        [*FOCUSDIG, "run", "--json"], env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"focusdig run failed ({result.returncode}):\n{result.stderr[-3000:]}")
    summary = json.loads(result.stdout)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "load_1min_before": round(load, 2),
        "items_new": summary["items_new"],
        "translated": summary["translated"],
        "scored": summary["scored"],
        "steps_s": {k: round(v, 2) for k, v in summary["seconds"].items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/run_samples.json")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="focusdig-run-samples-"))
    env = {**os.environ, "PREFECT_HOME": str(tmp / "prefect")}
    for name in ("FOCUSDIG_DATABASE_URL", "PREFECT_API_URL", "PREFECT_LOGGING_LEVEL"):
        env.pop(name, None)
    timed_run({**env, "FOCUSDIG_HOME": str(tmp / "warm-up")})  # migrates Prefect's database
    runs = []
    for i in range(args.repeat):
        home = {**env, "FOCUSDIG_HOME": str(tmp / f"home-{i}")}
        runs.append({"first": timed_run(home), "rerun": timed_run(home)})
        print(json.dumps(runs[-1]), flush=True)

    def median(kind: str, key: str) -> float:
        return round(statistics.median(r[kind][key] for r in runs), 2)

    import focusdig

    result = {
        "focusdig": str(Path(focusdig.__file__).parent),
        "repeat": args.repeat,
        "median": {
            kind: {key: median(kind, key) for key in ("wall_s", "cpu_s", "load_1min_before")}
            for kind in ("first", "rerun")
        },
        "runs": runs,
        "cpus": os.cpu_count(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["median"], indent=2))


if __name__ == "__main__":
    main()
