"""Defects from a film scanner's infrared plane: RGBI TIFFs are read as such, the plane finds the
damage the picture hides, and it is written back untouched."""
from __future__ import annotations

import sqlite3

import cv2
import numpy as np
import pytest
import tifffile

from unscratch import api, io
from unscratch.cli import main
from unscratch.demo import sample_photo
from unscratch.errors import InputError
from unscratch.infrared import InfraredDetector
from unscratch.train.eval.detect import tolerant_prf
from unscratch.train.simulate import infrared_plane


def film_scan(seed=0, size=384, damaged=True):
    """(RGBI float32, truth mask): a photo with dust, scratches and a hair, and the infrared plane
    the simulator's scanner model gives it (dye leakage, blurrier, one pixel off, noisy)."""
    rng = np.random.default_rng(seed)
    clean = sample_photo()[:size, :size].astype(np.float32) / 255
    opacity = np.zeros((size, size), np.float32)
    if damaged:
        for _ in range(25):  # dust specks
            cv2.circle(opacity, tuple(int(v) for v in rng.integers(8, size - 8, 2)),
                       int(rng.integers(1, 6)), 1.0, -1)
        for _ in range(3):  # scratches, 1-3 px
            p, q = rng.integers(0, size, (2, 2))
            cv2.line(opacity, tuple(int(v) for v in p), tuple(int(v) for v in q),
                     float(rng.uniform(0.5, 1)), int(rng.integers(1, 4)))
        hair = np.cumsum(rng.normal(0, 3, (60, 2)), 0) + size / 2
        cv2.polylines(opacity, [hair.astype(np.int32)], False, 0.9, 1)
    dark = np.float32(0.08)
    pic = clean * (1 - opacity[..., None]) + dark * opacity[..., None]
    truth = (opacity > 0.1) & (np.abs(pic - clean).max(2) > 0.03)
    return np.dstack([pic, infrared_plane(clean, opacity, rng)]).astype(np.float32), truth


def test_the_infrared_plane_finds_the_damage_and_not_the_picture():
    scan, truth = film_scan()
    det = api.detect(scan, method="infrared")
    precision, recall, f1 = tolerant_prf([det.mask], [truth])
    assert f1 >= 0.85, (precision, recall)
    # the red leakage was found
    assert 0.15 <= det.provenance["detector"]["infrared"]["leak"] <= 0.35
    clean, _ = film_scan(damaged=False)
    # leakage and picture edges are not defects
    assert api.detect(clean, method="infrared").mask.mean() <= 0.0005


def test_the_film_holder_is_not_damage_but_a_scratch_across_the_frame_is():
    scan, truth = film_scan()
    scan[:, :30] = 0.02  # an uncropped scan: the holder's edge is dark in colour and in infrared
    truth[:, :30] = False
    # a scratch along the whole film
    scan[:, 250:252, :3], scan[:, 250:252, 3] = 0.08, scan[:, 250:252, 3] * 0.3
    truth[:, 250:252] = True
    mask = api.detect(scan, method="infrared").mask
    assert not mask[:, :28].any()
    assert mask[:, 250:252].all()
    assert tolerant_prf([mask], [truth])[2] >= 0.85


def test_a_slanted_straight_scratch_the_infrared_plane_shows_is_repaired():
    """The infrared plane shows no picture, so the rule that leaves slanted straight lines (ropes,
    masts: picture in colour) does not apply to its marks: such a scratch is marked and repaired."""
    scan, _ = film_scan(damaged=False)
    line = np.zeros(scan.shape[:2], np.uint8)
    cv2.line(line, (30, 300), (330, 60), 1, 2)
    line = line > 0
    scan[line, :3], scan[line, 3] = 0.08, scan[line, 3] * 0.3
    det = api.detect(scan, method="infrared")
    assert det.mask[line].mean() > 0.9
    restored = api.restore(scan, detect_method="infrared", method="classical")
    assert (np.abs(restored[line, :3] - scan[line, :3]).max(axis=1) > 0.05).mean() > 0.9


