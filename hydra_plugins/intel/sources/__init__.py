"""One module per venue or API: raw response shape, client (I/O only) and pure parse side by side."""
