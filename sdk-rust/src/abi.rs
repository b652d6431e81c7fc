//! Raw bindings to `abi/sluice_abi.h`, written by hand.
//!
//! Names follow the header exactly (so `grep` finds both sides) and every
//! struct is `#[repr(C)]`. `tests/abi_layout.rs` compiles a C program against
//! the header and checks every size, field offset and constant below, so a
//! drift between the two fails `cargo test`.
//!
//! Host-table entries are `Option<fn>`: a NULL entry (or one past the
//! table's `size`, see [`host_api_has`]) must never be called.
#![allow(non_camel_case_types)]

use core::ffi::c_void;

pub const SLUICE_ABI_VERSION_MAJOR: u32 = 2;
pub const SLUICE_ABI_VERSION_MINOR: u32 = 1;
/// What `sluice_module_abi_version()` returns: major << 16 | minor.
pub const SLUICE_ABI_VERSION: u32 = (SLUICE_ABI_VERSION_MAJOR << 16) | SLUICE_ABI_VERSION_MINOR;

/// A filter configuration (`sluice_config_handle`): one 64-bit id, passed
/// in the same register as a `u64` (`repr(transparent)`); id 0 is never
/// valid.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct sluice_config_handle {
    pub id: u64,
}

/// One filter instance on one stream (`sluice_filter_handle`).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct sluice_filter_handle {
    pub id: u64,
}

/// A one-shot timer of a filter (`sluice_timer_handle`).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct sluice_timer_handle {
    pub id: u64,
}

/// One network filter instance on one connection
/// (`sluice_network_filter_handle`, ABI 2.1).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct sluice_network_filter_handle {
    pub id: u64,
}

/// A scheduler (`sluice_scheduler_handle`).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct sluice_scheduler_handle {
    pub id: u64,
}

/// A byte string; `ptr` may be NULL when `len == 0`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct sluice_buffer {
    pub ptr: *const u8,
    pub len: usize,
}

impl sluice_buffer {
    pub const EMPTY: sluice_buffer = sluice_buffer { ptr: core::ptr::null(), len: 0 };

