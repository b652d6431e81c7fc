//! The fake host's callback table. Each callback follows the header's
//! contract for results (stale handle, ended stream, unavailable map, batch
//! sizes), so SDK code tested against it behaves as against the real host.

use super::metadata::{self, MetadataSink, MetadataSource};
use super::network as net;
use super::state::{
    bytes, state, stream_mut, Bytes, FakeCallout, HeaderList, LocalReply, MetadataMap, Phase, Reentry, State,
    StreamState, SCHEDULED,
};
use crate::abi::{
    self, sluice_buffer, sluice_config_handle, sluice_filter_handle, sluice_header, sluice_host_api,
    sluice_scheduler_handle, sluice_timer_handle,
};
use core::ffi::c_void;

pub(crate) const COUNTER: u8 = 0;
pub(crate) const GAUGE: u8 = 1;
pub(crate) const HISTOGRAM: u8 = 2;

/// The table the fake host hands to `sluice_on_program_init`.
pub(crate) static TABLE: sluice_host_api = sluice_host_api {
    size: core::mem::size_of::<sluice_host_api>() as u32,
    abi_version: abi::SLUICE_ABI_VERSION,
    log: Some(log),
    log_enabled: Some(log_enabled),
    concurrency: Some(concurrency),
    config_reject: Some(config_reject),
    define_counter: Some(define_unlabeled::<COUNTER>),
    define_gauge: Some(define_unlabeled::<GAUGE>),
    define_histogram: Some(define_unlabeled::<HISTOGRAM>),
    counter_add: Some(counter_add),
    gauge_set: Some(gauge_set),
    gauge_add: Some(gauge_add),
    histogram_record: Some(histogram_record),
    header_get: Some(header_get),
    header_values: Some(header_values),
    headers_get: Some(headers_get),
    header_set: Some(header_put::<true>),
    header_add: Some(header_put::<false>),
    header_remove: Some(header_remove),
    body_chunks: Some(body_chunks),
    body_size: Some(body_size),
    body_append: Some(body_append),
    body_drain: Some(body_drain),
    send_response: Some(send_response),
    continue_decoding: Some(continue_decoding),
    continue_encoding: Some(continue_encoding),
    clear_route_cache: Some(clear_route_cache),
    scheduler_new: Some(scheduler_new),
    scheduler_commit: Some(scheduler_commit),
    scheduler_delete: Some(scheduler_delete),
    get_attribute_string: Some(get_attribute_string),
    get_attribute_int: Some(get_attribute_int),
    metadata_set_string: Some(metadata::set_string::<StreamMetadata>),
    metadata_set_number: Some(metadata::set_number::<StreamMetadata>),
    metadata_get_string: Some(metadata::get::<StreamMetadata, sluice_buffer>),
    metadata_get_number: Some(metadata::get::<StreamMetadata, f64>),
    per_route_config: Some(per_route_config),
    config_scheduler_new: Some(config_scheduler_new),
    log_filter: Some(log_filter),
    timer_new: Some(timer_new),
    timer_enable: Some(timer_enable),
    timer_disable: Some(timer_disable),
    timer_delete: Some(timer_delete),
    define_metric: Some(define_metric),
    report_panic: Some(report_panic),
    inject_data: Some(inject_data),
    network_buffer_chunks: Some(net::buffer_chunks),
    network_buffer_size: Some(net::buffer_size),
    network_buffer_drain: Some(net::buffer_drain),
    network_buffer_append: Some(net::buffer_append),
    network_buffer_prepend: Some(net::buffer_prepend),
    network_continue_reading: Some(net::continue_reading),
    network_inject_read_data: Some(net::inject_read_data),
    network_inject_write_data: Some(net::inject_write_data),
    network_write: Some(net::write),
    network_close: Some(net::close),
    network_read_disable: Some(net::read_disable),
    network_get_attribute_string: Some(net::get_attribute_string),
    network_get_attribute_int: Some(net::get_attribute_int),
    network_metadata_set_string: Some(metadata::set_string::<net::ConnMetadata>),
    network_metadata_set_number: Some(metadata::set_number::<net::ConnMetadata>),
    network_metadata_get_string: Some(metadata::get::<net::ConnMetadata, sluice_buffer>),
    network_metadata_get_number: Some(metadata::get::<net::ConnMetadata, f64>),
    network_scheduler_new: Some(net::scheduler_new),
    network_timer_new: Some(net::timer_new),
    network_log: Some(net::log),
    connection_metadata_get_string: Some(metadata::get::<StreamConnMetadata, sluice_buffer>),
    connection_metadata_get_number: Some(metadata::get::<StreamConnMetadata, f64>),
    http_callout: Some(http_callout),
    config_http_callout: Some(config_http_callout),
    http_callout_cancel: Some(http_callout_cancel),
};

