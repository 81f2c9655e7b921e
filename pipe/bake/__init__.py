"""COMMAND: bake: a machine image with Docker (and for GPU the NVIDIA container toolkit) installed and the
runner image pulled, named and tagged by its recipe hash; runner mode finds it by that hash (lookup.py) and the
sweep deregisters stale ones (stale.py)."""
