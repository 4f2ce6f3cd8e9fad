"""L1 market intel: external series joined point-in-time, and the data-health gate."""