/// Workers the fake host claims to run.
pub(crate) const FAKE_CONCURRENCY: u32 = 2;

pub(crate) unsafe fn input<'a>(p: *const u8, n: usize) -> &'a [u8] {
    if p.is_null() || n == 0 {
        &[]
    } else {
        core::slice::from_raw_parts(p, n)
    }
}

pub(crate) fn out_view(b: &[u8]) -> sluice_buffer {
    sluice_buffer { ptr: b.as_ptr(), len: b.len() }
}

/// The copy-out pattern: `value` into `out`, or the result code saying
/// why not (a NULL `out` is an invalid argument). As in sluice, callers
/// look the handle up first.
pub(crate) unsafe fn put<T>(out: *mut T, value: Result<T, abi::sluice_result>) -> abi::sluice_result {
    if out.is_null() {
        return abi::SLUICE_ERR_INVALID_ARGUMENT;
    }
    match value {
        Ok(v) => {
            *out = v;
            abi::SLUICE_OK
        }
        Err(code) => code,
    }
}

/// Run `f` on a stream, turning lookup failures into result codes.
fn with_stream(
    handle: u64,
    mutating: bool,
    f: impl FnOnce(&mut StreamState) -> abi::sluice_result,
) -> abi::sluice_result {
    let mut st = state();
    match stream_mut(&mut st, handle, mutating) {
        Ok(s) => f(s),
        Err(code) => code,
    }
}

/// A stream's own dynamic metadata: set until the stream ended, read
/// until the filter is destroyed.
pub(crate) struct StreamMetadata;

impl MetadataSource for StreamMetadata {
    type Handle = sluice_filter_handle;
    fn read(f: sluice_filter_handle, read: impl FnOnce(&MetadataMap) -> abi::sluice_result) -> abi::sluice_result {
        with_stream(f.id, false, |s| read(&s.common.metadata))
    }
}

impl MetadataSink for StreamMetadata {
    fn write(f: sluice_filter_handle, write: impl FnOnce(&mut MetadataMap, &mut Vec<Bytes>)) -> abi::sluice_result {
        with_stream(f.id, true, |s| {
            write(&mut s.common.metadata, &mut s.common.graveyard);
            abi::SLUICE_OK
        })
    }
}

/// The metadata network filters set on a stream's connection: HTTP
/// filters read it until they are destroyed.
pub(crate) struct StreamConnMetadata;

impl MetadataSource for StreamConnMetadata {
    type Handle = sluice_filter_handle;
    fn read(f: sluice_filter_handle, read: impl FnOnce(&MetadataMap) -> abi::sluice_result) -> abi::sluice_result {
        with_stream(f.id, false, |s| read(&s.conn_metadata))
    }
}

unsafe extern "C" fn log(level: abi::sluice_log_level, msg: *const u8, len: usize) {
    let text = String::from_utf8_lossy(input(msg, len)).into_owned();
    state().logs.push((level, text));
}

unsafe extern "C" fn log_enabled(level: abi::sluice_log_level) -> bool {
    // The fake keeps everything from debug up, so trace exercises the skip.
    (abi::SLUICE_LOG_DEBUG..abi::SLUICE_LOG_OFF).contains(&level)
}

unsafe extern "C" fn concurrency() -> u32 {
    FAKE_CONCURRENCY
}

unsafe extern "C" fn config_reject(config: sluice_config_handle, reason: *const u8, len: usize) -> abi::sluice_result {
    let config = config.id;
    let mut st = state();
    match st.configs.get_mut(&config) {
        Some(c) => {
            c.reject_reason = Some(String::from_utf8_lossy(input(reason, len)).into_owned());
            abi::SLUICE_OK
        }
        None => abi::SLUICE_ERR_INVALID_HANDLE,
    }
}

fn define_labeled(config: u64, kind: u8, name: &[u8], n_labels: usize, id_out: *mut u32) -> abi::sluice_result {
    if id_out.is_null() || name.is_empty() {
        return abi::SLUICE_ERR_INVALID_ARGUMENT;
    }
    let mut st = state();
    let Some(c) = st.configs.get_mut(&config) else {
        return abi::SLUICE_ERR_INVALID_HANDLE;
    };
    if !c.defining {
        return abi::SLUICE_ERR_WRONG_PHASE;
    }
    let name = String::from_utf8_lossy(name).into_owned();
    let id = match c.metrics.iter().position(|(_, n, _)| *n == name) {
        Some(i) if c.metrics[i].0 == kind => i,
        Some(_) => return abi::SLUICE_ERR_INVALID_ARGUMENT,
        None => {
            c.metrics.push((kind, name, 0));
            c.label_counts.push(n_labels);
            c.metrics.len() - 1
        }
    };
    // SAFETY: checked non-NULL above.
    unsafe { *id_out = id as u32 };
    abi::SLUICE_OK
}

