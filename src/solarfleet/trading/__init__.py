"""Day-ahead trading: the fleet's optimised and unoptimised load curves, and the partner's decision."""
