//! Lessons: a guided look at one function of the bundled corpus each, with an
//! introduction and the boundary to start at. `twixt explain --lesson list` lists them.

/// Which boundary a lesson starts at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartAt {
    /// The first boundary where the Go unwinder goes wrong.
    FirstGoWindow,
    /// The first boundary where the frame-pointer walk goes wrong.
    FirstFpWindow,
    /// The first boundary whose instruction is exactly this text.
    Instruction(&'static str),
}

/// One lesson.
#[derive(Clone, Copy, Debug)]
pub struct Lesson {
    /// Its name on the command line.
    pub name: &'static str,
    /// One-line title.
    pub title: &'static str,
    /// The binary, relative to the corpus directory.
    pub binary: &'static str,
    /// The function.
    pub function: &'static str,
    /// Where to start.
    pub start: StartAt,
    /// Paragraphs of introduction.
    pub intro: &'static [&'static str],
}

/// Every lesson, in the order `--lesson list` shows them.
pub const LESSONS: &[Lesson] = &[
    Lesson {
        name: "73259",
        title: "the split epilogue of golang/go#73259 (go1.23.4, non-leaf, 70000-byte frame)",
        binary: "go1.23.4/frames",
        function: "main.nonleaf70000",
        start: StartAt::FirstGoWindow,
        intro: &[
            "An arm64 ADD takes a 12-bit immediate, optionally shifted left by 12. A frame of \
             0x11170 bytes does not fit in one, so before the fix the epilogue popped it with two \
             ADDs: first 0x170, then 0x11000. The pcsp table only changes after the last one, so \
             for one instruction SP has moved by 0x170 while the metadata still claims the whole \
             frame.",
            "Asynchronous preemption may land on that second ADD. The garbage collector then \
             scans the goroutine's stack: the unwinder adds pcsp to SP, lands 0x170 bytes above \
             the true caller SP and reads the return PC from a slot that belongs to the caller's \
             frame. The runtime throws \"unexpected return pc\" (golang/go#73259).",
        ],
    },
    Lesson {
        name: "73259-fixed",
        title: "the fixed epilogue (go1.25.5): the constant in R27, then one ADD",
        binary: "go1.25.5/frames",
        function: "main.nonleaf70000",
        start: StartAt::Instruction("add sp, sp, x27"),
        intro: &[
            "The fix (cmd/internal/obj/arm64/obj7.go, \"so we never have a partial frame during \
             the epilog\") builds the whole frame size in the assembler's temporary register \
             R27 (REGTMP) with MOVZ/MOVK, leaving SP alone, then pops the frame with a single \
             ADD R27, RSP, RSP. At every boundary SP is either the full frame below the caller's \
             SP, exactly as pcsp says, or the caller's SP itself after the ADD: there is no \
             half-popped state for any unwinder to see.",
            "The run that builds and uses R27 is marked unsafe anyway (UnsafePoint -2): the \
             assembler's isUnsafePoint treats every instruction that names REGTMP explicitly as \
             unsafe, because the preemption sequence itself clobbers R27 (asyncPreempt's return \
             path jumps through it). It is conservative: here nothing is lost by not preempting \
             for three instructions, and a profiling signal landing there still gets a correct \
             traceback, as the table shows.",
        ],
    },
    Lesson {
        name: "fp-leaf-1.19",
        title: "frame pointers in go1.19 leaf epilogues: SP popped before R29 is restored",
        binary: "go1.19.8/frames",
        function: "main.leaf96",
        start: StartAt::FirstFpWindow,
        intro: &[
            "A Go 1.19 leaf function with a frame saves R29 at SP-8 and points R29 at it, but \
             its epilogue pops the frame (ADD to SP) before it recomputes R29. For one \
             instruction R29 points into the popped frame, below SP-8: stack that a signal \
             handler or an injected call may overwrite at any moment.",
            "Go's own traceback does not use R29 and is fine here; a frame-pointer unwinder \
             (the execution tracer, perf, eBPF profilers) follows R29 into free stack: the \
             golang/go#63830 class of bugs. The frame-pointer walk flags this boundary.",
        ],
    },
    Lesson {
        name: "leaf-split",
        title: "leaf epilogues still split SP in current Go (go1.25.5, leaf, 70000-byte frame)",
        binary: "go1.25.5/frames",
        function: "main.leaf70000",
        start: StartAt::FirstGoWindow,
        intro: &[
            "The #73259 fix rewrote only the non-leaf epilogue. A leaf function with a frame too \
             large for one ADD immediate still pops it with two ADDs in go1.25.5, and pcsp \
             still changes only after the second.",
            "The scan confirms this as a preemptible window: asynchronous preemption may land on \
             the second ADD, and the Go unwinder then reads the return PC from the wrong slot, \
             exactly as in the pre-fix non-leaf epilogue.",
            "Two instructions earlier the table shows a second, smaller window: the leaf \
             epilogue recomputes R29 with two ADDs as well, so for one instruction R29 is \
             half-computed and a frame-pointer walk reads its return PC from the wrong place.",
        ],
    },
];

/// The lesson named `name`.
pub fn find(name: &str) -> Option<&'static Lesson> {
    LESSONS.iter().find(|l| l.name == name)
}

/// `--lesson list`: one line per lesson.
pub fn list() -> String {
    let mut s = String::new();
    for l in LESSONS {
        s.push_str(&format!(
            "{:<14} {} {}: {}\n",
            l.name, l.binary, l.function, l.title
        ));
    }
    s
}
