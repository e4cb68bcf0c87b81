//! Go's pclntab: bytes to typed tables (functions, pc-value tables, inline trees). Pure, no I/O.
//!
//! Reads the `.gopclntab` section of Go 1.18 to 1.27 binaries (magics 0xFFFFFFF0 and
//! 0xFFFFFFF1), little-endian. Nothing here panics on any input: every offset is bounds
//! checked and malformed data is an [`Error`] naming what and where.
//!
//! ```no_run
//! # fn demo(section: &[u8], runtime_text: u64) -> Result<(), twixt_gopclntab::Error> {
//! let mut tab = twixt_gopclntab::Pclntab::parse(section)?;
//! if tab.needs_text_start() {
//!     // Go 1.26+ no longer writes textStart into the header.
//!     tab.set_text_start(runtime_text);
//! }
//! for f in tab.funcs() {
//!     let f = f?;
//!     for run in f.pcsp_table()? {
//!         println!("{} {:#x}..{:#x} frame {}", f.name(), run.start, run.end, run.value);
//!     }
//! }
//! # Ok(()) }
//! ```

mod error;
mod func;
pub mod inline;
pub mod pcvalue;
mod region;
mod table;

pub use error::{Error, PcTable, PcValueProblem, StrProblem};
pub use func::{Func, FuncFlags};
pub use pcvalue::PcRun;
pub use table::{Format, MAGIC_GO12, MAGIC_GO116, MAGIC_GO118, MAGIC_GO120, Pclntab};

/// PCDATA table: where async preemption is unsafe or restartable.
pub const PCDATA_UNSAFE_POINT: u32 = 0;
/// PCDATA table: index of the stack map (live pointers) at each call.
pub const PCDATA_STACK_MAP_INDEX: u32 = 1;
/// PCDATA table: index into the inline tree of the innermost inlined call (-1 for none).
pub const PCDATA_INL_TREE_INDEX: u32 = 2;
/// PCDATA table: argument liveness index.
pub const PCDATA_ARG_LIVE_INDEX: u32 = 3;

/// FUNCDATA slot: argument pointer maps.
pub const FUNCDATA_ARGS_POINTER_MAPS: u8 = 0;
/// FUNCDATA slot: locals pointer maps (absent: never asynchronously preempted).
pub const FUNCDATA_LOCALS_POINTER_MAPS: u8 = 1;
/// FUNCDATA slot: stack objects.
pub const FUNCDATA_STACK_OBJECTS: u8 = 2;
/// FUNCDATA slot: the inline tree.
pub const FUNCDATA_INL_TREE: u8 = 3;

/// UnsafePoint value: safe for async preemption (also the default with no table).
pub const UNSAFE_POINT_SAFE: i32 = -1;
/// UnsafePoint value: unsafe for async preemption.
pub const UNSAFE_POINT_UNSAFE: i32 = -2;
/// UnsafePoint value: restartable; resume at the start of the run of this value.
pub const UNSAFE_POINT_RESTART1: i32 = -3;
/// UnsafePoint value: restartable (a second kind, so two adjacent restartable sequences
/// stay distinct runs); resume at the start of the run.
pub const UNSAFE_POINT_RESTART2: i32 = -4;
/// UnsafePoint value: restart at the function's entry.
pub const UNSAFE_POINT_RESTART_AT_ENTRY: i32 = -5;