    /// Borrow a Rust slice for the duration of a host call.
    pub fn from_slice(s: &[u8]) -> sluice_buffer {
        sluice_buffer { ptr: s.as_ptr(), len: s.len() }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct sluice_header {
    pub name: sluice_buffer,
    pub value: sluice_buffer,
}

pub type sluice_result = i32;
pub const SLUICE_OK: sluice_result = 0;
pub const SLUICE_ERR_INVALID_HANDLE: sluice_result = -1;
pub const SLUICE_ERR_STREAM_ENDED: sluice_result = -2;
pub const SLUICE_ERR_NOT_FOUND: sluice_result = -3;
pub const SLUICE_ERR_UNAVAILABLE: sluice_result = -4;
pub const SLUICE_ERR_BUFFER_TOO_SMALL: sluice_result = -5;
pub const SLUICE_ERR_INVALID_ARGUMENT: sluice_result = -6;
pub const SLUICE_ERR_WRONG_THREAD: sluice_result = -7;
pub const SLUICE_ERR_WRONG_PHASE: sluice_result = -8;
pub const SLUICE_ERR_LIMIT: sluice_result = -9;

pub type sluice_headers_status = i32;
pub const SLUICE_HEADERS_CONTINUE: sluice_headers_status = 0;
pub const SLUICE_HEADERS_STOP_ITERATION: sluice_headers_status = 1;
pub const SLUICE_HEADERS_CONTINUE_AND_DONT_END_STREAM: sluice_headers_status = 2;
pub const SLUICE_HEADERS_STOP_ALL_ITERATION_AND_BUFFER: sluice_headers_status = 3;
pub const SLUICE_HEADERS_STOP_ALL_ITERATION_AND_WATERMARK: sluice_headers_status = 4;

pub type sluice_body_status = i32;
pub const SLUICE_BODY_CONTINUE: sluice_body_status = 0;
pub const SLUICE_BODY_STOP_ITERATION_AND_BUFFER: sluice_body_status = 1;
pub const SLUICE_BODY_STOP_ITERATION_AND_WATERMARK: sluice_body_status = 2;
pub const SLUICE_BODY_STOP_ITERATION_NO_BUFFER: sluice_body_status = 3;

pub type sluice_trailers_status = i32;
pub const SLUICE_TRAILERS_CONTINUE: sluice_trailers_status = 0;
pub const SLUICE_TRAILERS_STOP_ITERATION: sluice_trailers_status = 1;

pub type sluice_direction = u32;
pub const SLUICE_DIRECTION_REQUEST: sluice_direction = 0;
pub const SLUICE_DIRECTION_RESPONSE: sluice_direction = 1;

pub type sluice_metric_kind = u32;
pub const SLUICE_METRIC_COUNTER: sluice_metric_kind = 0;
pub const SLUICE_METRIC_GAUGE: sluice_metric_kind = 1;
pub const SLUICE_METRIC_HISTOGRAM: sluice_metric_kind = 2;

/// A metric definition for `define_metric` (labels, histogram buckets).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct sluice_metric_def {
    pub size: u32,
    pub kind: sluice_metric_kind,
    pub name: sluice_buffer,
    pub label_names: *const sluice_buffer,
    pub n_label_names: usize,
    pub buckets: *const u64,
    pub n_buckets: usize,
}

pub type sluice_header_kind = u32;
pub const SLUICE_REQUEST_HEADERS: sluice_header_kind = 0;
pub const SLUICE_REQUEST_TRAILERS: sluice_header_kind = 1;
pub const SLUICE_RESPONSE_HEADERS: sluice_header_kind = 2;
pub const SLUICE_RESPONSE_TRAILERS: sluice_header_kind = 3;

pub type sluice_body_kind = u32;
pub const SLUICE_RECEIVED_REQUEST_BODY: sluice_body_kind = 0;
pub const SLUICE_BUFFERED_REQUEST_BODY: sluice_body_kind = 1;
pub const SLUICE_RECEIVED_RESPONSE_BODY: sluice_body_kind = 2;
pub const SLUICE_BUFFERED_RESPONSE_BODY: sluice_body_kind = 3;

pub type sluice_log_level = u32;
pub const SLUICE_LOG_TRACE: sluice_log_level = 0;
pub const SLUICE_LOG_DEBUG: sluice_log_level = 1;
pub const SLUICE_LOG_INFO: sluice_log_level = 2;
pub const SLUICE_LOG_WARN: sluice_log_level = 3;
pub const SLUICE_LOG_ERROR: sluice_log_level = 4;
pub const SLUICE_LOG_CRITICAL: sluice_log_level = 5;
pub const SLUICE_LOG_OFF: sluice_log_level = 6;

pub type sluice_attribute_id = u32;
pub const SLUICE_ATTR_REQUEST_METHOD: sluice_attribute_id = 1;
pub const SLUICE_ATTR_REQUEST_PATH: sluice_attribute_id = 2;
pub const SLUICE_ATTR_REQUEST_HOST: sluice_attribute_id = 3;
pub const SLUICE_ATTR_REQUEST_SCHEME: sluice_attribute_id = 4;
pub const SLUICE_ATTR_REQUEST_PROTOCOL: sluice_attribute_id = 5;
pub const SLUICE_ATTR_REQUEST_ID: sluice_attribute_id = 6;
pub const SLUICE_ATTR_SOURCE_ADDRESS: sluice_attribute_id = 7;
pub const SLUICE_ATTR_DESTINATION_ADDRESS: sluice_attribute_id = 8;
pub const SLUICE_ATTR_SOURCE_PORT: sluice_attribute_id = 9;
pub const SLUICE_ATTR_DESTINATION_PORT: sluice_attribute_id = 10;
pub const SLUICE_ATTR_CONNECTION_ID: sluice_attribute_id = 11;
pub const SLUICE_ATTR_STREAM_ID: sluice_attribute_id = 12;
pub const SLUICE_ATTR_WORKER_INDEX: sluice_attribute_id = 13;
pub const SLUICE_ATTR_RESPONSE_CODE: sluice_attribute_id = 14;
pub const SLUICE_ATTR_TLS_SNI: sluice_attribute_id = 15;
pub const SLUICE_ATTR_TLS_ALPN: sluice_attribute_id = 16;
pub const SLUICE_ATTR_TLS_VERSION: sluice_attribute_id = 17;
pub const SLUICE_ATTR_TLS_PEER_SUBJECT: sluice_attribute_id = 18;
pub const SLUICE_ATTR_TLS_PEER_SANS: sluice_attribute_id = 19;

/// Network filter status (`sluice_network_status`, ABI 2.1).
pub type sluice_network_status = i32;
pub const SLUICE_NETWORK_CONTINUE: sluice_network_status = 0;
pub const SLUICE_NETWORK_STOP_ITERATION: sluice_network_status = 1;

/// Connection events (`sluice_network_event`).
pub type sluice_network_event = u32;
pub const SLUICE_NETWORK_EVENT_CONNECTED: sluice_network_event = 0;
pub const SLUICE_NETWORK_EVENT_REMOTE_CLOSE: sluice_network_event = 1;
pub const SLUICE_NETWORK_EVENT_LOCAL_CLOSE: sluice_network_event = 2;

/// Which network buffer (`sluice_network_buffer_kind`).
pub type sluice_network_buffer_kind = u32;
pub const SLUICE_NETWORK_READ_BUFFER: sluice_network_buffer_kind = 0;
pub const SLUICE_NETWORK_WRITE_BUFFER: sluice_network_buffer_kind = 1;

/// How a connection closes (`sluice_close_type`).
pub type sluice_close_type = u32;
pub const SLUICE_CLOSE_FLUSH: sluice_close_type = 0;
pub const SLUICE_CLOSE_ABORT: sluice_close_type = 1;

// ---- HTTP callouts (ABI 2.1) ------------------------------------------

/// An HTTP callout of a filter or config (`sluice_callout_handle`).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct sluice_callout_handle {
    pub id: u64,
}

