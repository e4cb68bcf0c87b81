//! Generated Go programs: the function shapes, the Go source they render to, and the
//! proptest strategies that draw (and shrink) them.
//!
//! A [`Program`] is a package of `//go:noinline` functions, one per [`Shape`], and a `main`
//! that calls every one of them behind a guard that is never true (the binary is only
//! scanned, never run). How the frame is made follows `corpus/tools/gen_frames.py`: locals
//! are `uint` arrays of at most 64 KiB each (Go 1.24+ moves a single local over 128 KiB to
//! the heap), each either at most 64 bytes (zeroed with plain stores) or over 1024 bytes
//! (zeroed with an inline loop, never `runtime.duffzero`, which would make a leaf a
//! non-leaf), all live at once, indexed with masks or unsigned moduli so that no bounds
//! check is emitted. For the plain shape ([`Shape::is_exact`]) the frame the prologue
//! establishes (the pcsp maximum) is exactly [`Shape::frame`]; the other shapes add the
//! compiler's own slots (defer bits, result copies, dictionaries) on top.

use std::fmt::Write as _;

use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::BoxedStrategy;

/// The smallest frame drawn: every frame of 128 bytes or more has a stack-split check.
pub const MIN_FRAME: u64 = 128;
/// The largest frame drawn: just over 16 MiB, beyond the 24-bit ADD immediates.
pub const MAX_FRAME: u64 = (1 << 24) + 65536;
/// Bytes per big array (see the module documentation).
const CHUNK: u64 = 65536;
/// The frame sizes near which encodings change: 12-bit immediates (and shifted by 12),
/// 16-bit MOVZ chunks, 1 MiB steps, and the 24-bit limit of two ADDs.
pub const BOUNDARIES: [u64; 4] = [4096, 65536, 1 << 20, 1 << 24];

/// What kind of Go function carries the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A plain top-level function `fN`.
    Func,
    /// A value method `TN.m` whose receiver is a struct of `arg_words` words.
    Method,
    /// A package-level function literal `var fN = func(...)` (called through the variable,
    /// so it is never inlined).
    Closure,
    /// A generic function `fN[T ~uint]`, instantiated with `uint`.
    Generic,
}

impl Kind {
    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Func => "func",
            Kind::Method => "method",
            Kind::Closure => "closure",
            Kind::Generic => "generic",
        }
    }
}

/// One generated function.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Shape {
    /// The frame size to aim for, in bytes (a multiple of 16, [`MIN_FRAME`] to
    /// [`MAX_FRAME`]).
    pub frame: u64,
    /// Which kind of function.
    pub kind: Kind,
    /// Whether it calls `callee` while its arrays are live (a non-leaf function).
    pub calls: bool,
    /// How many `defer callee(i)` statements (each makes the function a non-leaf).
    pub defers: u8,
    /// How many return statements (each has its own epilogue), 1 to 3.
    pub returns: u8,
    /// Words of a by-value struct parameter (0: none); for a method, of the receiver
    /// (at least 1). Passed on the stack in the caller's outgoing argument area.
    pub arg_words: u32,
    /// Words of a second, struct result (0: none), returned in memory.
    pub result_words: u32,
}

impl Shape {
    /// A plain function (leaf or not) with one return and nothing else: the frame is exact.
    pub fn plain(frame: u64, calls: bool) -> Shape {
        Shape {
            frame,
            kind: Kind::Func,
            calls,
            defers: 0,
            returns: 1,
            arg_words: 0,
            result_words: 0,
        }
    }

    /// No call at all in the body (the assembler marks it LEAF).
    pub fn is_leaf(&self) -> bool {
        !self.calls && self.defers == 0
    }

    /// Whether the frame the compiler makes is exactly [`Shape::frame`].
    pub fn is_exact(&self) -> bool {
        self.kind == Kind::Func
            && self.defers == 0
            && self.returns == 1
            && self.arg_words == 0
            && self.result_words == 0
    }

