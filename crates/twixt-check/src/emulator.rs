//! How a [`GoProgram`] goes into the emulator: its loadable segments with their
//! permissions, and the harness's memory layout just above the image.

use twixt_program::GoProgram;

/// The image's loadable segments as the emulator maps them, with their permissions.
pub fn ranges<'a>(prog: &GoProgram<'a>) -> Vec<twixt_emu::MapRange<'a>> {
    let image = prog.image();
    image
        .segments()
        .iter()
        .map(|s| twixt_emu::MapRange {
            vaddr: s.vaddr,
            size: s.mem_size,
            read: s.perms.read,
            write: s.perms.write,
            execute: s.perms.execute,
            data: image.segment_bytes(s),
        })
        .collect()
}

/// The emulator's memory layout: stack, g and scratch just above the image's end.
pub fn layout(prog: &GoProgram<'_>) -> twixt_emu::Layout {
    let end = prog
        .image()
        .segments()
        .iter()
        .map(|s| s.vaddr.saturating_add(s.mem_size))
        .max()
        .unwrap_or(0);
    twixt_emu::Layout::above(end)
}
