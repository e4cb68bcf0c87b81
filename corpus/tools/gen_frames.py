#!/usr/bin/env python3
"""Generate corpus/src/frames/main.go (the committed output is what gets built).

Usage: python3 corpus/tools/gen_frames.py [OUTPUT]   (default: corpus/src/frames/main.go)
       python3 corpus/tools/gen_frames.py --check   (exit 1 if main.go is stale)

Every function is //go:noinline and comes in two shapes:
  leafN    - no call in its body (the assembler marks it LEAF; its only BL is the
             stack-split call to runtime.morestack_noctxt in the out-of-line tail,
             which every function with a frame of 128 bytes or more has; leaf96 is
             made NOSPLIT by the assembler and has no BL at all);
  nonleafN - calls main.callee while all of its arrays are live.
N is the frame size in bytes the prologue establishes (the pcsp maximum) with the
toolchains in this corpus; corpus/README.md lists what each toolchain really emits.

How the frame is made: the arm64 frame is locals + 8 (saved LR) rounded up to 16, plus
8 or 16 bytes for the saved frame pointer, so with locals L (a multiple of 16) the frame
is L + 16. Locals are uint arrays of at most 64 KiB each (Go 1.24+ moves a single
local over 128 KiB to the heap) that are all live at once. Every array is either at most
64 bytes (zeroed with plain stores) or more than 1024 bytes (zeroed with an inline loop):
sizes in between are zeroed with a BL to runtime.duffzero up to Go 1.25, which would make
the function a non-leaf. Indexes are masked (power-of-two lengths) or reduced with an
unsigned modulo so that no bounds check (and so no call to runtime.panicIndex) is emitted.
"""
import os
import sys

# Frame sizes in bytes the prologue should establish (the N of leafN / nonleafN).
FRAMES = [
    96,  # "about 100 B": small-frame prologue (MOVD.W), frames are 16-byte aligned
    4000,  # <= 0xFFF: one ADD immediate
    4096,  # 0x1000: one ADD with LSL #12
    4112,  # "4100": > 0xFFF, not a multiple of 4096, fits one MOVZ
    5008,  # "5000": same class as 4112
    8176,  # 0x1FF0: MOVZ and also a logical immediate
    65536,  # 0x10000: multiple of 4096, one ADD with LSL #12
    70000,  # 0x11170: the golang/go#73259 two-ADD split
    1 << 20,  # 1 MiB, 0x100000: multiple of 4096, one ADD with LSL #12
    (1 << 20) + 4112,  # 0x101010: two-ADD split
    8 << 20,  # 8 MiB, 0x800000: multiple of 4096, one ADD with LSL #12
    (16 << 20) + 4112,  # 0x1001010 > 0xFFFFFF: MOVZ/MOVK into R27 and one ADD
]

CHUNK = 65536  # bytes per big array
# Extra frame bytes the compiler adds on top of our arrays, per shape: a non-leaf
# function also reserves the 8-byte spill slot of callee's register argument, which
# with the alignment costs 16 bytes (corpus/README.md shows what each toolchain made).
EXTRA = {"leaf": 0, "nonleaf": 16}


def pieces(total):
    """Split `total` bytes (a multiple of 16) into array sizes that are each either
    <= 64 bytes or > 1024 bytes and at most CHUNK bytes."""
    assert total % 16 == 0 and total > 0
    out = []
    rest = total
    while rest > CHUNK:
        out.append(CHUNK)
        rest -= CHUNK
    if rest <= 64 or rest > 1024:
        out.append(rest)
    elif out:
        # 64 < rest <= 1024: borrow from the previous chunk.
        out[-1] -= 2048
        out.append(rest + 2048)
    else:
        # small frame: split into <= 64-byte arrays
        while rest > 64:
            out.append(64)
            rest -= 64
        out.append(rest)
    assert sum(out) == total
    assert all(p <= 64 or 1024 < p <= CHUNK for p in out), out
    return out


def index(v, n):
    if n & (n - 1) == 0:
        return f"{v}&{n - 1}"
    return f"{v}%{n}"


