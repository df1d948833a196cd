//! `switchyard-local`: placeholder, replaced by the local runner.
fn main() {}
