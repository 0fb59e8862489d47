"""isoflop.estimate equals `isoflop estimate --json` for every preset and for layouts,
searches and the ladder; bad arguments raise with the CLI's message."""

import pytest

import isoflop
from conftest import close


def models():
    out = []
    for m in isoflop.presets()["models"]:
        # `train-rung-<k>` stands for the trainer's ladder: check two of its rungs.
        out += ["train-rung-1", "train-rung-3"] if "<k>" in m else [m]
    return out


@pytest.mark.parametrize("model", models())
def test_every_preset_equals_the_cli(cli, model):
    close(isoflop.estimate(model).to_dict(), cli("estimate", "--model", model, "--json"), rel=0)


@pytest.mark.parametrize(
    "kwargs, flags",
    [
        ({"gpu": "a100-80gb", "gpus": 64, "tokens": 2e12, "tp": 2, "pp": 4, "zero": 1},
         ["--gpu", "a100-80gb", "--gpus", "64", "--tokens", "2e12", "--tp", "2", "--pp", "4", "--zero", "1"]),
        ({"gpu": "h200", "gpus": 16, "recompute": "full", "recipe": "adam8bit", "micro_batch": 2},
         ["--gpu", "h200", "--gpus", "16", "--recompute", "full", "--recipe", "adam8bit", "--micro-batch", "2"]),
        ({"search": True, "top": 3, "gpus": 16}, ["--search", "--top", "3", "--gpus", "16"]),
    ],
)
def test_options_equal_the_cli(cli, kwargs, flags):
    close(isoflop.estimate("llama2-7b", **kwargs).to_dict(), cli("estimate", "--model", "llama2-7b", *flags, "--json"), rel=0)


def test_the_ladder_equals_the_cli(cli):
    close(isoflop.estimate(ladder=True, gpu="h100-sxm").to_dict(), cli("estimate", "--ladder", "--json"), rel=0)


def test_a_shape_dict_is_a_model():
    gpt2 = {"family": "gpt2", "n_layer": 12, "d_model": 768, "n_head": 12, "vocab": 50257,
            "context": 1024, "tied_embeddings": True}
    e = isoflop.estimate(gpt2)
    assert e.params.to_dict() == isoflop.estimate("gpt2").params.to_dict()
    assert isinstance(e, isoflop.Estimate) and "flops" in e and e.model.shape.n_layer == 12


def test_errors_carry_the_clis_message(cli, tmp_path):
    p = cli("estimate", "--model", "llama9", raw=True)
    with pytest.raises(ValueError, match="llama9") as e:
        isoflop.estimate("llama9")
    assert p.returncode == 2 and str(e.value).split(":")[0] in p.stderr
    with pytest.raises(ValueError, match="--tp"):
        isoflop.estimate("llama2-7b", tp=3)
    with pytest.raises(ValueError, match="unknown field `warp`"):
        isoflop.estimate("gpt2", warp=9)
    with pytest.raises(FileNotFoundError, match="nope.json"):
        isoflop.estimate(tmp_path / "nope.json")
