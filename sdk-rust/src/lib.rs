//! # sluice-sdk: write sluice HTTP filter modules in Rust
//!
//! A module is a `cdylib` crate that implements [`HttpFilterConfig`] (one
//! per configured filter, built from the operator's JSON config) and
//! [`HttpFilter`] (one per stream), and names its constructors in
//! [`declare_module!`], which exports the hook symbols of
//! `abi/sluice_abi.h`.
//!
//! Threads: every hook of a filter runs on the worker thread that owns its
//! stream. [`HostFilter`] (the stream, lent to each hook) is worker-only; a
//! [`Scheduler`] is `Send + Sync` and wakes the filter's
//! [`on_scheduled`](HttpFilter::on_scheduled) on its worker from any thread
//! without entering the host's Go runtime. A hook that blocks stalls every
//! connection of its worker: hand slow work to your own threads.
//!
//! Panics never unwind into the host: each hook runs under `catch_unwind`;
//! see [`ffi`] for what happens to the stream. Build modules with the
//! default `panic = "unwind"` (with `panic = "abort"` a panic kills the
//! proxy).
//!
//! The crate has no dependencies. [`testing`] holds a fake host for unit
//! tests of filters.

pub mod abi;
mod callout;
mod declare;
pub mod error;
pub mod ffi;
mod filter;
pub mod grpc;
pub mod host;
mod host_config;
mod host_connection;
mod host_filter;
pub mod json;
pub mod log;
mod metrics;
mod network_filter;
pub mod pool;
mod scheduler;
pub mod testing;
mod timer;
mod types;

pub use callout::{CalloutHeader, CalloutId, CalloutOutcome, CalloutRequest, CalloutResult};
pub use error::Error;
pub use filter::{HttpFilter, HttpFilterConfig};
pub use grpc::GrpcStatus;
pub use host_config::HostConfig;
pub use host_connection::HostConnection;
pub use host_filter::{HeaderView, HostFilter};
pub use metrics::{Counter, Gauge, Histogram};
pub use network_filter::{NetworkFilter, NetworkFilterConfig};
pub use scheduler::{Scheduler, SchedulerGuard};
pub use timer::{Timer, TimerId};
/// No headers, for [`HostFilter::send_response`]: `host.send_response(404, NO_HEADERS, "nope")`.
pub const NO_HEADERS: &[(&str, &str)] = &[];

pub use types::{
    Attribute, BodyKind, BodyStatus, CloseType, ConnectionEvent, HeaderKind, HeadersStatus, LogLevel, NetworkBuffer,
    NetworkStatus, TrailersStatus,
};
