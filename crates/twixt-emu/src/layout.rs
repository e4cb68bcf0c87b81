//! Where the harness puts its own memory: the goroutine stack (with unmapped guard pages
//! around it), the fake `g` that R28 points to (with an `m` and that `m`'s `g0`, whose
//! own stack the runtime's system-stack switches land on), and scratch memory for
//! pointers the synthesized state cannot know. The addresses are far from where Go links
//! programs (text from 0x10000, heap arenas from 0x4000000000), and all within 48 bits.

use unicorn_engine::Unicorn;
use unicorn_engine::unicorn_const::{Prot, uc_error};

/// Addresses of the harness's regions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Lowest stack address (`g.stack.lo`).
    pub stack_lo: u64,
    /// One past the highest stack address (`g.stack.hi`).
    pub stack_hi: u64,
    /// Address of the fake `g`. Its `m` (the word at offset 48, as in every Go release)
    /// is the page after it, and that `m`'s `g0` (offset 0) the page after that.
    pub g: u64,
    /// Start of the scratch region.
    pub scratch_lo: u64,
    /// End of the scratch region.
    pub scratch_hi: u64,
}

/// Unmapped bytes kept free on both sides of the stack so overruns fault.
const GUARD: u64 = 0x10000;

/// The goroutine stack of [`Layout::above`]: the largest frames in ordinary code (and the
/// corpus) are just over 16 MiB, and a call needs its caller's frame above it.
const STACK: u64 = 48 << 20;

/// The stack a region harness maps lazily ([`Layout::deep`]): room for the largest frame
/// Go builds, `runtime.call1073741824` (reflectcall's 1 GiB argument frame), below a caller.
pub const DEEP_STACK: u64 = (1 << 30) + (64 << 20);

/// Offsets into the fake `g`, `m` and `g0`: `g.stack` and the stack guards lead `runtime.g`
/// in every release, `g.m` follows `_panic` and `_defer`, `m.g0` leads `runtime.m`, and
/// `g.sched` (a `gobuf` whose first word is `sp`) follows `g.m`.
const G_M: usize = 48;
const G_SCHED_SP: usize = 56;

/// The fake `g0`'s stack: 64 KiB just above the `g0` page, with unmapped guards.
const G0_STACK: u64 = 0x10000;

impl Default for Layout {
    fn default() -> Self {
        Layout::above(0x10_0000)
    }
}

impl Layout {
    /// A layout for an image whose mapped memory ends at `image_end`.
    ///
    /// Scratch values end up used as indices, lengths and hash inputs as well as pointers,
    /// so they must be small: just above the image (with a free megabyte on each side
    /// for negative and large offsets), `value * value` still fits in 48 bits for images
    /// of a few megabytes. No PC lives there, so the value also reads as "in no function"
    /// when an unwinder takes it for a return PC.
    pub fn above(image_end: u64) -> Layout {
        const MB: u64 = 1 << 20;
        // Saturating: a hostile image can claim to end anywhere; the overlap check then
        // refuses the layout instead of this arithmetic wrapping around.
        let scratch_lo = image_end
            .div_ceil(MB)
            .saturating_add(1)
            .saturating_mul(MB)
            .min(1 << 47);
        let scratch_hi = scratch_lo + 0x10000;
        // 48 MiB: the largest frames in real code (and the corpus) are just over 16 MiB, and
        // a region needs its caller's frame above it.
        let stack_hi = 0x7000_0000_0000;
        Layout {
            stack_lo: stack_hi - STACK,
            stack_hi,
            g: scratch_hi + MB,
            scratch_lo,
            scratch_hi,
        }
    }

    /// The same layout with a stack of `DEEP_STACK` bytes, for a harness that maps its stack
    /// lazily (the region harness): a whole-call machine maps and fills its stack up front
    /// and keeps the 48 MiB one.
    pub fn deep(mut self) -> Layout {
        self.stack_lo = self.stack_hi - DEEP_STACK;
        self
    }

    /// The fake `m` (`g.m`).
    pub fn m(&self) -> u64 {
        self.g + 0x1000
    }

    /// The fake `g0` (`m.g0`): the goroutine of the system stack.
    pub fn g0(&self) -> u64 {
        self.g + 0x2000
    }

    /// `[lo, hi)` of the fake `g0`'s stack.
    pub fn g0_stack(&self) -> (u64, u64) {
        let lo = self.g + 0x10000;
        (lo, lo + G0_STACK)
    }

    /// The value every scratch word holds: a pointer to the middle of scratch memory, so
    /// that chains of loads through unknown pointers stay inside mapped memory.
    pub fn scratch_pointer(&self) -> u64 {
        (self.scratch_lo + (self.scratch_hi - self.scratch_lo) / 2) & !0xfff
    }

    /// The value unused stack words hold. It is a valid data pointer, but no PC: an unwinder
    /// that reads a return PC from a slot nobody wrote gets a value in no function.
    pub fn poison(&self) -> u64 {
        self.scratch_pointer()
    }

