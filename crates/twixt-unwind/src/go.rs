//! A model of the Go runtime's traceback on arm64 and amd64 (`runtime.(*unwinder)`,
//! traceback.go, Go 1.21+; the older `gentraceback` of Go 1.19-1.20 applies the same rules).
//!
//! Frames are `(pc, sp, fp, lr)` where `fp` is the *caller's* SP, not R29. The rules, as
//! equations (section 5 of go-runtime-model.md, checked against traceback.go); where the
//! architectures differ ([`Arch`]) both are given:
//!
//! * `fp = sp + pcsp(f, pc)` on arm64, `sp + pcsp(f, pc) + 8` on amd64, whose CALL pushed
//!   the return PC (`resolveInternal`; a PC with no pcsp entry throws);
//! * top frame (`FuncFlagTopFrame`): `lr = 0`, the walk ends;
//! * SPWrite function, not innermost: a strict walk throws
//!   "traceback: unexpected SPWRITE function"; printing and silent walks stop (`lr = 0`);
//! * otherwise, on arm64 when `(innermost && sp < fp) || lr == 0`: `lr = *(sp)`; on amd64
//!   when `lr == 0` (always: there is no LR register): `lr = *(fp - 8)`;
//! * step (`next`): `lr == 0` finishes; `findfunc(lr)` failing is "unexpected return pc"
//!   (strict walks throw "unknown caller pc"); `pc == lr && sp == fp` is "traceback stuck";
//!   then `pc = lr, sp = fp, lr = 0`;
//! * injected-call hop (arm64 only: `usesLR && injectedCall`), after a frame of
//!   asyncPreempt, sigpanic or debugCallV2: `x = *(sp); sp += 16;` and if `pcsp(pc) == 0`
//!   then `lr = x`;
//! * finish: a strict walk must end with `sp == stktopsp`, else
//!   "traceback did not unwind completely".

use crate::{Arch, FuncInfo, Memory, Metadata, Special};

/// Which kind of walk the runtime is doing; it decides which errors throw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// GC stack scan, stack copying, panics: no error flags, every error throws.
    Strict,
    /// SIGPROF profiling (`unwindSilentErrors`): errors stop the walk quietly.
    Silent,
    /// Crash tracebacks (`unwindPrintErrors`): errors are printed, the walk stops.
    Print,
}

/// Where a walk starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Start {
    /// PC of the first frame.
    pub pc: u64,
    /// SP of the first frame.
    pub sp: u64,
    /// The LR register value (0 when the walk starts from a saved context whose LR is on the
    /// stack, as for frames that are not innermost).
    pub lr: u64,
    /// Whether the first frame is the innermost one (the interrupted function itself, for a
    /// profiling signal); a walk from asyncPreempt's frame starts non-innermost.
    pub innermost: bool,
}

/// One frame as the model resolved it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The function.
    pub func: FuncInfo,
    /// PC in the function (a return PC for frames above the first).
    pub pc: u64,
    /// The frame's SP.
    pub sp: u64,
    /// The caller's SP, `sp + pcsp(pc)`.
    pub fp: u64,
    /// The pcsp value used to compute `fp`.
    pub sp_delta: u64,
    /// The return PC the model took for this frame (0 when the walk ends here).
    pub lr: u64,
    /// Where the return PC was read from: `Some(slot)` for a stack slot, `None` for the LR
    /// register or a value spilled by an injected call.
    pub lr_slot: Option<u64>,
}

