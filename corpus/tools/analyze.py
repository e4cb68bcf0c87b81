#!/usr/bin/env python3
"""Read `go tool objdump` output (arm64) and describe each function's frame and epilogues.

Usage: python3 corpus/tools/analyze.py OBJDUMP.txt   -> JSON on stdout

For each function (TEXT block) it reports:
  frame      bytes the prologue subtracts from RSP (the pcsp maximum), 0 without a frame
  prologue   "none" | "movd.w" (MOVD.W R30, -A(RSP)) | "r20" (SUB ... R20; MOVD R20, RSP)
  calls      sorted callees of BL instructions outside the stack-split tail
             (runtime.morestack* is left out: every function with a frame >= 128 bytes has it)
  leaf       no such call (the assembler's LEAF mark; then the epilogue does not reload LR)
  morestack_call  whether the function has the stack-split BL to runtime.morestack*
  epilogues  one entry per RET that pops a frame:
     kind    "add-imm"    one ADD $imm, RSP, RSP
             "split-add"  two ADD $imm, RSP, RSP (golang/go#73259: SP half-popped between them)
             "add-r27"    MOVD/MOVK $A, R27 then ADD R27, RSP, RSP (one SP write)
             "movd.p"     MOVD.P A(RSP), R30 (Go 1.24+ small non-leaf frames)
     sp_writes  [[pc, text], ...] the instructions that write RSP
     window  PC of the second SP write of a split-add (the boundary where SP is half-popped)
     fp      how R29 is restored: "ldp" | "movd" (non-leaf), or for leaves
             "add-imm" | "split-add" | "add-r27" (ADD $A-8, RSP, R29 variants) or
             "sub-after-pop" (SUB $8, RSP, R29 after the pop: Go <= 1.21.6, golang/go#63830)
"""
import json
import re
import sys

IMM = re.compile(r"^\$\(?(-?\d+)(?:<<(\d+))?\)?$")


def imm(s):
    m = IMM.match(s.strip())
    if not m:
        return None
    v = int(m.group(1))
    if m.group(2):
        v <<= int(m.group(2))
    return v


def parse(text):
    funcs = []
    cur = None
    for line in text.splitlines():
        if line.startswith("TEXT "):
            name = line.split()[1]
            if name.endswith("(SB)"):
                name = name[:-4]
            cur = {"name": name, "insts": []}
            funcs.append(cur)
            continue
        if cur is None or not line.strip():
            continue
        parts = [p for p in line.strip().split("\t") if p != ""]
        if len(parts) < 4:
            # "?" undecodable padding has 4 parts too; anything else is ignored
            continue
        loc, pc, hexw, asm = parts[0], parts[1], parts[2], parts[3].strip()
        cur["insts"].append((int(pc, 16), asm))
    return funcs


def operands(asm):
    op, _, rest = asm.partition(" ")
    # split on commas that are not inside parentheses
    out, depth, buf = [], 0, ""
    for ch in rest:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(buf.strip())
            buf = ""
        else:
            buf += ch
    if buf.strip():
        out.append(buf.strip())
    return op, out


def const_move(op, ops, regs):
    """Track MOVD/MOVK/ORR constant materialisation into registers."""
    if op == "MOVD" and len(ops) == 2 and ops[0].startswith("$"):
        v = imm(ops[0])
        if v is not None:
            regs[ops[1]] = v
            return True
    if op == "MOVK" and len(ops) == 2:
        v = imm(ops[0])
        if v is not None:
            m = re.match(r"^\$\((\d+)<<(\d+)\)$", ops[0])
            shift = int(m.group(2)) if m else 0
            old = regs.get(ops[1], 0)
            regs[ops[1]] = (old & ~(0xFFFF << shift)) | v
            return True
    if op == "ORR" and len(ops) == 3 and ops[1] == "ZR" and ops[0].startswith("$"):
        v = imm(ops[0])
        if v is not None:
            regs[ops[2]] = v
            return True
    return False


def frame_of(insts):
    regs = {}
    r20 = None
    for pc, asm in insts[:40]:
        op, ops = operands(asm)
        if op == "MOVD.W" and len(ops) == 2 and ops[0] == "R30" and ops[1].endswith("(RSP)"):
            return -int(ops[1][: -len("(RSP)")]), "movd.w"
        if const_move(op, ops, regs):
            continue
        if op == "SUB" and len(ops) == 3 and ops[2] == "R20":
            amount = imm(ops[0]) if ops[0].startswith("$") else regs.get(ops[0])
            if amount is None:
                continue
            if ops[1] == "RSP":
                r20 = amount
            elif ops[1] == "R20" and r20 is not None:
                r20 += amount
            continue
        if op == "MOVD" and ops == ["R20", "RSP"] and r20 is not None:
            return r20, "r20"
    return 0, "none"


