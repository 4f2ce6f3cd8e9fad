"""Offline exchange: the market snapshot served on loopback (later: replay of recorded intel)."""
