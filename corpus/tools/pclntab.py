#!/usr/bin/env python3
"""Minimal .gopclntab reader (Go 1.18+, 64-bit little-endian) used to cross-check the
corpus tables: pcsp maximum per function, pcsp and UnsafePoint value at given PCs.

  pclntab.py BINARY FUNC [PC...]   print what it finds (for humans)
"""
import struct
import sys


def uvarint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        if c < 0x80:
            return v, i
        shift += 7


class Table:
    def __init__(self, sections):
        text_addr, _ = sections[".text"]
        _, d = sections[".gopclntab"]
        self.d = d
        magic = struct.unpack_from("<I", d, 0)[0]
        if magic not in (0xFFFFFFF0, 0xFFFFFFF1):
            raise ValueError(f"unsupported pclntab magic {magic:#x}")
        self.go120 = magic == 0xFFFFFFF1
        self.minlc = d[6]
        nfunc, nfiles, text_start, nameoff, cuoff, fileoff, pcoff, clnoff = struct.unpack_from("<8Q", d, 8)
        self.text_start = text_start or text_addr  # Go 1.26+ writes 0
        self.nfunc = nfunc
        self.nametab = nameoff
        self.pctab = pcoff
        self.cln = clnoff
        self.funcs = {}
        self.by_entry = {}
        for i in range(nfunc):
            entryoff, funcoff = struct.unpack_from("<II", d, clnoff + 8 * i)
            f = clnoff + funcoff
            name_off = struct.unpack_from("<i", d, f + 4)[0]
            end = d.index(b"\0", nameoff + name_off)
            name = d[nameoff + name_off:end].decode()
            self.funcs.setdefault(name, f)
            self.by_entry.setdefault(self.text_start + entryoff, name)

    def func(self, name):
        f = self.funcs[name]
        d = self.d
        entryoff, nameoff, args, deferret, pcsp, pcfile, pcln, npcdata, cuoff = struct.unpack_from("<IiiIIIIII", d, f)
        fixed = 44 if self.go120 else 40
        funcid, flag, _, nfuncdata = struct.unpack_from("<BBBB", d, f + fixed - 4)
        pcdata = list(struct.unpack_from(f"<{npcdata}I", d, f + fixed)) if npcdata else []
        fdoff = f + fixed + 4 * npcdata
        funcdata = list(struct.unpack_from(f"<{nfuncdata}I", d, fdoff)) if nfuncdata else []
        return {
            "funcdata": funcdata,
            "entry": self.text_start + entryoff,
            "pcsp": pcsp,
            "pcdata": pcdata,
            "flag": flag,
            "funcid": funcid,
        }

    def runs(self, entry, off):
        """[(start, end, value)] of a pc-value table at pctab+off."""
        if off == 0:
            return []
        d = self.d
        i = self.pctab + off
        pc, val, first, out = entry, -1, True, []
        while True:
            uv, i = uvarint(d, i)
            if uv == 0 and not first:
                return out
            first = False
            val += -(uv & 1) ^ (uv >> 1)
            pcd, i = uvarint(d, i)
            out.append((pc, pc + pcd * self.minlc, val))
            pc += pcd * self.minlc

    @staticmethod
    def at(runs, pc):
        for a, b, v in runs:
            if a <= pc < b:
                return v
        return None

    def describe(self, name):
        f = self.func(name)
        sp = self.runs(f["entry"], f["pcsp"])
        up = self.runs(f["entry"], f["pcdata"][0]) if f["pcdata"] else []
        return f, sp, up


def main():
    sys.path.insert(0, __import__("os").path.dirname(__file__))
    from records import elf_sections

    t = Table(elf_sections(sys.argv[1]))
    f, sp, up = t.describe(sys.argv[2])
    print(f"entry {f['entry']:#x} flag {f['flag']} funcid {f['funcid']} pcsp max {max(v for _, _, v in sp)} "
          f"funcdata {['nil' if x == 0xFFFFFFFF else hex(x) for x in f['funcdata']]}")
    for a in sys.argv[3:]:
        pc = int(a, 0)
        print(f"{pc:#x}: pcsp {Table.at(sp, pc)} unsafepoint {Table.at(up, pc)}")


if __name__ == "__main__":
    main()
