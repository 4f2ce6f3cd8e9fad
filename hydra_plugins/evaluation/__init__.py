"""Evidence about HYDRA: backtest reports, baselines and ablations (``hydra report backtest``, ``hydra evaluate``)."""
