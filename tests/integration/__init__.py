"""Tests that start real services; every one is marked ``services`` (tests/conftest.py)."""
