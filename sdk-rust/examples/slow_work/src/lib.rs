//! slow_work: offload work to a thread pool, come back through the
//! scheduler in several steps, and assert thread affinity on the way.
//!
//! For each request a pool job does `steps` units of slow work (each
//! `work_us` long), committing event `1..=steps` after each. The filter
//! expects them in order on its worker; after the last it adds
//! `x-slow-work-steps: <steps>` to the request and continues it.
//!
//! Every hook (filter creation, headers, body, trailers, on_scheduled,
//! stream_complete, drop) records the OS thread id (`gettid`) and compares
//! it with the one seen at creation: the ABI promises all hooks of a filter
//! run on one worker thread. A difference fails the stream with a 500
//! (`thread affinity violated`) where a reply is still possible, and is
//! counted in the `affinity_violations` counter either way. The response
//! gets `x-slow-work-hooks: <hooks checked>` and `x-slow-work-affinity: ok`.
//!
//! With `"after_destroy": true` the work waits until the filter has been
//! destroyed (e.g. the client went away) and only then commits: a
//! demonstration that late commits are refused by the host (`commit`
//! returns an error, counted as `module.scheduler_commits_rejected_stale`).
//!
//! Config (optional): `{"threads": 2, "steps": 3, "work_us": 200, "after_destroy": false}`

use sluice_sdk::json;
use sluice_sdk::pool::ThreadPool;
use sluice_sdk::*;
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

extern "C" {
    fn gettid() -> i32;
}

fn tid() -> i32 {
    // SAFETY: no arguments, cannot fail.
    unsafe { gettid() }
}

struct Shared {
    pool: ThreadPool,
    steps: u64,
    work: Duration,
    after_destroy: bool,
    violations: Counter,
    completed: Counter,
}

struct SlowWorkConfig {
    shared: Arc<Shared>,
}

impl SlowWorkConfig {
    fn new(host: &mut HostConfig<'_>, config: &[u8]) -> Result<SlowWorkConfig, String> {
        let v = json::parse(config).map_err(|e| e.to_string())?;
        let (mut threads, mut steps, mut work_us, mut after_destroy) = (2u64, 3u64, 200u64, false);
        if !v.is_null() {
            for (k, val) in v.as_object().ok_or("config: want an object")? {
                let n = val.as_u64();
                match k.as_str() {
                    "threads" => {
                        threads = n.filter(|n| (1..=64).contains(n)).ok_or("threads: want an integer 1..64")?
                    }
                    "steps" => steps = n.filter(|n| (1..=1000).contains(n)).ok_or("steps: want an integer 1..1000")?,
                    "work_us" => {
                        work_us = n.filter(|n| *n <= 1_000_000).ok_or("work_us: want an integer 0..1000000")?
                    }
                    "after_destroy" => after_destroy = val.as_bool().ok_or("after_destroy: want a boolean")?,
                    other => return Err(format!("unknown field \"{other}\"")),
                }
            }
        }
        let shared = Shared {
            pool: ThreadPool::new("slow-work", threads as usize).map_err(|e| format!("start pool: {e}"))?,
            steps,
            work: Duration::from_micros(work_us),
            after_destroy,
            violations: host.define_counter("affinity_violations")?,
            completed: host.define_counter("completed")?,
        };
        Ok(SlowWorkConfig { shared: Arc::new(shared) })
    }
}

impl HttpFilterConfig for SlowWorkConfig {
    fn new_filter(&self, _host: &mut HostFilter<'_>) -> Box<dyn HttpFilter> {
        Box::new(SlowWork {
            shared: Arc::clone(&self.shared),
            owner: tid(),
            hooks: 1,
            violated: false,
            next_step: 1,
            alive: None,
        })
    }
}

struct SlowWork {
    shared: Arc<Shared>,
    owner: i32,
    hooks: u64,
    violated: bool,
    next_step: u64,
    /// With after_destroy: dropped with the filter, which releases the job.
    alive: Option<Sender<()>>,
}

/// Stand-in for blocking I/O or heavy computation, on a pool thread.
fn do_work(d: Duration) {
    let end = Instant::now() + d;
    while Instant::now() < end {
        std::hint::spin_loop();
    }
}

