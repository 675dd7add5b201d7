"""Inference from history: battery parameters and electric-vehicle charging, learnt from stored readings."""
