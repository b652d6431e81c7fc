//! header_metadata: header mutation plus dynamic metadata.
//!
//! On the request it copies chosen headers into dynamic metadata
//! (`<namespace>.<header>` strings, `<namespace>.copied` a number), sets and
//! removes request headers (then clears the route cache, since routes may
//! match on them). On the response it reads the metadata back through the
//! host and exposes it as `x-metadata-<header>` / `x-metadata-copied`
//! response headers, and sets the configured response headers.
//!
//! With `"expose_attributes": true` it also answers with the stream
//! attributes the host reports: `x-attr-method`, `x-attr-path`,
//! `x-attr-protocol`, `x-attr-source` (peer address) and `x-attr-worker`.
//!
//! A route may override the response headers to set with a per-route
//! config (`typed_per_filter_config: {<filter>: {"set_response_headers": {...}}}`),
//! which replaces the filter-wide list on that route.
//!
//! Config:
//! ```json
//! {"namespace": "header_metadata", "copy_to_metadata": ["x-user"],
//!  "set_request_headers": {"x-added": "1"}, "remove_request_headers": ["x-secret"],
//!  "set_response_headers": {"x-served-by": "rust"}}
//! ```

use sluice_sdk::json::{self, Value};
use sluice_sdk::*;
use std::sync::Arc;

#[derive(Default)]
struct Rules {
    namespace: String,
    copy: Vec<String>,
    set_request: Vec<(String, String)>,
    remove_request: Vec<String>,
    set_response: Vec<(String, String)>,
    expose_attributes: bool,
}

fn strings(field: &str, v: &Value) -> Result<Vec<String>, String> {
    let items = v.as_array().ok_or(format!("{field}: want an array of strings"))?;
    items
        .iter()
        .map(|i| i.as_str().map(|s| s.to_ascii_lowercase()).ok_or(format!("{field}: want an array of strings")))
        .collect()
}

fn pairs(field: &str, v: &Value) -> Result<Vec<(String, String)>, String> {
    let fields = v.as_object().ok_or(format!("{field}: want an object of strings"))?;
    fields
        .iter()
        .map(|(k, v)| {
            v.as_str().map(|s| (k.to_ascii_lowercase(), s.to_string())).ok_or(format!("{field}.{k}: want a string"))
        })
        .collect()
}

struct HeaderMetadataConfig {
    rules: Arc<Rules>,
}

impl HeaderMetadataConfig {
    fn new(_host: &mut HostConfig<'_>, config: &[u8]) -> Result<HeaderMetadataConfig, String> {
        let v = json::parse(config).map_err(|e| e.to_string())?;
        let mut rules = Rules { namespace: "header_metadata".to_string(), ..Rules::default() };
        let fields = v.as_object().ok_or("config: want an object")?;
        for (k, val) in fields {
            match k.as_str() {
                "namespace" => {
                    rules.namespace =
                        val.as_str().filter(|s| !s.is_empty()).ok_or("namespace: want a non-empty string")?.to_string()
                }
                "copy_to_metadata" => rules.copy = strings(k, val)?,
                "set_request_headers" => rules.set_request = pairs(k, val)?,
                "remove_request_headers" => rules.remove_request = strings(k, val)?,
                "set_response_headers" => rules.set_response = pairs(k, val)?,
                "expose_attributes" => {
                    rules.expose_attributes = val.as_bool().ok_or("expose_attributes: want a boolean")?
                }
                other => return Err(format!("unknown field \"{other}\"")),
            }
        }
        Ok(HeaderMetadataConfig { rules: Arc::new(rules) })
    }
}

/// A route's override of the response headers to set.
struct RouteRules {
    set_response: Vec<(String, String)>,
}

impl HttpFilterConfig for HeaderMetadataConfig {
    fn new_filter(&self, _host: &mut HostFilter<'_>) -> Box<dyn HttpFilter> {
        Box::new(HeaderMetadata { rules: Arc::clone(&self.rules) })
    }

