"""Pipelines: rig.yaml stages, their DAG, cache, executors and gates; CI workflows that run them."""
