//! `Timer`: a one-shot timer of a filter, on its worker.

use crate::abi::sluice_timer_handle;
use crate::error::{Error, Result};
use crate::host::callback;
use core::marker::PhantomData;
use core::time::Duration;

/// Names a timer in [`HttpFilter::on_timer`](crate::HttpFilter::on_timer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerId(pub u64);

/// A one-shot timer of the filter that created it
/// ([`HostFilter::new_timer`](crate::HostFilter::new_timer)). Enabled, it
/// calls the filter's [`on_timer`](crate::HttpFilter::on_timer) on the
/// stream's worker once the delay passed; enable it again to fire again.
/// Worker-only (neither `Send` nor `Sync`); dropping it deletes it, and the
/// host deletes it anyway when the filter is destroyed.
#[derive(Debug)]
pub struct Timer {
    raw: sluice_timer_handle,
    _worker_only: PhantomData<*const ()>,
}

impl Timer {
    pub(crate) fn from_raw(raw: sluice_timer_handle) -> Timer {
        Timer { raw, _worker_only: PhantomData }
    }

    /// The id `on_timer` receives for this timer.
    pub fn id(&self) -> TimerId {
        TimerId(self.raw.id)
    }

    /// Fire once `delay` has passed (millisecond resolution); re-enabling
    /// an armed timer moves its deadline.
    pub fn enable(&self, delay: Duration) -> Result<()> {
        let f = callback!(timer_enable)?;
        let ms = u64::try_from(delay.as_millis()).map_err(|_| Error::InvalidArgument)?;
        // SAFETY: value arguments.
        Error::check(unsafe { f(self.raw, ms) })
    }

    /// Disarm (no error when not armed).
    pub fn disable(&self) -> Result<()> {
        let f = callback!(timer_disable)?;
        // SAFETY: value argument.
        Error::check(unsafe { f(self.raw) })
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        if let Ok(f) = callback!(timer_delete) {
            // SAFETY: value argument; a stale handle is refused harmlessly.
            let _ = unsafe { f(self.raw) };
        }
    }
}
