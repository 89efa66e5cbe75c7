"""examples/pytorch/train_mlp.py, as the README has users run it (one process, and --ddp 2), and the
package as pip installs it."""
import json
import os
import subprocess
import sys

EXAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "pytorch", "train_mlp.py")


def run(tmp_path, *args):
    log = tmp_path / "runs" / "exp.layerwise.jsonl"  # a directory that does not exist yet
    r = subprocess.run([sys.executable, EXAMPLE, "--log", str(log), "--steps", "4", "--sharpness-every", "0", *args],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_the_example_writes_its_log_into_a_new_directory(tmp_path):
    events = run(tmp_path)
    assert [e["type"] for e in events if e["type"] != "histogram"] == ["start"] + ["step"] * 4 + ["end"]


def test_the_example_on_two_processes_writes_one_log_of_the_global_batch(tmp_path):
    """--ddp 2 rendezvous through a file next to the log: in a directory that did not exist yet it
    waited forever."""
    events = run(tmp_path, "--ddp", "2")
    assert events[0]["worldSize"] == 2
    assert [e["type"] for e in events if e["type"] != "histogram"] == ["start"] + ["step"] * 4 + ["end"]


def test_pip_installs_the_package(tmp_path):
    """`pip install ./python` (here without build isolation: no index is reachable) installs an
    importable layerwise_torch with the API."""
    import pytest
    if subprocess.run([sys.executable, "-c", "import setuptools, pip"], capture_output=True).returncode != 0:
        pytest.skip("pip or setuptools is not installed for this Python")
    import shutil
    here = os.path.join(os.path.dirname(EXAMPLE), "..", "..", "python")
    src = tmp_path / "python"  # a copy: setuptools builds in the source tree
    shutil.copytree(os.path.join(here, "layerwise_torch"), src / "layerwise_torch",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for f in ("pyproject.toml", "README.md"):
        shutil.copy(os.path.join(here, f), src / f)
    target = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-deps", "--no-index",
                        "--quiet", "--target", str(target), str(src)], capture_output=True, text=True, timeout=300,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    code = "import layerwise_torch as l; print(l.__file__); print(callable(l.watch), issubclass(l.NonFiniteError, Exception))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                       env={**os.environ, "PYTHONPATH": str(target)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [str(target / "layerwise_torch" / "__init__.py"), "True True"]
