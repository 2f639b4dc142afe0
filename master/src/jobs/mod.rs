//! Time: jobs that move subscriptions along and send what is due. Each is safe to run twice
//! and safe to interrupt: every change is a guarded transition, every message has a key.

pub mod lifecycle;
pub mod scheduler;
