//! The corpus stress program is the generator's output: `corpus/src/stress/main.go` is
//! rendered by `stress::corpus_source` (re-bless with `TWIXT_BLESS=1`).

use std::path::Path;

#[test]
fn corpus_stress_source_is_generated() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus/src/stress/main.go");
    let want = twixt_gofuzz::stress::corpus_source();
    if std::env::var_os("TWIXT_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &want).expect("write corpus/src/stress/main.go");
        return;
    }
    let have = std::fs::read_to_string(&path).expect("corpus/src/stress/main.go");
    assert!(
        have == want,
        "{} is not what stress::corpus_source renders: re-bless with TWIXT_BLESS=1 cargo test -p \
         twixt-gofuzz --test stress, then scripts/build-corpus --update",
        path.display()
    );
}
