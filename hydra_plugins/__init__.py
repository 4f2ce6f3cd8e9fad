"""HYDRA: behavioural trading plugins for Freqtrade on Binance USDT-M perpetual futures.

Layers import only downward: core <- intel <- stats <- alpha <- risk <- pipeline <- bridge.
"""

__version__ = "0.1.0"