/// define_counter, define_gauge, define_histogram: metrics without labels.
unsafe extern "C" fn define_unlabeled<const KIND: u8>(
    c: sluice_config_handle,
    n: *const u8,
    l: usize,
    id: *mut u32,
) -> abi::sluice_result {
    define_labeled(c.id, KIND, input(n, l), 0, id)
}

fn update(
    handle: u64,
    id: u32,
    kind: u8,
    labels: *const sluice_buffer,
    n_labels: usize,
    f: impl FnOnce(&mut i64),
) -> abi::sluice_result {
    let mut st: std::sync::MutexGuard<'_, State> = state();
    let Some(c) = st.configs.get_mut(&handle) else {
        return abi::SLUICE_ERR_INVALID_HANDLE;
    };
    // Metrics defined with define_counter & co have no labels.
    // The fake sums a labeled metric over all its label values.
    if c.label_counts.get(id as usize) != Some(&n_labels) || (n_labels > 0 && labels.is_null()) {
        return abi::SLUICE_ERR_INVALID_ARGUMENT;
    }
    match c.metrics.get_mut(id as usize) {
        Some((k, _, v)) if *k == kind => {
            f(v);
            abi::SLUICE_OK
        }
        _ => abi::SLUICE_ERR_INVALID_ARGUMENT,
    }
}

unsafe extern "C" fn counter_add(
    c: sluice_config_handle,
    id: u32,
    labels: *const sluice_buffer,
    n: usize,
    d: u64,
) -> abi::sluice_result {
    update(c.id, id, COUNTER, labels, n, |v| *v += d as i64)
}
unsafe extern "C" fn gauge_set(
    c: sluice_config_handle,
    id: u32,
    labels: *const sluice_buffer,
    n: usize,
    x: i64,
) -> abi::sluice_result {
    update(c.id, id, GAUGE, labels, n, |v| *v = x)
}
unsafe extern "C" fn gauge_add(
    c: sluice_config_handle,
    id: u32,
    labels: *const sluice_buffer,
    n: usize,
    d: i64,
) -> abi::sluice_result {
    update(c.id, id, GAUGE, labels, n, |v| *v += d)
}
unsafe extern "C" fn histogram_record(
    c: sluice_config_handle,
    id: u32,
    labels: *const sluice_buffer,
    n: usize,
    x: u64,
) -> abi::sluice_result {
    // The fake keeps the sum of observations.
    update(c.id, id, HISTOGRAM, labels, n, |v| *v += x as i64)
}

/// The header map of `kind`, or the result code saying why not.
fn map(s: &mut StreamState, kind: u32) -> Result<&mut HeaderList, abi::sluice_result> {
    let slot = s.headers.get_mut(kind as usize).ok_or(abi::SLUICE_ERR_INVALID_ARGUMENT)?;
    slot.as_mut().ok_or(abi::SLUICE_ERR_UNAVAILABLE)
}

/// Run `f` on header map `kind` of a stream, turning lookup failures into
/// result codes.
fn with_map(
    f: u64,
    kind: u32,
    mutating: bool,
    op: impl FnOnce(&mut HeaderList) -> abi::sluice_result,
) -> abi::sluice_result {
    with_stream(f, mutating, |s| match map(s, kind) {
        Ok(m) => op(m),
        Err(code) => code,
    })
}

unsafe extern "C" fn header_get(
    f: sluice_filter_handle,
    kind: u32,
    name: *const u8,
    name_len: usize,
    index: usize,
    value_out: *mut sluice_buffer,
    count_out: *mut usize,
) -> abi::sluice_result {
    let name = input(name, name_len);
    with_map(f.id, kind, false, |m| {
        let values: Vec<&Box<[u8]>> = m.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v).collect();
        if !count_out.is_null() {
            *count_out = values.len();
        }
        match values.get(index) {
            Some(v) if !value_out.is_null() => {
                *value_out = out_view(v);
                abi::SLUICE_OK
            }
            Some(_) => abi::SLUICE_ERR_INVALID_ARGUMENT,
            None => abi::SLUICE_ERR_NOT_FOUND,
        }
    })
}

