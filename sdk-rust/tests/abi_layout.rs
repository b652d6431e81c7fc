//! Proves `src/abi.rs` matches `abi/sluice_abi.h`: a C program compiled
//! against the header prints every size, alignment, field offset and
//! constant, and each must equal the Rust side. The header is also parsed
//! so a field, constant or hook added there but missing here fails too.

mod common;

use common::{compile_c, header_path, header_text, run};
use core::mem::{align_of, offset_of, size_of};
use sluice_sdk::abi;

/// (label, C expression, Rust value)
type Check = (String, String, i64);

macro_rules! layout {
    ($checks:ident, $fields:ident, $t:ident { $($f:ident),* $(,)? }) => {{
        let t = stringify!($t);
        $checks.push((format!("sizeof {t}"), format!("sizeof({t})"), size_of::<abi::$t>() as i64));
        $checks.push((format!("alignof {t}"), format!("_Alignof({t})"), align_of::<abi::$t>() as i64));
        let mut names = Vec::new();
        $(
            let f = stringify!($f);
            $checks.push((format!("offsetof {t}.{f}"), format!("offsetof({t}, {f})"), offset_of!(abi::$t, $f) as i64));
            names.push(f.to_string());
        )*
        $fields.push((t.to_string(), names));
    }};
}

macro_rules! constants {
    ($checks:ident, $names:ident, $($c:ident),* $(,)?) => {{
        $(
            let c = stringify!($c);
            $checks.push((c.to_string(), format!("(long long)({c})"), abi::$c as i64));
            $names.push(c.to_string());
        )*
    }};
}

/// (checks, struct name -> field names, constant names)
type RustSide = (Vec<Check>, Vec<(String, Vec<String>)>, Vec<String>);