/// What a callout sends (`sluice_callout_request`); copied by the start call.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct sluice_callout_request {
    pub size: u32,
    pub timeout_ms: u32,
    pub cluster: sluice_buffer,
    pub headers: *const sluice_header,
    pub n_headers: usize,
    pub body: sluice_buffer,
    pub max_response_bytes: u64,
}

pub type sluice_callout_outcome = u32;
pub const SLUICE_CALLOUT_OK: sluice_callout_outcome = 0;
pub const SLUICE_CALLOUT_NO_HEALTHY_UPSTREAM: sluice_callout_outcome = 1;
pub const SLUICE_CALLOUT_OVERFLOW: sluice_callout_outcome = 2;
pub const SLUICE_CALLOUT_CONNECT_FAILURE: sluice_callout_outcome = 3;
pub const SLUICE_CALLOUT_RESET: sluice_callout_outcome = 4;
pub const SLUICE_CALLOUT_TIMEOUT: sluice_callout_outcome = 5;
pub const SLUICE_CALLOUT_RESPONSE_TOO_LARGE: sluice_callout_outcome = 6;
pub const SLUICE_CALLOUT_CLUSTER_UNKNOWN: sluice_callout_outcome = 7;

/// A finished callout, lent to the done hook (`sluice_callout_result`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct sluice_callout_result {
    pub size: u32,
    pub outcome: sluice_callout_outcome,
    pub status: u32,
    pub reserved: u32,
    pub headers: *const sluice_header,
    pub n_headers: usize,
    pub body: sluice_buffer,
    pub trailers: *const sluice_header,
    pub n_trailers: usize,
    pub detail: sluice_buffer,
}

/// The host callback table handed to `sluice_on_program_init`.
#[repr(C)]
pub struct sluice_host_api {
    pub size: u32,
    pub abi_version: u32,

    pub log: Option<unsafe extern "C" fn(level: sluice_log_level, msg: *const u8, msg_len: usize)>,
    pub log_enabled: Option<unsafe extern "C" fn(level: sluice_log_level) -> bool>,
    pub concurrency: Option<unsafe extern "C" fn() -> u32>,

