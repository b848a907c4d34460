//! Sandbox behaviour: turns on the thread pool's sandbox threads.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

include!("cases/sandbox.rs");
