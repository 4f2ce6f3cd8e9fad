"""Shared foundations: typed config, column names, errors, environment loading."""
