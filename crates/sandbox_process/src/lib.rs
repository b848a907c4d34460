//! Process isolation: sandboxes in supervised, confined worker processes.
//!
//! - [`wire`]: the messages between the embedder and a worker, and their encoding.
//! - [`worker`]: the worker's loop (the `baml-quickjs-worker` executable runs it): one
//!   sandbox, confined ([`confine`]), reaching the embedder only through its socket.
//! - [`spawn`]: starting, keeping and reaping workers on the embedder's side.
//! - [`remote`]: [`RemoteSandbox`], a sandbox in a worker driven with the same calls as one in
//!   this process, watched so that a worker that crashes or ignores a deadline costs only its
//!   own context.
//!
//! Linux only: elsewhere the crate is empty and the addon offers thread isolation alone.
#![cfg(target_os = "linux")]

pub mod confine;
pub mod remote;
pub mod spawn;
pub mod wire;
pub mod worker;

pub use remote::{RemoteSandbox, GRACE};
pub use spawn::Spawner;