fn rust_side() -> RustSide {
    let mut checks: Vec<Check> = Vec::new();
    let mut fields = Vec::new();
    let mut consts = Vec::new();
    layout!(checks, fields, sluice_buffer { ptr, len });
    layout!(checks, fields, sluice_header { name, value });
    layout!(checks, fields, sluice_config_handle { id });
    layout!(checks, fields, sluice_filter_handle { id });
    layout!(checks, fields, sluice_scheduler_handle { id });
    layout!(checks, fields, sluice_timer_handle { id });
    layout!(checks, fields, sluice_network_filter_handle { id });
    layout!(checks, fields, sluice_metric_def { size, kind, name, label_names, n_label_names, buckets, n_buckets });
    layout!(checks, fields, sluice_callout_handle { id });
    layout!(
        checks,
        fields,
        sluice_callout_request { size, timeout_ms, cluster, headers, n_headers, body, max_response_bytes }
    );
    layout!(
        checks,
        fields,
        sluice_callout_result {
            size,
            outcome,
            status,
            reserved,
            headers,
            n_headers,
            body,
            trailers,
            n_trailers,
            detail
        }
    );
    layout!(
        checks,
        fields,
        sluice_host_api {
            size,
            abi_version,
            log,
            log_enabled,
            concurrency,
            config_reject,
            define_counter,
            define_gauge,
            define_histogram,
            counter_add,
            gauge_set,
            gauge_add,
            histogram_record,
            header_get,
            header_values,
            headers_get,
            header_set,
            header_add,
            header_remove,
            body_chunks,
            body_size,
            body_append,
            body_drain,
            send_response,
            continue_decoding,
            continue_encoding,
            clear_route_cache,
            scheduler_new,
            scheduler_commit,
            scheduler_delete,
            get_attribute_string,
            get_attribute_int,
            metadata_set_string,
            metadata_set_number,
            metadata_get_string,
            metadata_get_number,
            per_route_config,
            config_scheduler_new,
            log_filter,
            timer_new,
            timer_enable,
            timer_disable,
            timer_delete,
            define_metric,
            report_panic,
            inject_data,
            network_buffer_chunks,
            network_buffer_size,
            network_buffer_drain,
            network_buffer_append,
            network_buffer_prepend,
            network_continue_reading,
            network_inject_read_data,
            network_inject_write_data,
            network_write,
            network_close,
            network_read_disable,
            network_get_attribute_string,
            network_get_attribute_int,
            network_metadata_set_string,
            network_metadata_set_number,
            network_metadata_get_string,
            network_metadata_get_number,
            network_scheduler_new,
            network_timer_new,
            network_log,
            connection_metadata_get_string,
            connection_metadata_get_number,
            http_callout,
            config_http_callout,
            http_callout_cancel
        }
    );
    for (t, size) in [
        ("sluice_config_handle", size_of::<abi::sluice_config_handle>()),
        ("sluice_filter_handle", size_of::<abi::sluice_filter_handle>()),
        ("sluice_result", size_of::<abi::sluice_result>()),
        ("sluice_headers_status", size_of::<abi::sluice_headers_status>()),
        ("sluice_body_status", size_of::<abi::sluice_body_status>()),
        ("sluice_trailers_status", size_of::<abi::sluice_trailers_status>()),
        ("sluice_header_kind", size_of::<abi::sluice_header_kind>()),
        ("sluice_body_kind", size_of::<abi::sluice_body_kind>()),
        ("sluice_log_level", size_of::<abi::sluice_log_level>()),
        ("sluice_attribute_id", size_of::<abi::sluice_attribute_id>()),
        ("sluice_network_status", size_of::<abi::sluice_network_status>()),
        ("sluice_network_event", size_of::<abi::sluice_network_event>()),
        ("sluice_network_buffer_kind", size_of::<abi::sluice_network_buffer_kind>()),
        ("sluice_close_type", size_of::<abi::sluice_close_type>()),
        ("sluice_callout_outcome", size_of::<abi::sluice_callout_outcome>()),
    ] {
        checks.push((format!("sizeof {t}"), format!("sizeof({t})"), size as i64));
    }
    // Signedness matters for the typedefs Rust maps to i32 vs u32.
    for (t, signed) in [
        ("sluice_result", true),
        ("sluice_headers_status", true),
        ("sluice_body_status", true),
        ("sluice_trailers_status", true),
        ("sluice_header_kind", false),
        ("sluice_body_kind", false),
        ("sluice_log_level", false),
        ("sluice_attribute_id", false),
        ("sluice_network_status", true),
        ("sluice_network_event", false),
        ("sluice_network_buffer_kind", false),
        ("sluice_close_type", false),
        ("sluice_callout_outcome", false),
    ] {
        checks.push((format!("signed {t}"), format!("(long long)(({t})-1 < 0)"), signed as i64));
    }
    constants!(
        checks,
        consts,
        SLUICE_ABI_VERSION_MAJOR,
        SLUICE_ABI_VERSION_MINOR,
        SLUICE_ABI_VERSION,
        SLUICE_OK,
        SLUICE_ERR_INVALID_HANDLE,
        SLUICE_ERR_STREAM_ENDED,
        SLUICE_ERR_NOT_FOUND,
        SLUICE_ERR_UNAVAILABLE,
        SLUICE_ERR_BUFFER_TOO_SMALL,
        SLUICE_ERR_INVALID_ARGUMENT,
        SLUICE_ERR_WRONG_THREAD,
        SLUICE_ERR_WRONG_PHASE,
        SLUICE_ERR_LIMIT,
        SLUICE_HEADERS_CONTINUE,
        SLUICE_HEADERS_STOP_ITERATION,
        SLUICE_HEADERS_CONTINUE_AND_DONT_END_STREAM,
        SLUICE_HEADERS_STOP_ALL_ITERATION_AND_BUFFER,
        SLUICE_HEADERS_STOP_ALL_ITERATION_AND_WATERMARK,
        SLUICE_BODY_CONTINUE,
        SLUICE_BODY_STOP_ITERATION_AND_BUFFER,
        SLUICE_BODY_STOP_ITERATION_AND_WATERMARK,
        SLUICE_BODY_STOP_ITERATION_NO_BUFFER,
        SLUICE_TRAILERS_CONTINUE,
        SLUICE_TRAILERS_STOP_ITERATION,
        SLUICE_REQUEST_HEADERS,
        SLUICE_REQUEST_TRAILERS,
        SLUICE_RESPONSE_HEADERS,
        SLUICE_RESPONSE_TRAILERS,
        SLUICE_RECEIVED_REQUEST_BODY,
        SLUICE_BUFFERED_REQUEST_BODY,
        SLUICE_RECEIVED_RESPONSE_BODY,
        SLUICE_BUFFERED_RESPONSE_BODY,
        SLUICE_LOG_TRACE,
        SLUICE_LOG_DEBUG,
        SLUICE_LOG_INFO,
        SLUICE_LOG_WARN,
        SLUICE_LOG_ERROR,
        SLUICE_LOG_CRITICAL,
        SLUICE_LOG_OFF,
        SLUICE_ATTR_REQUEST_METHOD,
        SLUICE_ATTR_REQUEST_PATH,
        SLUICE_ATTR_REQUEST_HOST,
        SLUICE_ATTR_REQUEST_SCHEME,
        SLUICE_ATTR_REQUEST_PROTOCOL,
        SLUICE_ATTR_REQUEST_ID,
        SLUICE_ATTR_SOURCE_ADDRESS,
        SLUICE_ATTR_DESTINATION_ADDRESS,
        SLUICE_ATTR_SOURCE_PORT,
        SLUICE_ATTR_DESTINATION_PORT,
        SLUICE_ATTR_CONNECTION_ID,
        SLUICE_ATTR_STREAM_ID,
        SLUICE_ATTR_WORKER_INDEX,
        SLUICE_ATTR_RESPONSE_CODE,
        SLUICE_METRIC_COUNTER,
        SLUICE_METRIC_GAUGE,
        SLUICE_METRIC_HISTOGRAM,
        SLUICE_DIRECTION_REQUEST,
        SLUICE_DIRECTION_RESPONSE,
        SLUICE_ATTR_TLS_SNI,
        SLUICE_ATTR_TLS_ALPN,
        SLUICE_ATTR_TLS_VERSION,
        SLUICE_ATTR_TLS_PEER_SUBJECT,
        SLUICE_ATTR_TLS_PEER_SANS,
        SLUICE_NETWORK_CONTINUE,
        SLUICE_NETWORK_STOP_ITERATION,
        SLUICE_NETWORK_EVENT_CONNECTED,
        SLUICE_NETWORK_EVENT_REMOTE_CLOSE,
        SLUICE_NETWORK_EVENT_LOCAL_CLOSE,
        SLUICE_NETWORK_READ_BUFFER,
        SLUICE_NETWORK_WRITE_BUFFER,
        SLUICE_CLOSE_FLUSH,
        SLUICE_CLOSE_ABORT,
        SLUICE_CALLOUT_OK,
        SLUICE_CALLOUT_NO_HEALTHY_UPSTREAM,
        SLUICE_CALLOUT_OVERFLOW,
        SLUICE_CALLOUT_CONNECT_FAILURE,
        SLUICE_CALLOUT_RESET,
        SLUICE_CALLOUT_TIMEOUT,
        SLUICE_CALLOUT_RESPONSE_TOO_LARGE,
        SLUICE_CALLOUT_CLUSTER_UNKNOWN,
    );
    (checks, fields, consts)
}