impl SlowWork {
    /// Record this hook's thread; false (and counted) if it is not the owner's.
    fn check(&mut self, hook: &str) -> bool {
        self.hooks += 1;
        let now = tid();
        if now != self.owner {
            if !self.violated {
                sluice_error!("slow_work: {hook} ran on thread {now}, filter created on {}", self.owner);
            }
            self.violated = true;
            let _ = self.shared.violations.increment();
        }
        !self.violated
    }

    fn fail(&self, host: &mut HostFilter<'_>) {
        let _ = host.send_response(500, sluice_sdk::NO_HEADERS, b"thread affinity violated\n");
    }
}

impl HttpFilter for SlowWork {
    fn on_request_headers(&mut self, host: &mut HostFilter<'_>, _end_of_stream: bool) -> HeadersStatus {
        if !self.check("on_request_headers") {
            self.fail(host);
            return HeadersStatus::StopIteration;
        }
        let Some(scheduler) = host.new_scheduler() else {
            let _ = host.send_response(500, sluice_sdk::NO_HEADERS, b"no scheduler\n");
            return HeadersStatus::StopIteration;
        };
        let (steps, work) = (self.shared.steps, self.shared.work);
        let gate = if self.shared.after_destroy {
            let (tx, rx) = channel::<()>();
            self.alive = Some(tx);
            Some(rx)
        } else {
            None
        };
        let queued = self.shared.pool.execute(move || {
            if let Some(gate) = gate {
                // Returns once the filter (the only sender) is gone.
                let _ = gate.recv();
            }
            for step in 1..=steps {
                do_work(work);
                // A refused commit means the stream is gone or the host is
                // shutting down; with one step in flight at a time the
                // queue is never full, so give up after a few tries.
                let mut tries = 0;
                while scheduler.commit(step).is_err() {
                    tries += 1;
                    if tries == 1000 {
                        return;
                    }
                    std::thread::yield_now();
                }
            }
        });
        if !queued {
            let _ = host.send_response(503, sluice_sdk::NO_HEADERS, b"work pool gone\n");
        }
        HeadersStatus::StopIteration
    }

    fn on_scheduled(&mut self, host: &mut HostFilter<'_>, event_id: u64) {
        if !self.check("on_scheduled") {
            self.fail(host);
            return;
        }
        if event_id != self.next_step {
            let msg = format!("step {event_id} arrived, expected {}\n", self.next_step);
            let _ = host.send_response(500, sluice_sdk::NO_HEADERS, msg.as_bytes());
            return;
        }
        self.next_step += 1;
        if event_id == self.shared.steps {
            let _ = host.set_request_header("x-slow-work-steps", self.shared.steps.to_string());
            let _ = host.continue_decoding();
        }
    }

    fn on_request_body(&mut self, host: &mut HostFilter<'_>, _end_of_stream: bool) -> BodyStatus {
        if !self.check("on_request_body") {
            self.fail(host);
            return BodyStatus::StopIterationNoBuffer;
        }
        if self.next_step <= self.shared.steps {
            // Work pending: Continue would resume the headers we stopped.
            return BodyStatus::StopIterationAndBuffer;
        }
        BodyStatus::Continue
    }

    fn on_request_trailers(&mut self, host: &mut HostFilter<'_>) -> TrailersStatus {
        if !self.check("on_request_trailers") {
            self.fail(host);
        }
        TrailersStatus::Continue
    }

    fn on_response_headers(&mut self, host: &mut HostFilter<'_>, _end_of_stream: bool) -> HeadersStatus {
        if !self.check("on_response_headers") {
            self.fail(host);
            return HeadersStatus::StopIteration;
        }
        let _ = host.set_response_header("x-slow-work-hooks", self.hooks.to_string());
        let _ = host.set_response_header("x-slow-work-affinity", "ok");
        HeadersStatus::Continue
    }

    fn on_response_body(&mut self, host: &mut HostFilter<'_>, _end_of_stream: bool) -> BodyStatus {
        if !self.check("on_response_body") {
            self.fail(host);
            return BodyStatus::StopIterationNoBuffer;
        }
        BodyStatus::Continue
    }

    fn on_response_trailers(&mut self, host: &mut HostFilter<'_>) -> TrailersStatus {
        if !self.check("on_response_trailers") {
            self.fail(host);
        }
        TrailersStatus::Continue
    }