/// How a walk ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// Reached a top frame (goexit); for strict walks also `sp == stktopsp`.
    Complete,
    /// A printing or silent walk stopped early without an error (SPWrite frame, or a
    /// function without pcsp).
    Truncated,
    /// The first PC is in no function ("unknown pc").
    UnknownPc {
        /// The PC.
        pc: u64,
    },
    /// A return PC in no function: "unexpected return pc" (strict walks then throw
    /// "unknown caller pc").
    UnexpectedReturnPc {
        /// The value taken as return PC.
        lr: u64,
    },
    /// `pc == lr && sp == fp`: "traceback stuck".
    Stuck,
    /// A strict walk ended at a top frame, or stopped, with `sp != stktopsp`.
    DidNotUnwindCompletely {
        /// The SP where the walk ended.
        sp: u64,
        /// The goroutine's `stktopsp`.
        top: u64,
    },
    /// A strict walk met an SPWrite function above the innermost frame.
    UnexpectedSpWrite {
        /// The function's name.
        func: String,
    },
    /// `funcspdelta` found no pcsp entry for a PC ("invalid runtime symbol table").
    InvalidSpDelta {
        /// The PC.
        pc: u64,
    },
    /// The unwinder dereferenced an address that faults (the runtime would SIGSEGV).
    ReadFault {
        /// The address read.
        addr: u64,
    },
    /// More frames than the walk allows (the runtime's walks are bounded too).
    TooManyFrames,
}

impl End {
    /// Whether the runtime would crash (throw or fault) in the given mode.
    pub fn crashes(&self, mode: Mode) -> bool {
        match self {
            End::Complete | End::Truncated | End::TooManyFrames => false,
            End::Stuck | End::ReadFault { .. } | End::InvalidSpDelta { .. } => true,
            End::UnknownPc { .. }
            | End::UnexpectedReturnPc { .. }
            | End::DidNotUnwindCompletely { .. }
            | End::UnexpectedSpWrite { .. } => mode == Mode::Strict,
        }
    }

    /// What the runtime prints, as a short phrase.
    pub fn describe(&self) -> String {
        match self {
            End::Complete => "unwound to the top frame".into(),
            End::Truncated => "stopped early (no error in this mode)".into(),
            End::UnknownPc { pc } => format!("unknown pc {pc:#x}"),
            End::UnexpectedReturnPc { lr } => {
                format!("unexpected return pc {lr:#x} (throw \"unknown caller pc\" in a GC scan)")
            }
            End::Stuck => "traceback stuck".into(),
            End::DidNotUnwindCompletely { sp, top } => {
                format!("traceback did not unwind completely (sp {sp:#x}, stktopsp {top:#x})")
            }
            End::UnexpectedSpWrite { func } => {
                format!("traceback: unexpected SPWRITE function {func}")
            }
            End::InvalidSpDelta { pc } => {
                format!("invalid runtime symbol table: no pcsp at {pc:#x}")
            }
            End::ReadFault { addr } => format!("SIGSEGV reading {addr:#x} inside the unwinder"),
            End::TooManyFrames => "too many frames".into(),
        }
    }
}

/// The result of a walk: the frames resolved, in order from the start, and how it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Traceback {
    /// Frames resolved before the walk ended.
    pub frames: Vec<Frame>,
    /// How the walk ended.
    pub end: End,
}

/// Parameters of a walk besides the start.
#[derive(Clone, Copy, Debug)]
pub struct Walk {
    /// Which errors throw.
    pub mode: Mode,
    /// The goroutine's `stktopsp`: where a complete strict walk must end.
    pub stktopsp: u64,
    /// Upper bound on frames.
    pub max_frames: usize,
    /// The instruction set, whose rules differ where [`Arch`] says.
    pub arch: Arch,
}

