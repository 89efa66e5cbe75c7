"""examples/pytorch/train_mlp.py, as the README has users run it: one process, and --ddp 2."""
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