unsafe extern "C" fn header_values(
    f: sluice_filter_handle,
    kind: u32,
    name: *const u8,
    name_len: usize,
    values: *mut sluice_buffer,
    cap: usize,
    count_out: *mut usize,
) -> abi::sluice_result {
    let name = input(name, name_len);
    with_map(f.id, kind, false, |m| {
        let found: Vec<sluice_buffer> =
            m.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| out_view(v)).collect();
        fill(&found, values, cap, count_out)
    })
}

/// The batch pattern: copy up to cap items, report the total.
unsafe fn fill<T: Copy>(items: &[T], out: *mut T, cap: usize, count_out: *mut usize) -> abi::sluice_result {
    if count_out.is_null() || (cap > 0 && out.is_null()) {
        return abi::SLUICE_ERR_INVALID_ARGUMENT;
    }
    *count_out = items.len();
    for (i, item) in items.iter().take(cap).enumerate() {
        *out.add(i) = *item;
    }
    if items.len() > cap {
        abi::SLUICE_ERR_BUFFER_TOO_SMALL
    } else {
        abi::SLUICE_OK
    }
}

unsafe extern "C" fn headers_get(
    f: sluice_filter_handle,
    kind: u32,
    headers: *mut sluice_header,
    cap: usize,
    count_out: *mut usize,
) -> abi::sluice_result {
    with_map(f.id, kind, false, |m| {
        let all: Vec<sluice_header> =
            m.iter().map(|(n, v)| sluice_header { name: out_view(n), value: out_view(v) }).collect();
        fill(&all, headers, cap, count_out)
    })
}

fn valid_name(name: &[u8]) -> bool {
    !name.is_empty() && !name.iter().any(|&c| c == b'\r' || c == b'\n' || c == 0)
}

/// Remove every value of `name`, keeping removed bytes alive for views.
fn remove_all(s: &mut StreamState, kind: u32, name: &[u8]) -> Result<usize, abi::sluice_result> {
    let m = map(s, kind)?;
    let mut removed = Vec::new();
    let mut i = 0;
    while i < m.len() {
        if m[i].0.eq_ignore_ascii_case(name) {
            removed.push(m.remove(i));
        } else {
            i += 1;
        }
    }
    let n = removed.len();
    for (a, b) in removed {
        s.common.graveyard.push(a);
        s.common.graveyard.push(b);
    }
    Ok(n)
}

/// header_set (`REPLACE`: every value of the name goes first) and
/// header_add: the header joins map `kind`, its name lowercased.
unsafe extern "C" fn header_put<const REPLACE: bool>(
    f: sluice_filter_handle,
    kind: u32,
    n: *const u8,
    nl: usize,
    v: *const u8,
    vl: usize,
) -> abi::sluice_result {
    let (name, value) = (input(n, nl), input(v, vl));
    if !valid_name(name) {
        return abi::SLUICE_ERR_INVALID_ARGUMENT;
    }
    with_stream(f.id, true, |s| {
        if REPLACE {
            if let Err(c) = remove_all(s, kind, name) {
                return c;
            }
        }
        match map(s, kind) {
            Ok(m) => {
                m.push((bytes(&name.to_ascii_lowercase()), bytes(value)));
                abi::SLUICE_OK
            }
            Err(c) => c,
        }
    })
}

unsafe extern "C" fn header_remove(
    f: sluice_filter_handle,
    kind: u32,
    n: *const u8,
    nl: usize,
    removed_out: *mut usize,
) -> abi::sluice_result {
    let f = f.id;
    let name = input(n, nl);
    with_stream(f, true, |s| match remove_all(s, kind, name) {
        Ok(count) => {
            if !removed_out.is_null() {
                *removed_out = count;
            }
            abi::SLUICE_OK
        }
        Err(c) => c,
    })
}

/// The body of `kind`, or why it is not available now.
fn body(s: &mut StreamState, kind: u32) -> Result<&mut Vec<Box<[u8]>>, abi::sluice_result> {
    let available = match kind {
        abi::SLUICE_RECEIVED_REQUEST_BODY => s.phase == Phase::RequestBody,
        abi::SLUICE_RECEIVED_RESPONSE_BODY => s.phase == Phase::ResponseBody,
        abi::SLUICE_BUFFERED_REQUEST_BODY | abi::SLUICE_BUFFERED_RESPONSE_BODY => true,
        _ => return Err(abi::SLUICE_ERR_INVALID_ARGUMENT),
    };
    if !available {
        return Err(abi::SLUICE_ERR_UNAVAILABLE);
    }
    Ok(&mut s.bodies[kind as usize])
}

