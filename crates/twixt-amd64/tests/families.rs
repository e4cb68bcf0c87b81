//! Byte sequences of every instruction family Go's amd64 toolchain uses in prologues,
//! epilogues, stack checks and calls (and neighbours easy to confuse with them), checked
//! for length, display text and effects. Each row carries the bytes as GNU objdump lists
//! them; most are copied from `main.nonleaf70000` and `main.leaf96` of
//! `corpus/go1.27.3/frames-amd64` (go1.27.3, linux/amd64).

use twixt_amd64::{Effects, Flow, MemAccess, RegSet, decode, decode_all};

/// Where every row is decoded (the address of `main.nonleaf70000` in the corpus binary).
const PC: u64 = 0x483a40;

const RAX: u8 = 0;
const RCX: u8 = 1;
const RDX: u8 = 2;
const RBX: u8 = 3;
const RSP: u8 = 4;
const RBP: u8 = 5;
const R12: u8 = 12;
const R14: u8 = 14;

/// The effects of an instruction that writes exactly `regs` and falls through.
fn writes(regs: &[u8]) -> Effects {
    let written = RegSet::of(regs);
    Effects {
        writes_sp: written.contains(RSP),
        sp_delta: None,
        writes_fp: written.contains(RBP),
        mem: None,
        flow: Flow::Next,
        written,
    }
}

/// `[base + index*scale + disp]` of `size` bytes.
fn mem(base: u8, index: Option<u8>, scale: u8, disp: i64, size: u16, store: bool) -> MemAccess {
    MemAccess {
        base: Some(base),
        index,
        scale,
        displacement: disp,
        rip_relative: false,
        size,
        store,
        load: !store,
    }
}

struct Row {
    bytes: &'static [u8],
    text: &'static str,
    effects: Effects,
}

#[track_caller]
fn check(rows: &[Row]) {
    for r in rows {
        let i = decode(PC, r.bytes);
        assert_eq!(i.bytes, r.bytes, "length of {:02x?} ({})", r.bytes, r.text);
        assert_eq!(i.text, r.text, "text of {:02x?}", r.bytes);
        assert_eq!(
            i.effects, r.effects,
            "effects of {:02x?} ({})",
            r.bytes, r.text
        );
        assert_eq!(i.addr, PC);
        assert!(i.is_decoded());
    }
}

#[test]
fn stack_check() {
    check(&[
        // 49 89 e4             mov r12,rsp        MOVQ SP, R12
        Row {
            bytes: &[0x49, 0x89, 0xe4],
            text: "mov r12, rsp",
            effects: writes(&[R12]),
        },
        // 49 81 ec e0 10 01 00 sub r12,0x110e0    SUBQ $0x110e0, R12
        Row {
            bytes: &[0x49, 0x81, 0xec, 0xe0, 0x10, 0x01, 0x00],
            text: "sub r12, 0x110e0",
            effects: writes(&[R12]),
        },
        // 4d 3b 66 10          cmp r12,QWORD PTR [r14+0x10]   CMPQ R12, 0x10(R14)
        Row {
            bytes: &[0x4d, 0x3b, 0x66, 0x10],
            text: "cmp r12, qword ptr [r14+0x10]",
            effects: Effects {
                mem: Some(mem(R14, None, 1, 0x10, 8, false)),
                ..writes(&[])
            },
        },
        // 0f 86 ae 00 00 00    jbe 483b08 (at 0x483a54; here at PC: 0x483a40+6+0xae)
        Row {
            bytes: &[0x0f, 0x86, 0xae, 0x00, 0x00, 0x00],
            text: "jbe 0x483af4",
            effects: Effects {
                flow: Flow::CondBranch { target: 0x483af4 },
                ..writes(&[])
            },
        },
    ]);
}

