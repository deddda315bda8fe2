"""Shared test material: fixtures' helpers, keys, trust lists, brokers.

Test modules import from here, never from each other.
"""
