//! End-to-end tests across crates (see `l1.rs`); this library is empty.
