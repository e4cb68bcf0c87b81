//! Display text: iced-x86's Intel formatter set to read like GNU objdump's `-M intel`
//! listing, in lower case: `0x` hex everywhere (also for small numbers), a space after
//! each comma, no `short`/`near` branch sizes, the memory size always shown
//! (`qword ptr [rsp+0x8]`), and RIP-relative operands as the absolute address they name
//! (as the arm64 text shows PC-relative operands), so that a listing never depends on
//! where an instruction sits.

use iced_x86::{Formatter, Instruction, IntelFormatter, MemorySizeOptions};

/// A formatter with twixt's options.
pub(crate) fn formatter() -> IntelFormatter {
    let mut f = IntelFormatter::new();
    let o = f.options_mut();
    o.set_hex_prefix("0x");
    o.set_hex_suffix("");
    o.set_uppercase_hex(false);
    o.set_small_hex_numbers_in_decimal(false);
    o.set_space_after_operand_separator(true);
    o.set_branch_leading_zeros(false);
    o.set_leading_zeros(false);
    o.set_show_branch_size(false);
    // false: `[0x4a1230]`, the address; true would print `[rip+0x1234]`.
    o.set_rip_relative_addresses(false);
    o.set_memory_size_options(MemorySizeOptions::Always);
    f
}

/// The text of one valid instruction.
pub(crate) fn render(f: &mut IntelFormatter, insn: &Instruction) -> String {
    let mut out = String::new();
    f.format(insn, &mut out);
    out
}
