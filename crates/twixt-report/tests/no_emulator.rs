//! The report model and its renderers are plain data: `twixt diff`, baselines and the
//! renderers must not pull in the emulator. This reads the crate's manifest (the same
//! facts `cargo tree -p twixt-report` prints) and checks what it depends on.

#[test]
fn twixt_report_depends_on_no_emulator_crate() {
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    let deps: Vec<&str> = manifest
        .split("[dependencies]")
        .nth(1)
        .expect("a [dependencies] table")
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with('['))
        .filter_map(|l| l.split(['.', '=']).next())
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .collect();
    assert_eq!(
        deps,
        ["serde", "serde_json"],
        "twixt-report depends on {deps:?}"
    );
}