unsafe extern "C" fn body_chunks(
    f: sluice_filter_handle,
    kind: u32,
    chunks: *mut sluice_buffer,
    cap: usize,
    count_out: *mut usize,
) -> abi::sluice_result {
    let f = f.id;
    with_stream(f, false, |s| match body(s, kind) {
        Ok(b) => {
            let views: Vec<sluice_buffer> = b.iter().map(|c| out_view(c)).collect();
            fill(&views, chunks, cap, count_out)
        }
        Err(c) => c,
    })
}

unsafe extern "C" fn body_size(f: sluice_filter_handle, kind: u32, size_out: *mut usize) -> abi::sluice_result {
    let f = f.id;
    if size_out.is_null() {
        return abi::SLUICE_ERR_INVALID_ARGUMENT;
    }
    with_stream(f, false, |s| match body(s, kind) {
        Ok(b) => {
            *size_out = b.iter().map(|c| c.len()).sum();
            abi::SLUICE_OK
        }
        Err(c) => c,
    })
}

unsafe extern "C" fn body_append(
    f: sluice_filter_handle,
    kind: u32,
    data: *const u8,
    len: usize,
) -> abi::sluice_result {
    let f = f.id;
    let data = input(data, len);
    with_stream(f, true, |s| match body(s, kind) {
        Ok(b) => {
            // A new chunk: existing views stay valid, as the header promises.
            if !data.is_empty() {
                b.push(bytes(data));
            }
            abi::SLUICE_OK
        }
        Err(c) => c,
    })
}

unsafe extern "C" fn body_drain(f: sluice_filter_handle, kind: u32, mut n: usize) -> abi::sluice_result {
    let f = f.id;
    with_stream(f, true, |s| {
        let b = match body(s, kind) {
            Ok(b) => b,
            Err(c) => return c,
        };
        let mut dead = Vec::new();
        while n > 0 && !b.is_empty() {
            if b[0].len() <= n {
                n -= b[0].len();
                dead.push(b.remove(0));
            } else {
                let rest = bytes(&b[0][n..]);
                dead.push(core::mem::replace(&mut b[0], rest));
                n = 0;
            }
        }
        s.common.graveyard.extend(dead);
        abi::SLUICE_OK
    })
}

unsafe extern "C" fn send_response(
    f: sluice_filter_handle,
    status: u32,
    headers: *const sluice_header,
    n_headers: usize,
    body: *const u8,
    body_len: usize,
    details: *const u8,
    details_len: usize,
) -> abi::sluice_result {
    let f = f.id;
    if !(100..=599).contains(&status) || (n_headers > 0 && headers.is_null()) {
        return abi::SLUICE_ERR_INVALID_ARGUMENT;
    }
    let hs: Vec<(String, String)> = (0..n_headers)
        .map(|i| {
            let h = &*headers.add(i);
            (
                String::from_utf8_lossy(input(h.name.ptr, h.name.len)).into_owned(),
                String::from_utf8_lossy(input(h.value.ptr, h.value.len)).into_owned(),
            )
        })
        .collect();
    let reply = LocalReply {
        status,
        headers: hs,
        body: input(body, body_len).to_vec(),
        details: String::from_utf8_lossy(input(details, details_len)).into_owned(),
    };
    with_stream(f, true, |s| {
        s.local_reply = Some(reply);
        s.ended = true;
        abi::SLUICE_OK
    })
}

/// After a host call: run the filter's response-headers hook if the test
/// asked for re-entry on this call (outside the state lock: the module
/// calls back into the fake).
fn maybe_reenter(f: u64, on: Reentry) {
    let target = state().streams.get(&f).and_then(|s| s.reentry).filter(|t| t.on == on);
    if let Some(t) = target {
        if let Some(s) = state().streams.get_mut(&f) {
            s.headers[abi::SLUICE_RESPONSE_HEADERS as usize].get_or_insert_with(Vec::new);
        }
        // SAFETY: the hook and filter the stream registered; still alive
        // (the fake destroys filters only from FakeStream).
        let status = unsafe { (t.hook)(t.filter as *mut c_void, sluice_filter_handle { id: f }, true) };
        if let Some(s) = state().streams.get_mut(&f) {
            s.common.reentered.push(status);
        }
    }
}

unsafe extern "C" fn continue_decoding(f: sluice_filter_handle) -> abi::sluice_result {
    let f = f.id;
    let rc = continue_decoding_state(f);
    if rc == abi::SLUICE_OK {
        maybe_reenter(f, Reentry::ContinueDecoding);
    }
    rc
}

