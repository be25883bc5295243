"""Command-line tools: search, sweep, plot (absl flags)."""
