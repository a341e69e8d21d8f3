"""`pip install .` gives a `nachet` command that works from any directory: every package and its
data (migrations, the embedder's weights) are in the wheel."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from tests.conftest import ROOT

IGNORED = (".git", ".venv", "node_modules", ".nachet-data", "build", "*.egg-info", "*_cache", "__pycache__")


def test_the_installed_nachet_command_runs_from_any_directory(tmp_path):
    wheels, target, elsewhere = tmp_path / "wheels", tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    source = tmp_path / "source"  # built from a copy: setuptools writes build/ into the tree it builds
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*IGNORED))
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(wheels), str(source)], check=True, timeout=300)
    (wheel,) = wheels.glob("nachet_backend-*.whl")
    subprocess.run(
        [*pip, "install", "--no-deps", "--target", str(target), str(wheel)], check=True, timeout=120
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("NACHET_")},
        "PYTHONPATH": str(target),  # the installed copy, not the checkout (cwd is elsewhere)
        "NACHET_DATA_DIR": str(tmp_path / "data"),
    }
    done = subprocess.run(
        [str(target / "bin" / "nachet"), "migrate"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "0009_procrastinate_3_10" in done.stdout and "0010" in done.stdout  # .sql and .include data
    probe = "import nachet, model_inference.local.onnx_models as m; print(nachet.__file__, m.__file__)"
    where = subprocess.run(
        [sys.executable, "-c", probe], cwd=elsewhere, env=env, capture_output=True, text=True
    )
    assert where.stdout.count(str(target)) == 2, where.stdout + where.stderr
    assert list((target / "model_inference" / "local" / "weights").glob("*.onnx"))