#[test]
fn prologue_and_epilogue() {
    check(&[
        // 55                   push rbp           PUSHQ BP
        Row {
            bytes: &[0x55],
            text: "push rbp",
            effects: Effects {
                sp_delta: Some(-8),
                ..writes(&[RSP])
            },
        },
        // 48 89 e5             mov rbp,rsp        MOVQ SP, BP
        Row {
            bytes: &[0x48, 0x89, 0xe5],
            text: "mov rbp, rsp",
            effects: writes(&[RBP]),
        },
        // 48 81 ec 58 11 01 00 sub rsp,0x11158    SUBQ $0x11158, SP
        Row {
            bytes: &[0x48, 0x81, 0xec, 0x58, 0x11, 0x01, 0x00],
            text: "sub rsp, 0x11158",
            effects: Effects {
                sp_delta: Some(-0x11158),
                ..writes(&[RSP])
            },
        },
        // 48 81 c4 58 11 01 00 add rsp,0x11158    ADDQ $0x11158, SP (one instruction)
        Row {
            bytes: &[0x48, 0x81, 0xc4, 0x58, 0x11, 0x01, 0x00],
            text: "add rsp, 0x11158",
            effects: Effects {
                sp_delta: Some(0x11158),
                ..writes(&[RSP])
            },
        },
        // 48 83 c4 50          add rsp,0x50       (main.leaf96)
        Row {
            bytes: &[0x48, 0x83, 0xc4, 0x50],
            text: "add rsp, 0x50",
            effects: Effects {
                sp_delta: Some(0x50),
                ..writes(&[RSP])
            },
        },
        // 5d                   pop rbp            POPQ BP
        Row {
            bytes: &[0x5d],
            text: "pop rbp",
            effects: Effects {
                sp_delta: Some(8),
                ..writes(&[RSP, RBP])
            },
        },
        // c3                   ret
        Row {
            bytes: &[0xc3],
            text: "ret",
            effects: Effects {
                flow: Flow::Ret,
                ..writes(&[])
            },
        },
    ]);
}

#[test]
fn other_sp_writes() {
    check(&[
        // 48 8d 64 24 10       lea rsp,[rsp+0x10]
        Row {
            bytes: &[0x48, 0x8d, 0x64, 0x24, 0x10],
            text: "lea rsp, [rsp+0x10]",
            effects: Effects {
                sp_delta: Some(0x10),
                ..writes(&[RSP])
            },
        },
        // 48 89 ec             mov rsp,rbp        (no constant)
        Row {
            bytes: &[0x48, 0x89, 0xec],
            text: "mov rsp, rbp",
            effects: writes(&[RSP]),
        },
        // c9                   leave              (mov rsp,rbp; pop rbp)
        Row {
            bytes: &[0xc9],
            text: "leave",
            effects: writes(&[RSP, RBP]),
        },
        // 5c                   pop rsp            (RSP loaded from the stack)
        Row {
            bytes: &[0x5c],
            text: "pop rsp",
            effects: writes(&[RSP]),
        },
        // 48 83 e4 f0          and rsp,0xfffffffffffffff0
        Row {
            bytes: &[0x48, 0x83, 0xe4, 0xf0],
            text: "and rsp, 0xfffffffffffffff0",
            effects: writes(&[RSP]),
        },
    ]);
}

#[test]
fn stores_and_loads() {
    check(&[
        // 48 89 44 24 08       mov QWORD PTR [rsp+0x8],rax   (spill before morestack)
        Row {
            bytes: &[0x48, 0x89, 0x44, 0x24, 0x08],
            text: "mov qword ptr [rsp+0x8], rax",
            effects: Effects {
                mem: Some(mem(RSP, None, 1, 8, 8, true)),
                ..writes(&[])
            },
        },
        // 48 8b 54 cc 08       mov rdx,QWORD PTR [rsp+rcx*8+0x8]
        Row {
            bytes: &[0x48, 0x8b, 0x54, 0xcc, 0x08],
            text: "mov rdx, qword ptr [rsp+rcx*8+0x8]",
            effects: Effects {
                mem: Some(mem(RSP, Some(RCX), 8, 8, 8, false)),
                ..writes(&[RDX])
            },
        },
        // 48 8d 04 1a          lea rax,[rdx+rbx*1]   (computes an address, no access)
        Row {
            bytes: &[0x48, 0x8d, 0x04, 0x1a],
            text: "lea rax, [rdx+rbx]",
            effects: writes(&[RAX]),
        },
        // 48 f7 e3             mul rbx            (writes rdx:rax)
        Row {
            bytes: &[0x48, 0xf7, 0xe3],
            text: "mul rbx",
            effects: writes(&[RAX, RDX]),
        },
        // 31 c0                xor eax,eax        (a 32-bit write is a write of rax)
        Row {
            bytes: &[0x31, 0xc0],
            text: "xor eax, eax",
            effects: writes(&[RAX]),
        },
    ]);
}

