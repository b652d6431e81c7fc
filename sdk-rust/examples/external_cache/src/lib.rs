//! external_cache: Envoy's scheduler example (envoyproxy/envoy#39765) in
//! sluice. The request's `cache-key` header is looked up by a small thread
//! pool (standing in for Redis, Memcached, S3...), so the worker never
//! blocks. The pool thread commits event 1 (hit) or 0 (miss); back on the
//! worker, a hit answers `200` with `cached: yes` and the cached body, a
//! miss lets the request continue upstream.
//!
//! Config (all optional):
//! `{"threads": 2, "entries": {"existing": "cached_response_body"}}`

use sluice_sdk::json::{self, Value};
use sluice_sdk::pool::ThreadPool;
use sluice_sdk::*;
use std::collections::HashMap;
use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;

const HIT: u64 = 1;
const MISS: u64 = 0;

/// Shared by the config and its filters. The host destroys the config
/// (on its main thread) after every stream using it, so the last reference,
/// and with it the pool's join, goes away there.
struct Cache {
    pool: ThreadPool,
    // Pool jobs get this, never the `Cache`: a pool thread must not end up
    // dropping (and joining) its own pool.
    entries: Arc<HashMap<String, String>>,
    hits: Counter,
    misses: Counter,
}

struct CacheConfig {
    cache: Arc<Cache>,
}

fn parse_entries(v: &Value) -> Result<HashMap<String, String>, String> {
    let fields = v.as_object().ok_or("entries: want an object of strings")?;
    fields
        .iter()
        .map(|(k, v)| match v.as_str() {
            Some(s) => Ok((k.clone(), s.to_string())),
            None => Err(format!("entries.{k}: want a string")),
        })
        .collect()
}

impl CacheConfig {
    fn new(host: &mut HostConfig<'_>, config: &[u8]) -> Result<CacheConfig, String> {
        let v = json::parse(config).map_err(|e| e.to_string())?;
        let mut threads = 2u64;
        let mut entries = HashMap::from([("existing".to_string(), "cached_response_body".to_string())]);
        if !v.is_null() {
            let fields = v.as_object().ok_or("config: want an object")?;
            for (k, val) in fields {
                match k.as_str() {
                    "threads" => {
                        threads =
                            val.as_u64().filter(|n| (1..=64).contains(n)).ok_or("threads: want an integer 1..64")?
                    }
                    "entries" => entries = parse_entries(val)?,
                    other => return Err(format!("unknown field \"{other}\"")),
                }
            }
        }
        let cache = Cache {
            pool: ThreadPool::new("external-cache", threads as usize).map_err(|e| format!("start pool: {e}"))?,
            entries: Arc::new(entries),
            hits: host.define_counter("hits")?,
            misses: host.define_counter("misses")?,
        };
        Ok(CacheConfig { cache: Arc::new(cache) })
    }
}

impl HttpFilterConfig for CacheConfig {
    fn new_filter(&self, _host: &mut HostFilter<'_>) -> Box<dyn HttpFilter> {
        Box::new(CacheFilter { cache: Arc::clone(&self.cache), rx: None })
    }
}

struct CacheFilter {
    cache: Arc<Cache>,
    rx: Option<Receiver<String>>,
}

impl HttpFilter for CacheFilter {
    fn on_request_headers(&mut self, host: &mut HostFilter<'_>, _end_of_stream: bool) -> HeadersStatus {
        let Some(key) = host.request_header("cache-key") else {
            return HeadersStatus::Continue; // nothing to look up
        };
        // Copy the key out of the host view: the lookup runs on another thread.
        let key = String::from_utf8_lossy(key).into_owned();
        let Some(scheduler) = host.new_scheduler() else {
            sluice_warn!("external_cache: no scheduler, skipping the cache");
            return HeadersStatus::Continue;
        };
        let (tx, rx) = channel();
        self.rx = Some(rx);
        let entries = Arc::clone(&self.cache.entries);
        let queued = self.cache.pool.execute(move || {
            let event = match entries.get(&key) {
                Some(body) => {
                    // Send before commit, so the worker finds it there.
                    let _ = tx.send(body.clone());
                    HIT
                }
                None => MISS,
            };
            // One event per stream never fills a scheduler's queue: a
            // refusal means the stream is gone or the host is closing.
            let _ = scheduler.commit(event);
        });
        if !queued {
            return HeadersStatus::Continue;
        }
        // Resumed by on_scheduled.
        HeadersStatus::StopIteration
    }

    fn on_request_body(&mut self, _host: &mut HostFilter<'_>, _end_of_stream: bool) -> BodyStatus {
        if self.rx.is_some() {
            // Still looking up: Continue here would resume the headers we
            // stopped. Keep the body until on_scheduled decides.
            return BodyStatus::StopIterationAndBuffer;
        }
        BodyStatus::Continue
    }

