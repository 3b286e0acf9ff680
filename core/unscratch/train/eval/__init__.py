"""Held-out evaluation (``unscratch eval detect|restore|real``).

Test pairs are made from the *test* split of the photo pool and the *test* split of the damage
sprites (neither is ever trained on), deterministically from a seed, so anyone can rerun the
numbers. Every method runs in the same process on the same pairs; baselines get the same masks and
compositing. One topic a module: cases.py (the test crops), detect.py, restore.py,
independent_damage.py (damage drawn by code written apart from the simulator, never imported by
training), real.py (real photos, and real scans beside an expert's restoration), cli.py (the
command, its tables, ``--write-card``).
"""
