"""Training: build a run from its Hydra config (run.py), settle a multi-process launch (launch.py), optimise (optim.py)."""
