"""L2 statistical reality: volatility, regime, and the ALLOW / REDUCE / BLOCK gate."""
