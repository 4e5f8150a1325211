"""Scenarios written with the public API (``from loadgen import ...``) alone."""
