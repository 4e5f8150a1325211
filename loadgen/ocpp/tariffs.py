"""OCPP 2.1 tariffs (TariffType) and the cost a charging station calculates from them.

:func:`parse` reads a ``TariffType`` (SetDefaultTariff, ChangeTransactionTariff) into a
:class:`Tariff`; :func:`unsupported` says why the station cannot apply one (the answer's
status). :func:`cost` prices a transaction's usage: energy (per kWh), charging and idle
time (per minute) and a fixed fee, each with its taxes (stacked: ``stack`` 0 on the net
price, 1 on top of that, ...), and clamps the total to the tariff's minCost / maxCost.
A transaction whose tariff changed (ChangeTransactionTariff) is priced segment by
segment, each at its own tariff (:class:`Segment`). Money is computed in
:class:`~decimal.Decimal`: each element's cost is rounded half up to :data:`DECIMALS`,
and the total is the sum of the rounded elements, so the costDetails a CSMS receives
add up. Energy in Wh, times in seconds. Pure: no clock, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from loadgen.ocpp.dialect import Payload
from loadgen.ocpp.fields import get_field
from loadgen.ocpp.framing import FrameError
from loadgen.ocpp.profiles import parse_time

#: Decimals of the amounts reported (TariffCostCtrlr.NumberOfDecimalsForCostValues).
DECIMALS = 2
_QUANTUM = Decimal(1).scaleb(-DECIMALS)
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

    def with_tax(self, amount: Decimal) -> Decimal:
        """``amount`` (excluding tax) with the taxes added, stack by stack."""
        total = amount
        for stack in sorted({s for _, s in self.taxes}):
            percent = sum((_decimal(p) for p, s in self.taxes if s == stack), Decimal(0))
            total *= 1 + percent / 100
        return total


@dataclass(frozen=True, slots=True)
class Bound:
    """A minCost or maxCost (PriceType): excluding tax, including tax, or both."""

    excl_tax: float | None
    incl_tax: float | None


@dataclass(frozen=True, slots=True)
class Tariff:
    """One tariff as the station applies it."""

    tariff_id: str
    currency: str
    elements: dict[str, Element]  # by ELEMENTS name; absent: free
    valid_from: float | None = None  # epoch s
    min_cost: Bound | None = None
    max_cost: Bound | None = None


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


def _amount(price: Payload | None) -> Bound | None:
    """A PriceType's amounts (either may be absent, not both), or None."""
    if price is None:
        return None
    excl, incl = (
        None if price.get(key) is None else _number(price, key) for key in ("exclTax", "inclTax")
    )
    if excl is None and incl is None:
        raise FrameError(
            "a price needs 'exclTax' or 'inclTax'", code="OccurrenceConstraintViolation"
        )
    return Bound(excl, incl)


def _element_cost(element: Element, name: str, usage: Usage, first: bool) -> Decimal:
    price = _decimal(element.price)
    if name == "energy":
        return price * _decimal(usage.energy_wh) / 1000
    if name == "chargingTime":
        return price * _decimal(usage.charging_s) / 60
    if name == "idleTime":
        return price * _decimal(usage.idle_s) / 60
    return price if first else Decimal(0)  # the fixed fee, once per transaction


def cost(segments: Sequence[Segment]) -> CostDetails:
    """The cost of a transaction made of ``segments`` (its tariffs in order; at least one).

    The fixed fee is charged once, by the first segment's tariff. Each element is
    rounded (half up) and the total is the sum of the rounded elements. The minCost and
    maxCost of the tariff the transaction started with bound that total, on the side
    (excluding or including tax) they are given for; a tariff change does not lift the
    minimum the transaction began under (see docs/ocpp21.md).
    """
    first = segments[0].tariff
    sums: dict[str, list[Decimal]] = {}
    energy = charging = idle = 0.0
    for index, segment in enumerate(segments):
        usage = segment.usage
        energy += usage.energy_wh
        charging += usage.charging_s
        idle += usage.idle_s
        for name, element in segment.tariff.elements.items():
            excl = _element_cost(element, name, usage, index == 0)
            pair = sums.setdefault(name, [Decimal(0), Decimal(0)])
            pair[0] += excl
            pair[1] += element.with_tax(excl)
    rounded = [
        (name, _round(sums[name][0]), _round(sums[name][1])) for name in ELEMENTS if name in sums
    ]
    excl_total = sum((excl for _, excl, _ in rounded), Decimal(0))
    incl_total = sum((incl for _, _, incl in rounded), Decimal(0))
    kind = "NormalCost"
    for bound, name, below in (
        (first.min_cost, "MinCost", True),
        (first.max_cost, "MaxCost", False),
    ):
        bounded = _bounded(bound, excl_total, incl_total, below)
        if bounded is not None:
            kind, (excl_total, incl_total) = name, bounded
            break
    return CostDetails(
        first.currency,
        kind,
        tuple((COST_NAMES[name], float(excl), float(incl)) for name, excl, incl in rounded),
        (float(excl_total), float(incl_total)),
        Usage(energy, charging, idle),
        tuple(segments),
    )


def _bounded(
    bound: Bound | None, excl: Decimal, incl: Decimal, below: bool
) -> tuple[Decimal, Decimal] | None:
    """(excl, incl) held at ``bound`` (a minimum if ``below``, else a maximum) if the total
    passes it, else None. The bound is checked on the side it is given for (excluding
    tax when both are); a side it does not give follows in the total's tax ratio."""
    if bound is None:
        return None
    ratio = incl / excl if excl > 0 and incl > 0 else Decimal(1)  # incl over excl
    if bound.excl_tax is not None:
        limit = _decimal(bound.excl_tax)
        if excl < limit if below else excl > limit:
            incl_limit = limit * ratio if bound.incl_tax is None else _decimal(bound.incl_tax)
            return _round(limit), _round(incl_limit)
        return None
    assert bound.incl_tax is not None  # a PriceType gives one side at least
    limit = _decimal(bound.incl_tax)
    if incl < limit if below else incl > limit:
        return _round(limit / ratio), _round(limit)
    return None


def _decimal(number: float) -> Decimal:
    """The decimal a float was written as (0.1 is 0.1, not its binary approximation)."""
    return Decimal(repr(number + 0.0))


def _round(amount: Decimal) -> Decimal:
    """Half up to DECIMALS places (0.605 is 0.61), as money is rounded."""
    return amount.quantize(_QUANTUM, rounding=ROUND_HALF_UP)
