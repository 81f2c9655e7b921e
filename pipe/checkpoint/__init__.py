"""Spot recovery on the pipe's side: where a run's checkpoints live (keys.py), the bucket of ours and the policy
the instance needs (aws.py). The save and restore themselves are pipe/bootstrap/checkpoints.py, shipped to the VM."""
