//! The `curtain` binary tested as a responder uses it: against real processes, sandboxes built
//! with unshare, a local stand-in for the ECS metadata endpoint, and archives on disk.
//! Tests that need root (namespaces, setpriv, chroot) say so and skip when not root.

mod common;

mod acquire;
mod analysis;
mod archive;
mod bench;
mod ecs;
mod flows;
mod host;
mod hunt;
mod lab;
mod process;
mod register;
mod static_collector;
