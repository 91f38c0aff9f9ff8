"""Experiments: grids of config fields crossed with seeds, or searches, queued and recorded in an Optuna study."""
