//! `Scheduler`: wake a filter on its own worker from any thread.

use crate::abi::sluice_scheduler;
use crate::commit;
use core::ptr::NonNull;

/// A per-filter scheduler. Create it in a hook with
/// [`HostFilter::new_scheduler`](crate::HostFilter::new_scheduler), move it to
/// any thread, and call [`commit`](Scheduler::commit): the filter's
/// [`on_scheduled`](crate::HttpFilter::on_scheduled) then runs on the worker
/// that owns the stream, in commit order, if the stream is still alive.
/// Dropping it deletes it (exactly once, as the ABI requires).
///
/// Commit never enters the host runtime: it claims a slot in the worker's
/// shared ring and writes the worker's eventfd only when the worker is not
/// already being woken.
#[derive(Debug)]
pub struct Scheduler {
    raw: NonNull<sluice_scheduler>,
}

// SAFETY: the header declares commit and delete callable from any thread;
// the pointee is host memory that stays valid until this value deletes it.
unsafe impl Send for Scheduler {}
unsafe impl Sync for Scheduler {}

impl Scheduler {
    /// Wrap a scheduler returned by the host.
    ///
    /// # Safety
    /// `raw` comes from `scheduler_new` and nobody else deletes it.
    pub unsafe fn from_raw(raw: NonNull<sluice_scheduler>) -> Scheduler {
        Scheduler { raw }
    }

    /// Ask for `on_scheduled(event_id)` on the filter's worker. Returns false
    /// when the host is shutting down or the worker's ring is full (the
    /// event was not queued; retry later if it matters). True means queued:
    /// the event is still dropped if the stream ends before delivery.
    pub fn commit(&self, event_id: u64) -> bool {
        // SAFETY: raw is live until Drop.
        unsafe { commit::sluice_scheduler_commit(self.raw.as_ptr(), event_id) }
    }

    /// The raw pointer, for code that talks to the ABI directly.
    pub fn as_raw(&self) -> *mut sluice_scheduler {
        self.raw.as_ptr()
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        // SAFETY: deleted exactly once, here.
        unsafe { commit::sluice_scheduler_delete(self.raw.as_ptr()) }
    }
}
