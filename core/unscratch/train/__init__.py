"""Training extras: the clean photo pool and the damage simulator (optional; needs the ``train`` extra)."""