fn continue_decoding_state(f: u64) -> abi::sluice_result {
    with_stream(f, true, |s| {
        s.continue_decoding += 1;
        resume(s, abi::SLUICE_BUFFERED_REQUEST_BODY, 0);
        abi::SLUICE_OK
    })
}

unsafe extern "C" fn continue_encoding(f: sluice_filter_handle) -> abi::sluice_result {
    with_stream(f.id, true, |s| {
        s.continue_encoding += 1;
        resume(s, abi::SLUICE_BUFFERED_RESPONSE_BODY, 1);
        abi::SLUICE_OK
    })
}

/// The stopped direction resumes: what was buffered (body `buffered`) goes
/// on (to `forwarded[dir]`).
fn resume(s: &mut StreamState, buffered: u32, dir: usize) {
    let old = core::mem::take(&mut s.bodies[buffered as usize]);
    s.forwarded[dir].extend_from_slice(&old.concat());
    s.common.graveyard.extend(old);
}

unsafe extern "C" fn clear_route_cache(f: sluice_filter_handle) -> abi::sluice_result {
    let f = f.id;
    let rc = with_stream(f, true, |s| {
        s.clear_route_cache += 1;
        abi::SLUICE_OK
    });
    if rc == abi::SLUICE_OK {
        maybe_reenter(f, Reentry::ClearRouteCache);
    }
    rc
}

/// How many undelivered events one fake scheduler holds, as a host
/// scheduler's starting queue.
pub(crate) const SCHED_QUEUE: usize = 64;

unsafe extern "C" fn scheduler_new(f: sluice_filter_handle) -> sluice_scheduler_handle {
    let f = f.id;
    let mut st = state();
    if stream_mut(&mut st, f, true).is_err() {
        return sluice_scheduler_handle { id: 0 };
    }
    let id = st.new_scheduler(f);
    if let Some(s) = st.streams.get_mut(&f) {
        s.common.schedulers.push(id);
    }
    sluice_scheduler_handle { id }
}

/// Any thread, like the host's: queue the event for the stream's
/// `run_scheduled`, or refuse (deleted, stream gone, queue full).
unsafe extern "C" fn scheduler_commit(s: sluice_scheduler_handle, event_id: u64) -> bool {
    let mut st = state();
    let Some(sched) = st.schedulers.get(&s.id) else {
        return false;
    };
    let alive = st.target_alive(sched.stream);
    if sched.deleted || sched.queue.len() >= SCHED_QUEUE || !alive {
        return false;
    }
    if let Some(sched) = st.schedulers.get_mut(&s.id) {
        sched.queue.push_back(event_id);
    }
    st.commit_seq += 1;
    drop(st);
    SCHEDULED.notify_all();
    true
}

unsafe extern "C" fn config_scheduler_new(c: sluice_config_handle) -> sluice_scheduler_handle {
    let mut st = state();
    if !st.configs.contains_key(&c.id) {
        return sluice_scheduler_handle { id: 0 };
    }
    let id = st.new_scheduler(c.id);
    if let Some(cfg) = st.configs.get_mut(&c.id) {
        cfg.schedulers.push(id);
    }
    sluice_scheduler_handle { id }
}

/// Logged like `log`, with the stream's ids in front (the fake's stand-in
/// for the host's conn_id / stream_id fields).
unsafe extern "C" fn log_filter(
    f: sluice_filter_handle,
    level: abi::sluice_log_level,
    msg: *const u8,
    len: usize,
) -> abi::sluice_result {
    let text = String::from_utf8_lossy(input(msg, len)).into_owned();
    let mut st = state();
    if !st.streams.contains_key(&f.id) {
        return abi::SLUICE_ERR_INVALID_HANDLE;
    }
    st.logs.push((level, format!("[filter {}] {text}", f.id)));
    abi::SLUICE_OK
}

unsafe extern "C" fn timer_new(f: sluice_filter_handle) -> sluice_timer_handle {
    let mut st = state();
    if stream_mut(&mut st, f.id, true).is_err() {
        return sluice_timer_handle { id: 0 };
    }
    let id = st.new_handle();
    if let Some(s) = st.streams.get_mut(&f.id) {
        s.common.timers.insert(id, None);
    }
    sluice_timer_handle { id }
}

unsafe extern "C" fn timer_enable(t: sluice_timer_handle, delay_ms: u64) -> abi::sluice_result {
    match state().timers_owning(t.id) {
        Some(timers) => {
            timers.insert(t.id, Some(std::time::Duration::from_millis(delay_ms)));
            abi::SLUICE_OK
        }
        None => abi::SLUICE_ERR_INVALID_HANDLE,
    }
}