    /// One line describing the shape, for summaries.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{} {} frame {} (0x{:x})",
            if self.is_leaf() { "leaf" } else { "non-leaf" },
            self.kind.name(),
            self.frame,
            self.frame
        );
        if self.defers > 0 {
            let _ = write!(s, ", {} defer(s)", self.defers);
        }
        if self.returns > 1 {
            let _ = write!(s, ", {} returns", self.returns);
        }
        if self.arg_words > 0 {
            let what = if self.kind == Kind::Method {
                "receiver"
            } else {
                "argument"
            };
            let _ = write!(s, ", {} {what} bytes", u64::from(self.arg_words) * 8);
        }
        if self.result_words > 0 {
            let _ = write!(s, ", {} result bytes", u64::from(self.result_words) * 8);
        }
        s
    }
}

/// A generated package.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Program {
    /// The functions, in source order (function `i` is named after `i`).
    pub funcs: Vec<Shape>,
}

/// Which generated function a symbol of the binary belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// `main.main`.
    Main,
    /// Function `i` of [`Program::funcs`] (or a wrapper or closure inside it).
    Func(usize),
    /// Something else in package main (`main.callee`, `main.init`).
    Other,
}

/// Splits `total` bytes (a multiple of 16) into array sizes that are each either at most
/// 64 bytes or over 1024 bytes and at most [`CHUNK`] (as `gen_frames.py` does).
fn pieces(total: u64) -> Vec<u64> {
    let mut out = Vec::new();
    let mut rest = total;
    while rest > CHUNK {
        out.push(CHUNK);
        rest -= CHUNK;
    }
    if rest <= 64 || rest > 1024 {
        if rest > 0 {
            out.push(rest);
        }
    } else if let Some(last) = out.last_mut() {
        // 64 < rest <= 1024: borrow from the previous chunk.
        *last -= 2048;
        out.push(rest + 2048);
    } else {
        while rest > 64 {
            out.push(64);
            rest -= 64;
        }
        out.push(rest);
    }
    out
}

/// An index expression into an array of `n` elements that needs no bounds check.
fn index(v: &str, n: u64) -> String {
    if n.is_power_of_two() {
        format!("{v}&{}", n - 1)
    } else {
        format!("{v}%{n}")
    }
}

/// A struct type of `words` words, for big arguments, receivers and results.
fn words_type(name: &str, words: u32) -> String {
    format!("type {name} struct{{ w [{words}]uint }}\n\n")
}

impl Program {
    /// The Go symbol prefix of function `i` (e.g. `main.f0`, `main.T1.m`, `main.f2[...]`),
    /// as its shape makes it; closures are numbered by the compiler (see [`Program::owner`]).
    pub fn func_name(&self, i: usize) -> String {
        match self.funcs.get(i).map(|s| s.kind) {
            Some(Kind::Method) => format!("T{i}.m"),
            _ => format!("f{i}"),
        }
    }

    /// Which generated function the symbol `name` belongs to. Package-level function
    /// literals are named `main.glob..funcK` (Go 1.22+) or `main.init.funcK` (earlier),
    /// numbered from 1 in source order; wrappers and closures inside a function carry its
    /// name as a prefix (`main.f3.deferwrap1`, `main.f3.func1`).
    pub fn owner(&self, name: &str) -> Owner {
        let Some(rest) = name.strip_prefix("main.") else {
            return Owner::Other;
        };
        if rest == "main" || rest.starts_with("main.") {
            return Owner::Main;
        }
        for prefix in ["glob..func", "init.func"] {
            if let Some(num) = rest.strip_prefix(prefix) {
                let digits: String = num.chars().take_while(char::is_ascii_digit).collect();
                let Ok(k) = digits.parse::<usize>() else {
                    return Owner::Other;
                };
                // The k-th closure (1-based) in source order.
                return self
                    .funcs
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.kind == Kind::Closure)
                    .nth(k.wrapping_sub(1))
                    .map_or(Owner::Other, |(i, _)| Owner::Func(i));
            }
        }
        let ident: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let num = ident
            .strip_prefix('f')
            .or_else(|| ident.strip_prefix('T'))
            .and_then(|d| d.parse::<usize>().ok());
        match num {
            Some(i) if i < self.funcs.len() => Owner::Func(i),
            _ => Owner::Other,
        }
    }

    /// The whole `main.go`.
    pub fn source(&self) -> String {
        let mut out = String::from(
            "// Code generated by twixt fuzz --go; the binary is only scanned, never run.\n\n\
             package main\n\n\
             import \"os\"\n\n",
        );
        if self.funcs.iter().any(|s| !s.is_leaf()) {
            out.push_str(
                "// callee is what the non-leaf functions call (a leaf with no frame).\n\
                 //\n\
                 //go:noinline\n\
                 func callee(x uint) uint { return x*3 + 1 }\n\n",
            );
        }
        for (i, shape) in self.funcs.iter().enumerate() {
            out.push_str(&render_func(i, shape));
            out.push('\n');
        }
        out.push_str("func main() {\n\tn := uint(len(os.Args))\n\tvar s uint\n");
        out.push_str("\tif n > 1<<20 { // never true: the calls only have to exist\n");
        for (i, shape) in self.funcs.iter().enumerate() {
            out.push_str(&render_call(i, shape));
        }
        out.push_str("\t}\n\tprintln(s)\n}\n");
        out
    }
}

