//! The runtime entry points a call may reach, recognised by pclntab name (numeric ids shift
//! between Go versions), and how each is handled: emulated (allocation, clocks), a stop
//! with a verdict (panics, stack growth, write barriers), allowed to run as ordinary code
//! (pure helpers such as `memmove`), or the end of the analysis ("unanalysed: calls NAME").

/// What happens when execution reaches a runtime function's entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// `runtime.newobject(typ)`: `typ.Size_` zeroed bytes.
    NewObject,
    /// `runtime.mallocgc(size, typ, needzero)`.
    Malloc,
    /// `runtime.makeslice(et, len, cap)`.
    MakeSlice,
    /// `runtime.growslice(oldPtr, newLen, oldCap, num, et)`.
    GrowSlice,
    /// `runtime.nanotime`/`nanotime1`: a deterministic fake monotonic clock.
    Nanotime,
    /// `time.now`: `(sec, nsec, mono)` from the same fake clock.
    TimeNow,
    /// A panic or throw entry: the call panicked.
    Panic,
    /// `runtime.morestack*`: the stack check failed although the goroutine's guard is low.
    Morestack,
    /// A write barrier although the flag is 0 (GC off): cannot be.
    WriteBarrier,
    /// Any other runtime function: not emulated, the run ends unanalysed.
    Unsupported,
}

/// Pure runtime helpers that touch only their arguments' memory: run as ordinary code.
const PURE: &[&str] = &[
    "runtime.memmove",
    "runtime.memclrNoHeapPointers",
    "runtime.memequal",
    "runtime.memequal_varlen",
    "runtime.memequal0",
    "runtime.memequal8",
    "runtime.memequal16",
    "runtime.memequal32",
    "runtime.memequal64",
    "runtime.memequal128",
    "runtime.duffzero",
    "runtime.duffcopy",
    "runtime.strequal",
    "runtime.cmpstring",
    "runtime.add",
];

/// Prefixes of code that is the runtime's (the rest of `internal/runtime/atomic` etc. are
/// pure, but their callers are the runtime's own, so they are never reached from user code
/// without a runtime function first).
const RUNTIME_PREFIXES: &[&str] = &["runtime.", "internal/runtime/", "runtime/internal/"];

/// Classifies a function by name; `None` means "ordinary code, run it".
pub fn action(name: &str) -> Option<Action> {
    let a = match name {
        "runtime.newobject" => Action::NewObject,
        "runtime.mallocgc" => Action::Malloc,
        "runtime.makeslice" => Action::MakeSlice,
        "runtime.growslice" => Action::GrowSlice,
        "runtime.nanotime" | "runtime.nanotime1" => Action::Nanotime,
        "time.now" => Action::TimeNow,
        "runtime.gopanic" | "runtime.throw" | "runtime.fatal" | "runtime.sigpanic" => Action::Panic,
        "runtime.goexit" | "runtime.goexit1" => Action::Unsupported,
        n if n.starts_with("runtime.panic") || n.starts_with("runtime.goPanic") => Action::Panic,
        n if n.starts_with("runtime.morestack") => Action::Morestack,
        n if n.starts_with("runtime.gcWriteBarrier")
            || n == "runtime.wbZero"
            || n == "runtime.wbMove"
            || n == "runtime.bulkBarrierPreWrite" =>
        {
            Action::WriteBarrier
        }
        n if PURE.contains(&n) => return None,
        n if RUNTIME_PREFIXES.iter().any(|p| n.starts_with(p)) => Action::Unsupported,
        _ => return None,
    };
    Some(a)
}

/// Go's `nextslicecap` (runtime/slice.go, 1.20+).
pub fn next_slice_cap(new_len: i64, old_cap: i64) -> i64 {
    let mut newcap = old_cap;
    let doublecap = newcap.saturating_add(newcap);
    if new_len > doublecap {
        return new_len;
    }
    const THRESHOLD: i64 = 256;
    if old_cap < THRESHOLD {
        return doublecap;
    }
    loop {
        newcap = newcap.saturating_add(newcap.saturating_add(3 * THRESHOLD) >> 2);
        if newcap as u64 >= new_len as u64 {
            break;
        }
    }
    if newcap <= 0 {
        return new_len;
    }
    newcap
}

/// Go's size classes (runtime/sizeclasses.go, unchanged since 1.15), class 1 upwards.
const SIZE_CLASSES: &[u64] = &[
    8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256, 288, 320, 352,
    384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792, 2048,
    2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728,
    10240, 10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264, 28672,
    32768,
];

/// Go's `roundupsize(size, noscan)`: the bytes malloc really hands out, which growslice
/// turns into the new capacity. Go 1.22+ adds an 8-byte malloc header to objects with
/// pointers larger than 512 bytes.
pub fn round_up_size(size: u64, noscan: bool, header: bool) -> u64 {
    let (req, hdr) = if header && !noscan && size > 512 {
        (size.saturating_add(8), 8)
    } else {
        (size, 0)
    };
    if req <= 32768 {
        let class = SIZE_CLASSES
            .iter()
            .copied()
            .find(|&c| c >= req)
            .unwrap_or(32768);
        return class - hdr;
    }
    // Large objects: whole pages (8 KiB).
    req.saturating_add(8191) & !8191
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_classify() {
        assert_eq!(action("runtime.panicIndex"), Some(Action::Panic));
        assert_eq!(action("runtime.morestack_noctxt"), Some(Action::Morestack));
        assert_eq!(
            action("runtime.gcWriteBarrier2"),
            Some(Action::WriteBarrier)
        );
        assert_eq!(action("runtime.memmove"), None);
        assert_eq!(
            action("runtime.mapaccess1_fast64"),
            Some(Action::Unsupported)
        );
        assert_eq!(action("main.f"), None);
    }

    #[test]
    fn growslice_capacity_follows_go() {
        // append to a nil []int of 0 cap, one element: cap 1; of cap 4, one more: 8.
        assert_eq!(next_slice_cap(1, 0), 1);
        assert_eq!(next_slice_cap(5, 4), 8);
        assert_eq!(round_up_size(5 * 8, true, true), 48);
        assert_eq!(round_up_size(600, false, true), 640 - 8);
    }
}
