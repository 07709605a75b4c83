"""Crazyflie domain randomisation: one vehicle from a handful of factors, and the evaluation grid.

A vehicle is described by factors relative to the paper's Crazyflie (mass scale, thrust-to-weight
ratio, per-axis inertia scales, motor time constant, the thrust curve's constant and linear shares).
:func:`vehicle` turns factors into :class:`CrazyflieParams` for the torch simulator; the JAX
learner samples the same factors per episode and applies the same formulas (jax_env.py), and a test
holds the two to each other.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from robot_learning.robots.crazyflie import DEFAULT_PARAMS, CrazyflieParams


@dataclass(frozen=True)
class VehicleFactors:
    mass_scale: float = 1.0
    thrust_to_weight: float = DEFAULT_PARAMS.thrust_to_weight
    inertia_scale: tuple[float, float, float] = (1.0, 1.0, 1.0)
    motor_time_constant: float = DEFAULT_PARAMS.motor_time_constant
    thrust_constant_share: float = 0.0
    thrust_linear_share: float = 0.0

    def label(self) -> str:
        i = self.inertia_scale
        return (f"m x{self.mass_scale:g}, T/W {self.thrust_to_weight:.2f}, J x({i[0]:g},{i[1]:g},{i[2]:g}), "
                f"tau {self.motor_time_constant:g} s, curve c{self.thrust_constant_share:g}/l{self.thrust_linear_share:g}")


def thrust_curve(mass: float, thrust_to_weight: float, constant_share: float, linear_share: float,
                 base: CrazyflieParams = DEFAULT_PARAMS) -> tuple[float, float, float]:
    """(constant N, linear N/rpm, quadratic N/rpm^2) of one rotor: T_max (c + l u + (1 - c - l) u^2), u = rpm / rpm_max."""
    t_max = thrust_to_weight * mass * base.gravity / 4.0
    r = base.rpm_max
    return constant_share * t_max, linear_share * t_max / r, (1.0 - constant_share - linear_share) * t_max / (r * r)


def vehicle(f: VehicleFactors, base: CrazyflieParams = DEFAULT_PARAMS) -> CrazyflieParams:
    mass = base.mass * f.mass_scale
    c0, c1, c2 = thrust_curve(mass, f.thrust_to_weight, f.thrust_constant_share, f.thrust_linear_share, base)
    if f == VehicleFactors():
        return base  # bit-identical to the paper's vehicle (its quadratic coefficient is a rounded figure)
    inertia = tuple(j * s for j, s in zip(base.inertia, f.inertia_scale))
    return dataclasses.replace(base, mass=mass, inertia=inertia, thrust_coefficient=c2, thrust_linear=c1, thrust_constant=c0,
                               motor_time_constant=f.motor_time_constant)


def evaluation_grid() -> list[VehicleFactors]:
    """Each factor at the ends of its training range with the others nominal, then four joint corners.

    Ranges: mass x0.8-1.2, thrust-to-weight 1.5-2.5, inertia x0.5-2.5 (all axes, then yaw alone),
    motor time constant 0.05-0.25 s, a thrust curve with the constant and linear terms at their highs."""
    n = VehicleFactors()
    r = dataclasses.replace
    points = [n]
    points += [r(n, mass_scale=s) for s in (0.8, 1.2)]
    points += [r(n, thrust_to_weight=s) for s in (1.5, 2.5)]
    points += [r(n, inertia_scale=(s, s, s)) for s in (0.5, 2.5)]
    points += [r(n, inertia_scale=(1.0, 1.0, s)) for s in (0.5, 2.5)]
    points += [r(n, motor_time_constant=s) for s in (0.05, 0.25)]
    points += [r(n, thrust_constant_share=0.05, thrust_linear_share=0.4)]
    # joint corners: heavy and weak with slow motors and a large inertia; light and strong with fast motors
    points += [
        VehicleFactors(1.2, 1.5, (2.5, 2.5, 2.5), 0.25, 0.05, 0.4),
        VehicleFactors(1.2, 1.5, (0.5, 0.5, 0.5), 0.05, 0.0, 0.0),
        VehicleFactors(0.8, 2.5, (0.5, 0.5, 0.5), 0.05, 0.05, 0.4),
        VehicleFactors(0.8, 2.5, (2.5, 2.5, 2.5), 0.25, 0.0, 0.0),
    ]
    return points