/// The Go declaration(s) of function `i`.
fn render_func(i: usize, shape: &Shape) -> String {
    let func = FuncSource::new(i, shape);
    let mut out = String::new();
    func.types(&mut out);
    func.header(&mut out);
    func.body(&mut out);
    out
}

/// Function `i` with its shape, and what its source is written in terms of.
struct FuncSource<'s> {
    i: usize,
    shape: &'s Shape,
    /// A generic function: its locals are of the type parameter `T`.
    generic: bool,
    /// The element type of the locals, the parameter `i` and the first result.
    elem: &'static str,
    /// A method: the receiver is a struct of `recv_words` words.
    receiver: bool,
    recv_words: u32,
    /// Whether a by-value struct parameter `p` follows `i`.
    arg: bool,
}

impl<'s> FuncSource<'s> {
    /// Function `i` of `shape`.
    fn new(i: usize, shape: &'s Shape) -> Self {
        let generic = shape.kind == Kind::Generic;
        let receiver = shape.kind == Kind::Method;
        FuncSource {
            i,
            shape,
            generic,
            elem: if generic { "T" } else { "uint" },
            receiver,
            recv_words: shape.arg_words.max(1),
            arg: !receiver && shape.arg_words > 0,
        }
    }

    /// Widens `e` to the element type.
    fn to_elem(&self, e: &str) -> String {
        if self.generic {
            format!("T({e})")
        } else {
            e.to_string()
        }
    }

    /// Narrows `e` back to uint, for callee.
    fn to_uint(&self, e: &str) -> String {
        if self.generic {
            format!("uint({e})")
        } else {
            e.to_string()
        }
    }

    /// `return e`, with the struct result when there is one.
    fn ret(&self, e: &str) -> String {
        if self.shape.result_words > 0 {
            format!("return {e}, res")
        } else {
            format!("return {e}")
        }
    }

    /// The struct types of the receiver, the parameter and the result (parameters and
    /// results beyond `i` and the first result).
    fn types(&self, out: &mut String) {
        let (i, shape) = (self.i, self.shape);
        if self.receiver {
            out.push_str(&words_type(&format!("T{i}"), self.recv_words));
        }
        if self.arg {
            out.push_str(&words_type(&format!("P{i}"), shape.arg_words));
        }
        if shape.result_words > 0 {
            out.push_str(&words_type(&format!("R{i}"), shape.result_words));
        }
    }

    /// The comment describing the shape and the declaration's first line.
    fn header(&self, out: &mut String) {
        let (i, shape, elem) = (self.i, self.shape, self.elem);
        let mut params = format!("i {elem}");
        if self.arg {
            let _ = write!(params, ", p P{i}");
        }
        let results = if shape.result_words > 0 {
            format!("({elem}, R{i})")
        } else {
            elem.to_string()
        };
        let _ = writeln!(
            out,
            "// {}: {}.",
            if self.receiver {
                format!("T{i}.m")
            } else {
                format!("f{i}")
            },
            shape.describe()
        );
        match shape.kind {
            Kind::Func => {
                let _ = writeln!(out, "//\n//go:noinline\nfunc f{i}({params}) {results} {{");
            }
            Kind::Generic => {
                let _ = writeln!(
                    out,
                    "//\n//go:noinline\nfunc f{i}[T ~uint]({params}) {results} {{"
                );
            }
            Kind::Method => {
                let _ = writeln!(
                    out,
                    "//\n//go:noinline\nfunc (r T{i}) m({params}) {results} {{"
                );
            }
            Kind::Closure => {
                let _ = writeln!(out, "var f{i} = func({params}) {results} {{");
            }
        }
    }

