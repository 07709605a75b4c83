"""Figures of the ARM build: flash and RAM of the controller's objects (arm-none-eabi-size), and the
instructions of one policy step, counted by running the linked Cortex-M4 code in an emulator.

    python tools/arm_report.py --elf build/arm/policy_step.elf --out build/arm/report.json OBJECTS...

flash = text + data, RAM = data + bss, per object and in total (Berkeley format). The policy step is
``rlctl_arm_policy_step`` (tools/policy_step.c: the network on the stored self-test observation,
libm calls included) executed by unicorn's Cortex-M4 model; every executed instruction is counted,
and a cycle estimate weights them with the Cortex-M4 timings (Technical Reference Manual: most
instructions 1 cycle, loads 2, VLDM/VSTM 1 + registers, VFMA/VMLA 3, taken branches 2, VDIV/VSQRT 14,
and a floating-point arithmetic instruction one cycle more when the next instruction consumes its
result, which is what serialises a dot product on one accumulator; no flash wait states, i.e. the
STM32F405's ART accelerator hitting). As a bound on the flash wait states, the step's reads of the
network's constant data (weights, biases) are counted in 16-byte flash lines: each line missed in the
ART's 8-line data cache costs up to 5 more cycles at 168 MHz. The stack the step really uses is
measured too (the emulated stack is painted, then searched for the deepest write). The emulated action
is compared with the stored one, and the boot self-test (``rlctl_arm_self_test``) is run on the ARM code too.
Without the ``unicorn`` package the sizes are reported alone.
"""
from __future__ import annotations

import argparse
import json
import re
import struct
import subprocess
import sys
from collections import Counter
from pathlib import Path

CPU_HZ = 168e6  # STM32F405 on the Crazyflie 2.x
POLICY_HZ = 500.0
STOP = 0xFFF00
STACK_TOP = 0x80000
STACK_PAINTED = 0x4000
PAINT = b"\xa5"


def sizes(size_tool: str, objects: list[str]) -> dict:
    out = subprocess.run([size_tool, *objects], capture_output=True, text=True, check=True).stdout.splitlines()
    rows = {}
    for line in out[1:]:
        text, data, bss, _dec, _hex, name = line.split()
        rows[Path(name).name] = {"text": int(text), "data": int(data), "bss": int(bss)}
    total = {k: sum(r[k] for r in rows.values()) for k in ("text", "data", "bss")}
    return {"objects": rows, "text": total["text"], "data": total["data"], "bss": total["bss"],
            "flash_bytes": total["text"] + total["data"], "ram_bytes": total["data"] + total["bss"]}


STACK_CHAIN = ("controllerOutOfTree", "rlctl_step", "rlctl_policy_evaluate")  # the deepest call of a policy tick
POLICY_PREFIX = "rlctl_policy_"  # the network's own helpers (static, called by rlctl_policy_evaluate, one level deep)
FLASH_WAIT_STATES = 5  # STM32F405 at 168 MHz, 3.3 V
FLASH_LINE = 16  # bytes: the flash's 128-bit read width and ART cache line


def stack(objects: list[str]) -> dict:
    """Stack frames from gcc's -fstack-usage (.su beside each object) along the policy tick's call
    chain, with the deepest of the network's helpers below rlctl_policy_evaluate (libm calls below
    them, if any, are not included: see the emulated figure); the firmware's stabiliser task has
    3 x 150 words = 1800 bytes of stack for all of it."""
    frames = {}
    for obj in objects:
        su = Path(obj).with_suffix(".su")
        if su.is_file():
            for line in su.read_text().splitlines():
                loc, size, _kind = line.rsplit("\t", 2)
                frames[loc.rsplit(":", 1)[-1]] = int(size)
    chain = {f: frames[f] for f in STACK_CHAIN if f in frames}
    helpers = {f: v for f, v in frames.items() if f.startswith(POLICY_PREFIX) and f not in STACK_CHAIN}
    if helpers:
        deepest = max(helpers, key=helpers.get)
        chain[deepest] = helpers[deepest]
    return {"stack_frames_bytes": chain, "stack_policy_tick_bytes": sum(chain.values())} if chain else {}