    fn on_scheduled(&mut self, host: &mut HostFilter<'_>, event_id: u64) {
        if event_id == MISS {
            self.rx = None;
            let _ = self.cache.misses.increment();
            let _ = host.continue_decoding();
            return;
        }
        let _ = self.cache.hits.increment();
        match self.rx.take().and_then(|rx| rx.try_recv().ok()) {
            Some(body) => {
                let _ = host.send_response_with_details(200, &[(b"cached", b"yes")], body.as_bytes(), b"cache_hit");
            }
            None => {
                let _ = host.send_response(500, sluice_sdk::NO_HEADERS, b"cache result lost\n");
            }
        }
    }
}

declare_module! {
    filters: {
        "external_cache" => CacheConfig::new,
    }
}

#[cfg(test)]
mod tests {
    use sluice_sdk::testing::{FakeModule, LocalReply};
    use sluice_sdk::HeadersStatus;
    use std::time::Duration;

    fn module() -> FakeModule {
        FakeModule::load(crate::__sluice_module::symbols()).unwrap()
    }

    #[test]
    fn hit_answers_from_the_cache() {
        let cfg = module().config("external_cache", "null").unwrap();
        let mut st = cfg.new_stream().unwrap();
        st.set_request_headers(&[(":path", "/"), ("cache-key", "existing")]);
        assert_eq!(st.request_headers(true), HeadersStatus::StopIteration);
        assert_eq!(st.run_scheduled(1, Duration::from_secs(10)), 1);
        assert_eq!(
            st.local_reply(),
            Some(LocalReply {
                status: 200,
                headers: vec![("cached".into(), "yes".into())],
                body: b"cached_response_body".to_vec(),
                details: "cache_hit".into(),
            })
        );
        assert_eq!(st.continue_decoding_calls(), 0);
        assert_eq!(cfg.metric("hits"), Some(1));
    }

    #[test]
    fn miss_continues_decoding() {
        let cfg = module().config("external_cache", r#"{"threads": 1, "entries": {"k": "v"}}"#).unwrap();
        let mut st = cfg.new_stream().unwrap();
        st.set_request_headers(&[(":path", "/"), ("cache-key", "existing")]);
        assert_eq!(st.request_headers(true), HeadersStatus::StopIteration);
        assert_eq!(st.run_scheduled(1, Duration::from_secs(10)), 1);
        assert_eq!(st.local_reply(), None);
        assert_eq!(st.continue_decoding_calls(), 1);
        assert_eq!(cfg.metric("misses"), Some(1));
    }

    #[test]
    fn body_waits_for_the_lookup() {
        let cfg = module().config("external_cache", "null").unwrap();
        let mut st = cfg.new_stream().unwrap();
        st.set_request_headers(&[(":method", "POST"), ("cache-key", "other")]);
        assert_eq!(st.request_headers(false), HeadersStatus::StopIteration);
        assert_eq!(st.request_body(b"payload", true), sluice_sdk::BodyStatus::StopIterationAndBuffer);
        assert_eq!(st.run_scheduled(1, Duration::from_secs(10)), 1);
        assert_eq!(st.continue_decoding_calls(), 1);
        assert_eq!(st.forwarded_body(true), b"payload", "continue_decoding released the buffered body");
    }

    #[test]
    fn configured_entries_hit() {
        let cfg = module().config("external_cache", r#"{"entries": {"k": "v"}}"#).unwrap();
        let mut st = cfg.new_stream().unwrap();
        st.set_request_headers(&[("cache-key", "k")]);
        st.request_headers(true);
        assert_eq!(st.run_scheduled(1, Duration::from_secs(10)), 1);
        assert_eq!(st.local_reply().unwrap().body, b"v");
    }

    #[test]
    fn no_key_passes_through() {
        let cfg = module().config("external_cache", "null").unwrap();
        let mut st = cfg.new_stream().unwrap();
        assert_eq!(st.request_headers(true), HeadersStatus::Continue);
        assert_eq!(st.schedulers(), (0, 0));
    }

    #[test]
    fn bad_configs_are_rejected() {
        let m = module();
        for (config, want) in [
            ("[]", "config: want an object"),
            (r#"{"threads": 0}"#, "threads: want an integer 1..64"),
            (r#"{"entries": {"a": 1}}"#, "entries.a: want a string"),
            (r#"{"thread": 1}"#, "unknown field \"thread\""),
            ("{", "invalid JSON at byte 1: expected a string key"),
        ] {
            assert_eq!(m.config("external_cache", config).err().unwrap(), want, "config {config}");
        }
    }
}