    pub config_reject: Option<
        unsafe extern "C" fn(config: sluice_config_handle, reason: *const u8, reason_len: usize) -> sluice_result,
    >,
    pub define_counter: Option<
        unsafe extern "C" fn(
            config: sluice_config_handle,
            name: *const u8,
            name_len: usize,
            id_out: *mut u32,
        ) -> sluice_result,
    >,
    pub define_gauge: Option<
        unsafe extern "C" fn(
            config: sluice_config_handle,
            name: *const u8,
            name_len: usize,
            id_out: *mut u32,
        ) -> sluice_result,
    >,
    pub define_histogram: Option<
        unsafe extern "C" fn(
            config: sluice_config_handle,
            name: *const u8,
            name_len: usize,
            id_out: *mut u32,
        ) -> sluice_result,
    >,
    pub counter_add: Option<
        unsafe extern "C" fn(
            config: sluice_config_handle,
            id: u32,
            labels: *const sluice_buffer,
            n_labels: usize,
            delta: u64,
        ) -> sluice_result,
    >,
    pub gauge_set: Option<
        unsafe extern "C" fn(
            config: sluice_config_handle,
            id: u32,
            labels: *const sluice_buffer,
            n_labels: usize,
            value: i64,
        ) -> sluice_result,
    >,
    pub gauge_add: Option<
        unsafe extern "C" fn(
            config: sluice_config_handle,
            id: u32,
            labels: *const sluice_buffer,
            n_labels: usize,
            delta: i64,
        ) -> sluice_result,
    >,
    pub histogram_record: Option<
        unsafe extern "C" fn(
            config: sluice_config_handle,
            id: u32,
            labels: *const sluice_buffer,
            n_labels: usize,
            value: u64,
        ) -> sluice_result,
    >,

    pub header_get: Option<
        unsafe extern "C" fn(
            filter: sluice_filter_handle,
            kind: sluice_header_kind,
            name: *const u8,
            name_len: usize,
            index: usize,
            value_out: *mut sluice_buffer,
            count_out: *mut usize,
        ) -> sluice_result,
    >,
    pub header_values: Option<
        unsafe extern "C" fn(
            filter: sluice_filter_handle,
            kind: sluice_header_kind,
            name: *const u8,
            name_len: usize,
            values: *mut sluice_buffer,
            cap: usize,
            count_out: *mut usize,
        ) -> sluice_result,
    >,
    pub headers_get: Option<
        unsafe extern "C" fn(
            filter: sluice_filter_handle,
            kind: sluice_header_kind,
            headers: *mut sluice_header,
            cap: usize,
            count_out: *mut usize,
        ) -> sluice_result,
    >,
    pub header_set: Option<
        unsafe extern "C" fn(
            filter: sluice_filter_handle,
            kind: sluice_header_kind,
            name: *const u8,
            name_len: usize,
            value: *const u8,
            value_len: usize,
        ) -> sluice_result,
    >,
    pub header_add: Option<
        unsafe extern "C" fn(
            filter: sluice_filter_handle,
            kind: sluice_header_kind,
            name: *const u8,
            name_len: usize,
            value: *const u8,
            value_len: usize,
        ) -> sluice_result,
    >,
    pub header_remove: Option<
        unsafe extern "C" fn(
            filter: sluice_filter_handle,
            kind: sluice_header_kind,
            name: *const u8,
            name_len: usize,
            removed_out: *mut usize,
        ) -> sluice_result,
    >,

    pub body_chunks: Option<
        unsafe extern "C" fn(
            filter: sluice_filter_handle,
            kind: sluice_body_kind,
            chunks: *mut sluice_buffer,
            cap: usize,
            count_out: *mut usize,
        ) -> sluice_result,
    >,
    pub body_size: Option<
        unsafe extern "C" fn(
            filter: sluice_filter_handle,
            kind: sluice_body_kind,
            size_out: *mut usize,
        ) -> sluice_result,
    >,
    pub body_append: Option<
        unsafe extern "C" fn(
            filter: sluice_filter_handle,
            kind: sluice_body_kind,
            data: *const u8,
            len: usize,
        ) -> sluice_result,
    >,
    pub body_drain:
        Option<unsafe extern "C" fn(filter: sluice_filter_handle, kind: sluice_body_kind, n: usize) -> sluice_result>,

