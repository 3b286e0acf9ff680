"""The plug-in ↔ worker protocol, as a host would use it (bytes in, bytes out, no numpy needed)."""
from __future__ import annotations

import sys
import time

import numpy as np
import pytest

from conftest import scratched
from unscratch import protocol


def as_msg(a):
    return (a.tobytes(), a.shape, str(a.dtype))


def test_npy_round_trip(tmp_path):
    a = np.arange(24, dtype=np.uint16).reshape(2, 3, 4)
    protocol.write_npy(str(tmp_path / "a.npy"), a.tobytes(), a.shape, "uint16")
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), a)
    data, shape, dtype = protocol.read_npy(str(tmp_path / "a.npy"))
    assert shape == (2, 3, 4) and dtype == "uint16" and data == a.tobytes()


def test_restore_job_keeps_precision_and_region(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/nonexistent-host-site-packages")
    damaged, _, _ = scratched(dtype=np.uint16)
    region = np.zeros(damaged.shape[:2], np.uint8)
    region[30:70, :] = 255
    seen = []
    info, out = protocol.run_job(sys.executable, "restore",
                                 {"image": as_msg(damaged), "region": as_msg(region)},
                                 progress=seen.append)
    data, shape, dtype = out["restored"]
    restored = np.frombuffer(data, np.uint16).reshape(shape)
    assert dtype == "uint16" and shape == damaged.shape
    assert np.array_equal(restored[region == 0], damaged[region == 0])
    assert (restored != damaged).any() and seen and seen[-1] == 1.0


@pytest.mark.parametrize("op", ["restore", "detect"])
def test_gray_alpha_layers_keep_their_alpha(op):
    """GIMP and Krita send gray+alpha as HxWx2: the gray plane is repaired, alpha comes back as it
    was."""
    damaged, _, truth = scratched(channels=0, dtype=np.uint16)
    alpha = np.linspace(0, 65535, damaged.size).astype(np.uint16).reshape(damaged.shape)
    _, out = protocol.run_job(sys.executable, op, {"image": as_msg(np.dstack([damaged, alpha]))})
    if op == "detect":
        data, shape, dtype = out["mask"]
        assert shape == damaged.shape and np.frombuffer(data,
                                                        np.uint8).reshape(shape)[truth].mean() > 200
        return
    data, shape, dtype = out["restored"]
    restored = np.frombuffer(data, np.uint16).reshape(shape)
    assert shape == damaged.shape + (2,) and dtype == "uint16"
    assert np.array_equal(restored[..., 1], alpha)
    assert np.array_equal(restored[..., 0], __import__("unscratch").restore(damaged))


def test_worker_env_strips_python_variables():
    env = protocol.worker_env({"PYTHONPATH": "x", "PYTHONHOME": "y", "PATH": "/bin"})
    assert env == {"PATH": "/bin"}


def test_bad_input_is_a_worker_error():
    img = np.zeros((10, 10), np.uint8)
    with pytest.raises(protocol.WorkerError, match="region: shape"):
        protocol.run_job(sys.executable, "detect",
                         {"image": as_msg(img), "region": as_msg(np.zeros((3, 3), np.uint8))})


def test_cancel_stops_the_worker():
    img = scratched(h=1500, w=1500)[0]
    start = time.monotonic()
    with pytest.raises(protocol.WorkerCancelled):
        protocol.run_job(sys.executable, "restore", {"image": as_msg(img)},
                         cancel=lambda: time.monotonic() - start > 0.3)
    assert time.monotonic() - start < 5


def test_missing_interpreter_says_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.delenv("UNSCRATCH_PYTHON", raising=False)
    with pytest.raises(protocol.WorkerError, match="unscratch install"):
        protocol.worker_python(str(tmp_path))


def test_restore_reports_what_it_repaired():
    """Hosts say how many pixels were repaired and with which rule, from result["info"] alone."""
    damaged, _, truth = scratched()
    region = np.zeros(damaged.shape[:2], np.uint8)
    region[30:70, :] = 255
    arrays = {"image": as_msg(damaged), "region": as_msg(region)}
    info, out = protocol.run_job(sys.executable, "restore", arrays)
    assert set(out) == {"restored"}
    restored = np.frombuffer(out["restored"][0], np.uint8).reshape(damaged.shape)
    changed = (restored != damaged).any(axis=2)
    assert info["info"]["repaired_pixels"] == int(changed.sum()) > 0
    assert info["info"]["rule"] == "selection" and 0 < info["info"]["threshold"] <= 1
    mask = np.zeros(damaged.shape[:2], np.uint8)
    mask[truth] = 255
    mask[:, :60] = 0  # only the right part of the scratch is marked
    info, out = protocol.run_job(sys.executable, "restore",
                                 {"image": as_msg(damaged), "mask": as_msg(mask)})
    restored = np.frombuffer(out["restored"][0], np.uint8).reshape(damaged.shape)
    changed = (restored != damaged).any(axis=2)
    assert info["info"]["rule"] == "mask" and info["info"]["mask_pixels"] == int((mask > 0).sum())
    assert not changed[:, :55].any() and changed[truth & (np.arange(damaged.shape[1]) >= 60)].all()


def test_describe_gives_the_thresholds_a_host_shows():
    info, out = protocol.run_job(sys.executable, "describe", {})
    assert out == {} and 0 < info["info"]["threshold"] <= 1
    from unscratch import api
    own = api.settings()
    assert (info["info"]["dilate"], info["info"]["feather"]) == (own.dilate, own.feather)
    assert info["info"]["threshold"] == own.threshold and info["info"]["detector"] == own.detector


def test_described_asks_the_worker_until_every_fact_is_known(monkeypatch):
    """A host that noted only the threshold a run reported (Krita) still gets the growth."""
    monkeypatch.setattr(protocol, "DESCRIBED", {"threshold": 0.5})
    facts = protocol.described(sys.executable)
    from unscratch import api
    own = api.settings()
    assert set(protocol.DESCRIBED_KEYS) <= set(facts)
    assert (facts["threshold"], facts["dilate"], facts["feather"]) == (
        own.threshold, own.dilate, own.feather)


def test_hosts_share_the_params_and_the_output_checks():
    from unscratch import api
    assert protocol.METHODS == api.METHODS and set(protocol.IMAGE_OPS) < set(protocol.OPS)
    outputs = {"mask": (bytes(6), (2, 3), "uint8")}
    assert protocol.output(outputs, "mask", (2, 3), "uint8") == bytes(6)
    with pytest.raises(protocol.WorkerError, match=r"\(3, 2\) \(uint8\) layer.*install gimp"):
        protocol.output(outputs, "mask", (3, 2), "uint8", host="gimp")
    with pytest.raises(protocol.WorkerError, match="sent no restored"):
        protocol.output(outputs, "restored", (2, 3), "uint8")


@pytest.mark.parametrize("with_region", [False, True])
def test_restore_of_the_mask_detect_and_mask_gives_is_restore_without_a_mask(with_region):
    """api.detect_and_mask's mask, restored with its rule's growth: the pixels api.restore gives."""
    import unscratch
    from unscratch import api
    damaged, _, _ = scratched()
    region = None
    if with_region:
        region = np.zeros(damaged.shape[:2], np.float32)
        region[20:44, 10:60] = 1.0
    scan = api.detect_and_mask(damaged, region=region)
    assert scan.repair_mask.dtype == bool and scan.repair_mask.shape == damaged.shape[:2]
    assert scan.repair_mask.any() and scan.detection.mask.shape == damaged.shape[:2]
    assert np.array_equal(unscratch.restore(damaged, scan.repair_mask, region=region,
                                            dilate=scan.rule.dilate, feather=scan.rule.feather),
                          unscratch.restore(damaged, region=region))


def test_a_detect_jobs_marks_are_its_stored_probability_at_its_threshold():
    """What a host stores (the job's probability) re-thresholded at the job's threshold gives the
    job's marks, so moving the sensitivity back and forth returns to them."""
    from unscratch import hostkit
    damaged, _, _ = scratched()
    info, out = protocol.run_job(sys.executable, "detect", {"image": as_msg(damaged)})
    mask, probability = out["mask"][0], out["probability"][0]
    assert hostkit.threshold_marks(probability, info["info"]["threshold"]) == mask
    assert np.frombuffer(mask, np.uint8).any()
