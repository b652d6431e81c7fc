//! `Scheduler`: wake a filter on its own worker from any thread.

use crate::abi::sluice_scheduler_handle;
use crate::error::{Error, Result};
use crate::host::callback;

/// A per-filter scheduler. Create it in a hook with
/// [`HostFilter::new_scheduler`](crate::HostFilter::new_scheduler), move it to
/// any thread, and call [`commit`](Scheduler::commit): the filter's
/// [`on_scheduled`](crate::HttpFilter::on_scheduled) then runs on the worker
/// that owns the stream, in commit order, if the stream is still alive.
/// Dropping it deletes it (once, as the ABI asks); events committed before
/// are still delivered.
///
/// Commit runs entirely on the calling thread: the host's entry point never
/// enters its Go runtime, never blocks and never raises a signal.
#[derive(Debug)]
pub struct Scheduler {
    raw: sluice_scheduler_handle,
}

impl Scheduler {
    /// Wrap a scheduler returned by the host.
    ///
    /// # Safety
    /// `raw` comes from `scheduler_new` and nobody else deletes it.
    pub unsafe fn from_raw(raw: sluice_scheduler_handle) -> Scheduler {
        Scheduler { raw }
    }

    /// Ask for `on_scheduled(event_id)` on the filter's worker.
    ///
    /// `Err(Error::CommitRefused)` means the event was not queued: the
    /// stream is gone (its filter was destroyed), the host is shutting
    /// down, or 64 of this scheduler's events are already waiting for
    /// delivery (more when the host has grown the queue for a flood). The
    /// remedy for the last case: commit again after `on_scheduled` ran, or
    /// coalesce work behind one event. `Ok` means queued: the event is
    /// still dropped if the stream ends before delivery.
    pub fn commit(&self, event_id: u64) -> Result<()> {
        let f = callback!(scheduler_commit)?;
        // SAFETY: value arguments; the host's commit accepts any handle.
        if unsafe { f(self.raw, event_id) } {
            Ok(())
        } else {
            Err(Error::CommitRefused)
        }
    }

    /// The raw handle, for code that talks to the ABI directly.
    pub fn as_raw(&self) -> sluice_scheduler_handle {
        self.raw
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        if let Ok(f) = callback!(scheduler_delete) {
            // SAFETY: deleted exactly once, here.
            unsafe { f(self.raw) }
        }
    }
}

/// A [`Scheduler`] that must end with a commit: [`commit`](SchedulerGuard::commit)
/// consumes it; dropped without one — the work panicked, or returned early
/// — it commits `cancel_event` instead, so the filter hears about it in
/// `on_scheduled` (and can answer the stream) rather than leaving the
/// request waiting for its route timeout.
///
/// ```ignore
/// let guard = host.new_scheduler().unwrap().guard(CANCELLED);
/// pool.execute(move || {
///     let v = lookup()?;          // a panic or `?` here commits CANCELLED
///     let _ = guard.commit(v);
/// });
/// ```
#[derive(Debug)]
pub struct SchedulerGuard {
    inner: Option<Scheduler>,
    cancel_event: u64,
}

impl Scheduler {
    /// Wrap this scheduler so that dropping it without a commit commits
    /// `cancel_event`.
    pub fn guard(self, cancel_event: u64) -> SchedulerGuard {
        SchedulerGuard { inner: Some(self), cancel_event }
    }
}

impl SchedulerGuard {
    /// Commit `event_id` (and delete the scheduler): the normal end.
    pub fn commit(mut self, event_id: u64) -> Result<()> {
        let s = self.inner.take().expect("guard used once");
        s.commit(event_id)
    }

    /// Commit without ending the guard (more events to come).
    pub fn commit_more(&self, event_id: u64) -> Result<()> {
        self.inner.as_ref().expect("guard used once").commit(event_id)
    }
}

impl Drop for SchedulerGuard {
    fn drop(&mut self) {
        if let Some(s) = self.inner.take() {
            let _ = s.commit(self.cancel_event);
        }
    }
}