    /// The body: the arrays that make the frame, all live at once, the call or defers,
    /// and the returns.
    fn body(&self, out: &mut String) {
        let (i, shape, elem) = (self.i, self.shape, self.elem);
        let locals = shape
            .frame
            .saturating_sub(16 + if shape.calls { 16 } else { 0 })
            .max(16)
            & !15;
        let arrays: Vec<u64> = pieces(locals).iter().map(|b| b / 8).collect();
        for (k, n) in arrays.iter().enumerate() {
            let _ = writeln!(out, "\tvar a{k} [{n}]{elem}");
        }
        for (k, n) in arrays.iter().enumerate() {
            let _ = writeln!(out, "\ta{k}[{}] = i", index("i", *n));
        }
        if shape.calls {
            let _ = writeln!(
                out,
                "\tj := {}",
                self.to_elem(&format!("callee({})", self.to_uint("i")))
            );
        } else {
            out.push_str("\tj := i >> 1\n");
        }
        for _ in 0..shape.defers {
            let _ = writeln!(out, "\tdefer callee({})", self.to_uint("i"));
        }
        let _ = writeln!(out, "\tvar s {elem}");
        for (k, n) in arrays.iter().enumerate() {
            let _ = writeln!(out, "\ts += a{k}[{}]", index("(s+j)", *n));
        }
        if self.receiver {
            let idx = index("i", u64::from(self.recv_words));
            let _ = writeln!(out, "\ts += r.w[{idx}]");
        }
        if self.arg {
            let idx = index("i", u64::from(shape.arg_words));
            let _ = writeln!(out, "\ts += {}", self.to_elem(&format!("p.w[{idx}]")));
        }
        if shape.result_words > 0 {
            let idx = index("j", u64::from(shape.result_words));
            let _ = writeln!(
                out,
                "\tvar res R{i}\n\tres.w[{idx}] = {}",
                self.to_uint("s")
            );
        }
        for r in 1..shape.returns {
            let _ = writeln!(
                out,
                "\tif s&{} == 0 {{\n\t\t{}\n\t}}",
                1u32 << r,
                self.ret(&format!("s + {r}"))
            );
        }
        let _ = writeln!(out, "\t{}\n}}", self.ret("s"));
    }
}

/// The guarded call of function `i` in `main`.
fn render_call(i: usize, shape: &Shape) -> String {
    let callee = match shape.kind {
        Kind::Method => format!("(T{i}{{}}).m"),
        Kind::Generic => format!("f{i}[uint]"),
        Kind::Func | Kind::Closure => format!("f{i}"),
    };
    let args = if shape.kind != Kind::Method && shape.arg_words > 0 {
        format!("n, P{i}{{}}")
    } else {
        "n".to_string()
    };
    if shape.result_words > 0 {
        format!("\t\tx{i}, r{i} := {callee}({args})\n\t\ts += x{i} + r{i}.w[0]\n")
    } else {
        format!("\t\ts += {callee}({args})\n")
    }
}

/// Rounds to a multiple of 16 within [`MIN_FRAME`, `MAX_FRAME`].
fn clamp_frame(f: i64) -> u64 {
    (f.max(MIN_FRAME as i64) as u64).min(MAX_FRAME) & !15
}

/// Frame sizes weighted towards the encoding boundaries. A frame is drawn as
/// `hi * 4096 + lo * 16`: `hi` (the part an `ADD ..., LSL #12` encodes) is mostly a
/// multiple of one of [`BOUNDARIES`] / 4096 (up to 16 MiB) or one either side, else
/// uniform; `lo` (the low 12 bits, in 16-byte steps) is mostly 0, 1, golang/go#73259's
/// 0x170 or the largest, else uniform. Both shrink towards smaller values, so a window
/// shrinks towards the smallest frame of its kind (such as 0x10010, the smallest split
/// epilogue).
pub fn frame_strategy() -> BoxedStrategy<u64> {
    const MAX_HI: u64 = MAX_FRAME / 4096;
    let mut near: Vec<u64> = Vec::new();
    for b in BOUNDARIES.map(|b| b / 4096) {
        for m in 1..=16u64 {
            for d in [-1i64, 0, 1] {
                let hi = (b * m) as i64 + d;
                if (0..=MAX_HI as i64).contains(&hi) {
                    near.push(hi as u64);
                }
            }
        }
    }
    near.sort_unstable();
    near.dedup();
    let hi = prop_oneof![3 => select(near), 1 => 0..=MAX_HI];
    let lo = prop_oneof![3 => select(vec![0u64, 1, 0x17, 0xff]), 1 => 0u64..=0xff];
    (hi, lo)
        .prop_map(|(hi, lo)| clamp_frame((hi * 4096 + lo * 16) as i64))
        .boxed()
}

