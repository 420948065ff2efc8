"""Measurements simulated from a power flow: true values and noisy readings.

Used by the accuracy Monte Carlo, the tests and the benchmarks: the true value of every
measured quantity follows from the power-flow voltages through the same network model the
estimator uses; a reading adds Gaussian noise whose standard deviation comes from the
meter's accuracy class at the true value (the estimator is told the same standard deviation).
"""

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from gridedge.errors import InvalidInputError
from gridedge.grid import Measurement, PowerFlowResult
from gridedge.grid import network as nw
from gridedge.meter.estimation.accuracy import AccuracyClass
from gridedge.meter.estimation.quantities import (
    I_ANGLE,
    I_MAGNITUDE,
    P_FLOW,
    P_INJECTION,
    Q_FLOW,
    Q_INJECTION,
    V_ANGLE,
    V_MAGNITUDE,
    Quantity,
    encode,
)


def true_values(
    flow: PowerFlowResult, items: Sequence[Measurement | Quantity]
) -> NDArray[np.float64]:
    """Values of measured quantities in the power-flow solution `flow`.

    Parameters
    ----------
    flow : PowerFlowResult
    items : sequence of Measurement or Quantity
        What to evaluate (a Measurement's own value is ignored).

    Returns
    -------
    ndarray of float64, shape (len(items),)
        In each quantity's unit (p.u., degrees, kW, kvar, A).
    """
    net = nw.build(flow.grid, flow.switch_states)
    e = encode(net, items, "quantity")
    voltage = flow.node_voltage
    injected = net.admittance(nw.POSITIVE) @ voltage
    y = net.two_port[:, nw.POSITIVE]
    padded = np.append(voltage, 0.0)
    ends = (net.from_node, net.to_node)
    values = np.empty(len(items))
    for row, kind in enumerate(e.kind.tolist()):
        node = int(e.node[row])
        v = voltage[node]
        if kind == V_MAGNITUDE:
            values[row] = abs(v)
        elif kind == V_ANGLE:
            values[row] = np.angle(v)
        elif kind in (P_INJECTION, Q_INJECTION):
            s = v * np.conj(injected[node])
            values[row] = s.real if kind == P_INJECTION else s.imag
        else:
            b, end = int(e.branch[row]), int(e.end[row])
            current = y[b, end, 0] * padded[ends[0][b]] + y[b, end, 1] * padded[ends[1][b]]
            s = v * np.conj(current)
            values[row] = {
                P_FLOW: s.real,
                Q_FLOW: s.imag,
                I_MAGNITUDE: abs(current),
                I_ANGLE: np.angle(current),
            }[kind]
    return values / e.to_pu


def readings(
    flow: PowerFlowResult,
    plan: Sequence[tuple[Quantity, AccuracyClass]],
    rng: np.random.Generator,
    *,
    prefix: str = "m",
) -> list[Measurement]:
    """Noisy measurements of `plan`'s quantities in `flow`.

    Parameters
    ----------
    flow : PowerFlowResult
    plan : sequence of (Quantity, AccuracyClass)
        What is measured and by which kind of meter.
    rng : numpy.random.Generator
    prefix : str
        Ids are ``f"{prefix}{i}"`` in plan order.

    Returns
    -------
    list of Measurement
        Value = true value + sigma x N(0, 1), std_dev = sigma, with sigma from the class at
        the true value.
    """
    if not plan:
        raise InvalidInputError("the measurement plan is empty")
    quantities = [quantity for quantity, _ in plan]
    truth = true_values(flow, quantities)
    sigma = np.array(
        [
            float(accuracy.sigma(q.quantity, value))
            for (q, accuracy), value in zip(plan, truth, strict=True)
        ]
    )
    noisy = truth + sigma * rng.standard_normal(truth.shape)
    return [
        Measurement(f"{prefix}{i}", q.quantity, q.element, float(value), float(s), side=q.side)
        for i, (q, value, s) in enumerate(zip(quantities, noisy, sigma, strict=True))
    ]