    fn new_per_route_config(
        &self,
        _host: &mut HostConfig<'_>,
        config: &[u8],
    ) -> Result<Box<dyn std::any::Any + Send + Sync>, String> {
        let v = json::parse(config).map_err(|e| e.to_string())?;
        let mut set_response = Vec::new();
        for (k, val) in v.as_object().ok_or("per-route config: want an object")? {
            match k.as_str() {
                "set_response_headers" => set_response = pairs(k, val)?,
                other => return Err(format!("per-route config: unknown field \"{other}\"")),
            }
        }
        Ok(Box::new(RouteRules { set_response }))
    }
}

struct HeaderMetadata {
    rules: Arc<Rules>,
}

impl HttpFilter for HeaderMetadata {
    fn on_request_headers(&mut self, host: &mut HostFilter<'_>, _end_of_stream: bool) -> HeadersStatus {
        let r = &*self.rules;
        let mut copied = 0;
        for name in &r.copy {
            if let Some(value) = host.request_header(name) {
                // The view stays valid while we call the setter.
                if host.set_metadata_string(&r.namespace, name, value).is_ok() {
                    copied += 1;
                }
            }
        }
        let _ = host.set_metadata_number(&r.namespace, "copied", copied as f64);
        let mut changed = false;
        for (name, value) in &r.set_request {
            changed |= host.set_request_header(name, value).is_ok();
        }
        for name in &r.remove_request {
            changed |= host.remove_request_header(name).map(|n| n > 0).unwrap_or(false);
        }
        if changed {
            let _ = host.clear_route_cache();
        }
        HeadersStatus::Continue
    }

    fn on_response_headers(&mut self, host: &mut HostFilter<'_>, _end_of_stream: bool) -> HeadersStatus {
        let r = &*self.rules;
        for name in &r.copy {
            if let Ok(value) = host.metadata_string(&r.namespace, name) {
                let _ = host.set_response_header(format!("x-metadata-{name}"), value);
            }
        }
        if let Ok(n) = host.metadata_number(&r.namespace, "copied") {
            let _ = host.set_response_header("x-metadata-copied", n.to_string());
        }
        let set = match host.per_route_config::<RouteRules>() {
            Some(route) => &route.set_response,
            None => &r.set_response,
        };
        for (name, value) in set {
            let _ = host.set_response_header(name, value);
        }
        if r.expose_attributes {
            for (name, id) in [
                ("x-attr-method", Attribute::RequestMethod),
                ("x-attr-path", Attribute::RequestPath),
                ("x-attr-protocol", Attribute::RequestProtocol),
                ("x-attr-source", Attribute::SourceAddress),
            ] {
                if let Ok(v) = host.attribute_string(id) {
                    let _ = host.set_response_header(name, v);
                }
            }
            if let Ok(w) = host.attribute_int(Attribute::WorkerIndex) {
                let _ = host.set_response_header("x-attr-worker", w.to_string());
            }
        }
        HeadersStatus::Continue
    }
}

declare_module! {
    filters: {
        "header_metadata" => HeaderMetadataConfig::new,
    }
}

#[cfg(test)]
mod tests {
    use sluice_sdk::testing::{FakeModule, Metadata};
    use sluice_sdk::{HeaderKind, HeadersStatus};

