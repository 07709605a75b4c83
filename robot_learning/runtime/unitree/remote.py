"""The G1's wireless remote, as the robot reports it in ``LowState_.wireless_remote`` (40 bytes).

Bytes 2-3: a little-endian uint16 of buttons (bit 0 R1, 1 L1, 2 start, 3 select, 4 R2, 5 L2, 6 F1,
7 F2, 8 A, 9 B, 10 X, 11 Y, 12 up, 13 right, 14 down, 15 left); float32 sticks: lx at byte 4, rx at
8, ry at 12, the L2 trigger's analog value at 16, ly at 20.

What the runtime does with it (the reference deployment sequence, see docs/bringup/g1.md):
``start`` arms (zero torque -> the move to the start pose), ``A`` hands over to the policy,
``select`` damps, and ``L2 + B`` held together is the runtime's e-stop (latched: damping until the
operator resets from the console). Torch-free.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

BUTTONS = ("R1", "L1", "start", "select", "R2", "L2", "F1", "F2", "A", "B", "X", "Y", "up", "right", "down", "left")
BIT = {name: i for i, name in enumerate(BUTTONS)}
ESTOP_COMBO = ("L2", "B")  # held together: the runtime's latched e-stop
REMOTE_SIZE = 40


@dataclass(frozen=True)
class RemoteState:
    buttons: int = 0  # the 16 bits
    lx: float = 0.0
    rx: float = 0.0
    ry: float = 0.0
    l2: float = 0.0
    ly: float = 0.0

    def pressed(self, name: str) -> bool:
        return bool(self.buttons >> BIT[name] & 1)

    def names(self) -> tuple[str, ...]:
        return tuple(b for b in BUTTONS if self.pressed(b))


def decode_remote(data: bytes | bytearray | list[int]) -> RemoteState:
    """The 40 ``wireless_remote`` bytes -> buttons and sticks."""
    raw = bytes(data)
    if len(raw) != REMOTE_SIZE:
        raise ValueError(f"wireless_remote has {REMOTE_SIZE} bytes, got {len(raw)}")
    (buttons,) = struct.unpack_from("<H", raw, 2)
    lx, rx, ry, l2, ly = struct.unpack_from("<5f", raw, 4)
    return RemoteState(buttons, lx, rx, ry, l2, ly)


def encode_remote(buttons: tuple[str, ...] | list[str] = (), lx: float = 0.0, rx: float = 0.0, ry: float = 0.0, l2: float = 0.0,
                  ly: float = 0.0) -> list[int]:
    """The inverse of :func:`decode_remote` (the simulated robot's remote): 40 byte values."""
    raw = bytearray(REMOTE_SIZE)
    bits = 0
    for b in buttons:
        if b not in BIT:
            raise ValueError(f"unknown remote button {b!r}; known: {', '.join(BUTTONS)}")
        bits |= 1 << BIT[b]
    struct.pack_into("<H", raw, 2, bits)
    struct.pack_into("<5f", raw, 4, lx, rx, ry, l2, ly)
    return list(raw)


class ButtonEdges:
    """Rising edges of the remote's buttons between reads (a press shorter than a control period is
    not lost: the state arrives at 500 Hz, the control loop reads at 50 Hz). The e-stop combination
    held at once in one state counts as the pseudo-button ``"estop"``."""

    def __init__(self) -> None:
        self.previous = 0
        self._edges: set[str] = set()

    def update(self, state: RemoteState) -> None:
        rising = state.buttons & ~self.previous
        self.previous = state.buttons
        for name in BUTTONS:
            if rising >> BIT[name] & 1:
                self._edges.add(name)
        if all(state.pressed(n) for n in ESTOP_COMBO):
            self._edges.add("estop")

    def take(self) -> set[str]:
        """The buttons pressed since the last take (and ``"estop"`` if the combination was held)."""
        edges, self._edges = self._edges, set()
        return edges
