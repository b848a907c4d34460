//! Process isolation: sandboxes in supervised, confined worker processes.
//!
//! - [`wire`]: the messages between the embedder and a worker, and their encoding.
//! - [`worker`]: the worker's loop (the `baml-quickjs-worker` executable runs it): one
//!   sandbox (or a group's shared runtime), confined ([`confine`]), reaching the embedder
//!   only through its sockets.
//! - [`spawn`]: starting, keeping and reaping workers on the embedder's side.
//! - [`group`]: [`ProcessGroup`], a worker hosting one shared runtime for a group's members.
//! - [`remote`]: [`RemoteSandbox`], a sandbox in a worker driven with the same calls as one in
//!   this process, watched so that a worker that crashes or ignores a deadline costs only its
//!   own context.
//!
//! Linux only: elsewhere the crate is empty and the addon offers thread isolation alone.
#![cfg(target_os = "linux")]

pub mod confine;
pub mod group;
pub mod remote;
pub mod spawn;
pub mod wire;
pub mod worker;

pub use group::ProcessGroup;
pub use remote::{RemoteSandbox, GRACE};
pub use spawn::Spawner;
