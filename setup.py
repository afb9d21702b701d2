"""Packaging lives in pyproject.toml; this file lets older tools that call `setup.py` build the package."""

from setuptools import setup


setup()
