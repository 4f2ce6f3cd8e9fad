"""L3 alpha: behavioural signals, the best one per candle, its tag, stop and target."""
