"""The training loop end to end on tiny data: a few steps, ONNX export, a card the loader accepts.

The shipped weights come from full runs recorded in their cards; this only proves the loop works."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

pytest.importorskip("torch")
from unscratch import models  # noqa: E402
from unscratch.train import train  # noqa: E402


@pytest.fixture
def tiny_pool(tmp_path, monkeypatch, overlays):
    """A photo cache of two synthetic photos, both in the train split, and a few made-up damage
    sprites."""
    cache = tmp_path / "photos"
    (cache / "fake").mkdir(parents=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:200, 0:240].astype(np.float32)
    files = []
    for i in range(2):
        base = (0.5 + 0.3 * np.sin(xx / (20 + 10 * i)) * np.cos(yy / 30)
                + rng.normal(0, 0.03, (200, 240)))
        photo = np.dstack([base, base * 0.9, base * 0.8])
        cv2.imwrite(str(cache / f"fake/p{i}.png"), (np.clip(photo, 0, 1) * 255).astype(np.uint8))
        files.append(f"fake/p{i}.png")
    (cache / "split.json").write_text(json.dumps({"version": 1, "train": files, "val": [],
                                                  "test": []}))
    monkeypatch.setenv("UNSCRATCH_PHOTOS", str(cache))
    monkeypatch.setenv("UNSCRATCH_OVERLAYS", str(overlays))
    return cache


@pytest.mark.parametrize("task,channels", [("detect", 3), ("restore", 7)])
def test_a_few_steps_export_a_model_run_tiled_runs(tiny_pool, tmp_path, task, channels):
    out = tmp_path / "out"
    assert train.main([task, "--steps", "3", "--size", "64", "--batch", "2", "--threads", "1",
                       "--workers", "0", "--out", str(out)]) == 0
    name = "unscratch-detector" if task == "detect" else "unscratch-restorer"
    card = models.read_card(out / f"{name}.json")
    assert card.task == task and card.sha256 == models.sha256_of(out / f"{name}.onnx")
    data = json.loads((out / f"{name}.json").read_text())
    assert data["training"]["steps"] == 3 and data["input"]["channels"] == channels
    assert data["onnx_vs_torch_max_abs_error"] <= 1e-4
    tile = np.random.default_rng(1).random((37, 53, channels)).astype(np.float32)
    result = models.OnnxTileFn(card)(tile)
    assert result.shape == (37, 53, 1 if task == "detect" else 3) and np.isfinite(result).all()


@pytest.mark.parametrize("task", ["detect", "restore"])
def test_training_can_start_from_the_shipped_onnx(tiny_pool, tmp_path, task):
    """Checkpoints are not committed, so the retrain recipe starts from models/*.onnx: zero steps
    from it must export the shipped model's output again (its BatchNorms were folded into the
    convs)."""
    shipped = models.default_card(task)
    if shipped is None:
        pytest.skip("no shipped model")
    out = tmp_path / "out"
    assert train.main([task, "--init", str(shipped.path), "--steps", "0", "--size", "64", "--batch",
                       "2", "--threads", "1", "--workers", "0", "--out", str(out)]) == 0
    again = models.read_card(out / f"{shipped.path.stem}.json")
    channels = 3 if task == "detect" else 7
    tile = np.random.default_rng(2).random((64, 72, channels)).astype(np.float32)
    if task == "restore":
        tile[:, :, 3] = tile[:, :, 3] > 0.7
    diff = np.abs(models.OnnxTileFn(again)(tile) - models.OnnxTileFn(shipped)(tile)).max()
    assert diff < 1e-4


def test_decoy_holes_are_detector_false_positives_clear_of_real_damage():
    """Two identical white specks, one of them marked as damage: only the other becomes a decoy
    hole."""
    if models.default_card("detect") is None:
        pytest.skip("no shipped detector")
    img = np.full((96, 128, 3), 0.45, np.float32)
    img[40:43, 30:33] = img[40:43, 90:93] = 1.0
    truth = np.zeros((96, 128), bool)
    truth[40:43, 30:33] = True
    decoys = train.decoy_mask(img, truth)
    assert decoys[40:43, 90:93].any(), "the detector's response to the unmarked speck is a decoy"
    assert not decoys[35:48, 25:38].any(), "nothing within 2 px of real damage is a decoy"
    assert not decoys[:, :60].any() and decoys.sum() < 60


def test_restorer_trains_with_decoy_and_varied_holes(tiny_pool, tmp_path):
    out = tmp_path / "out"
    assert train.main(["restore", "--steps", "2", "--size", "64", "--batch", "2", "--threads", "1",
                       "--workers", "0", "--decoys", "1", "--vary-hole", "--out", str(out)]) == 0
    decoys = json.loads((out / "unscratch-restorer.json").read_text())["training"]["decoys"]
    assert decoys["share"] == 1
    assert decoys["detector_sha256"] == models.default_card("detect").sha256


def test_a_grown_net_computes_what_the_narrower_one_did():
    """Growing a trained net (wider levels, one more input plane) must not change its output:
    training goes on from the shipped model instead of starting over."""
    import torch

    from unscratch.train import nets
    torch.manual_seed(0)
    narrow = nets.UNet(4, 2, widths=(4, 8, 8, 12))
    # trained-looking batch-norm statistics, not the identity defaults
    for module in narrow.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
            module.running_var.uniform_(0.5, 2)
            module.weight.data.uniform_(0.5, 1.5)
    wide = nets.UNet(5, 2, widths=(8, 16, 8, 16))
    wide.load_grown(narrow.state_dict())
    narrow.eval()
    wide.eval()
    x = torch.rand(1, 5, 32, 40)
    with torch.no_grad():
        assert (wide.features(x) - narrow.features(x[:, :4])).abs().max() < 1e-5
    # the new channels start at random, so they learn
    assert wide.enc0[0][0].weight[4:].abs().sum() > 0


def test_the_restorer_gate_keeps_or_replaces_the_damaged_pixel():
    """Inside the hole the restorer blends its fill with the damaged pixel by its gate: open, the
    pixel stays as it is (a false positive or a grown margin); shut, the fill replaces it. Outside
    the hole the input passes through whatever the gate says."""
    import torch

    from unscratch.train import nets
    net = nets.Restorer().eval()
    x = torch.rand(1, 7, 16, 24)
    x[:, 3] = 0
    x[:, 3, 4:12, 6:18] = 1
    rgb, prefill = x[:, :3], x[:, 4:7]
    hole = (x[:, 3:4] > 0).expand_as(rgb)
    with torch.no_grad():
        assert torch.sigmoid(net.head.bias[3]) < 0.02, \
            "starts almost shut, close to a restorer without a gate"
        net.head.bias[3] = 30.0
        open_ = net(x)
        net.head.bias[3] = -30.0
        shut = net(x)
    assert torch.allclose(open_, rgb, atol=1e-6)
    assert torch.allclose(shut[hole], prefill[hole], atol=1e-6)
    assert torch.equal(shut[~hole], rgb[~hole])


def test_shipping_a_run_adds_it_as_the_next_stage_of_the_card(tiny_pool, tmp_path):
    """`unscratch.train.ship` copies the run's ONNX file, appends the run to the card's stages and
    drops the old model's metrics (they described another file); the loader accepts the result."""
    shipped = models.default_card("detect")
    if shipped is None:
        pytest.skip("no shipped model")
    from unscratch.train import ship
    run_dir, models_dir = tmp_path / "run", tmp_path / "models"
    assert train.main(["detect", "--init", str(shipped.path), "--steps", "2", "--size", "64",
                       "--batch", "2", "--threads", "1", "--workers", "0",
                       "--out", str(run_dir)]) == 0
    models_dir.mkdir()
    for suffix in (".json", ".onnx"):
        source = shipped.path.with_suffix(suffix)
        (models_dir / source.name).write_bytes(source.read_bytes())
    assert ship.main([str(run_dir), "--note", "a test stage", "--models", str(models_dir)]) == 0
    card = models.read_card(models_dir / f"{shipped.name}.json")
    run_card = models.read_card(run_dir / f"{shipped.name}.json")
    assert card.sha256 == models.sha256_of(card.path) == run_card.sha256
    before, after = shipped.card["training"], card.card["training"]
    assert after["stages"][:-1] == before["stages"]
    assert after["stages"][-1]["note"] == "a test stage" and after["stages"][-1]["steps"] == 2
    assert after["total_steps"] == before["total_steps"] + 2 and after["steps"] == 2
    assert "metrics" not in card.card and card.card["limitations"] == shipped.card["limitations"]


def test_ablation_candidates_never_see_the_family_they_leave_out(tiny_pool, tmp_path):
    """One shared stream, several detectors: 'no-cracks' trains only on the pairs that hold no
    cracks."""
    from unscratch.train import ablate
    out = tmp_path / "abl"
    assert ablate.main(["--seconds", "4", "--workers", "0", "--size", "64", "--batch", "6",
                        "--ablate", "cracks", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    seen = summary["batches"] * summary["batch"]
    cracks = round(summary["family_share"]["cracks"] * seen)
    assert summary["candidates"]["scratch"]["pairs"] == seen
    assert summary["candidates"]["no-cracks"]["pairs"] == seen - cracks
    import onnxruntime as ort
    session = ort.InferenceSession(str(out / "no-cracks.onnx"), providers=["CPUExecutionProvider"])
    prob = session.run(None,
                       {"input": np.random.default_rng(0).random((1, 3, 64, 96), np.float32)})[0]
    assert prob.shape == (1, 1, 64, 96) and np.isfinite(prob).all()


@pytest.mark.parametrize("share", [0.0, 0.3])
def test_drawn_negatives_is_the_share_of_crops_with_structure_painted_in(tiny_pool, monkeypatch,
                                                                          share):
    from unscratch.train import simulate
    drawn = []
    real_simulate = simulate.simulate

    def counting(*a, **kw):
        out = real_simulate(*a, **kw)
        drawn.append(bool(out.info["negatives"]))
        return out

    monkeypatch.setattr(simulate, "simulate", counting)
    stream = iter(train.PairStream("train", 64, 0, drawn_negatives=share))
    for _ in range(200):
        next(stream)
    assert abs(np.mean(drawn) - share) < 0.1


def test_exact_holes_are_the_damage_with_no_margin(tiny_pool):
    """--exact-holes: a share of restorer pairs whose hole is the damage as it is (restore repairs a
    given mask as given); the same pair's hole with the varied margin only grows from it."""
    import itertools

    def first_hole(share, seed):
        stream = train.PairStream("train", 64, seed, task="restore", vary_hole=True,
                                  exact_holes=share)
        _, _, hole = next(itertools.islice(iter(stream), 1))
        return hole[0].numpy() > 0

    smaller = 0
    for seed in range(4):
        exact, varied = first_hole(1.0, seed), first_hole(0.0, seed)
        assert exact.any() and (exact <= varied).all()
        smaller += int(exact.sum() < varied.sum())
    assert smaller >= 2
