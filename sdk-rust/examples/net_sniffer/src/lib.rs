//! net_sniffer: counts the messages of a length-prefixed protocol (a 4-byte
//! big-endian length, then that many bytes) in both directions, however
//! the bytes are split across reads and writes — a protocol stats filter in
//! the manner of Envoy's, in safe Rust.
//!
//! Like those filters it sits directly before `tcp_proxy`, which drains the
//! read buffer, so each `on_read` shows only bytes it has not seen (a read
//! filter sees the whole read buffer: behind a filter that leaves bytes in
//! it, bytes would be counted twice). Writes come one chunk at a time.
//!
//! Counts go to the metrics `requests` / `responses` and to the connection
//! metadata `sniffer.requests` / `sniffer.responses` (the access log shows
//! them). It also counts how often the output to the client went above its
//! high watermark and back below the low one (`watermark_high`,
//! `watermark_low`): a slow client in numbers. Every hook checks that it
//! runs on the thread that created the filter (`hooks`,
//! `affinity_violations`). No config.

use sluice_sdk::json;
use sluice_sdk::*;

extern "C" {
    fn gettid() -> i32;
}

fn tid() -> i32 {
    // SAFETY: no arguments, cannot fail.
    unsafe { gettid() }
}

/// One direction's framing state.
#[derive(Default)]
struct Parser {
    header: [u8; 4],
    /// Header bytes seen of the current message.
    have: usize,
    /// Payload bytes still to come.
    remain: u64,
    messages: u64,
}

impl Parser {
    /// Advance over `data`; returns how many messages it completed.
    fn feed(&mut self, mut data: &[u8]) -> u64 {
        let mut done = 0;
        while !data.is_empty() {
            if self.have < 4 {
                self.header[self.have] = data[0];
                self.have += 1;
                data = &data[1..];
                if self.have == 4 {
                    self.remain = u64::from(u32::from_be_bytes(self.header));
                }
            } else {
                let take = data.len().min(usize::try_from(self.remain).unwrap_or(usize::MAX));
                self.remain -= take as u64;
                data = &data[take..];
            }
            if self.have == 4 && self.remain == 0 {
                self.have = 0;
                done += 1;
            }
        }
        self.messages += done;
        done
    }
}

#[derive(Clone, Copy)]
struct Metrics {
    requests: Counter,
    responses: Counter,
    high: Counter,
    low: Counter,
    hooks: Counter,
    violations: Counter,
}

struct SnifferConfig {
    metrics: Metrics,
}

impl SnifferConfig {
    fn new(host: &mut HostConfig<'_>, config: &[u8]) -> Result<SnifferConfig, String> {
        // `null` and `{}` are fine; anything else is a mistake worth saying.
        json::Config::parse(config, &[]).map_err(|_| "net_sniffer takes no config".to_string())?;
        Ok(SnifferConfig {
            metrics: Metrics {
                requests: host.define_counter("requests")?,
                responses: host.define_counter("responses")?,
                high: host.define_counter("watermark_high")?,
                low: host.define_counter("watermark_low")?,
                hooks: host.define_counter("hooks")?,
                violations: host.define_counter("affinity_violations")?,
            },
        })
    }
}

impl NetworkFilterConfig for SnifferConfig {
    fn new_filter(&self, _host: &mut HostConnection<'_>) -> Box<dyn NetworkFilter> {
        let f = Sniffer { m: self.metrics, owner: tid(), requests: Parser::default(), responses: Parser::default() };
        f.check();
        Box::new(f)
    }
}

struct Sniffer {
    m: Metrics,
    owner: i32,
    requests: Parser,
    responses: Parser,
}

impl Sniffer {
    /// Every hook of a filter runs on the worker that created it.
    fn check(&self) {
        let _ = self.m.hooks.increment();
        if tid() != self.owner {
            let _ = self.m.violations.increment();
        }
    }

    fn count(&mut self, host: &mut HostConnection<'_>, buffer: NetworkBuffer) {
        let Ok(data) = host.buffer(buffer) else {
            return;
        };
        let (parser, metric, key) = match buffer {
            NetworkBuffer::Read => (&mut self.requests, self.m.requests, "requests"),
            NetworkBuffer::Write => (&mut self.responses, self.m.responses, "responses"),
        };
        let done = parser.feed(&data);
        if done > 0 {
            let _ = metric.add(done);
            let _ = host.set_metadata_number("sniffer", key, parser.messages as f64);
        }
    }
}

