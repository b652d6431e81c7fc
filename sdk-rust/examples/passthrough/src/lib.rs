//! passthrough: a filter that continues every phase and touches nothing.
//!
//! It measures what a Rust module costs the proxy by itself: the SDK
//! exports every hook, so a request runs filter_new, the request and
//! response header hooks, the response body hook, stream_complete and
//! destroy, each through the SDK's panic guard. `bench/run.sh` serves it
//! beside the C `passthrough.so` (which exports only the required hooks)
//! and a proxy without modules.
//!
//! Config: none (`{}` or absent); anything else is refused.

use sluice_sdk::json;
use sluice_sdk::*;

struct PassthroughConfig;

impl PassthroughConfig {
    fn new(_host: &mut HostConfig<'_>, config: &[u8]) -> Result<PassthroughConfig, String> {
        let v = json::parse(config).map_err(|e| e.to_string())?;
        if v.is_null() {
            return Ok(PassthroughConfig);
        }
        let fields = v.as_object().ok_or("config: want an object")?;
        if let Some((k, _)) = fields.iter().next() {
            return Err(format!("unknown field \"{k}\" (passthrough takes no config)"));
        }
        Ok(PassthroughConfig)
    }
}

impl HttpFilterConfig for PassthroughConfig {
    fn new_filter(&self, _host: &mut HostFilter<'_>) -> Box<dyn HttpFilter> {
        // A zero-sized filter: boxing it allocates nothing.
        Box::new(Passthrough)
    }
}

struct Passthrough;

impl HttpFilter for Passthrough {}

declare_module! {
    filters: { "passthrough" => PassthroughConfig::new },
}

#[cfg(test)]
mod tests {
    use sluice_sdk::testing::FakeModule;
    use sluice_sdk::{BodyStatus, HeadersStatus, TrailersStatus};

    fn module() -> FakeModule {
        FakeModule::load(crate::__sluice_module::symbols()).unwrap()
    }

    #[test]
    fn continues_every_phase_and_changes_nothing() {
        let cfg = module().config("passthrough", "{}").unwrap();
        let mut st = cfg.new_stream().unwrap();
        st.set_request_headers(&[(":method", "GET"), (":path", "/"), ("x-a", "1")]);
        assert_eq!(st.request_headers(false), HeadersStatus::Continue);
        assert_eq!(st.request_body(b"ping", false), BodyStatus::Continue);
        assert_eq!(st.request_trailers(), TrailersStatus::Continue);
        st.set_response_headers(&[(":status", "200")]);
        assert_eq!(st.response_headers(false), HeadersStatus::Continue);
        assert_eq!(st.response_body(b"pong", true), BodyStatus::Continue);
        st.complete();
        assert_eq!(st.request_header("x-a"), Some(b"1".to_vec()));
        assert!(st.local_reply().is_none());
        assert_eq!(st.forwarded_body(true), b"ping");
        assert_eq!(st.forwarded_body(false), b"pong");
    }

    #[test]
    fn refuses_config_fields() {
        let m = module();
        assert!(m.config("passthrough", "null").is_ok());
        let err = m.config("passthrough", r#"{"x": 1}"#).err().unwrap();
        assert_eq!(err, r#"unknown field "x" (passthrough takes no config)"#);
        let err = m.config("passthrough", "[]").err().unwrap();
        assert_eq!(err, "config: want an object");
    }
}
