//! End to end with go1.23.4: a program with a split epilogue fails, proptest shrinks it to
//! one function and a main, and the reproducer's BUILD command rebuilds a binary with the
//! same window.

mod common;

use proptest::prelude::*;
use twixt_gofuzz::fuzz::{BINARY, scan_main};
use twixt_gofuzz::program::{Shape, frame_range, program_strategy_with};
use twixt_gofuzz::{FuzzConfig, fuzz};

#[test]
fn a_window_shrinks_to_one_function_and_rebuilds_from_its_build_command() {
    let tc = common::go1_23_4();
    let out = common::scratch("shrink");
    // Plain functions, leaf or not, with frames around golang/go#73259's 70000 (all of
    // them split-epilogue sizes in go1.23.4), three to a package: the first case fails.
    let shapes = (frame_range(69_632 + 16, 70_400), any::<bool>())
        .prop_map(|(frame, calls)| Shape::plain(frame, calls))
        .boxed();
    let strategy = program_strategy_with(3, shapes);
    let config = FuzzConfig {
        toolchain: &tc,
        cases: 2,
        seed: 5,
        out_dir: out.clone(),
        keep: false,
        max_shrink_iters: 64,
    };
    let outcome = fuzz(&config, &strategy, &|_| {}).expect("fuzz");
    assert!(!outcome.reproducers.is_empty(), "no window found");
    for r in &outcome.reproducers {
        assert_eq!(r.program.funcs.len(), 1, "{:?}", r.program);
        let main_go = std::fs::read_to_string(r.dir.join("main.go")).expect("main.go");
        // One generated function; the rest is the stress driver (its drive0 wrapper and
        // main) and, for a non-leaf, callee.
        let funcs: Vec<&str> = main_go.lines().filter(|l| l.starts_with("func ")).collect();
        let driver = ["func main()", "func drive0(", "func callee("];
        let generated: Vec<&&str> = funcs
            .iter()
            .filter(|l| !driver.iter().any(|d| l.starts_with(d)))
            .collect();
        assert_eq!(
            generated.len(),
            1,
            "one function and the driver:\n{main_go}"
        );
        assert!(funcs.iter().any(|l| l.starts_with("func main()")));
        assert!(main_go.contains(twixt_gofuzz::stress::MARKER));
        for f in ["go.mod", "BUILD", "README", "twixt-report.txt"] {
            assert!(
                r.dir.join(f).is_file(),
                "{f} missing in {}",
                r.dir.display()
            );
        }
        assert!(!r.dir.join(BINARY).exists(), "the binary is not kept");

        // The BUILD script alone rebuilds the window.
        let status = std::process::Command::new("sh")
            .arg(r.dir.join("BUILD"))
            .env("TWIXT_CACHE", &tc.cache)
            .status()
            .expect("sh BUILD");
        assert!(status.success());
        let report = scan_main(&r.dir.join(BINARY)).expect("scan");
        assert!(!report.findings.is_empty(), "rebuilt binary has no window");
        assert_eq!(report.findings, r.findings);
        let text = std::fs::read_to_string(r.dir.join("twixt-report.txt")).unwrap();
        assert_eq!(text, twixt_report::text(&report));
        assert!(text.contains("add sp, sp, #0x11, lsl #12"), "{text}");
    }
    let _ = std::fs::remove_dir_all(&out);
}
