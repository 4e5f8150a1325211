"""Vendor X's DataTransfer handshake before every charging session.

    loadgen run examples/charging.yaml --locustfile examples/vendor_handshake.py

Each session starts with a DataTransfer (counted as ``OCPP DataTransfer``); a charger
whose handshake is refused lets the driver go without charging.
"""

from __future__ import annotations

from loadgen import ChargePointUser, Charger, scenario
from loadgen.run.locustfile import StagesShape  # noqa: F401  (loadgen's options, stages, results)

VENDOR_ID = "com.example.vendor"


class VendorChargers(ChargePointUser):
    @scenario()
    def session(self, cp: Charger) -> None:
        answer = cp.call(
            "DataTransfer",
            {"vendorId": VENDOR_ID, "messageId": "Handshake", "data": cp.charge_point_id},
        )
        if answer.get("status") == "Accepted":
            self.charging_session(cp)  # loadgen's own session: plug in ... unplug