    /// Where a whole-call run's heap starts (`call::Machine`): 16 MiB above the fake g,
    /// 64 KiB aligned.
    pub fn heap_base(&self) -> u64 {
        (self.g + (16 << 20)) & !0xffff
    }

    /// `g.stackguard0`: low enough that the stack checks of every frame pass.
    pub fn stack_guard(&self) -> u64 {
        self.stack_lo + GUARD
    }

    /// The harness's own fixed regions (not the stack): scratch, then `g`, `m`, `g0` and
    /// `g0`'s stack with a guard on each side.
    fn fixed(&self) -> [(u64, u64); 2] {
        let (_, g0_hi) = self.g0_stack();
        [(self.scratch_lo, self.scratch_hi), (self.g, g0_hi + GUARD)]
    }

    /// Whether `[lo, hi)` collides with the harness's regions or their guards.
    pub fn overlaps(&self, lo: u64, hi: u64) -> bool {
        let [scratch, g] = self.fixed();
        let ours = [(self.stack_lo - GUARD, self.stack_hi + GUARD), scratch, g];
        ours.iter().any(|&(a, b)| lo < b && a < hi)
    }

    /// Whether `addr` lies in the goroutine stack.
    pub fn in_stack(&self, addr: u64) -> bool {
        (self.stack_lo..self.stack_hi).contains(&addr)
    }

    /// Whether an unforeseen access to `page` may get a scratch page: anywhere in the
    /// 48-bit address space except the stack, the guard below it (an overrun there is a
    /// stack overflow) and the harness's own regions. Even a nil dereference continues
    /// (the checker studies unwinding at boundaries, not what the data means), and so
    /// does a store above the stack top through an index the state could not know.
    pub fn may_scratch(&self, page: u64) -> bool {
        self.may_scratch_range(page, page.saturating_add(0x1000))
    }

    /// Whether a whole range may become scratch memory (see [`Layout::may_scratch`]).
    pub fn may_scratch_range(&self, lo: u64, hi: u64) -> bool {
        let [scratch, g] = self.fixed();
        let taken = [(self.stack_lo - GUARD, self.stack_hi), scratch, g];
        hi <= (1 << 48) && !taken.iter().any(|&(a, b)| lo < b && a < hi)
    }

    /// Maps the whole stack.
    pub(crate) fn map_stack<D>(&self, uc: &mut Unicorn<'_, D>) -> Result<(), uc_error> {
        uc.mem_map(
            self.stack_lo,
            self.stack_hi - self.stack_lo,
            Prot::READ | Prot::WRITE,
        )
    }

    /// Maps the fake `g`, `m`, `g0`, `g0`'s stack and scratch memory (not the goroutine
    /// stack: see [`Layout::map_stack`]).
    pub(crate) fn map_harness<D>(&self, uc: &mut Unicorn<'_, D>) -> Result<(), uc_error> {
        let fill = |len: u64, word: u64| -> Vec<u8> {
            std::iter::repeat_n(word.to_le_bytes(), (len / 8) as usize)
                .flatten()
                .collect()
        };
        uc.mem_map(
            self.scratch_lo,
            self.scratch_hi - self.scratch_lo,
            Prot::READ | Prot::WRITE,
        )?;
        uc.mem_write(
            self.scratch_lo,
            &fill(self.scratch_hi - self.scratch_lo, self.scratch_pointer()),
        )?;
        let (g0_lo, g0_hi) = self.g0_stack();
        uc.mem_map(self.g, 0x3000, Prot::READ | Prot::WRITE)?;
        uc.mem_map(g0_lo, g0_hi - g0_lo, Prot::READ | Prot::WRITE)?;
        let page = |words: &[(usize, u64)]| {
            let mut p = fill(0x1000, self.scratch_pointer());
            for &(offset, value) in words {
                p[offset..offset + 8].copy_from_slice(&u64::to_le_bytes(value));
            }
            p
        };
        // runtime.g begins with stack{lo, hi}, stackguard0, stackguard1.
        let g = page(&[
            (0, self.stack_lo),
            (8, self.stack_hi),
            (16, self.stack_guard()),
            (24, self.stack_guard()),
            (G_M, self.m()),
        ]);
        let m = page(&[(0, self.g0())]);
        // g0's saved context points at the top of its stack, where a switch lands.
        let g0_guard = g0_lo + 0x1000;
        let g0 = page(&[
            (0, g0_lo),
            (8, g0_hi),
            (16, g0_guard),
            (24, g0_guard),
            (G_M, self.m()),
            (G_SCHED_SP, g0_hi - 0x100),
        ]);
        uc.mem_write(self.g, &g)?;
        uc.mem_write(self.m(), &m)?;
        uc.mem_write(self.g0(), &g0)?;
        uc.mem_write(g0_lo, &fill(g0_hi - g0_lo, self.poison()))?;
        Ok(())
    }
}
