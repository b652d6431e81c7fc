//! The Rust commit protocol (src/commit.rs) against the header's inline C
//! one: the same scripted scenario runs through both and must leave the same
//! ring memory, results, eventfd counts and errno. A threaded test then
//! drives the Rust commit against a consumer that follows the host's side of
//! the protocol.

mod common;

use common::{compile_c, run};
use sluice_sdk::abi::{sluice_sched_ring, sluice_sched_slot, sluice_scheduler};
use sluice_sdk::commit::{sluice_scheduler_commit, sluice_scheduler_delete};
use std::ffi::{c_int, c_uint, c_void};
use std::fmt::Write;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

extern "C" {
    fn eventfd(initval: c_uint, flags: c_int) -> c_int;
    fn read(fd: c_int, buf: *mut c_void, count: usize) -> isize;
    fn close(fd: c_int) -> c_int;
    fn poll(fds: *mut PollFd, nfds: u64, timeout: c_int) -> c_int;
    fn __errno_location() -> *mut c_int;
}

#[repr(C)]
struct PollFd {
    fd: c_int,
    events: i16,
    revents: i16,
}

const EFD_NONBLOCK: c_int = 0o4000;
const EFD_CLOEXEC: c_int = 0o2000000;
const POLLIN: i16 = 1;

/// A ring as the host would set it up: slot i starts with seq i.
struct Ring {
    ring: Box<sluice_sched_ring>,
    _slots: Vec<sluice_sched_slot>,
}

impl Ring {
    fn new(capacity: usize) -> Ring {
        let mut slots: Vec<sluice_sched_slot> =
            (0..capacity).map(|i| sluice_sched_slot { seq: i as u64, filter: 0, event_id: 0, reserved: 0 }).collect();
        // SAFETY: all-zero is a valid ring header; fields are set below.
        let mut ring: Box<sluice_sched_ring> = Box::new(unsafe { core::mem::zeroed() });
        ring.slots = slots.as_mut_ptr();
        ring.mask = capacity as u64 - 1;
        // SAFETY: plain syscall.
        ring.wake_fd = unsafe { eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC) };
        assert!(ring.wake_fd >= 0);
        Ring { ring, _slots: slots }
    }
    fn ptr(&mut self) -> *mut sluice_sched_ring {
        &mut *self.ring
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: our own fd.
        unsafe { close(self.ring.wake_fd) };
    }
}

/// The worker's side: read the eventfd counter (0 when nothing pending).
fn read_eventfd(fd: c_int) -> u64 {
    let mut v = 0u64;
    // SAFETY: 8-byte buffer.
    let n = unsafe { read(fd, (&mut v as *mut u64).cast(), 8) };
    if n == 8 {
        v
    } else {
        0
    }
}

/// The worker's side: clear wake_pending (seq_cst) then dequeue one slot
/// (Vyukov). Returns (filter, event_id) or None when empty.
///
/// # Safety
/// Single consumer; `r` is a live ring.
unsafe fn dequeue(r: *mut sluice_sched_ring) -> Option<(u64, u64)> {
    let pos = (*r).dequeue_pos;
    let slot = (*r).slots.add((pos & (*r).mask) as usize);
    let seq = AtomicU64::from_ptr(core::ptr::addr_of_mut!((*slot).seq)).load(Ordering::Acquire);
    if seq != pos.wrapping_add(1) {
        return None;
    }
    let item = ((*slot).filter, (*slot).event_id);
    AtomicU64::from_ptr(core::ptr::addr_of_mut!((*slot).seq)).store(pos + (*r).mask + 1, Ordering::Release);
    (*r).dequeue_pos = pos + 1;
    Some(item)
}

unsafe fn clear_wake_pending(r: *mut sluice_sched_ring) {
    AtomicU32::from_ptr(core::ptr::addr_of_mut!((*r).wake_pending)).store(0, Ordering::SeqCst);
}

fn dump_ring(out: &mut String, r: &sluice_sched_ring, slots: &[sluice_sched_slot]) {
    writeln!(
        out,
        "ring enq={} deq={} wake_pending={} closed={} rejected_full={} wakes={}",
        r.enqueue_pos, r.dequeue_pos, r.wake_pending, r.closed, r.rejected_full, r.wakes
    )
    .unwrap();
    for (i, s) in slots.iter().enumerate() {
        writeln!(out, "slot{i} seq={} filter={} event={} reserved={}", s.seq, s.filter, s.event_id, s.reserved)
            .unwrap();
    }
}

