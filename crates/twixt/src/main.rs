//! The twixt command line.
fn main() {}