EPI_OPS = {"LDP", "MOVD", "MOVD.P", "ADD", "MOVK", "ORR"}


def epilogues(insts, frame):
    out = []
    for idx, (pc, asm) in enumerate(insts):
        if asm != "RET":
            continue
        # Walk back over the epilogue: SP pops, R27 constants, R29 restores. A non-leaf
        # epilogue starts with the LR/FP reload (LDP or MOVD -8(RSP), R29): stop there, so
        # an unrelated SP adjustment before it (hand-written assembly) is not taken in.
        run = []
        j = idx - 1
        while j >= 0:
            op, ops = operands(insts[j][1])
            writes = ops[-1] if ops else ""
            stop = False
            if op == "LDP" and ops == ["-8(RSP)", "(R29, R30)"]:
                stop = True
            elif op == "MOVD" and ops == ["-8(RSP)", "R29"]:
                stop = True
            elif op == "MOVD.P" and writes == "R30":
                pass
            elif op == "ADD" and len(ops) == 3 and ops[2] in ("RSP", "R29") and ops[1] in ("RSP", "R29"):
                pass
            elif op in ("MOVD", "MOVK", "ORR") and writes == "R27" and ops[0].startswith("$"):
                pass
            elif op == "SUB" and ops == ["$8", "RSP", "R29"]:
                pass  # leaf epilogue up to Go 1.21.6 (golang/go#63830)
            else:
                break
            run.append(insts[j])
            j -= 1
            if stop:
                break
        run.reverse()
        regs = {}
        sp_writes, fp_writes, popped = [], [], 0
        fp_kind = None
        for rpc, rasm in run:
            op, ops = operands(rasm)
            if const_move(op, ops, regs):
                continue
            if op == "LDP":
                fp_kind = "ldp"
            elif op == "MOVD" and ops[1] == "R29":
                fp_kind = "movd"
            elif op == "MOVD.P":
                sp_writes.append([rpc, rasm])
                popped += int(ops[0][: -len("(RSP)")])
            elif op == "ADD" and ops[2] == "RSP":
                sp_writes.append([rpc, rasm])
                popped += imm(ops[0]) if ops[0].startswith("$") else regs.get(ops[0], 0)
            elif op == "ADD" and ops[2] == "R29":
                fp_writes.append([rpc, rasm])
            elif op == "SUB":
                fp_kind = "sub-after-pop"
        if not sp_writes:
            continue  # a RET in a frameless function
        first = operands(sp_writes[0][1])
        if first[0] == "MOVD.P":
            kind = "movd.p"
        elif len(sp_writes) == 2:
            kind = "split-add"
        elif len(sp_writes) > 2:
            kind = "other"
        elif first[1][0].startswith("$"):
            kind = "add-imm"
        else:
            kind = "add-r27"
        if fp_kind is None and fp_writes:
            if len(fp_writes) == 2:
                fp_kind = "split-add"
            elif operands(fp_writes[0][1])[1][0].startswith("$"):
                fp_kind = "add-imm"
            else:
                fp_kind = "add-r27"
        e = {"ret": pc, "kind": kind, "sp_writes": sp_writes, "fp": fp_kind, "popped": popped}
        if kind == "split-add":
            e["window"] = sp_writes[1][0]
        if fp_kind == "split-add":
            e["fp_writes"] = fp_writes
            e["fp_window"] = fp_writes[1][0]
        out.append(e)
    return out


def analyze(text):
    res = {}
    for f in parse(text):
        insts = f["insts"]
        frame, prologue = frame_of(insts)
        calls = set()
        morestack = False
        for pc, asm in insts:
            op, ops = operands(asm)
            if op == "CALL":
                target = ops[0] if ops else ""
                if target.startswith("runtime.morestack"):
                    morestack = True
                    continue
                calls.add(target)
        epis = epilogues(insts, frame)
        res[f["name"]] = {
            "entry": insts[0][0] if insts else None,
            "frame": frame,
            "prologue": prologue,
            "calls": sorted(calls),
            "leaf": not calls,
            "morestack_call": morestack,
            "epilogues": epis,
        }
    return res


def main():
    with open(sys.argv[1]) as f:
        text = f.read()
    json.dump(analyze(text), sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
