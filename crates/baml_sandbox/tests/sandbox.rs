//! Sandbox behaviour with every turn on a worker thread.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

const INLINE: bool = false;
include!("cases/sandbox.rs");