    pub send_response: Option<
        unsafe extern "C" fn(
            filter: sluice_filter_handle,
            status: u32,
            headers: *const sluice_header,
            n_headers: usize,
            body: *const u8,
            body_len: usize,
            details: *const u8,
            details_len: usize,
        ) -> sluice_result,
    >,
    pub continue_decoding: Option<unsafe extern "C" fn(filter: sluice_filter_handle) -> sluice_result>,
    pub continue_encoding: Option<unsafe extern "C" fn(filter: sluice_filter_handle) -> sluice_result>,
    pub clear_route_cache: Option<unsafe extern "C" fn(filter: sluice_filter_handle) -> sluice_result>,

    pub scheduler_new: Option<unsafe extern "C" fn(filter: sluice_filter_handle) -> sluice_scheduler_handle>,
    pub scheduler_commit: Option<unsafe extern "C" fn(scheduler: sluice_scheduler_handle, event_id: u64) -> bool>,
    pub scheduler_delete: Option<unsafe extern "C" fn(scheduler: sluice_scheduler_handle)>,

    pub get_attribute_string: Option<
        unsafe extern "C" fn(
            filter: sluice_filter_handle,
            id: sluice_attribute_id,
            value_out: *mut sluice_buffer,
        ) -> sluice_result,
    >,
    pub get_attribute_int: Option<
        unsafe extern "C" fn(
            filter: sluice_filter_handle,
            id: sluice_attribute_id,
            value_out: *mut i64,
        ) -> sluice_result,
    >,
    pub metadata_set_string: Option<
        unsafe extern "C" fn(
            filter: sluice_filter_handle,
            ns: *const u8,
            ns_len: usize,
            key: *const u8,
            key_len: usize,
            value: *const u8,
            value_len: usize,
        ) -> sluice_result,
    >,
    pub metadata_set_number: Option<
        unsafe extern "C" fn(
            filter: sluice_filter_handle,
            ns: *const u8,
            ns_len: usize,
            key: *const u8,
            key_len: usize,
            value: f64,
        ) -> sluice_result,
    >,
    pub metadata_get_string: Option<
        unsafe extern "C" fn(
            filter: sluice_filter_handle,
            ns: *const u8,
            ns_len: usize,
            key: *const u8,
            key_len: usize,
            value_out: *mut sluice_buffer,
        ) -> sluice_result,
    >,
    pub metadata_get_number: Option<
        unsafe extern "C" fn(
            filter: sluice_filter_handle,
            ns: *const u8,
            ns_len: usize,
            key: *const u8,
            key_len: usize,
            value_out: *mut f64,
        ) -> sluice_result,
    >,
    pub per_route_config:
        Option<unsafe extern "C" fn(filter: sluice_filter_handle, config_out: *mut *mut c_void) -> sluice_result>,

    pub config_scheduler_new: Option<unsafe extern "C" fn(config: sluice_config_handle) -> sluice_scheduler_handle>,
    pub log_filter: Option<
        unsafe extern "C" fn(
            filter: sluice_filter_handle,
            level: sluice_log_level,
            msg: *const u8,
            msg_len: usize,
        ) -> sluice_result,
    >,

    pub timer_new: Option<unsafe extern "C" fn(filter: sluice_filter_handle) -> sluice_timer_handle>,
    pub timer_enable: Option<unsafe extern "C" fn(timer: sluice_timer_handle, delay_ms: u64) -> sluice_result>,
    pub timer_disable: Option<unsafe extern "C" fn(timer: sluice_timer_handle) -> sluice_result>,
    pub timer_delete: Option<unsafe extern "C" fn(timer: sluice_timer_handle) -> sluice_result>,

    pub define_metric: Option<
        unsafe extern "C" fn(
            config: sluice_config_handle,
            def: *const sluice_metric_def,
            id_out: *mut u32,
        ) -> sluice_result,
    >,
    pub report_panic:
        Option<unsafe extern "C" fn(config: sluice_config_handle, msg: *const u8, msg_len: usize) -> sluice_result>,

