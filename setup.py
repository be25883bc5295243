"""Installs keras-slt; the metadata is pyproject.toml's (`pip install '.[tensorflow]'`)."""

from setuptools import setup

setup()
