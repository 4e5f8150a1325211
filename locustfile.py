"""Run loadgen's charge points with plain Locust: ``locust -f locustfile.py``.

See loadgen/locustfile.py for the options (``--loadgen-config`` and friends).
"""

from loadgen.locustfile import ChargePoint, StagesShape

__all__ = ["ChargePoint", "StagesShape"]
