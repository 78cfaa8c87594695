"""Metrics shared by the evaluation and benchmark scripts and the tests."""