unsafe extern "C" fn timer_disable(t: sluice_timer_handle) -> abi::sluice_result {
    match state().timers_owning(t.id) {
        Some(timers) => {
            timers.insert(t.id, None);
            abi::SLUICE_OK
        }
        None => abi::SLUICE_ERR_INVALID_HANDLE,
    }
}

unsafe extern "C" fn timer_delete(t: sluice_timer_handle) -> abi::sluice_result {
    match state().timers_owning(t.id) {
        Some(timers) => {
            timers.remove(&t.id);
            abi::SLUICE_OK
        }
        None => abi::SLUICE_ERR_INVALID_HANDLE,
    }
}

unsafe extern "C" fn define_metric(
    c: sluice_config_handle,
    def: *const abi::sluice_metric_def,
    id_out: *mut u32,
) -> abi::sluice_result {
    let Some(d) = def.as_ref() else {
        return abi::SLUICE_ERR_INVALID_ARGUMENT;
    };
    let kind = match d.kind {
        abi::SLUICE_METRIC_COUNTER => COUNTER,
        abi::SLUICE_METRIC_GAUGE => GAUGE,
        abi::SLUICE_METRIC_HISTOGRAM => HISTOGRAM,
        _ => return abi::SLUICE_ERR_INVALID_ARGUMENT,
    };
    if (d.size as usize) < core::mem::size_of::<abi::sluice_metric_def>() || d.n_label_names > 8 {
        return abi::SLUICE_ERR_INVALID_ARGUMENT;
    }
    define_labeled(c.id, kind, input(d.name.ptr, d.name.len), d.n_label_names, id_out)
}

/// Counted only: the SDK logs the panic itself.
unsafe extern "C" fn report_panic(c: sluice_config_handle, _msg: *const u8, _len: usize) -> abi::sluice_result {
    match state().configs.get_mut(&c.id) {
        Some(cfg) => {
            cfg.panics += 1;
            abi::SLUICE_OK
        }
        None => abi::SLUICE_ERR_INVALID_HANDLE,
    }
}

/// Injected data joins what went past the filter in that direction.
unsafe extern "C" fn inject_data(
    f: sluice_filter_handle,
    dir: abi::sluice_direction,
    data: *const u8,
    len: usize,
    _end: bool,
) -> abi::sluice_result {
    let data = input(data, len).to_vec();
    with_stream(f.id, true, |s| match dir {
        abi::SLUICE_DIRECTION_REQUEST | abi::SLUICE_DIRECTION_RESPONSE => {
            s.forwarded[dir as usize].extend_from_slice(&data);
            abi::SLUICE_OK
        }
        _ => abi::SLUICE_ERR_INVALID_ARGUMENT,
    })
}

unsafe extern "C" fn scheduler_delete(s: sluice_scheduler_handle) {
    if let Some(sched) = state().schedulers.get_mut(&s.id) {
        sched.deleted = true;
    }
}

unsafe extern "C" fn get_attribute_string(
    f: sluice_filter_handle,
    id: u32,
    out: *mut sluice_buffer,
) -> abi::sluice_result {
    with_stream(f.id, false, |s| {
        put(out, s.common.attr_str.get(&id).map(|v| out_view(v)).ok_or(abi::SLUICE_ERR_NOT_FOUND))
    })
}

unsafe extern "C" fn get_attribute_int(f: sluice_filter_handle, id: u32, out: *mut i64) -> abi::sluice_result {
    with_stream(f.id, false, |s| put(out, s.common.attr_int.get(&id).copied().ok_or(abi::SLUICE_ERR_NOT_FOUND)))
}

unsafe extern "C" fn per_route_config(f: sluice_filter_handle, out: *mut *mut c_void) -> abi::sluice_result {
    let per_route = |s: &StreamState| Some(s.per_route as *mut c_void).filter(|p| !p.is_null());
    with_stream(f.id, false, |s| put(out, per_route(s).ok_or(abi::SLUICE_ERR_NOT_FOUND)))
}

// ---- HTTP callouts (ABI 2.1) ---------------------------------------------

/// Callouts in flight per stream / per config, as in sluice.
const CALLOUTS_PER_FILTER: usize = 16;
const CALLOUTS_PER_CONFIG: usize = 64;

