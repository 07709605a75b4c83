"""Unitree robots on their own low-level protocol (``unitree_hg`` over Cyclone DDS): message types
and CRC (:mod:`.hg`), the wireless remote (:mod:`.remote`), the motion switcher (:mod:`.motion_switcher`),
and the G1's adapter and policy node (:mod:`.g1`). Torch-free."""
