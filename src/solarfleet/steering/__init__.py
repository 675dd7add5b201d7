"""Carrying out plans: slot → device command, read-back, and what the device really does."""
