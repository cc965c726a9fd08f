"""Placement: local or cloud, what it costs, its carbon, and the staged upgrade plan."""
