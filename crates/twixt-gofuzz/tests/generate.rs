//! Program generation: sources are a function of the seed, every shape compiles with a
//! real toolchain, and a plain function's frame (the pcsp maximum) is the one asked for.

mod common;

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use twixt_check::GoProgram;
use twixt_gofuzz::program::{Program, Shape, program_strategy};
use twixt_image::Image;

/// The first `n` programs the general strategy draws from `seed`.
fn draw(seed: u8, n: usize, functions: usize) -> Vec<Program> {
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let strategy = program_strategy(functions);
    (0..n)
        .map(|_| strategy.new_tree(&mut runner).expect("tree").current())
        .collect()
}

#[test]
fn sources_are_deterministic_per_seed() {
    let a: Vec<String> = draw(7, 8, 6).iter().map(Program::source).collect();
    let b: Vec<String> = draw(7, 8, 6).iter().map(Program::source).collect();
    let c: Vec<String> = draw(8, 8, 6).iter().map(Program::source).collect();
    assert_eq!(a, b);
    assert_ne!(a, c);
    // The strategy really varies the shapes it is meant to.
    let all: Vec<Shape> = (1..=4)
        .flat_map(|s| draw(s, 8, 6))
        .flat_map(|p| p.funcs)
        .collect();
    for kind in [
        twixt_gofuzz::Kind::Func,
        twixt_gofuzz::Kind::Method,
        twixt_gofuzz::Kind::Closure,
        twixt_gofuzz::Kind::Generic,
    ] {
        assert!(all.iter().any(|s| s.kind == kind), "no {kind:?}");
    }
    assert!(all.iter().any(|s| s.is_leaf()) && all.iter().any(|s| !s.is_leaf()));
    assert!(all.iter().any(|s| s.defers > 0) && all.iter().any(|s| s.returns > 1));
    assert!(all.iter().any(|s| s.arg_words > 0) && all.iter().any(|s| s.result_words > 0));
    assert!(all.iter().any(|s| s.frame > 1 << 20));
}

#[test]
fn generated_programs_compile_and_plain_frames_are_exact() {
    let tc = common::go1_23_4();
    // Plain functions at the frame sizes of the corpus's split epilogues, and some drawn
    // programs (every kind), in one package so that one build checks them all.
    let mut funcs: Vec<Shape> = [4112u64, 70000, (1 << 20) + 4112, 65552]
        .iter()
        .flat_map(|&f| [Shape::plain(f, false), Shape::plain(f, true)])
        .collect();
    let drawn: Vec<Shape> = draw(3, 3, 6).into_iter().flat_map(|p| p.funcs).collect();
    funcs.extend(drawn);
    let program = Program { funcs };
    let dir = common::scratch("generate");
    std::fs::write(dir.join("main.go"), program.source()).unwrap();
    std::fs::write(dir.join("go.mod"), twixt_gofuzz::fuzz::GO_MOD).unwrap();
    let bin = tc.build(&dir, "repro").expect("build");
    let image = Image::open(&bin).expect("image");
    let prog = GoProgram::new(&image).expect("program");
    let mut exact = 0;
    for (i, shape) in program.funcs.iter().enumerate() {
        let name = format!("main.{}", program.func_name(i));
        let found = prog
            .funcs()
            .iter()
            .find(|f| *f.info.name == *name || f.info.name.starts_with(&format!("{name}[")));
        if shape.kind == twixt_gofuzz::Kind::Closure {
            continue; // named by the compiler (main.glob..funcK)
        }
        let f = found.unwrap_or_else(|| panic!("{name} is not in the binary"));
        if shape.is_exact() {
            assert_eq!(f.frame_size(), shape.frame, "{name}: {}", shape.describe());
            exact += 1;
        } else {
            assert!(
                f.frame_size() >= shape.frame / 2,
                "{name}: {}",
                shape.describe()
            );
        }
    }
    assert!(exact >= 8);
    let _ = std::fs::remove_dir_all(&dir);
}
