"""Make a CURVE key pair for the HIL-SERL link (the learner's, or one per actor).

    python -m robot_learning.tasks.hil_serl.keys --out keys/ --name learner   # -> keys/learner.key, keys/learner.key_secret
    python -m robot_learning.tasks.hil_serl.keys --out keys/ --name robot1

``NAME.key`` holds the public key (give it to the other side), ``NAME.key_secret`` both keys (keep
it; written readable by its owner only). On the learner: ``link.server_secret_key: keys/learner.key_secret``
and ``link.allowed_clients`` a directory with each accepted actor's ``.key``; on an actor:
``link.server_public_key: learner.key`` and ``link.client_secret_key: keys/robot1.key_secret``; both
``link.curve: true``.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

import zmq
import zmq.auth

from robot_learning.core.config import ConfigError


def make_key_pair(directory: str | Path, name: str) -> tuple[Path, Path]:
    """``directory/name.key`` (public) and ``directory/name.key_secret`` (mode 0600); refuses to overwrite."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name) or name.startswith("."):
        raise ConfigError(f"--name must be 1-64 letters, digits, '_', '-' or '.', got {name!r}")
    if not zmq.has("curve"):
        raise ConfigError(f"this libzmq ({zmq.zmq_version()}) was built without CURVE: no keys to make for it")
    d = Path(directory)
    public, secret = d / f"{name}.key", d / f"{name}.key_secret"
    for p in (public, secret):
        if p.exists():
            raise FileExistsError(f"{p} exists; choose another --name or remove it first")
    d.mkdir(parents=True, exist_ok=True)
    old = os.umask(0o077)  # the secret file is never readable by others, not even for a moment
    try:
        made_public, made_secret = zmq.auth.create_certificates(d, name)
    finally:
        os.umask(old)
    os.chmod(made_public, 0o644)
    os.chmod(made_secret, 0o600)
    return Path(made_public), Path(made_secret)


def keys_command(out: Path, name: str) -> dict[str, str]:
    """`robot-learning hil-serl keys --out DIR --name NAME` (the task registry's handler)."""
    public, secret = make_key_pair(out, name)
    return {"public_key": str(public), "secret_key": str(secret)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m robot_learning.tasks.hil_serl.keys",
                                description="Make a CURVE key pair for the HIL-SERL actor <-> learner link.")
    p.add_argument("--out", type=Path, required=True, help="directory for NAME.key (public) and NAME.key_secret")
    p.add_argument("--name", required=True, help="e.g. learner, or the actor's robot name")
    a = p.parse_args(argv)
    try:
        made = keys_command(a.out, a.name)
    except (ConfigError, FileExistsError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"public key {made['public_key']} (give it to the other side); secret key {made['secret_key']} (keep it here)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