/// Checks and copies a request as sluice does; the error code otherwise.
unsafe fn read_request(r: *const abi::sluice_callout_request) -> Result<FakeCallout, abi::sluice_result> {
    let bad = Err(abi::SLUICE_ERR_INVALID_ARGUMENT);
    let Some(r) = r.as_ref() else { return bad };
    if (r.size as usize) < core::mem::size_of::<abi::sluice_callout_request>()
        || r.cluster.len == 0
        || r.max_response_bytes > 64 << 20
        || (r.n_headers > 0 && r.headers.is_null())
    {
        return bad;
    }
    let mut headers = Vec::new();
    let (mut method, mut path) = (false, false);
    let list = if r.n_headers == 0 { &[][..] } else { core::slice::from_raw_parts(r.headers, r.n_headers) };
    for h in list {
        let (n, v) = (input(h.name.ptr, h.name.len), input(h.value.ptr, h.value.len));
        if n.is_empty() || [n, v].iter().any(|b| b.iter().any(|&c| c == b'\r' || c == b'\n' || c == 0)) {
            return bad;
        }
        let name = String::from_utf8_lossy(n).to_ascii_lowercase();
        match name.as_str() {
            ":method" => method = !v.is_empty(),
            ":path" => path = !v.is_empty(),
            ":authority" | ":scheme" => {}
            p if p.starts_with(':') => return bad,
            _ => {}
        }
        headers.push((name, String::from_utf8_lossy(v).into_owned()));
    }
    if !method || !path {
        return bad;
    }
    Ok(FakeCallout {
        id: crate::CalloutId(0),
        cluster: String::from_utf8_lossy(input(r.cluster.ptr, r.cluster.len)).into_owned(),
        headers,
        body: input(r.body.ptr, r.body.len).to_vec(),
        timeout_ms: r.timeout_ms,
        max_response_bytes: r.max_response_bytes,
        cancelled: false,
        over: false,
    })
}

fn in_flight(st: &State, ids: &[u64]) -> usize {
    ids.iter().filter(|id| st.callouts.get(id).is_some_and(|c| !c.over)).count()
}

unsafe extern "C" fn http_callout(
    f: sluice_filter_handle,
    r: *const abi::sluice_callout_request,
    out: *mut abi::sluice_callout_handle,
) -> abi::sluice_result {
    let mut st = state();
    let ids = match stream_mut(&mut st, f.id, true) {
        Ok(s) => s.callouts.clone(),
        Err(code) => return code,
    };
    let id = match start_callout(&mut st, &ids, CALLOUTS_PER_FILTER, r, out) {
        Ok(id) => id,
        Err(code) => return code,
    };
    if let Some(s) = st.streams.get_mut(&f.id) {
        s.callouts.push(id);
    }
    abi::SLUICE_OK
}

unsafe extern "C" fn config_http_callout(
    c: sluice_config_handle,
    r: *const abi::sluice_callout_request,
    out: *mut abi::sluice_callout_handle,
) -> abi::sluice_result {
    let mut st = state();
    let Some(ids) = st.configs.get(&c.id).map(|c| c.callouts.clone()) else {
        return abi::SLUICE_ERR_INVALID_HANDLE;
    };
    let id = match start_callout(&mut st, &ids, CALLOUTS_PER_CONFIG, r, out) {
        Ok(id) => id,
        Err(code) => return code,
    };
    if let Some(cfg) = st.configs.get_mut(&c.id) {
        cfg.callouts.push(id);
    }
    abi::SLUICE_OK
}

/// Record request `r` as a new callout of an owner whose callouts are
/// `ids` (at most `limit` in flight) and hand its handle to `out`; its id,
/// for the owner's list.
unsafe fn start_callout(
    st: &mut State,
    ids: &[u64],
    limit: usize,
    r: *const abi::sluice_callout_request,
    out: *mut abi::sluice_callout_handle,
) -> Result<u64, abi::sluice_result> {
    if out.is_null() {
        return Err(abi::SLUICE_ERR_INVALID_ARGUMENT);
    }
    let mut callout = read_request(r)?;
    if in_flight(st, ids) >= limit {
        return Err(abi::SLUICE_ERR_LIMIT);
    }
    let id = st.new_handle();
    callout.id = crate::CalloutId(id);
    st.callouts.insert(id, callout);
    *out = abi::sluice_callout_handle { id };
    Ok(id)
}

unsafe extern "C" fn http_callout_cancel(h: abi::sluice_callout_handle) -> abi::sluice_result {
    match state().callouts.get_mut(&h.id) {
        Some(c) if !c.over => {
            c.over = true;
            c.cancelled = true;
            abi::SLUICE_OK
        }
        _ => abi::SLUICE_ERR_INVALID_HANDLE,
    }
}
