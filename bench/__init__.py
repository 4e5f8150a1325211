"""Benchmarks: `make bench` (naive Locust versus loadgen) and `make bench-scale`."""
