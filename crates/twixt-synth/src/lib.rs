//! twixt-synth: a model of how each generation of Go's arm64 assembler emits a function's
//! prologue and epilogue for a frame size and shape ([`model::synthesize`]), a small
//! encoder for those instructions ([`encode`]), an exact interpreter of them ([`exec`]),
//! and the checker that judges every instruction boundary of the synthesized code with
//! both model unwinders, Go's traceback and the frame-pointer walk ([`check`]), either
//! by emulating it in Unicorn or by the interpreter (cross-checked in the tests). The
//! sweep over every frame size is [`sweep`].

pub mod check;
pub mod encode;
pub mod exec;
pub mod generation;
pub mod model;
pub mod sweep;

pub use generation::Generation;
pub use model::{Shape, SyntheticFunction, synthesize};
