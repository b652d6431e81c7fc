//! net_gatekeeper: a network filter that lets a connection through only
//! after a decision made off the worker — the gatekeeper of Envoy's
//! network filter docs, in safe Rust.
//!
//! The client's first line is `HELLO <token>\n`. The filter stops the chain
//! in `on_new_connection`, so `tcp_proxy` (or the HTTP connection manager)
//! after it does not start, and keeps stopping while it waits. Once the line
//! is complete, a pool thread decides (after `delay_ms`, standing in for a
//! call to an authorization service) and commits the verdict through a
//! scheduler. Back on the worker, `on_scheduled` either drains the HELLO
//! line, tags the connection (metadata `gatekeeper.token`,
//! `gatekeeper.worker`) and continues reading — what the client sent behind
//! the line goes on at once, without waiting for another byte — or answers
//! `DENIED\n` and closes.
//!
//! Every hook (filter creation, each hook, drop) checks that it runs on the
//! thread that created the filter, counting `hooks` and
//! `affinity_violations`.
//!
//! Config: `{"allow": "<token>", "delay_ms": 20, "threads": 4}` (`allow`
//! required). Metrics: `allowed`, `denied`, `hooks`,
//! `affinity_violations`.

use sluice_sdk::json;
use sluice_sdk::pool::ThreadPool;
use sluice_sdk::*;
use std::sync::Arc;
use std::time::Duration;

/// Verdicts committed by the pool thread.
const ALLOW: u64 = 1;
const DENY: u64 = 2;
/// Committed by the scheduler guard when the decision never came (the job
/// panicked): treated as a denial.
const NO_VERDICT: u64 = 3;

/// The longest HELLO line the filter waits for.
const MAX_LINE: usize = 256;

extern "C" {
    fn gettid() -> i32;
}

fn tid() -> i32 {
    // SAFETY: no arguments, cannot fail.
    unsafe { gettid() }
}

/// The thread-affinity check of every hook: the ABI runs all hooks of a
/// filter on the worker that created it.
struct Affinity {
    owner: i32,
    hooks: Counter,
    violations: Counter,
}

impl Affinity {
    fn check(&self) {
        let _ = self.hooks.increment();
        if tid() != self.owner {
            let _ = self.violations.increment();
        }
    }
}

/// What the config shares with its filters. The host destroys the config
/// (on its main thread) after every connection using it, so the last
/// reference, and with it the pool's join, goes away there; pool jobs get
/// only the allowed token, never this.
struct Shared {
    allow: Arc<str>,
    delay: Duration,
    pool: ThreadPool,
    allowed: Counter,
    denied: Counter,
    hooks: Counter,
    violations: Counter,
}

struct GateConfig {
    shared: Arc<Shared>,
}

impl GateConfig {
    fn new(host: &mut HostConfig<'_>, config: &[u8]) -> Result<GateConfig, String> {
        let c = json::Config::parse(config, &["allow", "delay_ms", "threads"])?;
        let allow = c.string("allow")?;
        if allow.is_empty() || allow.len() > 64 {
            return Err("allow: want 1..64 bytes".to_string());
        }
        let delay_ms = c.u64_or("delay_ms", 20)?;
        if delay_ms > 60_000 {
            return Err("delay_ms: want at most 60000".to_string());
        }
        let threads = c.u64_or("threads", 4)?;
        if !(1..=64).contains(&threads) {
            return Err("threads: want 1..64".to_string());
        }
        let shared = Shared {
            allow: allow.into(),
            delay: Duration::from_millis(delay_ms),
            pool: ThreadPool::new("gatekeeper", threads as usize).map_err(|e| format!("start pool: {e}"))?,
            allowed: host.define_counter("allowed")?,
            denied: host.define_counter("denied")?,
            hooks: host.define_counter("hooks")?,
            violations: host.define_counter("affinity_violations")?,
        };
        Ok(GateConfig { shared: Arc::new(shared) })
    }
}

