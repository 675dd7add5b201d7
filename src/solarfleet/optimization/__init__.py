"""Battery plans: one linear program per site over the price horizon, and the rule-based fallback."""
