//! panicker: panics in the hook its config names, to show (and test) that a
//! Rust panic never unwinds into the proxy. The SDK catches it, logs
//! `panic in <hook> of filter "panicker" at <file:line>: panicker: boom in <hook>`,
//! answers the stream with `500 module filter panicked` where a reply is
//! still possible, and passes the filter's later hooks through.
//!
//! Config: `{"hook": "<name>"}` where name is one of `config`, `new_filter`,
//! `on_request_headers`, `on_request_body`, `on_response_headers`,
//! `on_response_body`, `on_scheduled`, `on_stream_complete`, `drop`, or
//! `none` (the default).

use sluice_sdk::json;
use sluice_sdk::*;

const HOOKS: &[&str] = &[
    "none",
    "config",
    "new_filter",
    "on_request_headers",
    "on_request_body",
    "on_response_headers",
    "on_response_body",
    "on_scheduled",
    "on_stream_complete",
    "drop",
];

struct PanickerConfig {
    hook: &'static str,
}

impl PanickerConfig {
    fn new(_host: &mut HostConfig<'_>, config: &[u8]) -> Result<PanickerConfig, String> {
        let v = json::parse(config).map_err(|e| e.to_string())?;
        let name =
            if v.is_null() { "none" } else { v.get("hook").and_then(|h| h.as_str()).ok_or("hook: want a string")? };
        let hook = *HOOKS
            .iter()
            .find(|h| **h == name)
            .ok_or_else(|| format!("hook: unknown \"{name}\" (one of {})", HOOKS.join(", ")))?;
        if hook == "config" {
            panic!("panicker: boom in config");
        }
        Ok(PanickerConfig { hook })
    }
}

impl HttpFilterConfig for PanickerConfig {
    fn new_filter(&self, _host: &mut HostFilter<'_>) -> Box<dyn HttpFilter> {
        if self.hook == "new_filter" {
            panic!("panicker: boom in new_filter");
        }
        Box::new(Panicker { hook: self.hook, waiting: false })
    }
}

struct Panicker {
    hook: &'static str,
    /// Stopped until on_scheduled: a body chunk must not resume the stream.
    waiting: bool,
}

impl Panicker {
    fn maybe_panic(&self, hook: &str) {
        if self.hook == hook {
            panic!("panicker: boom in {hook}");
        }
    }
}

impl HttpFilter for Panicker {
    fn on_request_headers(&mut self, host: &mut HostFilter<'_>, _end_of_stream: bool) -> HeadersStatus {
        self.maybe_panic("on_request_headers");
        if self.hook == "on_scheduled" {
            // Wake ourselves from another thread, then panic in on_scheduled.
            let Some(s) = host.new_scheduler() else {
                return HeadersStatus::Continue;
            };
            std::thread::spawn(move || s.commit(1));
            self.waiting = true;
            return HeadersStatus::StopIteration;
        }
        HeadersStatus::Continue
    }
    fn on_request_body(&mut self, _host: &mut HostFilter<'_>, _end_of_stream: bool) -> BodyStatus {
        self.maybe_panic("on_request_body");
        if self.waiting {
            // Continue here would resume the headers we stopped.
            return BodyStatus::StopIterationAndBuffer;
        }
        BodyStatus::Continue
    }
    fn on_response_headers(&mut self, _host: &mut HostFilter<'_>, _end_of_stream: bool) -> HeadersStatus {
        self.maybe_panic("on_response_headers");
        HeadersStatus::Continue
    }
    fn on_response_body(&mut self, _host: &mut HostFilter<'_>, _end_of_stream: bool) -> BodyStatus {
        self.maybe_panic("on_response_body");
        BodyStatus::Continue
    }
    fn on_scheduled(&mut self, _host: &mut HostFilter<'_>, _event_id: u64) {
        self.maybe_panic("on_scheduled");
    }
    fn on_stream_complete(&mut self, _host: &mut HostFilter<'_>) {
        self.maybe_panic("on_stream_complete");
    }
}

impl Drop for Panicker {
    fn drop(&mut self) {
        self.maybe_panic("drop");
    }
}

declare_module! {
    filters: {
        "panicker" => PanickerConfig::new,
    }
}

#[cfg(test)]
mod tests {
    use sluice_sdk::ffi::{PANIC_BODY, PANIC_STATUS};
    use sluice_sdk::testing::{logs_containing, FakeModule};
    use sluice_sdk::{BodyStatus, HeadersStatus};
    use std::time::Duration;

    fn module() -> FakeModule {
        FakeModule::load(crate::__sluice_module::symbols()).unwrap()
    }

    fn config(hook: &str) -> sluice_sdk::testing::FakeConfig {
        module().config("panicker", &format!(r#"{{"hook": "{hook}"}}"#)).unwrap()
    }

    #[test]
    fn every_stream_hook_panic_becomes_a_500() {
        for hook in ["on_request_headers", "on_request_body", "on_response_headers", "on_scheduled"] {
            let cfg = config(hook);
            let mut st = cfg.new_stream().unwrap();
            let headers = st.request_headers(false);
            match hook {
                "on_request_headers" => assert_eq!(headers, HeadersStatus::StopIteration),
                "on_request_body" => assert_eq!(st.request_body(b"x", true), BodyStatus::StopIterationNoBuffer),
                "on_response_headers" => {
                    st.set_response_headers(&[(":status", "200")]);
                    assert_eq!(st.response_headers(true), HeadersStatus::StopIteration);
                }
                _ => assert_eq!(st.run_scheduled(1, Duration::from_secs(10)), 1),
            }
            let reply = st.local_reply().unwrap_or_else(|| panic!("{hook}: no reply"));
            assert_eq!((reply.status, reply.body.as_slice()), (PANIC_STATUS, PANIC_BODY), "{hook}");
            assert_eq!(logs_containing(&format!("panicker: boom in {hook}")).len(), 1, "{hook}");
            assert_eq!(cfg.panics(), 1, "{hook}: the host counts the panic (module.<entry>.panics)");
        }
    }

    #[test]
    fn config_and_new_filter_panics_are_refusals() {
        assert_eq!(
            module().config("panicker", r#"{"hook": "config"}"#).err().unwrap(),
            "panic: panicker: boom in config"
        );
        assert_eq!(config("new_filter").new_stream().err().unwrap(), "filter_new returned NULL");
    }

    #[test]
    fn teardown_panics_are_only_logged() {
        for hook in ["on_stream_complete", "drop"] {
            let cfg = config(hook);
            let mut st = cfg.new_stream().unwrap();
            assert_eq!(st.request_headers(true), HeadersStatus::Continue);
            st.complete();
            assert_eq!(st.local_reply(), None);
            assert_eq!(logs_containing(&format!("panicker: boom in {hook}")).len(), 1, "{hook}");
        }
    }

    #[test]
    fn unknown_hook_is_rejected() {
        let err = module().config("panicker", r#"{"hook": "nope"}"#).err().unwrap();
        assert!(err.starts_with("hook: unknown \"nope\" (one of none, config, new_filter,"), "{err}");
    }
}
