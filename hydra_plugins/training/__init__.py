"""Training HYDRA's two models: datasets, labels, purged walk-forward validation."""
