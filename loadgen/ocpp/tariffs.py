"""OCPP 2.1 tariffs (TariffType) and the cost a charging station calculates from them.

:func:`parse` reads a ``TariffType`` (SetDefaultTariff, ChangeTransactionTariff) into a
:class:`Tariff`; :func:`unsupported` says why the station cannot apply one (the answer's
status). :func:`cost` prices a transaction's usage: energy (per kWh), charging and idle
time (per minute) and a fixed fee, each with its taxes (stacked: ``stack`` 0 on the net
price, 1 on top of that, ...), and clamps the total to the tariff's minCost / maxCost.
A transaction whose tariff changed (ChangeTransactionTariff) is priced segment by
segment, each at its own tariff (:class:`Segment`). Amounts are rounded to
:data:`DECIMALS`; energy in Wh, times in seconds. Pure: no clock, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from loadgen.ocpp.dialect import Payload
from loadgen.ocpp.fields import get_field
from loadgen.ocpp.framing import FrameError
from loadgen.ocpp.profiles import parse_time

#: Decimals of the amounts reported (TariffCostCtrlr.NumberOfDecimalsForCostValues).
DECIMALS = 2
#: The tariff elements the station prices, in the order costDetails lists them.
ELEMENTS = ("fixedFee", "energy", "chargingTime", "idleTime")
#: TotalCostType's name of each element's cost.
COST_NAMES = {
    "fixedFee": "fixed",
    "energy": "energy",
    "chargingTime": "chargingTime",
    "idleTime": "idleTime",
}
_PRICE_KEYS = {
    "fixedFee": "priceFixed",
    "energy": "priceKwh",
    "chargingTime": "priceMinute",
    "idleTime": "priceMinute",
    "reservationTime": "priceMinute",
    "reservationFixed": "priceFixed",
}


@dataclass(frozen=True, slots=True)
class Element:
    """One priced element of a tariff: its (first, unconditional) price and its taxes."""

    price: float  # per kWh, per minute or fixed, excluding tax
    taxes: tuple[tuple[float, int], ...] = ()  # (percent, stack)

    def with_tax(self, amount: float) -> float:
        """``amount`` (excluding tax) with the taxes added, stack by stack."""
        total = amount
        for stack in sorted({s for _, s in self.taxes}):
            total *= 1 + sum(p for p, s in self.taxes if s == stack) / 100
        return total


@dataclass(frozen=True, slots=True)
class Tariff:
    """One tariff as the station applies it."""

    tariff_id: str
    currency: str
    elements: dict[str, Element]  # by ELEMENTS name; absent: free
    valid_from: float | None = None  # epoch s
    min_cost: float | None = None  # excluding tax
    max_cost: float | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """What one segment of a transaction used."""

    energy_wh: float = 0.0
    charging_s: float = 0.0
    idle_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Segment:
    """A part of a transaction priced at one tariff, from ``start_at`` (epoch s)."""

    tariff: Tariff
    start_at: float
    usage: Usage


@dataclass(frozen=True, slots=True)
class CostDetails:
    """The cost of a transaction so far, in neutral terms (the dialect spells it out)."""

    currency: str
    type_of_cost: str  # NormalCost, MinCost or MaxCost
    costs: tuple[tuple[str, float, float], ...]  # (TotalCostType name, exclTax, inclTax)
    total: tuple[float, float]  # (exclTax, inclTax)
    usage: Usage  # the whole transaction's
    segments: tuple[Segment, ...]


def parse(raw: object) -> Tariff:
    """A ``TariffType``; :class:`FrameError` if malformed (what the schema forbids)."""
    if not isinstance(raw, dict):
        raise FrameError("'tariff' must be an object", code="TypeConstraintViolation")
    tariff_id = get_field(raw, "tariffId", str, max_len=60)
    currency = get_field(raw, "currency", str, max_len=3)
    valid_from = get_field(raw, "validFrom", str, required=False)
    elements: dict[str, Element] = {}
    for name in ELEMENTS:
        element = get_field(raw, name, dict, required=False)
        if element is not None:
            elements[name] = _element(element, _PRICE_KEYS[name])
    for name in ("reservationTime", "reservationFixed"):
        element = get_field(raw, name, dict, required=False)
        if element is not None:
            _element(element, _PRICE_KEYS[name])  # read, so a malformed one is refused
    return Tariff(
        tariff_id,
        currency,
        elements,
        None if valid_from is None else parse_time(valid_from, "validFrom"),
        _amount(get_field(raw, "minCost", dict, required=False)),
        _amount(get_field(raw, "maxCost", dict, required=False)),
    )


def unsupported(raw: Payload) -> str | None:
    """Why the station cannot apply a well-formed tariff (the answer's status), or None.

    The station prices unconditional elements: an element with conditions (time of day,
    energy, power ...) or more than one price is ``ConditionNotSupported``.
    """
    for name in (*ELEMENTS, "reservationTime", "reservationFixed"):
        element = raw.get(name)
        if not isinstance(element, dict):
            continue
        prices = element.get("prices") or []
        if len(prices) > 1 or any(isinstance(p, dict) and "conditions" in p for p in prices):
            return "ConditionNotSupported"
    return None


def _element(raw: Payload, price_key: str) -> Element:
    prices = get_field(raw, "prices", list)
    if not prices or not all(isinstance(p, dict) for p in prices):
        raise FrameError("'prices' must hold price objects", code="OccurrenceConstraintViolation")
    price = _number(prices[0], price_key)
    taxes = []
    for tax in get_field(raw, "taxRates", list, required=False) or ():
        if not isinstance(tax, dict):
            raise FrameError("'taxRates' must hold objects", code="TypeConstraintViolation")
        get_field(tax, "type", str, max_len=20)
        stack = get_field(tax, "stack", int, required=False) or 0
        taxes.append((_number(tax, "tax"), max(stack, 0)))
    return Element(price, tuple(taxes))


def _number(payload: Payload, key: str) -> float:
    value = payload.get(key)
    if value is None:
        get_field(payload, key, float)  # the missing-field FrameError
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FrameError(f"{key!r} must be a number", code="TypeConstraintViolation")
    return float(value)


def _amount(price: Payload | None) -> float | None:
    """A PriceType's amount excluding tax (else including tax), or None."""
    if price is None:
        return None
    for key in ("exclTax", "inclTax"):
        if price.get(key) is not None:
            return _number(price, key)
    return None


def _element_cost(element: Element, name: str, usage: Usage, first: bool) -> float:
    if name == "energy":
        return element.price * usage.energy_wh / 1000
    if name == "chargingTime":
        return element.price * usage.charging_s / 60
    if name == "idleTime":
        return element.price * usage.idle_s / 60
    return element.price if first else 0.0  # the fixed fee, once per transaction


def cost(segments: Sequence[Segment]) -> CostDetails:
    """The cost of a transaction made of ``segments`` (its tariffs in order; at least one).

    The fixed fee is charged once, by the first segment's tariff; minCost and maxCost of
    the current (last) tariff bound the total excluding tax.
    """
    current = segments[-1].tariff
    sums: dict[str, list[float]] = {}
    energy = charging = idle = 0.0
    for index, segment in enumerate(segments):
        usage = segment.usage
        energy += usage.energy_wh
        charging += usage.charging_s
        idle += usage.idle_s
        for name, element in segment.tariff.elements.items():
            excl = _element_cost(element, name, usage, index == 0)
            pair = sums.setdefault(name, [0.0, 0.0])
            pair[0] += excl
            pair[1] += element.with_tax(excl)
    costs = tuple(
        (COST_NAMES[name], _round(sums[name][0]), _round(sums[name][1]))
        for name in ELEMENTS
        if name in sums
    )
    excl_total = sum(pair[0] for pair in sums.values())
    incl_total = sum(pair[1] for pair in sums.values())
    kind = "NormalCost"
    bound = None
    if current.min_cost is not None and excl_total < current.min_cost:
        kind, bound = "MinCost", current.min_cost
    elif current.max_cost is not None and excl_total > current.max_cost:
        kind, bound = "MaxCost", current.max_cost
    if bound is not None:
        ratio = incl_total / excl_total if excl_total > 0 else 1.0
        excl_total, incl_total = bound, bound * ratio
    return CostDetails(
        current.currency,
        kind,
        costs,
        (_round(excl_total), _round(incl_total)),
        Usage(energy, charging, idle),
        tuple(segments),
    )


def _round(amount: float) -> float:
    return round(amount + 0.0, DECIMALS)