#[test]
fn sizes_offsets_and_constants_match_the_header() {
    let (checks, _, _) = rust_side();
    let mut src = String::from("#include <stdio.h>\n#include \"sluice_abi.h\"\nint main(void) {\n");
    for (_, expr, _) in &checks {
        src.push_str(&format!("    printf(\"%lld\\n\", (long long)({expr}));\n"));
    }
    src.push_str("    return 0;\n}\n");
    let exe = compile_c("layout", &src);
    let out = run(&exe);
    let c_values: Vec<i64> = out.lines().map(|l| l.parse().expect("C printed a number")).collect();
    assert_eq!(c_values.len(), checks.len(), "C program printed {} values, want {}", c_values.len(), checks.len());
    let mismatches: Vec<String> = checks
        .iter()
        .zip(&c_values)
        .filter(|((_, _, rust), c)| rust != *c)
        .map(|((label, _, rust), c)| format!("{label}: C {c}, Rust {rust}"))
        .collect();
    assert!(mismatches.is_empty(), "abi.rs differs from sluice_abi.h:\n{}", mismatches.join("\n"));
}

/// The fields of `typedef struct NAME { ... } NAME;` in declaration order.
fn header_struct_fields(header: &str, name: &str) -> Vec<String> {
    let start =
        header.find(&format!("typedef struct {name} {{")).unwrap_or_else(|| panic!("struct {name} not in header"));
    let body_start = start + header[start..].find('{').unwrap() + 1;
    let body_end = body_start + header[body_start..].find(&format!("}} {name};")).unwrap();
    let body = strip_comments(&header[body_start..body_end]);
    body.split(';')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|decl| {
            if let Some(p) = decl.find("(*") {
                // function pointer: ret (*name)(args)
                let rest = &decl[p + 2..];
                rest[..rest.find(')').unwrap()].trim().to_string()
            } else {
                let decl = decl.split('[').next().unwrap();
                decl.split(|c: char| !(c.is_alphanumeric() || c == '_')).rfind(|s| !s.is_empty()).unwrap().to_string()
            }
        })
        .collect()
}

