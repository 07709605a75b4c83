"""Hardware adapters: one package per robot protocol (the ground side of a real robot's link)."""
