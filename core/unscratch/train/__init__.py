"""Training extras: the clean photo pool, the damage simulator, training and evaluation (optional;
needs the ``train`` extra). README.md says where the photos and the damage overlays come from."""