# A chain of three non-leaf functions with large frames, each calling the next and the
# last calling callee: `twixt run main.chain1` executes windows in every frame of a real
# call chain (all three split their epilogue before the golang/go#73259 fix).
CHAIN = [("chain1", 70000), ("chain2", (1 << 20) + 4112), ("chain3", 70000)]


def gen_func(shape, frame, name=None, calls="callee"):
    locals_ = frame - 16 - EXTRA[shape]
    arrs = [p // 8 for p in pieces(locals_)]
    name = name or f"{shape}{frame}"
    lines = [
        f"// {name}: frame {frame} bytes (0x{frame:x}), {len(arrs)} array(s) of {', '.join(str(n) for n in sorted(set(arrs), reverse=True))} uint"
        + (f", calls {calls}." if shape == "nonleaf" else "."),
        "//",
        "//go:noinline",
        f"func {name}(i uint) uint {{",
    ]
    for k, n in enumerate(arrs):
        lines.append(f"\tvar a{k} [{n}]uint")
    # One index per array length (the same for all arrays of that length), so that the
    # compiler keeps few values live and never needs spill slots of its own.
    for k, n in enumerate(arrs):
        lines.append(f"\ta{k}[{index('i', n)}] = i")
    if shape == "nonleaf":
        lines.append(f"\tj := {calls}(i)")
    else:
        lines.append("\tj := i >> 1")
    # Each load's index depends on the sum so far: the loads form a chain and cannot all
    # be hoisted ahead of the adds (which made go1.21 spill the loaded values).
    lines.append("\tvar s uint")
    for k, n in enumerate(arrs):
        lines.append(f"\ts += a{k}[{index('(s+j)', n)}]")
    lines.append("\treturn s")
    lines.append("}")
    return "\n".join(lines)


def generate():
    out = [
        "// Code generated by corpus/tools/gen_frames.py; DO NOT EDIT.",
        "",
        "// Program frames has //go:noinline leaf and non-leaf functions with frames from",
        "// 96 bytes to just over 16 MiB, for testing arm64 epilogue shapes (golang/go#73259).",
        "package main",
        "",
        'import "os"',
        "",
        "// callee is what every non-leaf function calls (a leaf with no frame).",
        "//",
        "//go:noinline",
        "func callee(x uint) uint { return x*3 + 1 }",
        "",
    ]
    for frame in FRAMES:
        for shape in ("leaf", "nonleaf"):
            out.append(gen_func(shape, frame))
            out.append("")
    for k, (name, frame) in enumerate(CHAIN):
        calls = CHAIN[k + 1][0] if k + 1 < len(CHAIN) else "callee"
        out.append(gen_func("nonleaf", frame, name, calls))
        out.append("")
    out.append("// forever never returns: a run of it must be stopped by its budget.")
    out.append("//")
    out.append("//go:noinline")
    out.append("func forever(i uint) uint {")
    out.append("\tfor {")
    out.append("\t\ti = i*5 + 3")
    out.append("\t\tif i == 0 {")
    out.append("\t\t\tprintln(i)")
    out.append("\t\t}")
    out.append("\t}")
    out.append("}")
    out.append("")
    out.append("func main() {")
    out.append("\tn := uint(len(os.Args))")
    out.append("\tvar s uint")
    for frame in FRAMES:
        for shape in ("leaf", "nonleaf"):
            out.append(f"\ts += {shape}{frame}(n)")
    out.append(f"\ts += {CHAIN[0][0]}(n)")
    out.append("\tif n > 1000 {")
    out.append("\t\ts += forever(n)")
    out.append("\t}")
    out.append("\tprintln(s)")
    out.append("\tos.Exit(int(s & 1))")
    out.append("}")
    return "\n".join(out) + "\n"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(here, "..", "src", "frames", "main.go")
    args = sys.argv[1:]
    text = generate()
    if args[:1] == ["--check"]:
        with open(default) as f:
            if f.read() != text:
                print("corpus/src/frames/main.go is stale: run python3 corpus/tools/gen_frames.py", file=sys.stderr)
                sys.exit(1)
        return
    path = args[0] if args else default
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
