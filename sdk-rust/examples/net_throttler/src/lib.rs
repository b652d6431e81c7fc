//! net_throttler: holds the bytes of a connection back for `delay_ms`, in
//! both directions, then releases them in order — with a timer on the
//! connection's worker and `inject_read` / `inject_write`, in safe Rust.
//!
//! What it holds it drains from the read buffer (client to upstream) or
//! copies from the write chunk and stops (upstream to client); a FIN is held
//! too and released after the bytes before it. One timer per connection
//! releases everything held when it fires; bytes arriving meanwhile wait
//! for the next round. Every hook checks that it runs on the thread that
//! created the filter (`hooks`, `affinity_violations`).
//!
//! Config: `{"delay_ms": 50}` (0..60000). Metrics: `timer_fires`,
//! `bytes_delayed`, `hooks`, `affinity_violations`.

use sluice_sdk::json;
use sluice_sdk::*;
use std::time::Duration;

extern "C" {
    fn gettid() -> i32;
}

fn tid() -> i32 {
    // SAFETY: no arguments, cannot fail.
    unsafe { gettid() }
}

#[derive(Clone, Copy)]
struct Metrics {
    fires: Counter,
    delayed: Counter,
    hooks: Counter,
    violations: Counter,
}

struct ThrottlerConfig {
    delay: Duration,
    metrics: Metrics,
}

impl ThrottlerConfig {
    fn new(host: &mut HostConfig<'_>, config: &[u8]) -> Result<ThrottlerConfig, String> {
        let c = json::Config::parse(config, &["delay_ms"])?;
        let delay_ms = c.u64_or("delay_ms", 50)?;
        if delay_ms > 60_000 {
            return Err("delay_ms: want at most 60000".to_string());
        }
        Ok(ThrottlerConfig {
            delay: Duration::from_millis(delay_ms),
            metrics: Metrics {
                fires: host.define_counter("timer_fires")?,
                delayed: host.define_counter("bytes_delayed")?,
                hooks: host.define_counter("hooks")?,
                violations: host.define_counter("affinity_violations")?,
            },
        })
    }
}

impl NetworkFilterConfig for ThrottlerConfig {
    fn new_filter(&self, _host: &mut HostConnection<'_>) -> Box<dyn NetworkFilter> {
        let f = Throttler {
            m: self.metrics,
            delay: self.delay,
            owner: tid(),
            timer: None,
            armed: false,
            to_upstream: Held::default(),
            to_client: Held::default(),
        };
        f.check();
        Box::new(f)
    }
}

/// What is held back in one direction.
#[derive(Default)]
struct Held {
    data: Vec<u8>,
    /// A FIN waits behind the data.
    fin: bool,
    /// The FIN went on: nothing follows it.
    fin_sent: bool,
}

impl Held {
    fn push(&mut self, data: &[u8], fin: bool) {
        self.data.extend_from_slice(data);
        self.fin |= fin;
    }

    /// What to release now, if anything: the data, and whether the FIN
    /// goes with it.
    fn take(&mut self) -> Option<(Vec<u8>, bool)> {
        if self.data.is_empty() && (!self.fin || self.fin_sent) {
            return None;
        }
        self.fin_sent = self.fin;
        Some((core::mem::take(&mut self.data), self.fin))
    }
}

struct Throttler {
    m: Metrics,
    delay: Duration,
    owner: i32,
    timer: Option<Timer>,
    armed: bool,
    to_upstream: Held,
    to_client: Held,
}

impl Throttler {
    /// Every hook of a filter runs on the worker that created it.
    fn check(&self) {
        let _ = self.m.hooks.increment();
        if tid() != self.owner {
            let _ = self.m.violations.increment();
        }
    }

    /// Make sure the timer will fire; close the connection if there can be
    /// none (the held bytes would never move).
    fn arm(&mut self, host: &mut HostConnection<'_>) {
        if self.armed {
            return;
        }
        if self.timer.is_none() {
            self.timer = host.new_timer();
        }
        match &self.timer {
            Some(t) if t.enable(self.delay).is_ok() => self.armed = true,
            _ => {
                let _ = host.log(LogLevel::Error, "net_throttler: no timer; closing");
                let _ = host.close(CloseType::Abort);
            }
        }
    }
}

impl NetworkFilter for Throttler {
    fn on_new_connection(&mut self, _host: &mut HostConnection<'_>) -> NetworkStatus {
        self.check();
        NetworkStatus::Continue
    }

    fn on_read(&mut self, host: &mut HostConnection<'_>, _data_length: usize, end_stream: bool) -> NetworkStatus {
        self.check();
        if self.to_upstream.fin_sent {
            return NetworkStatus::StopIteration;
        }
        let Ok(data) = host.read_buffer() else {
            return NetworkStatus::StopIteration;
        };
        if data.is_empty() && (!end_stream || self.to_upstream.fin) {
            return NetworkStatus::StopIteration;
        }
        self.to_upstream.push(&data, end_stream);
        let _ = self.m.delayed.add(data.len() as u64);
        let _ = host.drain(NetworkBuffer::Read, data.len());
        self.arm(host);
        NetworkStatus::StopIteration
    }

