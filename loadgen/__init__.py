"""loadgen: a distributed load generator for OCPP charge-point back ends, on Locust."""

__version__ = "0.1.0"
