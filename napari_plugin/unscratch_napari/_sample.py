"""File › Open Sample › unscratch › damaged sample: the bundled photo with seeded, drawn-on
damage."""
from __future__ import annotations


def damaged_sample() -> list:
    """The damaged photo, plus (hidden) its clean original and the true defect mask for scoring."""
    from unscratch import demo

    clean = demo.sample_photo()
    damaged, truth = demo.add_demo_damage(clean)
    made = "unscratch.demo.add_demo_damage(unscratch.demo.sample_photo())"
    about = {"unscratch": {"sample": made}}
    return [
        (damaged, {"name": "damaged sample", "rgb": True, "metadata": about}, "image"),
        (clean, {"name": "sample reference", "rgb": True, "visible": False, "metadata": about},
         "image"),
        (truth.astype("uint8"),
         {"name": "sample true defects", "visible": False, "metadata": about}, "labels"),
    ]