def test_tiles_agree_with_one_pass():
    scan = np.concatenate([film_scan(1)[0], film_scan(2)[0]], axis=1)
    scan = np.concatenate([scan, scan[::-1]], axis=0)
    # more than one 1024-px tile
    scan = cv2.resize(scan, (1300, 1100), interpolation=cv2.INTER_LINEAR)
    tiled = api.detect(scan, method="infrared").probability
    whole = InfraredDetector()
    whole.fit(scan)
    untiled = whole(scan)[:, :, 0]
    whole.clear_frame(untiled)
    assert np.abs(tiled - untiled).max() <= 1e-6


def test_an_image_without_a_usable_infrared_plane_is_refused():
    scan, _ = film_scan()
    with pytest.raises(InputError, match="fourth, infrared plane"):
        api.detect(scan[:, :, :3], method="infrared")
    # silver film: the infrared shows the picture
    scan[:, :, 3] = 0.05 + 0.9 * scan[:, :, :3].mean(axis=2)
    with pytest.raises(InputError, match="follows the picture"):
        api.detect(scan, method="infrared")


def test_an_rgbi_tiff_is_restored_with_its_infrared_plane_and_keeps_it(tmp_path, capsys):
    scan, truth = film_scan()
    raw = np.rint(scan * 65535).astype(np.uint16)
    src = tmp_path / "scan.tif"
    # as VueScan's 64-bit RGBI
    tifffile.imwrite(src, raw, photometric="rgb", extrasamples=("unspecified",))
    image, info = io.read_with_info(src)
    assert info.infrared and image.shape[2] == 4

    assert main(["restore", str(src), "-o", str(tmp_path / "out.tif"), "-q"]) == 0
    err = capsys.readouterr().err
    assert "infrared plane" in err and "--detect-method model to ignore it" in err
    assert main(["detect", str(src), "-o", str(tmp_path / "mask.png"), "-q"]) == 0
    # each command names its own option
    assert "--method model to ignore it" in capsys.readouterr().err
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        out = tif.pages[0].asarray()
        assert tuple(tif.pages[0].extrasamples) == (0,)  # still infrared, not alpha
    assert np.array_equal(out[:, :, 3], raw[:, :, 3])
    changed = (out[:, :, :3] != raw[:, :, :3]).any(axis=2)
    # the mask lies within 3 px of the damage (the infrared is blurrier);
    # the repair grows it by 2 + 2 px feather
    near = cv2.distanceTransform((~truth).astype(np.uint8), cv2.DIST_L2, 3) <= 3 + 4 + 2
    assert changed[truth].mean() >= 0.8 and not changed[~near].any()

    # the model can still be asked for; a PNG cannot hold the infrared plane, so it is left out
    assert main(["restore", str(src), "-o", str(tmp_path / "out.png"), "--detect-method", "model",
                 "-q"]) == 0
    err = capsys.readouterr().err
    # said, not silent
    assert "using its infrared plane" not in err and "its infrared plane is dropped" in err
    assert io.read(tmp_path / "out.png").shape == (*raw.shape[:2], 3)


def test_batch_uses_each_files_infrared_plane(tmp_path):
    from unscratch import batch
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    scan, truth = film_scan()
    tifffile.imwrite(src / "rgbi.tif", np.rint(scan * 65535).astype(np.uint16), photometric="rgb",
                     extrasamples=("unspecified",))
    io.write(src / "plain.tif", np.rint(scan[:, :, :3] * 65535).astype(np.uint16))
    assert main(["batch", str(src), str(out), "--masks", "-q"]) == 0
    db = sqlite3.connect(out / batch.MANIFEST_NAME)
    rows = dict(db.execute("SELECT path, detect_method FROM files").fetchall())
    assert rows == {"rgbi.tif": "infrared", "plain.tif": "auto"}
    db.close()
    mask = io.read(out / "_masks" / "rgbi.tif.png") > 0
    assert tolerant_prf([mask], [truth])[2] >= 0.85
    with tifffile.TiffFile(out / "rgbi.tif") as tif:
        assert tuple(tif.pages[0].extrasamples) == (0,)


def test_alpha_stays_alpha(tmp_path):
    rgba = np.zeros((16, 16, 4), np.uint8)
    tifffile.imwrite(tmp_path / "a.tif", rgba, photometric="rgb", extrasamples=("unassalpha",))
    assert not io.read_with_info(tmp_path / "a.tif")[1].infrared
