"""Deployment command-line tools: export and TFLite benchmark (absl flags)."""