    const CONFIG: &str = r#"{"namespace": "hm", "copy_to_metadata": ["X-User", "x-absent"],
        "set_request_headers": {"x-added": "1"}, "remove_request_headers": ["x-secret"],
        "set_response_headers": {"x-served-by": "rust"}}"#;

    #[test]
    fn copies_headers_through_metadata_to_the_response() {
        let m = FakeModule::load(crate::__sluice_module::symbols()).unwrap();
        let cfg = m.config("header_metadata", CONFIG).unwrap();
        let mut st = cfg.new_stream().unwrap();
        st.set_request_headers(&[(":path", "/"), ("x-user", "alice"), ("x-secret", "s")]);
        assert_eq!(st.request_headers(true), HeadersStatus::Continue);
        assert_eq!(
            st.headers(HeaderKind::RequestHeaders),
            vec![(":path".into(), "/".into()), ("x-user".into(), "alice".into()), ("x-added".into(), "1".into())]
        );
        assert_eq!(st.metadata("hm", "x-user"), Some(Metadata::String(b"alice".to_vec())));
        assert_eq!(st.metadata_string("hm", "x-user").unwrap(), b"alice");
        assert_eq!(st.metadata_number("hm", "copied").unwrap(), 1.0);
        assert!(st.metadata_number("hm", "x-user").is_err());
        assert_eq!(st.clear_route_cache_calls(), 1);
        st.set_response_headers(&[(":status", "200")]);
        assert_eq!(st.response_headers(false), HeadersStatus::Continue);
        assert_eq!(
            st.headers(HeaderKind::ResponseHeaders),
            vec![
                (":status".into(), "200".into()),
                ("x-metadata-x-user".into(), "alice".into()),
                ("x-metadata-copied".into(), "1".into()),
                ("x-served-by".into(), "rust".into()),
            ]
        );
    }

    #[test]
    fn a_route_overrides_the_response_headers() {
        let m = FakeModule::load(crate::__sluice_module::symbols()).unwrap();
        let cfg = m.config("header_metadata", CONFIG).unwrap();
        let route = cfg.per_route(r#"{"set_response_headers": {"x-route": "a"}}"#).unwrap();
        assert_eq!(cfg.per_route(r#"{"x": 1}"#).err().unwrap(), "per-route config: unknown field \"x\"");
        let mut st = cfg.new_stream().unwrap();
        st.set_per_route(&route);
        st.set_response_headers(&[(":status", "200")]);
        st.response_headers(true);
        assert_eq!(st.header(HeaderKind::ResponseHeaders, "x-route").as_deref(), Some(&b"a"[..]));
        assert_eq!(st.header(HeaderKind::ResponseHeaders, "x-served-by"), None);
    }

    #[test]
    fn exposes_attributes() {
        let m = FakeModule::load(crate::__sluice_module::symbols()).unwrap();
        let cfg = m.config("header_metadata", r#"{"expose_attributes": true}"#).unwrap();
        let mut st = cfg.new_stream().unwrap();
        st.set_attribute_string(sluice_sdk::Attribute::RequestMethod, "GET");
        st.set_attribute_string(sluice_sdk::Attribute::RequestProtocol, "HTTP/2");
        st.set_attribute_int(sluice_sdk::Attribute::WorkerIndex, 1);
        st.set_response_headers(&[(":status", "200")]);
        st.response_headers(true);
        assert_eq!(
            st.headers(HeaderKind::ResponseHeaders),
            vec![
                (":status".into(), "200".into()),
                ("x-attr-method".into(), "GET".into()),
                ("x-attr-protocol".into(), "HTTP/2".into()),
                ("x-attr-worker".into(), "1".into()),
            ]
        );
    }

    #[test]
    fn bad_configs_are_rejected() {
        let m = FakeModule::load(crate::__sluice_module::symbols()).unwrap();
        for (config, want) in [
            ("null", "config: want an object"),
            (r#"{"namespace": ""}"#, "namespace: want a non-empty string"),
            (r#"{"copy_to_metadata": "x"}"#, "copy_to_metadata: want an array of strings"),
            (r#"{"set_request_headers": {"a": 1}}"#, "set_request_headers.a: want a string"),
            (r#"{"expose_attributes": "yes"}"#, "expose_attributes: want a boolean"),
            (r#"{"bogus": 1}"#, "unknown field \"bogus\""),
        ] {
            assert_eq!(m.config("header_metadata", config).err().unwrap(), want, "config {config}");
        }
    }
}
