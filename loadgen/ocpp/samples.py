"""Meter readings and the sampled values both versions build from them.

A :class:`Reading` is what a connector's meter shows at one moment: the energy register,
the power, the line voltage, the phases and the EV's state of charge. :func:`values`
turns it into the sampled values of the measurands asked for, in neutral tuples that the
dialects spell out (1.6 as strings, 2.0.1 as numbers). The values are coherent: the
power is the sum of voltage times current over the phases (``P = V * I``), currents
are split evenly over the phases the model has, and a register never falls (the station
keeps it).
"""

from __future__ import annotations

from dataclasses import dataclass

ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
CURRENT = "Current.Import"
VOLTAGE = "Voltage"
SOC = "SoC"
#: 2.1 bidirectional charging: what the EV gives back (reported for V2X sessions only).
EXPORT_ENERGY = "Energy.Active.Export.Register"
EXPORT_POWER = "Power.Active.Export"
EXPORT_CURRENT = "Current.Export"
#: Measurands loadgen's meters have: the only ones a measurand setting takes.
MEASURANDS = (ENERGY, POWER, CURRENT, VOLTAGE, SOC)
_UNITS = {ENERGY: "Wh", POWER: "W", CURRENT: "A", VOLTAGE: "V", SOC: "Percent"}
_PHASES = ("L1", "L2", "L3")


@dataclass(frozen=True, slots=True)
class Reading:
    """One connector's meter at one moment."""

    energy_wh: int  # the register (Energy.Active.Import.Register), never falling
    power_w: float = 0.0
    voltage_v: float = 230.0  # AC: line to neutral; DC: at the connector
    phases: int = 3  # AC phases; 0 for DC
    soc_percent: float | None = None  # None: not metered
    #: the export register (Energy.Active.Export.Register) of a V2X session, else None;
    #: while the EV discharges ``power_w`` is negative
    export_wh: int | None = None


#: (measurand, phase or None, location or None, unit, value)
Value = tuple[str, str | None, str | None, str, float]


def values(reading: Reading, measurands: tuple[str, ...]) -> list[Value]:
    """The sampled values of ``measurands`` (in their order, unknown ones left out); the
    energy register alone when none is known (a sample is never empty). A V2X session's
    reading adds its export register after the import one, and while the EV discharges
    its power and currents are the export ones (``Power.Active.Export``,
    ``Current.Export``) with the import power at 0."""
    out: list[Value] = []
    phases = reading.phases
    export = reading.export_wh
    for measurand in measurands:
        if measurand == ENERGY:
            out.append((ENERGY, None, None, "Wh", reading.energy_wh))
            if export is not None:
                out.append((EXPORT_ENERGY, None, None, "Wh", export))
        elif measurand == POWER:
            out.append((POWER, None, None, "W", max(round(reading.power_w), 0)))
            if export is not None:
                out.append((EXPORT_POWER, None, None, "W", max(-round(reading.power_w), 0)))
        elif measurand == CURRENT:
            name = CURRENT if reading.power_w >= 0 else EXPORT_CURRENT
            if phases == 0:
                out.append((name, None, None, "A", _current(reading, 1)))
            else:
                amps = _current(reading, phases)
                out.extend((name, phase, None, "A", amps) for phase in _PHASES[:phases])
        elif measurand == VOLTAGE:
            volts = round(reading.voltage_v, 1)
            if phases == 0:
                out.append((VOLTAGE, None, None, "V", volts))
            else:
                out.extend((VOLTAGE, f"{phase}-N", None, "V", volts) for phase in _PHASES[:phases])
        elif measurand == SOC and reading.soc_percent is not None:
            out.append((SOC, None, "EV", "Percent", round(reading.soc_percent, 1)))
    if not out:
        out.append((ENERGY, None, None, "Wh", reading.energy_wh))
        if export is not None:
            out.append((EXPORT_ENERGY, None, None, "Wh", export))
    return out


def _current(reading: Reading, conductors: int) -> float:
    """Current per conductor (A, three decimals, so V * I is P within a watt)."""
    if reading.voltage_v <= 0:
        return 0.0
    return round(abs(reading.power_w) / (reading.voltage_v * conductors), 3)


def measurand_list(text: str | None) -> tuple[str, ...]:
    """A setting's comma-separated measurands as a tuple (empty for None or blank)."""
    if not text:
        return ()
    return tuple(part.strip() for part in text.split(",") if part.strip())


__all__ = ["MEASURANDS", "Reading", "Value", "measurand_list", "values", "_UNITS"]
