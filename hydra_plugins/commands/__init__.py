"""The work behind ``hydra`` subcommands that need Freqtrade's own data tools (data handlers, configs)."""
