//! Real-toolchain fuzzing (`twixt fuzz --go VERSION`): proptest generates Go programs
//! (frame sizes near the encoding boundaries, leaf and non-leaf functions, defers, several
//! return paths, big argument, receiver and result areas, closures, generics), a pinned
//! Go toolchain compiles them for linux/arm64, twixt scans their `main.*` functions, and
//! every window is shrunk by proptest to a minimal program written out as a standalone
//! reproducer (main.go, go.mod, BUILD, twixt-report.txt, README).
//!
//! - [`toolchain`]: resolving and installing toolchains as `scripts/build-corpus` does,
//!   and the hermetic build command.
//! - [`program`]: the program model, its Go source and the strategies.
//! - [`fuzz`]: the loop, the property and the reproducers.
//! - [`stress`]: the stress driver every generated program is (what `twixt confirm` runs).

pub mod fuzz;
pub mod program;
pub mod stress;
pub mod toolchain;

pub use fuzz::{Event, FuzzConfig, Outcome, Reproducer, fuzz};
pub use program::{Kind, Program, Shape};
pub use toolchain::{Toolchain, cache_dir, resolve};
