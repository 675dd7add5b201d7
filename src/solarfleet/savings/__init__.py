"""Savings: each inverter's grid cost against plain self-consumption, in the savings endpoint's
periods, and the optimisation score against a perfect-foresight plan."""
