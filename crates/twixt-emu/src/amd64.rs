//! The first amd64 driver on the engine core: [`Tracer`] runs amd64 code from a given
//! state, one `emu_start` per run, and records RIP, RSP and RBP at every instruction
//! boundary until control reaches a stop PC, leaves the allowed range or exhausts its
//! budget. It is what the region harness will build on for amd64 (issue 15); the harness
//! itself (regions, the replay of accesses no memory can back, observers) is still arm64's.
//!
//! The machine is set up as Go's amd64 code expects it: `g` (the layout's fake goroutine)
//! in R14, the goroutine stack mapped lazily between unmapped guards, every other general
//! register a scratch pointer unless the caller sets it, and the stack words the caller
//! plants (return PCs, saved frame pointers) written before the run.

use std::ops::Range;

use unicorn_engine::Unicorn;
use unicorn_engine::unicorn_const::{HookType, MemType};

use crate::engine::{Core, Engine, Policy, StackMapping};
use crate::isa::{Amd64, Isa};
use crate::{EmuError, Layout, MapRange};

/// The registers at one instruction boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// RIP: the instruction about to execute.
    pub pc: u64,
    /// RSP.
    pub sp: u64,
    /// RBP (Go's frame pointer).
    pub fp: u64,
}

/// Where a trace starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceStart {
    /// The first PC.
    pub pc: u64,
    /// RSP.
    pub sp: u64,
    /// RBP.
    pub fp: u64,
    /// Other general registers by hardware number (0 RAX .. 15 R15); RSP, RBP and R14 (g)
    /// given here are ignored.
    pub regs: Vec<(u8, u64)>,
    /// Stack words written before the run, `(address, value)`.
    pub writes: Vec<(u64, u64)>,
    /// Control may run only inside this range of PCs.
    pub allowed: Range<u64>,
    /// The run ends (completed) when control reaches this PC, before executing it.
    pub stop: u64,
    /// The most instructions run.
    pub budget: usize,
}

/// How a trace ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceEnd {
    /// Control reached the stop PC.
    Stopped,
    /// The run ended otherwise: what happened and where.
    Fault(String),
}

/// The recording policy.
struct Recorder {
    steps: Vec<Step>,
    allowed: Range<u64>,
    stop: u64,
    budget: usize,
}

impl Policy for Recorder {
    fn unmapped_accesses() -> HookType {
        HookType::MEM_READ_UNMAPPED | HookType::MEM_WRITE_UNMAPPED | HookType::MEM_FETCH_UNMAPPED
    }

    fn boundary(uc: &mut Unicorn<'_, Core<Self>>, pc: u64) {
        let rec = &uc.get_data().policy;
        let why = if pc == rec.stop {
            None
        } else if !rec.allowed.contains(&pc) {
            Some(format!("control left the allowed range: reached {pc:#x}"))
        } else if rec.steps.len() >= rec.budget {
            Some(format!(
                "instruction budget of {} exhausted at {pc:#x}",
                rec.budget
            ))
        } else {
            let step = Step {
                pc,
                sp: uc.reg_read(Amd64::SP).unwrap_or(0),
                fp: uc.reg_read(Amd64::FP).unwrap_or(0),
            };
            uc.get_data_mut().policy.steps.push(step);
            return;
        };
        let core = uc.get_data_mut();
        match why {
            Some(why) => core.fail(why),
            None => core.stopped = true,
        }
        let _ = uc.emu_stop();
    }

    fn stored(&mut self, _layout: &Layout, _addr: u64, _end: u64) {}

    fn unmapped(uc: &mut Unicorn<'_, Core<Self>>, kind: MemType, addr: u64, size: usize) -> bool {
        let pc = uc.reg_read(Amd64::PC).unwrap_or(0);
        uc.get_data_mut().fail(format!(
            "{kind:?} of {size} bytes at {addr:#x} (pc {pc:#x}): unmapped"
        ));
        false
    }
}

/// An amd64 engine with an image mapped, tracing runs of its code.
pub struct Tracer<'e> {
    engine: Engine<'e, Recorder, Amd64>,
}

impl<'e> Tracer<'e> {
    /// Maps `ranges` (the image) and the harness's regions of `layout` (a lazily mapped
    /// stack of [`Layout::deep`]'s depth).
    pub fn new(ranges: &[MapRange<'_>], layout: Layout) -> Result<Self, EmuError> {
        let recorder = Recorder {
            steps: Vec::new(),
            allowed: 0..0,
            stop: 0,
            budget: 0,
        };
        let engine = Engine::new(ranges, layout.deep(), StackMapping::Lazy, recorder)?;
        Ok(Tracer { engine })
    }

    /// The memory layout (stack, fake `g`, scratch).
    pub fn layout(&self) -> &Layout {
        self.engine.layout()
    }

    /// A little-endian word of memory as the program sees it now (stack nothing has
    /// written reads as poison), `None` where nothing is mapped.
    pub fn read_u64(&self, addr: u64) -> Option<u64> {
        self.engine.read_u64(addr)
    }

    /// Runs from `start` and returns every boundary seen (the stop PC's excluded) and how
    /// the run ended. Memory written by the run stays written.
    pub fn run(&mut self, start: &TraceStart) -> Result<(Vec<Step>, TraceEnd), EmuError> {
        let refused = |what: String| move |err| EmuError::Refused { what, err };
        let layout = *self.engine.layout();
        for &(addr, value) in &start.writes {
            self.engine
                .write(addr, &value.to_le_bytes())
                .map_err(refused(format!("write the stack at {addr:#x}")))?;
        }
        let mut values = [layout.scratch_pointer(); 16];
        for &(n, value) in &start.regs {
            if let Some(v) = values.get_mut(usize::from(n)) {
                *v = value;
            }
        }
        values[Amd64::G_REGISTER] = layout.g;
        values[4] = start.sp;
        values[5] = start.fp;
        let ids: Vec<i32> = (0..16).map(Amd64::gpr).collect();
        self.engine
            .write_registers(&ids, &values, start.pc)
            .map_err(refused("write the registers".into()))?;
        let core = self.engine.core_mut();
        core.fault = None;
        core.stopped = false;
        core.policy = Recorder {
            steps: Vec::new(),
            allowed: start.allowed.clone(),
            stop: start.stop,
            budget: start.budget,
        };
        let result = self.engine.uc.emu_start(start.pc, 0, 0, 0);
        let core = self.engine.core_mut();
        let steps = std::mem::take(&mut core.policy.steps);
        let end = match (core.stopped, core.fault.take(), result) {
            (true, _, _) => TraceEnd::Stopped,
            (false, Some(why), _) => TraceEnd::Fault(why),
            (false, None, Err(e)) => TraceEnd::Fault(format!("unicorn: {e:?}")),
            (false, None, Ok(())) => TraceEnd::Fault("the run ended by itself".into()),
        };
        Ok((steps, end))
    }
}