fn strip_comments(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(p) = rest.find("/*") {
        out.push_str(&rest[..p]);
        rest = &rest[p + rest[p..].find("*/").expect("closed comment") + 2..];
    }
    out.push_str(rest);
    out
}

#[test]
fn every_header_struct_field_is_bound() {
    let header = header_text();
    let (_, fields, _) = rust_side();
    for (name, rust_fields) in fields {
        assert_eq!(header_struct_fields(&header, &name), rust_fields, "fields of {name}: header vs abi.rs");
    }
}

#[test]
fn every_header_constant_is_bound() {
    let header = strip_comments(&header_text());
    let (_, _, consts) = rust_side();
    let defined: Vec<String> = header
        .lines()
        .filter_map(|l| l.trim().strip_prefix("#define "))
        .map(|rest| rest.split(|c: char| c.is_whitespace() || c == '(').next().unwrap().to_string())
        // include guard and function-like macros are not values
        .filter(|n| n != "SLUICE_ABI_H" && n != "SLUICE_HOST_API_HAS" && n != "SLUICE_HANDLE_IS_NULL")
        .collect();
    let missing: Vec<&String> = defined.iter().filter(|d| !consts.contains(d)).collect();
    assert!(missing.is_empty(), "header constants missing from abi.rs: {missing:?}");
    assert_eq!(defined.len(), consts.len(), "abi.rs binds constants the header lacks");
}

#[test]
fn hook_symbol_list_matches_header_prototypes() {
    let header = strip_comments(&header_text());
    let mut protos: Vec<String> = Vec::new();
    let mut rest = header.as_str();
    // Hook prototypes are the only non-inline declarations of sluice_* functions.
    while let Some(p) = rest.find(" sluice_") {
        let after = &rest[p + 1..];
        let name_end = after.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap();
        let name = &after[..name_end];
        let line_start = rest[..p].rfind('\n').map(|i| i + 1).unwrap_or(0);
        let line = &rest[line_start..p];
        if after[name_end..].starts_with('(') && !line.contains("static inline") && !line.contains("define") {
            protos.push(name.to_string());
        }
        rest = &after[name_end..];
    }
    let mut want: Vec<String> = abi::HOOK_SYMBOLS.iter().map(|s| s.to_string()).collect();
    protos.sort();
    want.sort();
    assert_eq!(protos, want, "hook prototypes in {}", header_path().display());
}

#[test]
fn host_api_has_follows_the_size_field() {
    // SLUICE_HOST_API_HAS(api, field): size >= offsetof(field) + sizeof(field).
    let src = r#"#include <stdio.h>
#include <string.h>
#include "sluice_abi.h"
int main(void) {
    sluice_host_api api; memset(&api, 0, sizeof api);
    api.size = offsetof(sluice_host_api, per_route_config);
    printf("%d %d\n", SLUICE_HOST_API_HAS(&api, metadata_get_number), SLUICE_HOST_API_HAS(&api, per_route_config));
    return 0;
}
"#;
    let out = run(&compile_c("has", src));
    // SAFETY: an all-zero table is a valid value (every callback is None).
    let mut api: abi::sluice_host_api = unsafe { core::mem::zeroed() };
    api.size = offset_of!(abi::sluice_host_api, per_route_config) as u32;
    let has = |off: usize| abi::host_api_has(&api, off, size_of::<usize>()) as i32;
    let rust = format!(
        "{} {}\n",
        has(offset_of!(abi::sluice_host_api, metadata_get_number)),
        has(offset_of!(abi::sluice_host_api, per_route_config))
    );
    assert_eq!(out, "1 0\n");
    assert_eq!(rust, out);
}