FP_ARITH = ("vadd", "vsub", "vmul", "vnmul", "vfma", "vfms", "vfnma", "vfnms", "vmla", "vmls", "vnmla", "vnmls", "vdiv",
            "vsqrt", "vcvt", "vabs", "vneg")


ACCUMULATING = ("vfma", "vfms", "vfnma", "vfnms", "vmla", "vmls", "vnmla", "vnmls")


def _fp_stall(mnemonic: str, operands: str, nxt: tuple[str, str] | None) -> int:
    """1 if this floating-point arithmetic instruction's result is read by the next instruction
    (the TRM: it then takes one cycle longer)."""
    if nxt is None or mnemonic.split(".")[0] not in FP_ARITH:
        return 0
    dest = operands.split(",")[0].strip()
    m2, ops2 = nxt[0].split(".")[0], nxt[1]
    if m2 in ACCUMULATING or m2 in ("vcmp", "vcmpe", "vstr", "vstmia", "vstmdb", "vpush"):
        sources = ops2
    elif m2 in FP_ARITH or m2 == "vmov":
        sources = ops2.split(",", 1)[1] if "," in ops2 else ""
    else:
        return 0
    return int(dest in re.findall(r"\b[sd]\d+\b", sources))


def _cycles(mnemonic: str, operands: str, taken: bool) -> int:
    m = mnemonic.split(".")[0]
    if m in ("vldmia", "vldmdb", "vstmia", "vstmdb", "vpush", "vpop"):
        return 1 + max(1, operands.count("s") if "{" in operands else 1)
    if m in ("vfma", "vfms", "vmla", "vmls", "vnmla", "vnmls"):
        return 3
    if m in ("vdiv", "vsqrt"):
        return 14
    if m in ("ldr", "ldrb", "ldrh", "ldrsb", "ldrsh", "str", "strb", "strh", "vldr", "vstr", "vmov", "ldrd", "strd"):
        return 2
    if m in ("ldmia", "ldm", "stmia", "stm", "stmdb", "push", "pop", "ldmia.w"):
        return 1 + max(1, operands.count(",") + 1)
    if m.startswith("b") and m not in ("bic", "bics", "bfi", "bfc"):
        return 2 if taken else 1
    if m in ("sdiv", "udiv"):
        return 6
    return 1


