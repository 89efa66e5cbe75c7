"""watch() on a plain PyTorch loop writes the events of the repository's PyTorch fixtures: every
field of every step event within 1e-4, the non-finite warning's layer and step, the end."""
import pytest
import torch

import layerwise_torch
from fixtures import NAMES, compare, load, read_events


def train(case, path, **kw):
    torch.manual_seed(0)
    run = layerwise_torch.watch(case["model"], case["optimizer"], path, clip=case["clip"], **kw)
    err = None
    try:
        for x, y in case["batches"]:
            case["optimizer"].zero_grad()
            loss = case["loss_fn"](case["model"](x), y)
            loss.backward()
            run.step(loss)
    except layerwise_torch.NonFiniteError as e:
        err = e
    run.close()
    return read_events(path), err


@pytest.mark.parametrize("inplace", [False, True], ids=["modules", "inplace"])
@pytest.mark.parametrize("name", NAMES)
def test_matches_fixture(name, inplace, tmp_path):
    case = load(name, inplace=inplace)
    events, err = train(case, str(tmp_path / "run.layerwise.jsonl"))
    expected = case["expected"]
    exp_steps = [e for e in expected if e["type"] == "step"]
    steps = [e for e in events if e["type"] == "step"]
    assert len(steps) == len(exp_steps)
    mismatches = compare(steps, exp_steps, 1e-4, 1e-7)
    assert mismatches[:10] == []
    start = events[0]
    assert start["type"] == "start" and start["source"] == "pytorch" and start["worldSize"] == 1
    assert [l["activation"] for l in start["layers"]] == [l["activation"] for l in case["spec"]["layers"]]
    assert [l["fanOut"] for l in start["layers"]] == [l["units"] for l in case["spec"]["layers"]]
    exp_end = next(e for e in expected if e["type"] == "end")
    end = events[-1]
    assert end["type"] == "end" and end["reason"] == exp_end["reason"] and end["steps"] == exp_end["steps"]
    for w in (e for e in expected if e["type"] == "warning"):
        got = [e for e in events if e["type"] == "warning" and e["code"] == w["code"]]
        assert len(got) == 1
        assert (got[0]["layer"], got[0]["step"], got[0]["severity"]) == (w["layer"], w["step"], "error")
        assert isinstance(err, layerwise_torch.NonFiniteError) and err.step == w["step"] and err.layer == w["layer"]
    if exp_end["reason"] == "completed":
        assert err is None