/// Runs the modelled unwinder from `start`.
pub fn unwind<Md: Metadata + ?Sized, M: Memory + ?Sized>(
    meta: &Md,
    mem: &M,
    start: Start,
    walk: Walk,
) -> Traceback {
    let mut frames = Vec::new();
    let Some(func) = meta.find_func(start.pc) else {
        return Traceback {
            frames,
            end: End::UnknownPc { pc: start.pc },
        };
    };
    let mut cur = Cursor {
        func,
        pc: start.pc,
        sp: start.sp,
        lr: start.lr,
        lr_slot: None,
    };
    let mut innermost = start.innermost;
    loop {
        let frame = match resolve(meta, mem, &cur, innermost, walk) {
            Ok(frame) => frame,
            Err(end) => return Traceback { frames, end },
        };
        frames.push(frame.clone());
        if frames.len() >= walk.max_frames {
            return Traceback {
                frames,
                end: End::TooManyFrames,
            };
        }
        // next()
        if frame.lr == 0 {
            return Traceback {
                end: finish(walk, frame.sp, frame.func.top_frame),
                frames,
            };
        }
        let Some(caller) = meta.find_func(frame.lr) else {
            // Strict walks throw "unknown caller pc"; the others stop here (see End::crashes).
            return Traceback {
                frames,
                end: End::UnexpectedReturnPc { lr: frame.lr },
            };
        };
        if frame.pc == frame.lr && frame.sp == frame.fp {
            return Traceback {
                frames,
                end: End::Stuck,
            };
        }
        let injected = walk.arch.uses_lr() && frame.func.special.is_injected_call();
        cur = Cursor {
            func: caller,
            pc: frame.lr,
            sp: frame.fp,
            lr: 0,
            lr_slot: None,
        };
        if injected {
            // The signal handler spilled the interrupted LR to the stack (pushCall); amd64's
            // pushCall pushes the resume PC like a CALL, which the next frame reads itself.
            let Some(x) = mem.read_u64(cur.sp) else {
                return Traceback {
                    frames,
                    end: End::ReadFault { addr: cur.sp },
                };
            };
            cur.sp = cur.sp.wrapping_add(16);
            match meta.sp_delta(&cur.func, cur.pc) {
                Some(0) => cur.lr = x,
                Some(_) => {}
                None => {
                    return Traceback {
                        frames,
                        end: End::InvalidSpDelta { pc: cur.pc },
                    };
                }
            }
        }
        innermost = false;
    }
}

struct Cursor {
    func: FuncInfo,
    pc: u64,
    sp: u64,
    lr: u64,
    lr_slot: Option<u64>,
}

/// `resolveInternal`: the caller's SP and the return PC of the frame at `cur`.
fn resolve<Md: Metadata + ?Sized, M: Memory + ?Sized>(
    meta: &Md,
    mem: &M,
    cur: &Cursor,
    innermost: bool,
    walk: Walk,
) -> Result<Frame, End> {
    let mode = walk.mode;
    let f = &cur.func;
    let Some(delta) = meta.sp_delta(f, cur.pc) else {
        return Err(End::InvalidSpDelta { pc: cur.pc });
    };
    let sp_write = f.sp_write && f.special != Special::Cgocallback;
    let fp = walk.arch.caller_sp(cur.sp, delta);
    let mut lr = cur.lr;
    let mut lr_slot = cur.lr_slot;
    if f.top_frame {
        lr = 0;
    } else if sp_write && (!innermost || mode != Mode::Strict) {
        if mode == Mode::Strict && !innermost {
            return Err(End::UnexpectedSpWrite {
                func: f.name.to_string(),
            });
        }
        lr = 0;
    } else if let Some(slot) = return_slot(walk.arch, cur, fp, innermost) {
        let Some(value) = mem.read_u64(slot) else {
            return Err(End::ReadFault { addr: slot });
        };
        lr = value;
        lr_slot = Some(slot);
    }
    Ok(Frame {
        func: f.clone(),
        pc: cur.pc,
        sp: cur.sp,
        fp,
        sp_delta: delta,
        lr,
        lr_slot,
    })
}

/// The stack slot `resolveInternal` reads the return PC from, if it reads one: on arm64
/// `[sp]` when `(innermost && sp < fp) || lr == 0`, on amd64 `[fp - 8]` when `lr == 0`.
fn return_slot(arch: Arch, cur: &Cursor, fp: u64, innermost: bool) -> Option<u64> {
    if arch.uses_lr() {
        ((innermost && cur.sp < fp) || cur.lr == 0).then_some(cur.sp)
    } else {
        (cur.lr == 0).then(|| fp.wrapping_sub(8))
    }
}

/// `finishInternal`: a strict walk must have reached the goroutine's top; the other walks
/// accept stopping anywhere (`at_top` only tells a complete walk from a truncated one).
fn finish(walk: Walk, sp: u64, at_top: bool) -> End {
    match walk.mode {
        Mode::Strict if sp != walk.stktopsp => End::DidNotUnwindCompletely {
            sp,
            top: walk.stktopsp,
        },
        Mode::Strict => End::Complete,
        _ if at_top => End::Complete,
        _ => End::Truncated,
    }
}
