"""The loops the README, the package's README and the editor's walkthrough show users run as printed,
on a small model, and write the log they promise."""
import json
import os
import re

import torch
from torch import nn

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
PAGES = ["README.md", os.path.join("python", "README.md"), os.path.join("media", "walkthrough", "pytorch.md")]


def first_loop(page):
    """The page's first Python block (the one that wraps a loop in watch)."""
    with open(os.path.join(ROOT, page), encoding="utf-8") as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), re.S)
    assert blocks, page
    return blocks[0]


def test_each_pages_loop_runs_as_printed_and_writes_its_log(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for page in PAGES:
        code = first_loop(page)
        assert "layerwise_torch.watch(" in code and "run.step(loss)" in code, page
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
        x, y = 20 * torch.randn(24, 6), torch.randint(0, 3, (24,))
        scope = {
            "model": model,
            "optimizer": torch.optim.SGD(model.parameters(), lr=0.1),
            "loss_fn": nn.CrossEntropyLoss(),
            "loader": [(x[i:i + 8], y[i:i + 8]) for i in range(0, 24, 8)],
        }
        exec(compile(code, page, "exec"), scope)  # noqa: S102 (the page's own code)
        log = tmp_path / "runs" / "exp1.layerwise.jsonl"
        events = [json.loads(line) for line in log.read_text().splitlines()]
        log.unlink()
        kinds = [e["type"] for e in events if e["type"] != "histogram"]
        assert kinds == ["start", "step", "step", "step", "end"], (page, kinds)
        steps = [e for e in events if e["type"] == "step"]
        assert [s["step"] for s in steps] == [0, 1, 2], page
        # the clip the pages pass: by norm at 1.0, each step's norm before and after it
        for s in steps:
            before, after = s["gradNorm"], s["gradNormClipped"]
            assert s["clipped"] == (before > 1.0) and abs(after - min(before, 1.0)) < 1e-5 * before, (page, s)
        assert any(s["clipped"] for s in steps), page  # (inputs large enough that it clips)
