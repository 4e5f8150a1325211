"""Run loadgen's charge points with plain Locust: ``locust -f locustfile.py``.

See loadgen/run/locustfile.py for the options (``--loadgen-config`` and friends).
"""

from loadgen.run.locustfile import ChargePoint, StagesShape

__all__ = ["ChargePoint", "StagesShape"]
