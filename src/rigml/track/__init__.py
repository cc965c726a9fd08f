"""Experiment tracking: runs, params, metrics, artifacts, and the queries over them."""