impl NetworkFilterConfig for GateConfig {
    fn new_filter(&self, _host: &mut HostConnection<'_>) -> Box<dyn NetworkFilter> {
        let shared = Arc::clone(&self.shared);
        let affinity = Affinity { owner: tid(), hooks: shared.hooks, violations: shared.violations };
        affinity.check();
        Box::new(Gate { affinity, shared, state: State::Waiting })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// No complete HELLO line yet.
    Waiting,
    /// The line went to a pool thread.
    Asked,
    /// Let through: every later read passes.
    Allowed,
    /// Denied: the connection is closing.
    Denied,
}

struct Gate {
    affinity: Affinity,
    shared: Arc<Shared>,
    state: State,
}

/// The token of a `HELLO <token>` line (without its newline), if it is one.
fn hello_token(line: &[u8]) -> Option<&[u8]> {
    line.strip_prefix(b"HELLO ").filter(|t| !t.is_empty())
}

impl Gate {
    /// Hand the line to a pool thread; it commits the verdict.
    fn ask(&mut self, host: &mut HostConnection<'_>, line: &[u8]) -> bool {
        let Some(scheduler) = host.new_scheduler() else {
            return false;
        };
        // Dropped without a commit (the job panicked): NO_VERDICT.
        let guard = scheduler.guard(NO_VERDICT);
        let token = hello_token(line).map(<[u8]>::to_vec);
        let (allow, delay) = (Arc::clone(&self.shared.allow), self.shared.delay);
        self.shared.pool.execute(move || {
            std::thread::sleep(delay);
            let ok = token.is_some_and(|t| t == allow.as_bytes());
            let _ = guard.commit(if ok { ALLOW } else { DENY });
        })
    }

    fn deny(&mut self, host: &mut HostConnection<'_>) {
        self.state = State::Denied;
        let _ = self.shared.denied.increment();
        let _ = host.write("DENIED\n", false);
        let _ = host.close(CloseType::Flush);
    }
}

impl NetworkFilter for Gate {
    fn on_new_connection(&mut self, _host: &mut HostConnection<'_>) -> NetworkStatus {
        self.affinity.check();
        NetworkStatus::StopIteration
    }

    fn on_read(&mut self, host: &mut HostConnection<'_>, _data_length: usize, end_stream: bool) -> NetworkStatus {
        self.affinity.check();
        match self.state {
            State::Allowed => return NetworkStatus::Continue,
            State::Asked | State::Denied => return NetworkStatus::StopIteration,
            State::Waiting => {}
        }
        let Ok(data) = host.read_buffer() else {
            return NetworkStatus::StopIteration;
        };
        let Some(end) = data.iter().position(|b| *b == b'\n') else {
            if end_stream || data.len() > MAX_LINE {
                // No HELLO line is coming.
                self.deny(host);
            }
            return NetworkStatus::StopIteration;
        };
        if self.ask(host, &data[..end]) {
            self.state = State::Asked;
        } else {
            let _ = host.close(CloseType::Abort);
        }
        NetworkStatus::StopIteration
    }

    fn on_scheduled(&mut self, host: &mut HostConnection<'_>, verdict: u64) {
        self.affinity.check();
        if self.state != State::Asked {
            return;
        }
        if verdict != ALLOW {
            self.deny(host);
            return;
        }
        // The line is still at the front of the read buffer: nothing drains
        // it while this filter stops the chain.
        let Ok(data) = host.read_buffer() else {
            return;
        };
        let Some(end) = data.iter().position(|b| *b == b'\n') else {
            return;
        };
        self.state = State::Allowed;
        let _ = self.shared.allowed.increment();
        let token = hello_token(&data[..end]).unwrap_or_default();
        let _ = host.set_metadata_string("gatekeeper", "token", token);
        if let Ok(worker) = host.attribute_int(Attribute::WorkerIndex) {
            let _ = host.set_metadata_number("gatekeeper", "worker", worker as f64);
        }
        let _ = host.drain(NetworkBuffer::Read, end + 1);
        let _ = host.log(LogLevel::Info, "gatekeeper: connection allowed");
        let _ = host.continue_reading();
    }

    fn on_event(&mut self, _host: &mut HostConnection<'_>, _event: ConnectionEvent) {
        self.affinity.check();
    }

    fn on_write(&mut self, _host: &mut HostConnection<'_>, _data_length: usize, _end_stream: bool) -> NetworkStatus {
        self.affinity.check();
        NetworkStatus::Continue
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.affinity.check();
    }
}

declare_module! {
    network_filters: {
        "net_gatekeeper" => GateConfig::new,
    }
}

#[cfg(test)]
mod tests {
    use sluice_sdk::testing::{FakeModule, FakeNetworkConfig};
    use sluice_sdk::{CloseType, ConnectionEvent, NetworkStatus};
    use std::time::Duration;

    fn config(json: &str) -> FakeNetworkConfig {
        FakeModule::load(crate::__sluice_module::symbols()).unwrap().network_config("net_gatekeeper", json).unwrap()
    }

