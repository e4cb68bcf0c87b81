//! Where the harness puts its own memory: the goroutine stack (with unmapped guard pages
//! around it), the fake `g` that R28 points to, and scratch memory for pointers the
//! synthesized state cannot know. The addresses are far from where Go links programs
//! (text from 0x10000, heap arenas from 0x4000000000), and all within 48 bits.

use unicorn_engine::Unicorn;
use unicorn_engine::unicorn_const::{Prot, uc_error};

/// Addresses of the harness's regions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Lowest stack address (`g.stack.lo`).
    pub stack_lo: u64,
    /// One past the highest stack address (`g.stack.hi`).
    pub stack_hi: u64,
    /// Address of the fake `g`.
    pub g: u64,
    /// Start of the scratch region.
    pub scratch_lo: u64,
    /// End of the scratch region.
    pub scratch_hi: u64,
}

/// Unmapped bytes kept free on both sides of the stack so overruns fault.
const GUARD: u64 = 0x10000;

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
            stack_lo: stack_hi - (48 << 20),
            stack_hi,
            g: scratch_hi + MB,
            scratch_lo,
            scratch_hi,
        }
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

    /// Whether `[lo, hi)` collides with the harness's regions or their guards.
    pub fn overlaps(&self, lo: u64, hi: u64) -> bool {
        let ours = [
            (self.stack_lo - GUARD, self.stack_hi + GUARD),
            (self.g, self.g + 0x1000),
            (self.scratch_lo, self.scratch_hi),
        ];
        ours.iter().any(|&(a, b)| lo < b && a < hi)
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
        let taken = [
            (self.stack_lo - GUARD, self.stack_hi),
            (self.g, self.g + 0x1000),
            (self.scratch_lo, self.scratch_hi),
        ];
        hi <= (1 << 48) && !taken.iter().any(|&(a, b)| lo < b && a < hi)
    }

    /// Maps the stack, the fake g and scratch memory.
    pub(crate) fn map_harness<D>(&self, uc: &mut Unicorn<'_, D>) -> Result<(), uc_error> {
        let fill = |len: u64, word: u64| -> Vec<u8> {
            std::iter::repeat_n(word.to_le_bytes(), (len / 8) as usize)
                .flatten()
                .collect()
        };
        uc.mem_map(
            self.stack_lo,
            self.stack_hi - self.stack_lo,
            Prot::READ | Prot::WRITE,
        )?;
        // The stack is poisoned lazily, from the top down, as deep as regions reach (see
        // `Harness::poison_down_to`): most functions touch a few kilobytes of it.
        uc.mem_map(
            self.scratch_lo,
            self.scratch_hi - self.scratch_lo,
            Prot::READ | Prot::WRITE,
        )?;
        uc.mem_write(
            self.scratch_lo,
            &fill(self.scratch_hi - self.scratch_lo, self.scratch_pointer()),
        )?;
        uc.mem_map(self.g, 0x1000, Prot::READ | Prot::WRITE)?;
        let mut g = fill(0x1000, self.scratch_pointer());
        // runtime.g begins with stack{lo, hi}, stackguard0, stackguard1.
        for (offset, value) in [
            (0, self.stack_lo),
            (8, self.stack_hi),
            (16, self.stack_guard()),
            (24, self.stack_guard()),
        ] {
            g[offset..offset + 8].copy_from_slice(&u64::to_le_bytes(value));
        }
        uc.mem_write(self.g, &g)?;
        Ok(())
    }
}
