//! `HostFilter`: the stream as one filter sees it, lent to every hook.

use crate::abi::{self, sluice_buffer, sluice_header};
use crate::callout::{CalloutId, CalloutRequest};
use crate::error::{Error, Result};
use crate::host::callback;
use crate::scheduler::Scheduler;
use crate::types::{Attribute, BodyKind, HeaderKind};
use core::any::Any;
use core::marker::PhantomData;

/// The host handle of one filter on one stream, valid during one hook.
///
/// Views it returns (`&'h [u8]`) point into host memory that the ABI keeps
/// valid until the hook returns, even across mutations, so they may be held
/// while calling setters. `'h` is chosen by the SDK per hook call, so a view
/// cannot be stored in the filter: copy (`to_vec()`) what must outlive it.
///
/// Worker-thread only: `HostFilter` is neither `Send` nor `Sync`. To act on
/// the stream from another thread, use a [`Scheduler`].
pub struct HostFilter<'h> {
    handle: abi::sluice_filter_handle,
    /// continue_decoding / continue_encoding requested in this hook (bits).
    deferred: u8,
    _hook: PhantomData<&'h ()>,
    _not_send: PhantomData<*const ()>,
}

/// What `per_route_config_new` returns to the host: the module's per-route
/// config object, which [`HostFilter::per_route_config`] reads back.
pub struct PerRouteBox(pub Box<dyn Any + Send + Sync>);

/// A name/value view pair, as `headers()` returns them.
pub type HeaderView<'h> = (&'h [u8], &'h [u8]);

/// Start with this many slots for batch reads; most maps fit.
const BATCH: usize = 32;

const CONTINUE_DECODING: u8 = 1;
const CONTINUE_ENCODING: u8 = 2;

impl Drop for HostFilter<'_> {
    fn drop(&mut self) {
        self.flush_deferred();
    }
}

/// Turn a host view into a slice with the hook's lifetime.
///
/// # Safety
/// `b` is a host view obtained during the current hook.
pub(crate) unsafe fn view<'h>(b: sluice_buffer) -> &'h [u8] {
    if b.len == 0 || b.ptr.is_null() {
        &[]
    } else {
        core::slice::from_raw_parts(b.ptr, b.len)
    }
}

/// The ABI's batch pattern: fill a caller array, learn the real count, and
/// retry once with a larger array when it did not fit (the host may report
/// that as OK with a larger count or as BUFFER_TOO_SMALL).
pub(crate) fn fetch_batch<T: Copy>(
    empty: T,
    first_cap: usize,
    mut call: impl FnMut(*mut T, usize, &mut usize) -> abi::sluice_result,
) -> Result<Vec<T>> {
    let mut arr = vec![empty; first_cap];
    // Headers can change between calls only on this thread, i.e. never
    // during this loop; the bound is a guard against a confused host.
    for _ in 0..3 {
        let mut count = 0usize;
        let rc = call(arr.as_mut_ptr(), arr.len(), &mut count);
        match Error::check(rc) {
            Ok(()) if count <= arr.len() => {
                arr.truncate(count);
                return Ok(arr);
            }
            Err(e) if e != Error::BufferTooSmall || count <= arr.len() => return Err(e),
            _ => arr.resize(count, empty),
        }
    }
    Err(Error::BufferTooSmall)
}

