//! Planning: split each function into regions that together cover every instruction
//! boundary exactly once.
//!
//! A region is a straight run of instructions: it starts at a leader (the entry, a branch
//! target inside the function, or the instruction after anything that ends a run) and stops
//! at the next leader. Calls end a run too, because the harness does not follow them (the
//! callee is checked as a function of its own) and the state after a call cannot be known.
//! Jump-table targets need not be resolved for coverage: code after an unconditional branch
//! is always a leader, and a target inside a run is reached by falling through.

use twixt_arm64::{Effects, Flow};

/// A straight run of instructions `[start, start + 4 * len)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// First instruction.
    pub start: u64,
    /// Number of instructions.
    pub len: usize,
}

impl Region {
    /// Address of the last instruction.
    pub fn last(&self) -> u64 {
        self.start + 4 * (self.len as u64 - 1)
    }
}

/// Whether a run must stop after an instruction with this flow.
fn ends_run(flow: &Flow) -> bool {
    !matches!(flow, Flow::Next)
}

/// Splits `[entry, entry + 4 * effects.len())` into regions.
pub fn regions(entry: u64, effects: &[Effects]) -> Vec<Region> {
    let n = effects.len();
    if n == 0 {
        return Vec::new();
    }
    let end = entry + 4 * n as u64;
    let mut leader = vec![false; n];
    leader[0] = true;
    for (i, e) in effects.iter().enumerate() {
        if ends_run(&e.flow) && i + 1 < n {
            leader[i + 1] = true;
        }
        if let Flow::Branch { target } | Flow::CondBranch { target } = e.flow
            && target >= entry
            && target < end
            && target % 4 == 0
        {
            leader[((target - entry) / 4) as usize] = true;
        }
    }
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &is_leader) in leader.iter().enumerate().skip(1).chain([(n, &true)]) {
        if is_leader {
            out.push(Region {
                start: entry + 4 * start as u64,
                len: i - start,
            });
            start = i;
        }
    }
    out
}

/// What the checker knows about a register's value at a region start, relative to the
/// function's entry state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Val {
    /// Nothing known: the harness puts a scratch pointer there.
    Unknown,
    /// The return address the function was entered with (R30 at entry, or a copy of it).
    EntryLr,
    /// A known code address: the return address of a call made by this function.
    Pc(u64),
}

/// Register knowledge at each region start: which registers hold the entry LR (R30 at
/// entry, or a register an assembly function copied it into) and what R30 holds after a
/// call. Regions start with metadata-consistent SP and stack; this carries the one other
/// piece of state an unwinder reads from registers, across the region boundaries.
///
/// `keeps_lr(target)` says whether a call to `target` comes back with R30 = the caller's
/// R3 (the `runtime.morestack*` family: the stack-check tail saves LR in R3, and morestack
/// resumes the function with that LR after growing the stack). `no_return(target)` says
/// whether a call never returns (panics, throw): nothing flows past it.
pub fn register_states(
    entry: u64,
    words: &[u32],
    effects: &[Effects],
    regions: &[Region],
    keeps_lr: &dyn Fn(u64) -> bool,
    no_return: &dyn Fn(u64) -> bool,
) -> Vec<[Val; 31]> {
    let mut states: Vec<Option<[Val; 31]>> = vec![None; regions.len()];
    let index_of = |pc: u64| regions.iter().position(|r| r.start == pc);
    let mut init = [Val::Unknown; 31];
    init[30] = Val::EntryLr;
    if !regions.is_empty() {
        states[0] = Some(init);
    }
    let mut work: Vec<usize> = vec![0];
    let mut steps = 0usize;
    while let Some(ri) = work.pop() {
        // The lattice has height 2 per register; this bound only guards against bugs.
        steps += 1;
        if steps > regions.len() * 64 + 64 {
            break;
        }
        let Some(mut v) = states[ri] else { continue };
        let r = regions[ri];
        let first = ((r.start - entry) / 4) as usize;
        for i in first..first + r.len {
            let pc = entry + 4 * i as u64;
            transfer(&mut v, pc, words[i], &effects[i], keeps_lr);
        }
        let last = first + r.len - 1;
        let last_pc = entry + 4 * last as u64;
        let flow = effects[last].flow;
        let mut succ = Vec::new();
        let dead_end = matches!(flow, Flow::Call { target } if no_return(target));
        if !twixt_arm64::is_unconditional_transfer(&flow) && !dead_end {
            succ.push(last_pc + 4);
        }
        if let Flow::Branch { target } | Flow::CondBranch { target } = flow {
            succ.push(target);
        }
        for s in succ {
            // A branch back to the entry (the morestack tail's `B entry`) re-enters the
            // function as its caller did: morestack restores the caller's LR first.
            let Some(si) = index_of(s).filter(|&si| si != 0) else {
                continue;
            };
            let joined = match states[si] {
                None => v,
                Some(old) => {
                    let mut j = old;
                    for k in 0..31 {
                        if j[k] != v[k] {
                            j[k] = Val::Unknown;
                        }
                    }
                    j
                }
            };
            if states[si] != Some(joined) {
                states[si] = Some(joined);
                work.push(si);
            }
        }
    }
    // Regions reached only through jump tables or not at all: assume the entry state for
    // R30 only when nothing else is known.
    states.into_iter().map(|s| s.unwrap_or(init)).collect()
}

fn transfer(v: &mut [Val; 31], pc: u64, word: u32, e: &Effects, keeps_lr: &dyn Fn(u64) -> bool) {
    // MOV Xd, Xn (ORR Xd, XZR, Xn): a copy keeps what we know.
    if word & 0xffe0_ffe0 == 0xaa00_03e0 {
        let d = (word & 31) as usize;
        let n = ((word >> 16) & 31) as usize;
        if d < 31 {
            v[d] = if n < 31 { v[n] } else { Val::Unknown };
        }
        return;
    }
    match e.flow {
        Flow::Call { .. } | Flow::CallIndirect { .. } => {
            let saved_lr = v[3];
            // Go's internal ABI preserves only R28 (g) and R29 (FP) across calls.
            for (k, slot) in v.iter_mut().enumerate() {
                if k != 28 && k != 29 {
                    *slot = Val::Unknown;
                }
            }
            v[30] = match e.flow {
                Flow::Call { target } if keeps_lr(target) => saved_lr,
                _ => Val::Pc(pc + 4),
            };
        }
        _ => {
            for k in e.registers_written() {
                if let Some(slot) = v.get_mut(k as usize) {
                    *slot = Val::Unknown;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fx(flow: Flow) -> Effects {
        Effects {
            flow,
            ..Effects::UNDEFINED
        }
    }

    #[test]
    fn regions_cover_every_instruction_once() {
        let e = 0x1000;
        // 0: next, 1: cbz -> 4, 2: bl, 3: next, 4: next, 5: ret, 6: next
        let effects = [
            fx(Flow::Next),
            fx(Flow::CondBranch { target: e + 16 }),
            fx(Flow::Call { target: 0x9000 }),
            fx(Flow::Next),
            fx(Flow::Next),
            fx(Flow::Ret { reg: 30 }),
            fx(Flow::Next),
        ];
        let r = regions(e, &effects);
        assert_eq!(
            r,
            vec![
                Region { start: e, len: 2 },
                Region {
                    start: e + 8,
                    len: 1
                },
                Region {
                    start: e + 12,
                    len: 1
                },
                Region {
                    start: e + 16,
                    len: 2
                },
                Region {
                    start: e + 24,
                    len: 1
                },
            ]
        );
        assert_eq!(r.iter().map(|r| r.len).sum::<usize>(), effects.len());
    }
}
