# HYDRA on the official Freqtrade image (same version as pyproject.toml's pin).
FROM freqtradeorg/freqtrade:2026.9

USER ftuser
WORKDIR /freqtrade
COPY --chown=ftuser:ftuser pyproject.toml README.md /opt/hydra/
COPY --chown=ftuser:ftuser hydra_plugins /opt/hydra/hydra_plugins
# freqtrade (with its hyperopt extra), TA-Lib and scikit-learn are already in the image; this adds
# hydra_plugins, the `hydra` command, CatBoost, XGBoost (CPU build), the Anthropic SDK, httpx,
# pydantic and matplotlib.
RUN pip install --user --no-cache-dir /opt/hydra
