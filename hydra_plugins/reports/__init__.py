"""Reports a person reads: what HYDRA's signals and trades did, as tables and PNG plots."""
