"""Forecasts for the optimiser: PV from clear sky and the site's history, household load from its
weekly profile, the checks a forecast passes, and how far forecasts were from what happened."""
