"""L4 risk brain: leverage, position sizing, stops and exits."""