    pub inject_data: Option<
        unsafe extern "C" fn(
            filter: sluice_filter_handle,
            direction: sluice_direction,
            data: *const u8,
            len: usize,
            end_of_stream: bool,
        ) -> sluice_result,
    >,

    // ABI 2.1: network filters.
    pub network_buffer_chunks: Option<
        unsafe extern "C" fn(
            filter: sluice_network_filter_handle,
            kind: sluice_network_buffer_kind,
            chunks: *mut sluice_buffer,
            cap: usize,
            count_out: *mut usize,
        ) -> sluice_result,
    >,
    pub network_buffer_size: Option<
        unsafe extern "C" fn(
            filter: sluice_network_filter_handle,
            kind: sluice_network_buffer_kind,
            size_out: *mut usize,
        ) -> sluice_result,
    >,
    pub network_buffer_drain: Option<
        unsafe extern "C" fn(
            filter: sluice_network_filter_handle,
            kind: sluice_network_buffer_kind,
            n: usize,
        ) -> sluice_result,
    >,
    pub network_buffer_append: Option<
        unsafe extern "C" fn(
            filter: sluice_network_filter_handle,
            kind: sluice_network_buffer_kind,
            data: *const u8,
            len: usize,
        ) -> sluice_result,
    >,
    pub network_buffer_prepend: Option<
        unsafe extern "C" fn(
            filter: sluice_network_filter_handle,
            kind: sluice_network_buffer_kind,
            data: *const u8,
            len: usize,
        ) -> sluice_result,
    >,
    pub network_continue_reading: Option<unsafe extern "C" fn(filter: sluice_network_filter_handle) -> sluice_result>,
    pub network_inject_read_data: Option<
        unsafe extern "C" fn(
            filter: sluice_network_filter_handle,
            data: *const u8,
            len: usize,
            end_stream: bool,
        ) -> sluice_result,
    >,
    pub network_inject_write_data: Option<
        unsafe extern "C" fn(
            filter: sluice_network_filter_handle,
            data: *const u8,
            len: usize,
            end_stream: bool,
        ) -> sluice_result,
    >,
    pub network_write: Option<
        unsafe extern "C" fn(
            filter: sluice_network_filter_handle,
            data: *const u8,
            len: usize,
            end_stream: bool,
        ) -> sluice_result,
    >,
    pub network_close:
        Option<unsafe extern "C" fn(filter: sluice_network_filter_handle, how: sluice_close_type) -> sluice_result>,
    pub network_read_disable:
        Option<unsafe extern "C" fn(filter: sluice_network_filter_handle, disable: bool) -> sluice_result>,
    pub network_get_attribute_string: Option<
        unsafe extern "C" fn(
            filter: sluice_network_filter_handle,
            id: sluice_attribute_id,
            value_out: *mut sluice_buffer,
        ) -> sluice_result,
    >,
    pub network_get_attribute_int: Option<
        unsafe extern "C" fn(
            filter: sluice_network_filter_handle,
            id: sluice_attribute_id,
            value_out: *mut i64,
        ) -> sluice_result,
    >,
    pub network_metadata_set_string: Option<
        unsafe extern "C" fn(
            filter: sluice_network_filter_handle,
            ns: *const u8,
            ns_len: usize,
            key: *const u8,
            key_len: usize,
            value: *const u8,
            value_len: usize,
        ) -> sluice_result,
    >,
    pub network_metadata_set_number: Option<
        unsafe extern "C" fn(
            filter: sluice_network_filter_handle,
            ns: *const u8,
            ns_len: usize,
            key: *const u8,
            key_len: usize,
            value: f64,
        ) -> sluice_result,
    >,
    pub network_metadata_get_string: Option<
        unsafe extern "C" fn(
            filter: sluice_network_filter_handle,
            ns: *const u8,
            ns_len: usize,
            key: *const u8,
            key_len: usize,
            value_out: *mut sluice_buffer,
        ) -> sluice_result,
    >,
    pub network_metadata_get_number: Option<
        unsafe extern "C" fn(
            filter: sluice_network_filter_handle,
            ns: *const u8,
            ns_len: usize,
            key: *const u8,
            key_len: usize,
            value_out: *mut f64,
        ) -> sluice_result,
    >,
    pub network_scheduler_new:
        Option<unsafe extern "C" fn(filter: sluice_network_filter_handle) -> sluice_scheduler_handle>,
    pub network_timer_new: Option<unsafe extern "C" fn(filter: sluice_network_filter_handle) -> sluice_timer_handle>,
    pub network_log: Option<
        unsafe extern "C" fn(
            filter: sluice_network_filter_handle,
            level: sluice_log_level,
            msg: *const u8,
            msg_len: usize,
        ) -> sluice_result,
    >,