def emulate(elf: Path, objdump: str, nm: str) -> dict:
    from unicorn import UC_ARCH_ARM, UC_HOOK_CODE, UC_HOOK_MEM_READ, UC_MODE_MCLASS, UC_MODE_THUMB, Uc
    from unicorn.arm_const import UC_ARM_REG_LR, UC_ARM_REG_R0, UC_ARM_REG_SP, UC_CPU_ARM_CORTEX_M4

    image = elf.read_bytes()
    phoff, = struct.unpack_from("<I", image, 28)
    phentsize, phnum = struct.unpack_from("<HH", image, 42)
    symbols = {}
    for line in subprocess.run([nm, str(elf)], capture_output=True, text=True, check=True).stdout.splitlines():
        parts = line.split()
        if len(parts) == 3:
            symbols[parts[2]] = int(parts[0], 16)
    flash = []  # read-only loadable segments (code, constants): what lives in flash on the vehicle
    for i in range(phnum):
        kind, _off, vaddr, _paddr, _filesz, memsz, flags, _align = struct.unpack_from("<8I", image, phoff + i * phentsize)
        if kind == 1 and not flags & 2 and memsz:
            flash.append((vaddr, vaddr + memsz))
    insns: dict[int, tuple[str, str]] = {}
    for line in subprocess.run([objdump, "-d", "--no-show-raw-insn", str(elf)], capture_output=True, text=True, check=True).stdout.splitlines():
        m = re.match(r"\s*([0-9a-f]+):\s+(\S+)\s*(.*)", line)
        if m:
            insns[int(m.group(1), 16)] = (m.group(2), m.group(3))

    def run(entry: str) -> tuple[int, Counter, int, Uc]:
        uc = Uc(UC_ARCH_ARM, UC_MODE_THUMB | UC_MODE_MCLASS)
        uc.ctl_set_cpu_model(UC_CPU_ARM_CORTEX_M4)
        uc.mem_map(0, 0x100000)
        for i in range(phnum):
            kind, off, vaddr, _paddr, filesz, _memsz, _flags, _align = struct.unpack_from("<8I", image, phoff + i * phentsize)
            if kind == 1:
                uc.mem_write(vaddr, image[off:off + filesz])
        trace: list[int] = []
        reads: set[int] = set()
        uc.hook_add(UC_HOOK_CODE, lambda _uc, addr, _size, _ud: trace.append(addr))
        for lo, hi in flash:
            uc.hook_add(UC_HOOK_MEM_READ, lambda _uc, _acc, addr, _size, _v, _ud: reads.add(addr // FLASH_LINE), begin=lo, end=hi - 1)
        uc.mem_write(STACK_TOP - STACK_PAINTED, PAINT * STACK_PAINTED)
        uc.reg_write(UC_ARM_REG_SP, STACK_TOP)
        uc.reg_write(UC_ARM_REG_LR, STOP | 1)
        uc.emu_start(symbols[entry] | 1, STOP)
        cycles = 0
        for addr, nxt in zip(trace, trace[1:] + [STOP]):
            mn, ops = insns.get(addr, ("?", ""))
            cycles += _cycles(mn, ops, taken=nxt not in (addr + 2, addr + 4)) + _fp_stall(mn, ops, insns.get(nxt))
        painted = bytes(uc.mem_read(STACK_TOP - STACK_PAINTED, STACK_PAINTED))
        used = STACK_PAINTED - next((i for i in range(0, STACK_PAINTED, 4) if painted[i:i + 4] != PAINT * 4), STACK_PAINTED)
        uc.stack_used = used
        uc.flash_lines = len(reads)
        return len(trace), Counter(insns.get(a, ("?", ""))[0].split(".")[0] for a in trace), cycles, uc

    n, mix, cycles, uc = run("rlctl_arm_policy_step")
    stall = FLASH_WAIT_STATES * uc.flash_lines
    action = struct.unpack("<4f", bytes(uc.mem_read(uc.reg_read(UC_ARM_REG_R0), 16)))
    stored = struct.unpack("<4f", bytes(uc.mem_read(symbols["rlctl_selftest_action"], 16)))
    _, _, _, uc2 = run("rlctl_arm_self_test")
    return {
        "policy_step_instructions": n,
        "policy_step_cycles_estimate": cycles,
        "policy_step_us_at_168MHz": round(cycles / CPU_HZ * 1e6, 1),
        "cpu_share_at_500Hz": round(cycles / CPU_HZ * POLICY_HZ, 3),
        "policy_step_flash_lines_read": uc.flash_lines,
        "policy_step_cycles_with_flash_stalls_bound": cycles + stall,
        "policy_step_us_with_flash_stalls_bound": round((cycles + stall) / CPU_HZ * 1e6, 1),
        "policy_step_stack_bytes_emulated": uc.stack_used,
        "instruction_mix_top": dict(mix.most_common(8)),
        "action_emulated": [round(a, 7) for a in action],
        "action_max_abs_diff_to_stored": max(abs(a - b) for a, b in zip(action, stored)),
        "self_test_on_arm_code": "passed" if uc2.reg_read(UC_ARM_REG_R0) == 1 else "failed",
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("objects", nargs="+")
    ap.add_argument("--elf", type=Path, required=True)
    ap.add_argument("--prefix", default="arm-none-eabi-")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args(argv)
    report = {"cpu": "cortex-m4 (-mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -Os)", **sizes(a.prefix + "size", a.objects), **stack(a.objects)}
    try:
        report.update(emulate(a.elf, a.prefix + "objdump", a.prefix + "nm"))
    except ImportError:
        report["policy_step_instructions"] = None
        report["note"] = "pip install unicorn to count the policy step's instructions in the Cortex-M4 emulator"
    text = json.dumps(report, indent=2)
    if a.out:
        a.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