impl NetworkFilter for Sniffer {
    fn on_new_connection(&mut self, host: &mut HostConnection<'_>) -> NetworkStatus {
        self.check();
        let _ = host.set_metadata_number("sniffer", "requests", 0.0);
        let _ = host.set_metadata_number("sniffer", "responses", 0.0);
        NetworkStatus::Continue
    }

    fn on_read(&mut self, host: &mut HostConnection<'_>, _data_length: usize, _end_stream: bool) -> NetworkStatus {
        self.check();
        self.count(host, NetworkBuffer::Read);
        NetworkStatus::Continue
    }

    fn on_write(&mut self, host: &mut HostConnection<'_>, _data_length: usize, _end_stream: bool) -> NetworkStatus {
        self.check();
        self.count(host, NetworkBuffer::Write);
        NetworkStatus::Continue
    }

    fn on_watermark(&mut self, _host: &mut HostConnection<'_>, above: bool) {
        self.check();
        let _ = if above { self.m.high.increment() } else { self.m.low.increment() };
    }

    fn on_event(&mut self, _host: &mut HostConnection<'_>, _event: ConnectionEvent) {
        self.check();
    }
}

impl Drop for Sniffer {
    fn drop(&mut self) {
        self.check();
    }
}

declare_module! {
    network_filters: {
        "net_sniffer" => SnifferConfig::new,
    }
}

#[cfg(test)]
mod tests {
    use super::Parser;
    use sluice_sdk::testing::FakeModule;
    use sluice_sdk::{ConnectionEvent, NetworkStatus};

    fn message(payload: &[u8]) -> Vec<u8> {
        let mut m = (payload.len() as u32).to_be_bytes().to_vec();
        m.extend_from_slice(payload);
        m
    }

    #[test]
    fn parser_counts_across_any_split() {
        let mut stream = Vec::new();
        for p in [&b""[..], b"a", &[b'x'; 300]] {
            stream.extend(message(p));
        }
        for split in [1, 2, 3, 5, 7, 304, stream.len()] {
            let mut p = Parser::default();
            let done: u64 = stream.chunks(split).map(|c| p.feed(c)).sum();
            assert_eq!((done, p.messages, p.have), (3, 3, 0), "split {split}");
        }
    }

    #[test]
    fn counts_both_directions_one_byte_at_a_time() {
        let cfg =
            FakeModule::load(crate::__sluice_module::symbols()).unwrap().network_config("net_sniffer", "null").unwrap();
        let mut conn = cfg.new_connection().unwrap();
        assert_eq!(conn.start(), NetworkStatus::Continue);
        let mut stream = message(b"ping");
        stream.extend(message(b""));
        // tcp_proxy behind the sniffer drains each read: one byte per pass.
        for b in &stream {
            assert_eq!(conn.read(&[*b], false), NetworkStatus::Continue);
        }
        assert_eq!(conn.upstream(), stream);
        for b in &message(b"pong") {
            assert_eq!(conn.write(&[*b], false), NetworkStatus::Continue);
        }
        assert_eq!(conn.metadata_number("sniffer", "requests"), Ok(2.0));
        assert_eq!(conn.metadata_number("sniffer", "responses"), Ok(1.0));
        assert_eq!((cfg.metric("requests"), cfg.metric("responses")), (Some(2), Some(1)));
        conn.watermark(true);
        conn.watermark(false);
        assert_eq!((cfg.metric("watermark_high"), cfg.metric("watermark_low")), (Some(1), Some(1)));
        conn.remote_close();
        assert_eq!(conn.events(), [ConnectionEvent::Connected, ConnectionEvent::RemoteClose]);
        assert_eq!(cfg.metric("affinity_violations"), Some(0));
        // new_filter, new_connection, Connected, 12 reads, 8 writes, 2
        // watermarks, RemoteClose, drop
        assert_eq!(cfg.metric("hooks"), Some(27));
    }

    #[test]
    fn it_takes_no_config() {
        let m = FakeModule::load(crate::__sluice_module::symbols()).unwrap();
        assert_eq!(m.network_config("net_sniffer", r#"{"x": 1}"#).err().unwrap(), "net_sniffer takes no config");
        assert!(m.network_config("net_sniffer", "{}").is_ok());
    }
}