/// Frame sizes from `lo` to `hi` (rounded to 16): for tests that start near a known size.
pub fn frame_range(lo: u64, hi: u64) -> BoxedStrategy<u64> {
    (lo / 16..=hi / 16)
        .prop_map(|k| clamp_frame((k * 16) as i64))
        .boxed()
}

/// Words of a big parameter, receiver or result: mostly none, else small or large (up
/// to 64 KiB). Shrinks to none.
fn words_strategy() -> impl Strategy<Value = u32> {
    prop_oneof![3 => Just(0u32), 1 => 1u32..=64, 1 => 512u32..=8192]
}

/// Every shape, with frames from `frames`. Each field shrinks towards the simplest: a
/// plain leaf function with one return and no big arguments.
pub fn shape_strategy(frames: BoxedStrategy<u64>) -> BoxedStrategy<Shape> {
    let kind = prop_oneof![
        4 => Just(Kind::Func),
        1 => Just(Kind::Method),
        1 => Just(Kind::Closure),
        1 => Just(Kind::Generic),
    ];
    (
        frames,
        kind,
        any::<bool>(),
        prop_oneof![3 => Just(0u8), 1 => 1u8..=2],
        prop_oneof![2 => Just(1u8), 1 => 2u8..=3],
        words_strategy(),
        words_strategy(),
    )
        .prop_map(
            |(frame, kind, calls, defers, returns, arg_words, result_words)| Shape {
                frame,
                kind,
                calls,
                defers,
                returns,
                arg_words,
                result_words,
            },
        )
        .boxed()
}

/// Packages of 1 to `functions` functions with shapes from `shapes`. Shrinking first
/// deletes functions (down to one), then simplifies each remaining one.
pub fn program_strategy_with(
    functions: usize,
    shapes: BoxedStrategy<Shape>,
) -> BoxedStrategy<Program> {
    proptest::collection::vec(shapes, 1..=functions.max(1))
        .prop_map(|funcs| Program { funcs })
        .boxed()
}

/// The general strategy of `twixt fuzz --go`: every shape, frames weighted towards the
/// encoding boundaries.
pub fn program_strategy(functions: usize) -> BoxedStrategy<Program> {
    program_strategy_with(functions, shape_strategy(frame_strategy()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_sum_and_stay_in_the_allowed_sizes() {
        for total in (16..=300_000u64)
            .step_by(16 * 97)
            .chain([1024, 1040, 65536 + 512])
        {
            let p = pieces(total);
            assert_eq!(p.iter().sum::<u64>(), total, "{total}");
            assert!(
                p.iter().all(|&b| b <= 64 || (1024 < b && b <= CHUNK)),
                "{total}: {p:?}"
            );
        }
    }

    #[test]
    fn owners_map_symbols_to_functions() {
        let mut p = Program {
            funcs: vec![Shape::plain(4096, false); 4],
        };
        p.funcs[1].kind = Kind::Closure;
        p.funcs[2].kind = Kind::Method;
        p.funcs[3].kind = Kind::Closure;
        assert_eq!(p.owner("main.main"), Owner::Main);
        assert_eq!(p.owner("main.f0"), Owner::Func(0));
        assert_eq!(p.owner("main.f0.deferwrap1"), Owner::Func(0));
        assert_eq!(p.owner("main.glob..func1"), Owner::Func(1));
        assert_eq!(p.owner("main.init.func2"), Owner::Func(3));
        assert_eq!(p.owner("main.T2.m"), Owner::Func(2));
        assert_eq!(p.owner("main.f3[go.shape.uint]"), Owner::Func(3));
        assert_eq!(p.owner("main.callee"), Owner::Other);
        assert_eq!(p.owner("main.f9"), Owner::Other);
        assert_eq!(p.owner("runtime.main"), Owner::Other);
    }
}
