//! The same cases with turns started on the caller's thread (as Node's thread does), moving to
//! a worker when they outlast the slice.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

#[cfg(target_os = "linux")]
const INLINE: bool = true;
#[cfg(not(target_os = "linux"))]
const INLINE: bool = false;
include!("cases/sandbox.rs");