    #[test]
    fn the_right_token_lets_the_connection_through() {
        let cfg = config(r#"{"allow": "open", "delay_ms": 1}"#);
        let mut conn = cfg.new_connection().unwrap();
        assert_eq!(conn.start(), NetworkStatus::StopIteration);
        // The line arrives a byte at a time, the payload right behind it.
        for b in b"HELLO open" {
            assert_eq!(conn.read(&[*b], false), NetworkStatus::StopIteration);
        }
        assert_eq!(conn.read(b"\npayload", false), NetworkStatus::StopIteration);
        assert!(!conn.upstream_started(), "tcp_proxy must not connect before the verdict");
        assert_eq!(conn.run_scheduled(1, Duration::from_secs(10)), 1);
        assert!(conn.upstream_started());
        assert_eq!(conn.upstream(), b"payload");
        assert_eq!(conn.metadata_string("gatekeeper", "token").unwrap(), b"open");
        assert_eq!(conn.metadata_number("gatekeeper", "worker"), Ok(0.0));
        // Later reads pass straight through.
        assert_eq!(conn.read(b" more", true), NetworkStatus::Continue);
        assert_eq!(conn.upstream(), b"payload more");
        assert!(conn.upstream_ended());
        assert_eq!(cfg.metric("allowed"), Some(1));
        assert_eq!(cfg.metric("denied"), Some(0));
        drop(conn);
        assert_eq!(cfg.metric("affinity_violations"), Some(0));
        // new_filter, new_connection, Connected, 12 reads, on_scheduled, drop
        assert_eq!(cfg.metric("hooks"), Some(17));
    }

    #[test]
    fn a_wrong_token_is_denied_and_never_reaches_upstream() {
        let cfg = config(r#"{"allow": "open", "delay_ms": 1}"#);
        let mut conn = cfg.new_connection().unwrap();
        conn.start();
        assert_eq!(conn.read(b"HELLO nope\nsecret", false), NetworkStatus::StopIteration);
        assert_eq!(conn.run_scheduled(1, Duration::from_secs(10)), 1);
        assert_eq!(conn.client(), b"DENIED\n");
        assert_eq!(conn.close_type(), Some(CloseType::Flush));
        assert_eq!(conn.events(), [ConnectionEvent::Connected, ConnectionEvent::LocalClose]);
        assert!(!conn.upstream_started() && conn.upstream().is_empty());
        assert_eq!(cfg.metric("denied"), Some(1));
    }

    #[test]
    fn no_hello_line_is_denied_without_asking() {
        let cfg = config(r#"{"allow": "open"}"#);
        let mut conn = cfg.new_connection().unwrap();
        assert_eq!(conn.read(b"GET / HTTP/1.1", true), NetworkStatus::StopIteration);
        assert_eq!(conn.client(), b"DENIED\n");
        assert_eq!(conn.schedulers(), (0, 0));
        let mut long = cfg.new_connection().unwrap();
        assert_eq!(long.read(&[b'x'; 257], false), NetworkStatus::StopIteration);
        assert!(long.is_closed());
        assert_eq!(cfg.metric("denied"), Some(2));
    }

    #[test]
    fn a_client_gone_before_the_verdict_gets_nothing() {
        let cfg = config(r#"{"allow": "open", "delay_ms": 30}"#);
        let mut conn = cfg.new_connection().unwrap();
        conn.read(b"HELLO open\n", false);
        conn.remote_close();
        assert!(conn.destroyed());
        // Its filter gone, the config goes too; that joins the pool, so the
        // job has committed (refused: the handle is stale) and dropped its
        // scheduler.
        drop(cfg);
        assert_eq!(conn.schedulers(), (1, 1));
        assert_eq!(conn.run_scheduled(1, Duration::from_millis(50)), 0);
    }

    #[test]
    fn a_thread_on_the_wrong_worker_is_counted() {
        let cfg = config(r#"{"allow": "open", "delay_ms": 1}"#);
        // Created on another thread than its hooks: what the ABI forbids.
        let mut conn = std::thread::scope(|s| s.spawn(|| cfg.new_connection().unwrap()).join().unwrap());
        conn.start();
        assert_eq!(cfg.metric("affinity_violations"), Some(2), "new_connection, Connected");
    }

    #[test]
    fn bad_configs_are_rejected() {
        let m = FakeModule::load(crate::__sluice_module::symbols()).unwrap();
        for (json, want) in [
            ("{}", "field \"allow\" is required"),
            (r#"{"allow": ""}"#, "allow: want 1..64 bytes"),
            (r#"{"allow": "x", "delay_ms": 60001}"#, "delay_ms: want at most 60000"),
            (r#"{"allow": "x", "threads": 0}"#, "threads: want 1..64"),
            (r#"{"allow": "x", "alow": 1}"#, "unknown field \"alow\" (allowed: allow, delay_ms, threads)"),
        ] {
            assert_eq!(m.network_config("net_gatekeeper", json).err().unwrap(), want, "{json}");
        }
    }
}