#[test]
fn control_flow() {
    check(&[
        // e8 4e 6c ff ff       call (at 0x483b0d: morestack_noctxt; here PC+5-0x93b2)
        Row {
            bytes: &[0xe8, 0x4e, 0x6c, 0xff, 0xff],
            text: "call 0x47a693",
            effects: Effects {
                flow: Flow::Call { target: 0x47a693 },
                ..writes(&[])
            },
        },
        // e9 24 ff ff ff       jmp (back to the entry from the morestack tail)
        Row {
            bytes: &[0xe9, 0x24, 0xff, 0xff, 0xff],
            text: "jmp 0x483969",
            effects: Effects {
                flow: Flow::Branch { target: 0x483969 },
                ..writes(&[])
            },
        },
        // ff d0                call rax
        Row {
            bytes: &[0xff, 0xd0],
            text: "call rax",
            effects: Effects {
                flow: Flow::CallIndirect { reg: Some(RAX) },
                ..writes(&[])
            },
        },
        // ff 24 d3             jmp QWORD PTR [rbx+rdx*8]   (a jump table)
        Row {
            bytes: &[0xff, 0x24, 0xd3],
            text: "jmp qword ptr [rbx+rdx*8]",
            effects: Effects {
                flow: Flow::IndirectBranch { reg: None },
                mem: Some(mem(RBX, Some(RDX), 8, 0, 8, false)),
                ..writes(&[])
            },
        },
        // cc                   int3               (padding between functions)
        Row {
            bytes: &[0xcc],
            text: "int3",
            effects: Effects {
                flow: Flow::Trap,
                ..writes(&[])
            },
        },
        // 0f 0b                ud2
        Row {
            bytes: &[0x0f, 0x0b],
            text: "ud2",
            effects: Effects {
                flow: Flow::Trap,
                ..writes(&[])
            },
        },
        // 0f 05                syscall            (writes rcx and r11)
        Row {
            bytes: &[0x0f, 0x05],
            text: "syscall",
            effects: Effects {
                flow: Flow::System,
                ..writes(&[RCX, 11])
            },
        },
    ]);
}

#[test]
fn rip_relative_operands_are_absolute() {
    // 48 8d 05 10 00 00 00  lea rax,[rip+0x10]: the next instruction is PC+7.
    let i = decode(PC, &[0x48, 0x8d, 0x05, 0x10, 0x00, 0x00, 0x00]);
    assert_eq!(i.text, format!("lea rax, [{:#x}]", PC + 7 + 0x10));
    assert_eq!(i.effects.mem, None, "LEA accesses no memory");
    // 48 8b 05 10 00 00 00  mov rax,QWORD PTR [rip+0x10]: a load from the absolute address.
    let i = decode(PC, &[0x48, 0x8b, 0x05, 0x10, 0x00, 0x00, 0x00]);
    assert_eq!(i.text, format!("mov rax, qword ptr [{:#x}]", PC + 7 + 0x10));
    let m = i.effects.mem.expect("a memory operand");
    assert!(m.rip_relative && m.load && !m.store);
    assert_eq!(m.displacement, (PC + 7 + 0x10) as i64);
    assert_eq!(m.base, None);
}

#[test]
fn undecodable_bytes_are_one_byte_traps() {
    // 06 is PUSH ES, invalid in 64-bit mode; 48 alone is a REX prefix with nothing after.
    for bytes in [&[0x06u8][..], &[0x48], &[0x0f]] {
        let i = decode(PC, bytes);
        assert_eq!(i.len(), 1, "{bytes:02x?}");
        assert_eq!(i.text, format!(".byte {:#04x}", bytes[0]));
        assert_eq!(i.effects, Effects::UNDEFINED);
        assert!(!i.is_decoded());
    }
    assert!(decode(PC, &[]).is_empty());
}

#[test]
fn decode_all_covers_every_byte() {
    // main.leaf96's epilogue, an invalid byte, then int3 padding.
    let bytes = [0x48, 0x83, 0xc4, 0x50, 0x5d, 0xc3, 0x06, 0xcc, 0xcc];
    let insns = decode_all(PC, &bytes);
    let texts: Vec<&str> = insns.iter().map(|i| i.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "add rsp, 0x50",
            "pop rbp",
            "ret",
            ".byte 0x06",
            "int3",
            "int3"
        ]
    );
    let mut at = PC;
    for i in &insns {
        assert_eq!(i.addr, at);
        at = i.next_addr();
    }
    assert_eq!(at, PC + bytes.len() as u64);
    assert!(!insns[2].effects.flow.falls_through());
    assert!(insns[0].effects.flow.falls_through());
}

#[test]
fn never_panics_on_arbitrary_bytes() {
    // A deterministic pseudo-random stream (xorshift): every byte covered, no panic.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let bytes: Vec<u8> = (0..65536)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let insns = decode_all(0x400000, &bytes);
    let covered: usize = insns.iter().map(|i| i.len()).sum();
    assert_eq!(covered, bytes.len());
}
