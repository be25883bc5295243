"""Helpers every part of keras-slt uses: argument checks, counting, defaults, seeds, files."""