    // ABI 2.1: HTTP filters read their connection's metadata.
    pub connection_metadata_get_string: Option<
        unsafe extern "C" fn(
            filter: sluice_filter_handle,
            ns: *const u8,
            ns_len: usize,
            key: *const u8,
            key_len: usize,
            value_out: *mut sluice_buffer,
        ) -> sluice_result,
    >,
    pub connection_metadata_get_number: Option<
        unsafe extern "C" fn(
            filter: sluice_filter_handle,
            ns: *const u8,
            ns_len: usize,
            key: *const u8,
            key_len: usize,
            value_out: *mut f64,
        ) -> sluice_result,
    >,
    // ---- HTTP callouts (ABI 2.1) ----
    pub http_callout: Option<
        unsafe extern "C" fn(
            filter: sluice_filter_handle,
            request: *const sluice_callout_request,
            callout_out: *mut sluice_callout_handle,
        ) -> sluice_result,
    >,
    pub config_http_callout: Option<
        unsafe extern "C" fn(
            config: sluice_config_handle,
            request: *const sluice_callout_request,
            callout_out: *mut sluice_callout_handle,
        ) -> sluice_result,
    >,
    pub http_callout_cancel: Option<unsafe extern "C" fn(callout: sluice_callout_handle) -> sluice_result>,
}

/// `SLUICE_HOST_API_HAS(api, field)`: true when the host's table is large
/// enough to contain the field at `offset` with `size` bytes. Use with
/// `core::mem::offset_of!(sluice_host_api, field)`.
pub fn host_api_has(api: &sluice_host_api, offset: usize, size: usize) -> bool {
    api.size as usize >= offset + size
}

/// Names of the hooks a module exports, as the header declares them.
pub const HOOK_SYMBOLS: &[&str] = &[
    "sluice_module_abi_version",
    "sluice_on_program_init",
    "sluice_on_http_filter_config_new",
    "sluice_on_http_filter_config_destroy",
    "sluice_on_http_filter_per_route_config_new",
    "sluice_on_http_filter_per_route_config_destroy",
    "sluice_on_http_filter_new",
    "sluice_on_http_filter_request_headers",
    "sluice_on_http_filter_request_body",
    "sluice_on_http_filter_request_trailers",
    "sluice_on_http_filter_response_headers",
    "sluice_on_http_filter_response_body",
    "sluice_on_http_filter_response_trailers",
    "sluice_on_http_filter_stream_complete",
    "sluice_on_http_filter_destroy",
    "sluice_on_http_filter_scheduled",
    "sluice_on_program_shutdown",
    "sluice_on_http_filter_config_scheduled",
    "sluice_on_http_filter_timer",
    "sluice_on_network_filter_config_new",
    "sluice_on_network_filter_config_destroy",
    "sluice_on_network_filter_config_scheduled",
    "sluice_on_network_filter_new",
    "sluice_on_network_filter_destroy",
    "sluice_on_network_filter_new_connection",
    "sluice_on_network_filter_read",
    "sluice_on_network_filter_write",
    "sluice_on_network_filter_event",
    "sluice_on_network_filter_watermark",
    "sluice_on_network_filter_scheduled",
    "sluice_on_network_filter_timer",
    "sluice_on_http_filter_callout_done",
    "sluice_on_http_filter_config_callout_done",
];
