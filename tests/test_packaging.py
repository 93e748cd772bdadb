"""`pip install .` (not editable) gives a working install: the shipped models, migrations and
samples are found inside the installed package, from a directory far from any checkout."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "runs", "*.egg-info", "__pycache__", ".*_cache",
    ".hypothesis", "*.db", "*.db-wal", "*.db-shm",
)  # fmt: skip


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with focusdig installed (not editable) from a copy of the checkout; its
    dependencies come from this test environment through a .pth line, nothing is downloaded."""
    for module, role in (("pip", "install"), ("setuptools", "build"), ("venv", "hold")):
        if importlib.util.find_spec(module) is None:  # not imported: setuptools patches distutils
            pytest.skip(f"{module} is not available to {role} the package")
    import venv

    base = tmp_path_factory.mktemp("install")
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=NOT_COPIED)
    environment = base / "venv"
    try:
        venv.EnvBuilder(with_pip=False).create(environment)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot create a virtual environment: {exc}")
    python = environment / "bin" / "python"
    site = subprocess.check_output(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
    ).strip()
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    # appended after the new venv's own site-packages; the .pth files there (this
    # environment's editable focusdig) are not read, so `import focusdig` finds the install
    (Path(site) / "test_dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--ignore-installed", "--disable-pip-version-check", str(source)],
        cwd=base, env=clean_env(base), check=True, capture_output=True,
    )  # fmt: skip
    shutil.rmtree(source)  # nothing may come from the copy either
    return environment


def clean_env(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FOCUSDIG_", "PYTHON", "VIRTUAL_ENV", "PREFECT_"))
    }
    return {**env, "FOCUSDIG_HOME": str(home / "home"), "PREFECT_HOME": str(home / "prefect")}


def run_installed(environment: Path, *args: str) -> str:
    home = environment.parent
    result = subprocess.run(
        [str(environment / "bin" / args[0]), *args[1:]],
        cwd=home,
        env=clean_env(home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_installed_package_holds_models_migrations_and_samples(installed):
    script = (
        "import json, focusdig, focusdig.paths as p, flows;"
        "print(json.dumps({'package': focusdig.__file__, 'flows': flows.__file__,"
        " 'models': sorted(str(d.relative_to(p.SHIPPED_MODELS))"
        " for d in p.SHIPPED_MODELS.glob('*/*')),"
        " 'models_dir': str(p.SHIPPED_MODELS), 'migrations': str(p.MIGRATIONS_DIR),"
        " 'samples': len(list(p.SAMPLES_DIR.glob('*.xml')))}))"
    )
    found = json.loads(run_installed(installed, "python", "-c", script))
    package = Path(found["package"]).parent
    assert package.is_relative_to(installed) and not package.is_relative_to(ROOT)
    assert Path(found["flows"]).is_relative_to(installed)
    assert found["models_dir"] == str(package / "_models")
    assert found["migrations"] == str(package / "_migrations")
    shipped = sorted(str(d.relative_to(ROOT / "models")) for d in (ROOT / "models").glob("*/*"))
    # every shipped model but the pretrained encoders (training inputs, checkout only)
    assert found["models"] == [m for m in shipped if not m.startswith("pretrained")]
    assert found["samples"] > 0


def test_installed_focusdig_run_translates_and_scores_with_the_shipped_models(installed):
    """The console script's `focusdig run` (temporary Prefect API, migrations, both models)."""
    feed = shutil.copy(ROOT / "focusdig" / "samples" / "de_news.xml", installed.parent)
    summary = json.loads(run_installed(installed, "focusdig", "run", "--json", str(feed)))
    newest, translator = (
        max((ROOT / "models" / kind).iterdir(), key=lambda p: p.name).name
        for kind in ("classifier", "translator")
    )
    assert summary["items_new"] == summary["scored"] > 0 and summary["translated"] > 0
    assert (summary["classifier"], summary["translator"]) == (newest, translator)
    listed = json.loads(run_installed(installed, "focusdig", "models", "list", "--json"))
    (champion,) = [m for m in listed if m["status"] == "champion" and m["kind"] == "classifier"]
    assert champion["version"] == newest
    assert Path(champion["artifact_path"]).is_relative_to(installed)
