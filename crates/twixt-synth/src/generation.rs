//! The generations of Go's arm64 prologue/epilogue code, and which Go release is which.
//!
//! Read from `cmd/internal/obj/arm64/obj7.go` (`preprocess`, the `ARET` case) of every
//! toolchain in the corpus:
//!
//! * [`Generation::G1_19`] (1.19 to 1.21.6): the leaf epilogue pops the frame *before*
//!   rebuilding R29 (`ADD $A, RSP, RSP; SUB $8, RSP, R29`, golang/go#63830).
//! * [`Generation::G1_21_7`] (1.21.7 to 1.23.11): the leaf epilogue rebuilds R29 first
//!   (`ADD $A-8, RSP, R29; ADD $A, RSP, RSP`); the non-leaf epilogue is
//!   `LDP -8(RSP), (R29, R30); ADD $A, RSP, RSP`, whose ADD the assembler may split.
//! * [`Generation::G1_24`] (1.24 before the golang/go#73259 fix): as 1.21.7, but a
//!   non-leaf frame of at most 0xF0 bytes is popped with `MOVD -8(RSP), R29;
//!   MOVD.P A(RSP), R30`.
//! * [`Generation::Fixed`] (1.24.11, 1.25 and later): as 1.24, but a non-leaf frame of
//!   4096 bytes or more is popped with `MOVD $A, R27; ADD R27, RSP, RSP` (never split).

use std::fmt;

use twixt_unwind::preempt::GoVersion;

/// A generation of Go's arm64 prologue and epilogue code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[allow(non_camel_case_types)]
pub enum Generation {
    /// Go 1.19 to 1.21.6 (checked against Debian's go1.19.8 and go1.21.13's source).
    G1_19,
    /// Go 1.21.7 to 1.23 before the golang/go#73259 fix.
    G1_21_7,
    /// Go 1.24 before the golang/go#73259 fix (e.g. go1.24.3).
    G1_24,
    /// The fixed releases: go1.24.11, go1.25.0 and later.
    Fixed,
}

impl Generation {
    /// Every generation, oldest first.
    pub const ALL: [Generation; 4] = [
        Generation::G1_19,
        Generation::G1_21_7,
        Generation::G1_24,
        Generation::Fixed,
    ];

    /// The name the CLI accepts and reports print.
    pub fn name(self) -> &'static str {
        match self {
            Generation::G1_19 => "1.19",
            Generation::G1_21_7 => "1.21.7",
            Generation::G1_24 => "1.24",
            Generation::Fixed => "fixed",
        }
    }

    /// The releases the generation covers, for people.
    pub fn releases(self) -> &'static str {
        match self {
            Generation::G1_19 => "go1.19 to go1.21.6",
            Generation::G1_21_7 => "go1.21.7 to go1.23.11",
            Generation::G1_24 => "go1.24.0 to go1.24.10",
            Generation::Fixed => "go1.24.11, go1.25.0 and later",
        }
    }

    /// Parses a name: `1.19`, `1.21.7`, `1.24`, `fixed` (a `go` prefix is accepted), or a
    /// Go release such as `go1.23.4`, mapped with [`Generation::of`].
    pub fn parse(text: &str) -> Option<Generation> {
        let t = text.trim();
        let bare = t.strip_prefix("go").unwrap_or(t);
        match bare {
            "1.19" => return Some(Generation::G1_19),
            "1.21.7" => return Some(Generation::G1_21_7),
            "1.24" => return Some(Generation::G1_24),
            "fixed" => return Some(Generation::Fixed),
            _ => {}
        }
        GoVersion::parse(&format!("go{bare}")).and_then(Generation::of)
    }

    /// The generation of a Go release. `None` for releases before 1.19 (another
    /// prologue) and for go1.23.12 and later 1.23 patch releases, which carry the
    /// golang/go#73259 fix on the 1.21.7 shapes: a combination no toolchain here has, so
    /// the model does not claim it.
    pub fn of(v: GoVersion) -> Option<Generation> {
        match (v.minor, v.patch) {
            (m, _) if m < 19 => None,
            (19 | 20, _) => Some(Generation::G1_19),
            (21, p) if p < 7 => Some(Generation::G1_19),
            (21 | 22, _) => Some(Generation::G1_21_7),
            (23, p) if p < 12 => Some(Generation::G1_21_7),
            (23, _) => None,
            (24, p) if p < 11 => Some(Generation::G1_24),
            _ => Some(Generation::Fixed),
        }
    }

    /// Whether the leaf epilogue rebuilds R29 before popping the frame (1.21.7 on).
    pub fn leaf_r29_first(self) -> bool {
        self != Generation::G1_19
    }

    /// Whether a small non-leaf frame is popped with `MOVD -8(RSP), R29; MOVD.P` (1.24 on).
    pub fn small_movd_p(self) -> bool {
        matches!(self, Generation::G1_24 | Generation::Fixed)
    }

    /// Whether a non-leaf frame of 4096 bytes or more is popped through R27 (the fix).
    pub fn fixed_nonleaf(self) -> bool {
        self == Generation::Fixed
    }
}

impl fmt::Display for Generation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(s: &str) -> Option<Generation> {
        Generation::of(GoVersion::parse(s).unwrap())
    }

    #[test]
    fn corpus_versions_map_to_their_generation() {
        assert_eq!(of("go1.19.8"), Some(Generation::G1_19));
        assert_eq!(of("go1.21.6"), Some(Generation::G1_19));
        assert_eq!(of("go1.21.13"), Some(Generation::G1_21_7));
        assert_eq!(of("go1.22.10"), Some(Generation::G1_21_7));
        assert_eq!(of("go1.23.4"), Some(Generation::G1_21_7));
        assert_eq!(of("go1.23.9"), Some(Generation::G1_21_7));
        assert_eq!(of("go1.24.3"), Some(Generation::G1_24));
        assert_eq!(of("go1.24.11"), Some(Generation::Fixed));
        assert_eq!(of("go1.25.0"), Some(Generation::Fixed));
        assert_eq!(of("go1.27.3"), Some(Generation::Fixed));
        assert_eq!(of("go1.18.10"), None);
    }

    #[test]
    fn names_round_trip() {
        for g in Generation::ALL {
            assert_eq!(Generation::parse(g.name()), Some(g));
        }
        assert_eq!(Generation::parse("go1.23.4"), Some(Generation::G1_21_7));
        assert_eq!(Generation::parse("1.17"), None);
        assert_eq!(Generation::parse("nonsense"), None);
    }
}