    fn on_write(&mut self, host: &mut HostConnection<'_>, _data_length: usize, end_stream: bool) -> NetworkStatus {
        self.check();
        let Ok(data) = host.write_buffer() else {
            return NetworkStatus::Continue;
        };
        self.to_client.push(&data, end_stream);
        let _ = self.m.delayed.add(data.len() as u64);
        self.arm(host);
        NetworkStatus::StopIteration
    }

    fn on_timer(&mut self, host: &mut HostConnection<'_>, _timer: TimerId) {
        self.check();
        let _ = self.m.fires.increment();
        self.armed = false;
        if let Some((data, fin)) = self.to_upstream.take() {
            let _ = host.inject_read(data, fin);
        }
        if let Some((data, fin)) = self.to_client.take() {
            let _ = host.inject_write(data, fin);
        }
    }

    fn on_event(&mut self, _host: &mut HostConnection<'_>, _event: ConnectionEvent) {
        self.check();
    }
}

impl Drop for Throttler {
    fn drop(&mut self) {
        self.check();
    }
}

declare_module! {
    network_filters: {
        "net_throttler" => ThrottlerConfig::new,
    }
}

#[cfg(test)]
mod tests {
    use sluice_sdk::testing::{FakeConnection, FakeModule, FakeNetworkConfig};
    use sluice_sdk::{ConnectionEvent, NetworkStatus};
    use std::time::Duration;

    fn config(json: &str) -> FakeNetworkConfig {
        FakeModule::load(crate::__sluice_module::symbols()).unwrap().network_config("net_throttler", json).unwrap()
    }

    /// Fire the connection's one timer, which must be armed with `delay`.
    fn fire(conn: &mut FakeConnection, delay: Duration) {
        let armed = conn.armed_timers();
        assert_eq!(armed.len(), 1, "one armed timer");
        assert_eq!(armed[0].1, delay);
        assert!(conn.fire_timer(armed[0].0));
    }

    #[test]
    fn bytes_wait_for_the_timer_both_ways_fin_last() {
        let cfg = config(r#"{"delay_ms": 20}"#);
        let mut conn = cfg.new_connection().unwrap();
        assert_eq!(conn.start(), NetworkStatus::Continue);
        assert_eq!(conn.read(b"one ", false), NetworkStatus::StopIteration);
        assert_eq!(conn.read(b"two", true), NetworkStatus::StopIteration);
        assert_eq!(conn.write(b"back", false), NetworkStatus::StopIteration);
        assert!(conn.upstream().is_empty() && conn.client().is_empty());
        assert!(conn.read_buffer().is_empty(), "held bytes are drained from the read buffer");
        fire(&mut conn, Duration::from_millis(20));
        assert_eq!(conn.upstream(), b"one two");
        assert!(conn.upstream_ended(), "the FIN followed the bytes");
        assert_eq!(conn.client(), b"back");
        // The upstream's FIN, held in turn, ends the connection when released.
        assert_eq!(conn.write(b"!", true), NetworkStatus::StopIteration);
        assert!(!conn.client_ended());
        fire(&mut conn, Duration::from_millis(20));
        assert_eq!(conn.client(), b"back!");
        assert!(conn.client_ended() && conn.is_closed() && conn.destroyed());
        assert_eq!(conn.events(), [ConnectionEvent::Connected, ConnectionEvent::LocalClose]);
        assert_eq!(cfg.metric("timer_fires"), Some(2));
        assert_eq!(cfg.metric("bytes_delayed"), Some(12));
        assert_eq!(cfg.metric("affinity_violations"), Some(0));
    }

    #[test]
    fn one_timer_releases_everything_held_so_far() {
        let cfg = config("{}");
        let mut conn = cfg.new_connection().unwrap();
        for chunk in [&b"a"[..], b"b", b"c"] {
            conn.read(chunk, false);
        }
        fire(&mut conn, Duration::from_millis(50));
        assert_eq!(conn.upstream(), b"abc");
        assert!(conn.armed_timers().is_empty(), "nothing held: not re-armed");
        assert_eq!(cfg.metric("timer_fires"), Some(1));
    }

    #[test]
    fn bad_configs_are_rejected() {
        let m = FakeModule::load(crate::__sluice_module::symbols()).unwrap();
        assert_eq!(
            m.network_config("net_throttler", r#"{"delay_ms": 60001}"#).err().unwrap(),
            "delay_ms: want at most 60000"
        );
        assert_eq!(
            m.network_config("net_throttler", r#"{"delay_ms": -1}"#).err().unwrap(),
            "field \"delay_ms\" must be a non-negative integer"
        );
    }
}
