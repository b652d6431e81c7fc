//! The header's `static inline` scheduler protocol, re-implemented with
//! `core::sync::atomic` so a commit from a module thread never enters the
//! host's Go runtime (a foreign-thread call into Go costs ~12 µs).
//!
//! Each atomic below uses the same memory order as the C version; the
//! comments name the C line they mirror. `tests/commit_vs_c.rs` runs the
//! same scripted scenario through this code and through the header's C
//! function and compares the resulting ring memory byte for byte.

use crate::abi::{sluice_sched_ring, sluice_sched_slot, sluice_scheduler};
use core::ffi::{c_int, c_void};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

extern "C" {
    fn write(fd: c_int, buf: *const c_void, count: usize) -> isize;
    fn __errno_location() -> *mut c_int;
}

const EINTR: c_int = 4;

/// `sluice_scheduler_commit`: queue `event_id` for the scheduler's filter.
/// Returns false when the scheduler was deleted, the host is shutting down
/// or the worker's ring is full.
///
/// # Safety
/// `s` is NULL or a scheduler returned by `scheduler_new` and not yet
/// deleted by this module (the memory must still be the scheduler's).
pub unsafe fn sluice_scheduler_commit(s: *mut sluice_scheduler, event_id: u64) -> bool {
    if s.is_null() {
        return false;
    }
    // __atomic_load_n(&s->deleted, __ATOMIC_ACQUIRE)
    if AtomicU32::from_ptr(core::ptr::addr_of_mut!((*s).deleted)).load(Ordering::Acquire) != 0 {
        return false;
    }
    let r: *mut sluice_sched_ring = (*s).ring;
    // __atomic_load_n(&r->closed, __ATOMIC_ACQUIRE)
    if AtomicU32::from_ptr(core::ptr::addr_of_mut!((*r).closed)).load(Ordering::Acquire) != 0 {
        return false;
    }
    let enqueue_pos = AtomicU64::from_ptr(core::ptr::addr_of_mut!((*r).enqueue_pos));
    let mask = (*r).mask;
    let slots = (*r).slots;
    let mut pos = enqueue_pos.load(Ordering::Relaxed);
    let slot: *mut sluice_sched_slot = loop {
        let slot = slots.add((pos & mask) as usize);
        let seq = AtomicU64::from_ptr(core::ptr::addr_of_mut!((*slot).seq)).load(Ordering::Acquire);
        let dif = seq.wrapping_sub(pos) as i64;
        if dif == 0 {
            // weak CAS, relaxed/relaxed, like __atomic_compare_exchange_n(..., true, RELAXED, RELAXED)
            match enqueue_pos.compare_exchange_weak(pos, pos.wrapping_add(1), Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => break slot,
                Err(current) => pos = current,
            }
        } else if dif < 0 {
            AtomicU64::from_ptr(core::ptr::addr_of_mut!((*r).rejected_full)).fetch_add(1, Ordering::Relaxed);
            return false;
        } else {
            pos = enqueue_pos.load(Ordering::Relaxed);
        }
    };
    // The payload is ours alone until seq is published below.
    core::ptr::addr_of_mut!((*slot).filter).write((*s).filter);
    core::ptr::addr_of_mut!((*slot).event_id).write(event_id);
    core::ptr::addr_of_mut!((*slot).reserved).write(0);
    AtomicU64::from_ptr(core::ptr::addr_of_mut!((*slot).seq)).store(pos.wrapping_add(1), Ordering::Release);
    // The worker stores wake_pending = 0 (seq_cst) before it drains, so
    // either it sees our slot in that drain or we see 0 here and wake it.
    if AtomicU32::from_ptr(core::ptr::addr_of_mut!((*r).wake_pending)).swap(1, Ordering::SeqCst) == 0 {
        let errno = __errno_location();
        let saved_errno = *errno;
        let one: u64 = 1;
        // eventfd writes cannot raise SIGPIPE; retry only on EINTR.
        while write((*r).wake_fd, core::ptr::addr_of!(one).cast(), 8) < 0 && *errno == EINTR {}
        AtomicU64::from_ptr(core::ptr::addr_of_mut!((*r).wakes)).fetch_add(1, Ordering::Relaxed);
        *errno = saved_errno;
    }
    true
}

/// `sluice_scheduler_delete`: later commits through `s` return false; the
/// host reclaims the memory once the stream is gone too.
///
/// # Safety
/// `s` is NULL or a live scheduler; call exactly once per scheduler.
pub unsafe fn sluice_scheduler_delete(s: *mut sluice_scheduler) {
    if !s.is_null() {
        AtomicU32::from_ptr(core::ptr::addr_of_mut!((*s).deleted)).store(1, Ordering::Release);
    }
}
