//! Provisioner: converges each tenant's desired instance (written by the master in the
//! `instances` table) to a running, isolated tenant-bot, and keeps it there.
//!
//! - [`store`]: desired state + spec, lifecycle state machine, heartbeats;
//! - [`reconcile`]: the loop that compares desired with actual and acts;
//! - [`runtime`]: where bots run (Docker via bollard, or child processes);
//! - [`image`]: the `FROM scratch` tenant-bot image, built from a static binary;
//! - [`heartbeat`]: the router receiving tenant-bot heartbeats.

pub mod heartbeat;
pub mod image;
pub mod reconcile;
pub mod runtime;
pub mod store;