/// The scenario, Rust side. Must print exactly what SCENARIO_C prints.
fn scenario_rust() -> String {
    let mut out = String::new();
    let mut ring = Ring::new(4);
    let r = ring.ptr();
    let mut s = sluice_scheduler { ring: r, filter: 0xabcd, deleted: 0, reserved: 0 };
    let sp: *mut sluice_scheduler = &mut s;
    let fd = ring.ring.wake_fd;
    unsafe {
        let b = |v: bool| v as i32;
        writeln!(out, "c10={} c11={}", b(sluice_scheduler_commit(sp, 10)), b(sluice_scheduler_commit(sp, 11))).unwrap();
        writeln!(out, "efd={}", read_eventfd(fd)).unwrap();
        writeln!(
            out,
            "c12={} c13={} c14={}",
            b(sluice_scheduler_commit(sp, 12)),
            b(sluice_scheduler_commit(sp, 13)),
            b(sluice_scheduler_commit(sp, 14))
        )
        .unwrap();
        clear_wake_pending(r);
        for _ in 0..2 {
            let (f, e) = dequeue(r).unwrap();
            writeln!(out, "deq filter={f} event={e}").unwrap();
        }
        *__errno_location() = 1234;
        writeln!(out, "c15={}", b(sluice_scheduler_commit(sp, 15))).unwrap();
        writeln!(out, "errno={} efd={}", *__errno_location(), read_eventfd(fd)).unwrap();
        (*r).closed = 1;
        writeln!(out, "closed c16={}", b(sluice_scheduler_commit(sp, 16))).unwrap();
        (*r).closed = 0;
        // A wake that fails (bad fd) still queues and keeps errno.
        clear_wake_pending(r);
        while dequeue(r).is_some() {}
        let saved_fd = (*r).wake_fd;
        (*r).wake_fd = -1;
        *__errno_location() = 77;
        writeln!(out, "badfd c17={} errno={}", b(sluice_scheduler_commit(sp, 17)), *__errno_location()).unwrap();
        (*r).wake_fd = saved_fd;
        sluice_scheduler_delete(sp);
        writeln!(out, "deleted={} c18={}", s.deleted, b(sluice_scheduler_commit(sp, 18))).unwrap();
        writeln!(out, "null={}", b(sluice_scheduler_commit(core::ptr::null_mut(), 19))).unwrap();
        dump_ring(&mut out, &ring.ring, std::slice::from_raw_parts(ring.ring.slots, 4));
    }
    out
}

const SCENARIO_C: &str = r#"
#include <stdio.h>
#include <sys/eventfd.h>
#include "sluice_abi.h"

static unsigned long long read_efd(int fd) {
    uint64_t v = 0;
    return read(fd, &v, 8) == 8 ? (unsigned long long)v : 0ULL;
}
static int dequeue(sluice_sched_ring* r, uint64_t* f, uint64_t* e) {
    uint64_t pos = r->dequeue_pos;
    sluice_sched_slot* s = &r->slots[pos & r->mask];
    if (__atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) != pos + 1) return 0;
    *f = s->filter; *e = s->event_id;
    __atomic_store_n(&s->seq, pos + r->mask + 1, __ATOMIC_RELEASE);
    r->dequeue_pos = pos + 1;
    return 1;
}
int main(void) {
    static sluice_sched_slot slots[4];
    static sluice_sched_ring ring;
    for (int i = 0; i < 4; i++) slots[i].seq = i;
    sluice_sched_ring* r = &ring;
    r->slots = slots; r->mask = 3;
    r->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    sluice_scheduler s = { r, 0xabcd, 0, 0 };
    uint64_t f, e;
    int a = sluice_scheduler_commit(&s, 10);
    int b = sluice_scheduler_commit(&s, 11);
    printf("c10=%d c11=%d\n", a, b);
    printf("efd=%llu\n", read_efd(r->wake_fd));
    a = sluice_scheduler_commit(&s, 12);
    b = sluice_scheduler_commit(&s, 13);
    int c = sluice_scheduler_commit(&s, 14);
    printf("c12=%d c13=%d c14=%d\n", a, b, c);
    __atomic_store_n(&r->wake_pending, 0, __ATOMIC_SEQ_CST);
    for (int i = 0; i < 2; i++) {
        dequeue(r, &f, &e);
        printf("deq filter=%llu event=%llu\n", (unsigned long long)f, (unsigned long long)e);
    }
    errno = 1234;
    printf("c15=%d\n", sluice_scheduler_commit(&s, 15));
    int saved = errno;
    printf("errno=%d efd=%llu\n", saved, read_efd(r->wake_fd));
    r->closed = 1;
    printf("closed c16=%d\n", sluice_scheduler_commit(&s, 16));
    r->closed = 0;
    __atomic_store_n(&r->wake_pending, 0, __ATOMIC_SEQ_CST);
    while (dequeue(r, &f, &e)) {}
    int fd = r->wake_fd;
    r->wake_fd = -1;
    errno = 77;
    a = sluice_scheduler_commit(&s, 17);
    printf("badfd c17=%d errno=%d\n", a, errno);
    r->wake_fd = fd;
    sluice_scheduler_delete(&s);
    a = sluice_scheduler_commit(&s, 18);
    printf("deleted=%u c18=%d\n", s.deleted, a);
    printf("null=%d\n", sluice_scheduler_commit(NULL, 19));
    printf("ring enq=%llu deq=%llu wake_pending=%u closed=%u rejected_full=%llu wakes=%llu\n",
           (unsigned long long)r->enqueue_pos, (unsigned long long)r->dequeue_pos, r->wake_pending, r->closed,
           (unsigned long long)r->rejected_full, (unsigned long long)r->wakes);
    for (int i = 0; i < 4; i++)
        printf("slot%d seq=%llu filter=%llu event=%llu reserved=%llu\n", i, (unsigned long long)slots[i].seq,
               (unsigned long long)slots[i].filter, (unsigned long long)slots[i].event_id,
               (unsigned long long)slots[i].reserved);
    return 0;
}
"#;