    fn on_stream_complete(&mut self, _host: &mut HostFilter<'_>) {
        // The stream is over: a violation can only be counted.
        if self.check("on_stream_complete") && self.next_step > self.shared.steps {
            let _ = self.shared.completed.increment();
        }
    }
}

impl Drop for SlowWork {
    fn drop(&mut self) {
        self.check("destroy");
    }
}

declare_module! {
    filters: {
        "slow_work" => SlowWorkConfig::new,
    }
}

#[cfg(test)]
mod tests {
    use sluice_sdk::testing::FakeModule;
    use sluice_sdk::{HeaderKind, HeadersStatus};
    use std::time::Duration;

    fn module() -> FakeModule {
        FakeModule::load(crate::__sluice_module::symbols()).unwrap()
    }

    #[test]
    fn steps_arrive_in_order_then_the_request_continues() {
        let cfg = module().config("slow_work", r#"{"threads": 2, "steps": 4, "work_us": 50}"#).unwrap();
        let mut st = cfg.new_stream().unwrap();
        st.set_request_headers(&[(":path", "/")]);
        assert_eq!(st.request_headers(true), HeadersStatus::StopIteration);
        assert_eq!(st.run_scheduled(4, Duration::from_secs(10)), 4);
        assert_eq!(st.continue_decoding_calls(), 1);
        assert_eq!(st.header(HeaderKind::RequestHeaders, "x-slow-work-steps").as_deref(), Some(&b"4"[..]));
        st.set_response_headers(&[(":status", "200")]);
        assert_eq!(st.response_headers(true), HeadersStatus::Continue);
        // new_filter, request headers, 4 scheduled, response headers
        assert_eq!(st.header(HeaderKind::ResponseHeaders, "x-slow-work-hooks").as_deref(), Some(&b"7"[..]));
        assert_eq!(st.local_reply(), None);
        st.complete();
        assert_eq!(cfg.metric("completed"), Some(1));
        assert_eq!(cfg.metric("affinity_violations"), Some(0));
        // Destroying the config joins the pool, so its job has finished
        // and dropped (deleted) its scheduler.
        drop(cfg);
        assert_eq!(st.schedulers(), (1, 1), "the pool job dropped its scheduler");
    }

    #[test]
    fn a_hook_on_another_thread_fails_the_stream() {
        let cfg = module().config("slow_work", r#"{"steps": 1, "work_us": 0}"#).unwrap();
        // Create the filter on a different thread than the hooks: exactly
        // what the ABI forbids the host to do.
        let mut st = std::thread::scope(|s| s.spawn(|| cfg.new_stream().unwrap()).join().unwrap());
        assert_eq!(st.request_headers(true), HeadersStatus::StopIteration);
        let reply = st.local_reply().unwrap();
        assert_eq!((reply.status, reply.body), (500, b"thread affinity violated\n".to_vec()));
        st.complete();
        assert_eq!(cfg.metric("affinity_violations"), Some(3), "request headers, stream_complete, destroy");
    }

    #[test]
    fn commits_after_destroy_go_nowhere() {
        let cfg = module().config("slow_work", r#"{"steps": 2, "work_us": 0, "after_destroy": true}"#).unwrap();
        let mut st = cfg.new_stream().unwrap();
        assert_eq!(st.request_headers(true), HeadersStatus::StopIteration);
        st.complete(); // the filter is destroyed: the job may now commit
        drop(cfg); // joins the pool: the job has committed and dropped its scheduler
        assert_eq!(st.schedulers(), (1, 1));
        assert_eq!(st.run_scheduled(2, Duration::from_millis(100)), 0, "a destroyed filter gets no on_scheduled");
    }

    #[test]
    fn bad_configs_are_rejected() {
        let m = module();
        for (config, want) in [
            (r#"{"steps": 0}"#, "steps: want an integer 1..1000"),
            (r#"{"threads": 65}"#, "threads: want an integer 1..64"),
            (r#"{"work_us": -1}"#, "work_us: want an integer 0..1000000"),
            (r#"{"after_destroy": 1}"#, "after_destroy: want a boolean"),
            (r#"{"x": 1}"#, "unknown field \"x\""),
        ] {
            assert_eq!(m.config("slow_work", config).err().unwrap(), want, "config {config}");
        }
    }
}
