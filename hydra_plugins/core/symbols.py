"""Freqtrade pair names and Binance USDT-M symbols, and Binance's fixed data periods."""

# Binance's finest open-interest history period (openInterestHist, the metrics archive).
OPEN_INTEREST_TIMEFRAME = "5m"
OPEN_INTEREST_MINUTES = 5


def symbol_to_pair(symbol: str) -> str:
    """Map a Binance USDT-M symbol (``BTCUSDT``) to Freqtrade's pair (``BTC/USDT:USDT``)."""
    if not symbol.endswith("USDT") or len(symbol) <= 4:
        raise ValueError(f"not a USDT-margined symbol: {symbol!r}")
    return f"{symbol[:-4]}/USDT:USDT"


def pair_to_symbol(pair: str) -> str:
    """Map Freqtrade's pair (``BTC/USDT:USDT``) to the Binance USDT-M symbol (``BTCUSDT``)."""
    base, _, rest = pair.partition("/")
    if rest != "USDT:USDT" or not base:
        raise ValueError(f"not a Binance USDT-M perpetual pair: {pair!r}")
    return f"{base}USDT"