#[test]
fn rust_commit_leaves_the_same_state_as_the_header_commit() {
    let c = run(&compile_c("commit_scenario", SCENARIO_C));
    let rust = scenario_rust();
    assert_eq!(rust, c, "Rust commit diverges from sluice_abi.h's sluice_scheduler_commit");
}

#[test]
fn scenario_has_the_expected_outcomes() {
    // Pin the semantics too, not only agreement with C.
    let out = scenario_rust();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "c10=1 c11=1");
    assert_eq!(lines[1], "efd=1", "a burst wakes once");
    assert_eq!(lines[2], "c12=1 c13=1 c14=0", "a full ring refuses");
    assert_eq!(lines[3], "deq filter=43981 event=10");
    assert_eq!(lines[4], "deq filter=43981 event=11");
    assert_eq!(lines[5], "c15=1");
    assert_eq!(lines[6], "errno=1234 efd=1", "errno kept across the eventfd write");
    assert_eq!(lines[7], "closed c16=0");
    assert_eq!(lines[8], "badfd c17=1 errno=77");
    assert_eq!(lines[9], "deleted=1 c18=0");
    assert_eq!(lines[10], "null=0");
    assert_eq!(lines[11], "ring enq=6 deq=5 wake_pending=1 closed=0 rejected_full=1 wakes=3");
}

struct SendPtr(*mut sluice_scheduler);
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

#[test]
fn concurrent_commits_arrive_once_in_per_producer_order() {
    const PRODUCERS: u64 = 4;
    const PER_PRODUCER: u64 = 20_000;
    let mut ring = Ring::new(256);
    let r = ring.ptr();
    let fd = ring.ring.wake_fd;
    // One scheduler per producer, as a module with one filter per thread would have.
    let mut schedulers: Vec<Box<sluice_scheduler>> = (0..PRODUCERS)
        .map(|p| Box::new(sluice_scheduler { ring: r, filter: p + 1, deleted: 0, reserved: 0 }))
        .collect();
    let ptrs: Vec<SendPtr> = schedulers.iter_mut().map(|s| SendPtr(&mut **s)).collect();
    let rejected = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for p in &ptrs {
            let rejected = &rejected;
            scope.spawn(move || {
                for i in 0..PER_PRODUCER {
                    // SAFETY: the scheduler outlives the scope.
                    while !unsafe { sluice_scheduler_commit(p.0, i) } {
                        rejected.fetch_add(1, Ordering::Relaxed);
                        std::thread::yield_now();
                    }
                }
            });
        }
        // The consumer: sleep on the eventfd, clear wake_pending, drain.
        let mut next = vec![0u64; PRODUCERS as usize];
        let mut got = 0u64;
        while got < PRODUCERS * PER_PRODUCER {
            let mut pfd = PollFd { fd, events: POLLIN, revents: 0 };
            // SAFETY: one valid pollfd. 10 s bounds a lost wake-up.
            let n = unsafe { poll(&mut pfd, 1, 10_000) };
            assert_eq!(n, 1, "lost wake-up: {got} events delivered");
            read_eventfd(fd);
            // SAFETY: single consumer.
            unsafe {
                clear_wake_pending(r);
                while let Some((filter, event)) = dequeue(r) {
                    let p = (filter - 1) as usize;
                    assert_eq!(event, next[p], "producer {p} out of order");
                    next[p] += 1;
                    got += 1;
                }
            }
        }
    });
    assert_eq!(ring.ring.rejected_full, rejected.load(Ordering::Relaxed), "every refusal counted");
    assert!(ring.ring.wakes >= 1 && ring.ring.wakes <= PRODUCERS * PER_PRODUCER);
}