impl<'h> HostFilter<'h> {
    /// Wrap the filter handle the host passed to the running hook.
    ///
    /// # Safety
    /// Only within that hook, on the worker thread.
    pub unsafe fn new(handle: abi::sluice_filter_handle) -> HostFilter<'h> {
        HostFilter { handle, deferred: 0, _hook: PhantomData, _not_send: PhantomData }
    }

    /// Perform the continues requested during the hook. The SDK calls this
    /// after the filter's hook returned (and `Drop` does, as a fallback).
    pub(crate) fn flush_deferred(&mut self) {
        let pending = core::mem::take(&mut self.deferred);
        for (bit, name) in [(CONTINUE_DECODING, "continue_decoding"), (CONTINUE_ENCODING, "continue_encoding")] {
            if pending & bit == 0 {
                continue;
            }
            let f = if bit == CONTINUE_DECODING { callback!(continue_decoding) } else { callback!(continue_encoding) };
            // SAFETY: value argument only.
            let result = f.and_then(|f| Error::check(unsafe { f(self.handle) }));
            if let Err(e) = result {
                crate::sluice_debug!("{name} for filter handle {:#x}: {e}", self.handle.id);
            }
        }
    }

    /// Forget requested continues (after a panic the stream gets a 500).
    pub(crate) fn discard_deferred(&mut self) {
        self.deferred = 0;
    }

    /// Log `msg` with this stream's `conn_id` and `stream_id` (and the
    /// filter's name) as fields: the ids sluice's own lines and access log
    /// carry. See also [`sluice_log!`](crate::sluice_log) for lines without
    /// stream context.
    pub fn log(&self, level: crate::LogLevel, msg: impl AsRef<[u8]>) -> Result<()> {
        let f = callback!(log_filter)?;
        let msg = msg.as_ref();
        // SAFETY: msg is read during the call.
        Error::check(unsafe { f(self.handle, level as u32, msg.as_ptr(), msg.len()) })
    }

    /// The raw filter handle (for code that calls the ABI directly).
    pub fn handle(&self) -> abi::sluice_filter_handle {
        self.handle
    }

    // ---- headers and trailers ------------------------------------------

    /// The first value of header `name` (any case) in map `kind`.
    pub fn header(&self, kind: HeaderKind, name: impl AsRef<[u8]>) -> Option<&'h [u8]> {
        let f = callback!(header_get).ok()?;
        let name = name.as_ref();
        let mut out = sluice_buffer::EMPTY;
        // SAFETY: name is read during the call; out and the NULL count are valid.
        let rc = unsafe { f(self.handle, kind as u32, name.as_ptr(), name.len(), 0, &mut out, core::ptr::null_mut()) };
        // SAFETY: a host view from this hook.
        Error::check(rc).ok().map(|_| unsafe { view(out) })
    }

    /// Every value of header `name`, in order (empty when absent).
    pub fn header_values(&self, kind: HeaderKind, name: impl AsRef<[u8]>) -> Result<Vec<&'h [u8]>> {
        let f = callback!(header_values)?;
        let name = name.as_ref();
        // SAFETY: the array has cap slots; name is read during the call.
        let bufs = fetch_batch(sluice_buffer::EMPTY, 4, |arr, cap, count| unsafe {
            f(self.handle, kind as u32, name.as_ptr(), name.len(), arr, cap, count)
        })?;
        // SAFETY: host views from this hook.
        Ok(bufs.iter().map(|b| unsafe { view(*b) }).collect())
    }

    /// Every header of map `kind`, in order, fetched in one host call.
    pub fn headers(&self, kind: HeaderKind) -> Result<Vec<HeaderView<'h>>> {
        let f = callback!(headers_get)?;
        let empty = sluice_header { name: sluice_buffer::EMPTY, value: sluice_buffer::EMPTY };
        // SAFETY: the array has cap slots.
        let hs = fetch_batch(empty, BATCH, |arr, cap, count| unsafe { f(self.handle, kind as u32, arr, cap, count) })?;
        // SAFETY: host views from this hook.
        Ok(hs.iter().map(|h| unsafe { (view(h.name), view(h.value)) }).collect())
    }

    /// Replace every value of `name` with `value` (adds it when absent).
    pub fn set_header(&mut self, kind: HeaderKind, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        let f = callback!(header_set)?;
        let (name, value) = (name.as_ref(), value.as_ref());
        // SAFETY: both slices are read during the call.
        Error::check(unsafe { f(self.handle, kind as u32, name.as_ptr(), name.len(), value.as_ptr(), value.len()) })
    }

    /// Append one more value of `name`.
    pub fn add_header(&mut self, kind: HeaderKind, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        let f = callback!(header_add)?;
        let (name, value) = (name.as_ref(), value.as_ref());
        // SAFETY: both slices are read during the call.
        Error::check(unsafe { f(self.handle, kind as u32, name.as_ptr(), name.len(), value.as_ptr(), value.len()) })
    }

    /// Remove every value of `name`; returns how many were removed.
    pub fn remove_header(&mut self, kind: HeaderKind, name: impl AsRef<[u8]>) -> Result<usize> {
        let f = callback!(header_remove)?;
        let name = name.as_ref();
        let mut removed = 0usize;
        // SAFETY: name is read during the call; removed is a valid out-pointer.
        Error::check(unsafe { f(self.handle, kind as u32, name.as_ptr(), name.len(), &mut removed) })?;
        Ok(removed)
    }

    /// First value of a request header.
    pub fn request_header(&self, name: impl AsRef<[u8]>) -> Option<&'h [u8]> {
        self.header(HeaderKind::RequestHeaders, name)
    }
    /// All request headers.
    pub fn request_headers(&self) -> Result<Vec<HeaderView<'h>>> {
        self.headers(HeaderKind::RequestHeaders)
    }
    /// Set a request header.
    pub fn set_request_header(&mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        self.set_header(HeaderKind::RequestHeaders, name, value)
    }
    /// Add a request header value.
    pub fn add_request_header(&mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        self.add_header(HeaderKind::RequestHeaders, name, value)
    }
    /// Remove a request header.
    pub fn remove_request_header(&mut self, name: impl AsRef<[u8]>) -> Result<usize> {
        self.remove_header(HeaderKind::RequestHeaders, name)
    }
    /// First value of a response header.
    pub fn response_header(&self, name: impl AsRef<[u8]>) -> Option<&'h [u8]> {
        self.header(HeaderKind::ResponseHeaders, name)
    }
    /// All response headers.
    pub fn response_headers(&self) -> Result<Vec<HeaderView<'h>>> {
        self.headers(HeaderKind::ResponseHeaders)
    }
    /// Set a response header.
    pub fn set_response_header(&mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        self.set_header(HeaderKind::ResponseHeaders, name, value)
    }
    /// Add a response header value.
    pub fn add_response_header(&mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        self.add_header(HeaderKind::ResponseHeaders, name, value)
    }
    /// Remove a response header.
    pub fn remove_response_header(&mut self, name: impl AsRef<[u8]>) -> Result<usize> {
        self.remove_header(HeaderKind::ResponseHeaders, name)
    }

    // ---- body ------------------------------------------------------------

    /// Views of the body's contiguous chunks. They stay valid until the hook
    /// returns, even after `append_body` / `drain_body`.
    pub fn body_chunks(&self, kind: BodyKind) -> Result<Vec<&'h [u8]>> {
        let f = callback!(body_chunks)?;
        // SAFETY: the array has cap slots.
        let bufs = fetch_batch(sluice_buffer::EMPTY, 8, |arr, cap, count| unsafe {
            f(self.handle, kind as u32, arr, cap, count)
        })?;
        // SAFETY: host views from this hook.
        Ok(bufs.iter().map(|b| unsafe { view(*b) }).collect())
    }

    /// The whole body copied into one vector.
    pub fn body_bytes(&self, kind: BodyKind) -> Result<Vec<u8>> {
        let chunks = self.body_chunks(kind)?;
        let mut out = Vec::with_capacity(chunks.iter().map(|c| c.len()).sum());
        for c in chunks {
            out.extend_from_slice(c);
        }
        Ok(out)
    }

    /// Body length in bytes.
    pub fn body_size(&self, kind: BodyKind) -> Result<usize> {
        let f = callback!(body_size)?;
        let mut size = 0usize;
        // SAFETY: size is a valid out-pointer.
        Error::check(unsafe { f(self.handle, kind as u32, &mut size) })?;
        Ok(size)
    }

    /// Append `data` (copied) at the end of the body. A buffered body that
    /// does not exist yet is created when this filter holds the stopped
    /// headers of that direction.
    pub fn append_body(&mut self, kind: BodyKind, data: impl AsRef<[u8]>) -> Result<()> {
        let f = callback!(body_append)?;
        let data = data.as_ref();
        // SAFETY: data is read during the call.
        Error::check(unsafe { f(self.handle, kind as u32, data.as_ptr(), data.len()) })
    }

    /// Remove `n` bytes from the front (more than the size drains all).
    pub fn drain_body(&mut self, kind: BodyKind, n: usize) -> Result<()> {
        let f = callback!(body_drain)?;
        // SAFETY: value arguments only.
        Error::check(unsafe { f(self.handle, kind as u32, n) })
    }

    /// Pass `data` from this filter to the filters after it, and on to the
    /// upstream (`request == true`) or the client, as if it had arrived
    /// there; `end_of_stream` ends that direction. Allowed once this filter
    /// passed that direction's headers on: after returning
    /// [`HeadersStatus::ContinueAndDontEndStream`] on headers that ended the
    /// stream (the direction ends only with injected data), or from a body
    /// hook returning `StopIterationNoBuffer`. `Err(WrongPhase)` otherwise.
    ///
    /// [`HeadersStatus::ContinueAndDontEndStream`]: crate::HeadersStatus::ContinueAndDontEndStream
    pub fn inject_data(&mut self, request: bool, data: impl AsRef<[u8]>, end_of_stream: bool) -> Result<()> {
        let f = callback!(inject_data)?;
        let data = data.as_ref();
        let dir = if request { abi::SLUICE_DIRECTION_REQUEST } else { abi::SLUICE_DIRECTION_RESPONSE };
        // SAFETY: data is read (copied) during the call.
        Error::check(unsafe { f(self.handle, dir, data.as_ptr(), data.len(), end_of_stream) })
    }

    // ---- stream control ----------------------------------------------------

    /// Answer the stream locally. Header names, values and the body may be
    /// anything `AsRef<[u8]>` (`&str`, `String`, `b".."`, `Vec<u8>`);
    /// without headers pass [`NO_HEADERS`](crate::NO_HEADERS) (a bare `&[]`
    /// leaves their type unknown). After `Ok` the stream has ended: further
    /// changes return [`Error::StreamEnded`] (reads still work).
    pub fn send_response<N: AsRef<[u8]>, V: AsRef<[u8]>>(
        &mut self,
        status: u32,
        headers: &[(N, V)],
        body: impl AsRef<[u8]>,
    ) -> Result<()> {
        self.send_response_with_details(status, headers, body, b"")
    }

    /// `send_response` with access-log details (e.g. "cached").
    pub fn send_response_with_details<N: AsRef<[u8]>, V: AsRef<[u8]>>(
        &mut self,
        status: u32,
        headers: &[(N, V)],
        body: impl AsRef<[u8]>,
        details: impl AsRef<[u8]>,
    ) -> Result<()> {
        let f = callback!(send_response)?;
        let (body, details) = (body.as_ref(), details.as_ref());
        let hs: Vec<sluice_header> = headers
            .iter()
            .map(|(n, v)| sluice_header {
                name: sluice_buffer::from_slice(n.as_ref()),
                value: sluice_buffer::from_slice(v.as_ref()),
            })
            .collect();
        // SAFETY: every pointer is read (and copied) during the call.
        Error::check(unsafe {
            f(self.handle, status, hs.as_ptr(), hs.len(), body.as_ptr(), body.len(), details.as_ptr(), details.len())
        })
    }

    /// Resume a request this filter stopped. It takes effect when the
    /// current hook returns: resuming can synchronously run hooks of this
    /// same filter (e.g. `on_response_headers` of a direct response), which
    /// must not run while this hook still holds `&mut self`. So this returns
    /// `Ok` at once; a failure at hook end is logged at debug level.
    pub fn continue_decoding(&mut self) -> Result<()> {
        callback!(continue_decoding)?;
        self.deferred |= CONTINUE_DECODING;
        Ok(())
    }

    /// Resume a response this filter stopped; like `continue_decoding`, it
    /// takes effect when the current hook returns.
    pub fn continue_encoding(&mut self) -> Result<()> {
        callback!(continue_encoding)?;
        self.deferred |= CONTINUE_ENCODING;
        Ok(())
    }

    /// Re-select the route after changing headers that affect routing.
    pub fn clear_route_cache(&mut self) -> Result<()> {
        let f = callback!(clear_route_cache)?;
        // SAFETY: value argument only.
        Error::check(unsafe { f(self.handle) })
    }

    /// A scheduler for this filter, to be moved to another thread. `None`
    /// when the host refuses (stale handle, wrong thread, stream ended).
    pub fn new_scheduler(&mut self) -> Option<Scheduler> {
        let f = callback!(scheduler_new).ok()?;
        // SAFETY: value argument; a non-zero result is ours to delete.
        let raw = unsafe { f(self.handle) };
        (raw.id != 0).then(|| unsafe { Scheduler::from_raw(raw) })
    }

    /// A one-shot timer of this filter (disarmed; see [`Timer::enable`]).
    /// `None` when the host refuses (stale handle, stream ended).
    ///
    /// [`Timer::enable`]: crate::Timer::enable
    pub fn new_timer(&mut self) -> Option<crate::Timer> {
        let f = callback!(timer_new).ok()?;
        // SAFETY: value argument; a non-zero result is ours to delete.
        let raw = unsafe { f(self.handle) };
        (raw.id != 0).then(|| crate::Timer::from_raw(raw))
    }

    // ---- HTTP callouts (ABI 2.1) --------------------------------------------

    /// Send `request` to its cluster; the answer (or why there is none)
    /// comes to [`HttpFilter::on_callout_done`](crate::HttpFilter::on_callout_done)
    /// on this stream's worker, never inside this call, unless the callout
    /// is cancelled first ([`cancel_callout`](Self::cancel_callout), or the
    /// stream ending: no hook reaches a finished stream). Typically return
    /// [`HeadersStatus::StopAllIterationAndBuffer`](crate::HeadersStatus::StopAllIterationAndBuffer)
    /// after it and resume from `on_callout_done`.
    ///
    /// Errors: `InvalidArgument` (missing `:method`/`:path`, a bad header,
    /// an empty cluster name), `Limit` (16 callouts of this filter, or its
    /// worker's 4096, in flight), `StreamEnded`, `Unsupported` (a host
    /// older than ABI 2.1). An unknown cluster is not an error here: the
    /// done hook reports [`CalloutOutcome::ClusterUnknown`](crate::CalloutOutcome::ClusterUnknown).
    pub fn http_callout(&mut self, request: &CalloutRequest) -> Result<CalloutId> {
        let f = callback!(http_callout)?;
        let mut out = abi::sluice_callout_handle { id: 0 };
        // SAFETY: the request and what it points to live across the call;
        // out is a valid out-pointer.
        Error::check(request.with_raw(|raw| unsafe { f(self.handle, raw, &mut out) }))?;
        Ok(CalloutId(out.id))
    }

    /// Abandon a callout of this filter: its done hook will not run.
    /// `Err(InvalidHandle)` when it already finished or was cancelled.
    pub fn cancel_callout(&mut self, id: CalloutId) -> Result<()> {
        let f = callback!(http_callout_cancel)?;
        // SAFETY: value argument.
        Error::check(unsafe { f(abi::sluice_callout_handle { id: id.0 }) })
    }

    // ---- stream information ----------------------------------------------

    /// A string attribute (a host view valid until the hook returns).
    pub fn attribute_string(&self, id: Attribute) -> Result<&'h [u8]> {
        let f = callback!(get_attribute_string)?;
        let mut out = sluice_buffer::EMPTY;
        // SAFETY: out is a valid out-pointer.
        Error::check(unsafe { f(self.handle, id as u32, &mut out) })?;
        // SAFETY: a host view from this hook.
        Ok(unsafe { view(out) })
    }

    /// An integer attribute.
    pub fn attribute_int(&self, id: Attribute) -> Result<i64> {
        let f = callback!(get_attribute_int)?;
        let mut out = 0i64;
        // SAFETY: out is a valid out-pointer.
        Error::check(unsafe { f(self.handle, id as u32, &mut out) })?;
        Ok(out)
    }

    /// Set string dynamic metadata `ns`.`key`.
    pub fn set_metadata_string(&mut self, ns: &str, key: &str, value: impl AsRef<[u8]>) -> Result<()> {
        let f = callback!(metadata_set_string)?;
        let value = value.as_ref();
        // SAFETY: every slice is read during the call.
        Error::check(unsafe {
            f(self.handle, ns.as_ptr(), ns.len(), key.as_ptr(), key.len(), value.as_ptr(), value.len())
        })
    }

    /// Set number dynamic metadata `ns`.`key`.
    pub fn set_metadata_number(&mut self, ns: &str, key: &str, value: f64) -> Result<()> {
        let f = callback!(metadata_set_number)?;
        // SAFETY: every slice is read during the call.
        Error::check(unsafe { f(self.handle, ns.as_ptr(), ns.len(), key.as_ptr(), key.len(), value) })
    }

    /// String dynamic metadata `ns`.`key`.
    pub fn metadata_string(&self, ns: &str, key: &str) -> Result<&'h [u8]> {
        let f = callback!(metadata_get_string)?;
        let mut out = sluice_buffer::EMPTY;
        // SAFETY: slices are read during the call; out is a valid out-pointer.
        Error::check(unsafe { f(self.handle, ns.as_ptr(), ns.len(), key.as_ptr(), key.len(), &mut out) })?;
        // SAFETY: a host view from this hook.
        Ok(unsafe { view(out) })
    }

    /// Number dynamic metadata `ns`.`key`.
    pub fn metadata_number(&self, ns: &str, key: &str) -> Result<f64> {
        let f = callback!(metadata_get_number)?;
        let mut out = 0f64;
        // SAFETY: slices are read during the call; out is a valid out-pointer.
        Error::check(unsafe { f(self.handle, ns.as_ptr(), ns.len(), key.as_ptr(), key.len(), &mut out) })?;
        Ok(out)
    }

    /// String metadata `ns`.`key` that a network filter set on this
    /// stream's connection ([`HostConnection::set_metadata_string`], ABI
    /// 2.1). `Err(NotFound)` when absent, `Err(InvalidArgument)` for a
    /// number.
    ///
    /// [`HostConnection::set_metadata_string`]: crate::HostConnection::set_metadata_string
    pub fn connection_metadata_string(&self, ns: &str, key: &str) -> Result<&'h [u8]> {
        let f = callback!(connection_metadata_get_string)?;
        let mut out = sluice_buffer::EMPTY;
        // SAFETY: slices are read during the call; out is a valid out-pointer.
        Error::check(unsafe { f(self.handle, ns.as_ptr(), ns.len(), key.as_ptr(), key.len(), &mut out) })?;
        // SAFETY: a host view from this hook.
        Ok(unsafe { view(out) })
    }

    /// Number metadata `ns`.`key` of this stream's connection (a string
    /// holding a number reads as that number).
    pub fn connection_metadata_number(&self, ns: &str, key: &str) -> Result<f64> {
        let f = callback!(connection_metadata_get_number)?;
        let mut out = 0f64;
        // SAFETY: slices are read during the call; out is a valid out-pointer.
        Error::check(unsafe { f(self.handle, ns.as_ptr(), ns.len(), key.as_ptr(), key.len(), &mut out) })?;
        Ok(out)
    }

    /// The per-route config the selected route carries for this filter
    /// (what [`HttpFilterConfig::new_per_route_config`](crate::HttpFilterConfig::new_per_route_config)
    /// returned), downcast to `T`. `None` when absent or of another type.
    pub fn per_route_config<T: Any>(&self) -> Option<&'h T> {
        let f = callback!(per_route_config).ok()?;
        let mut out: *mut core::ffi::c_void = core::ptr::null_mut();
        // SAFETY: out is a valid out-pointer.
        Error::check(unsafe { f(self.handle, &mut out) }).ok()?;
        // SAFETY: the host hands back the pointer our per_route_config_new
        // hook returned (a Box<PerRouteBox>), alive while the route is.
        let boxed = unsafe { (out as *const PerRouteBox).as_ref()? };
        boxed.0.downcast_ref::<T>()
    }
}

/// `HostFilter` must stay on the worker thread:
///
/// ```compile_fail
/// fn send<T: Send>() {}
/// send::<sluice_sdk::HostFilter<'static>>();
/// ```
///
/// ```compile_fail
/// fn sync<T: Sync>() {}
/// sync::<sluice_sdk::HostFilter<'static>>();
/// ```
///
/// and its views cannot outlive the hook that lent them:
///
/// ```compile_fail
/// use sluice_sdk::{HostFilter, HttpFilter, HeadersStatus};
/// struct Keeps { kept: &'static [u8] }
/// impl HttpFilter for Keeps {
///     fn on_request_headers(&mut self, host: &mut HostFilter<'_>, _eos: bool) -> HeadersStatus {
///         self.kept = host.request_header("x").unwrap();
///         HeadersStatus::Continue
///     }
/// }
/// ```
///
/// while schedulers and metrics travel freely:
///
/// ```
/// fn both<T: Send + Sync>() {}
/// both::<sluice_sdk::Scheduler>();
/// both::<sluice_sdk::Counter>();
/// both::<sluice_sdk::Gauge>();
/// both::<sluice_sdk::Histogram>();
/// ```
#[allow(dead_code)]
struct ThreadRulesDoc;
