//! Module-defined metrics. Define them in the config constructor
//! ([`HostConfig`](crate::HostConfig)); update them from any thread.

use crate::abi;
use crate::error::{Error, Result};
use crate::host::callback;

/// Label values as the host takes them (borrowed for the call).
fn label_buffers<L: AsRef<[u8]>>(labels: &[L]) -> Vec<abi::sluice_buffer> {
    labels.iter().map(|l| abi::sluice_buffer::from_slice(l.as_ref())).collect()
}

/// A monotonically increasing counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counter {
    pub(crate) handle: abi::sluice_config_handle,
    pub(crate) id: u32,
}

/// A value that goes up and down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gauge {
    pub(crate) handle: abi::sluice_config_handle,
    pub(crate) id: u32,
}

/// A distribution of recorded values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Histogram {
    pub(crate) handle: abi::sluice_config_handle,
    pub(crate) id: u32,
}

impl Counter {
    /// Add `delta`.
    pub fn add(&self, delta: u64) -> Result<()> {
        let f = callback!(counter_add)?;
        // SAFETY: value arguments only.
        Error::check(unsafe { f(self.handle, self.id, core::ptr::null(), 0, delta) })
    }
    /// Add one.
    pub fn increment(&self) -> Result<()> {
        self.add(1)
    }
    /// Add `delta` to the series of these label values (in the order the
    /// labels were defined).
    pub fn add_with<L: AsRef<[u8]>>(&self, labels: &[L], delta: u64) -> Result<()> {
        let f = callback!(counter_add)?;
        let b = label_buffers(labels);
        // SAFETY: the label views live across the call.
        Error::check(unsafe { f(self.handle, self.id, b.as_ptr(), b.len(), delta) })
    }
    /// The host's id for this metric (per config).
    pub fn id(&self) -> u32 {
        self.id
    }
}

impl Gauge {
    /// Set to `value`.
    pub fn set(&self, value: i64) -> Result<()> {
        let f = callback!(gauge_set)?;
        // SAFETY: value arguments only.
        Error::check(unsafe { f(self.handle, self.id, core::ptr::null(), 0, value) })
    }
    /// Add `delta` (may be negative).
    pub fn add(&self, delta: i64) -> Result<()> {
        let f = callback!(gauge_add)?;
        // SAFETY: value arguments only.
        Error::check(unsafe { f(self.handle, self.id, core::ptr::null(), 0, delta) })
    }
    /// Set the series of these label values.
    pub fn set_with<L: AsRef<[u8]>>(&self, labels: &[L], value: i64) -> Result<()> {
        let f = callback!(gauge_set)?;
        let b = label_buffers(labels);
        // SAFETY: the label views live across the call.
        Error::check(unsafe { f(self.handle, self.id, b.as_ptr(), b.len(), value) })
    }
    /// Add to the series of these label values.
    pub fn add_with<L: AsRef<[u8]>>(&self, labels: &[L], delta: i64) -> Result<()> {
        let f = callback!(gauge_add)?;
        let b = label_buffers(labels);
        // SAFETY: the label views live across the call.
        Error::check(unsafe { f(self.handle, self.id, b.as_ptr(), b.len(), delta) })
    }
    /// The host's id for this metric (per config).
    pub fn id(&self) -> u32 {
        self.id
    }
}

impl Histogram {
    /// Record one observation.
    pub fn record(&self, value: u64) -> Result<()> {
        let f = callback!(histogram_record)?;
        // SAFETY: value arguments only.
        Error::check(unsafe { f(self.handle, self.id, core::ptr::null(), 0, value) })
    }
    /// Record one observation in the series of these label values.
    pub fn record_with<L: AsRef<[u8]>>(&self, labels: &[L], value: u64) -> Result<()> {
        let f = callback!(histogram_record)?;
        let b = label_buffers(labels);
        // SAFETY: the label views live across the call.
        Error::check(unsafe { f(self.handle, self.id, b.as_ptr(), b.len(), value) })
    }
    /// The host's id for this metric (per config).
    pub fn id(&self) -> u32 {
        self.id
    }
}
