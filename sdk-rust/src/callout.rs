//! HTTP callouts (ABI 2.1): a request to a configured cluster, sent by the
//! host on the filter's (or config's) behalf; the answer comes back in
//! [`HttpFilter::on_callout_done`](crate::HttpFilter::on_callout_done) on
//! the stream's worker, or
//! [`HttpFilterConfig::on_callout_done`](crate::HttpFilterConfig::on_callout_done)
//! on the main thread.

use crate::abi::{self, sluice_buffer, sluice_header};
use core::time::Duration;

/// A (name, value) pair of views, as `CalloutResult::headers` returns them.
pub type CalloutHeader<'h> = (&'h [u8], &'h [u8]);

/// Names a callout; [`on_callout_done`](crate::HttpFilter::on_callout_done)
/// receives the id [`HostFilter::http_callout`](crate::HostFilter::http_callout)
/// returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CalloutId(pub u64);

/// An HTTP request for [`HostFilter::http_callout`](crate::HostFilter::http_callout)
/// or [`HostConfig::http_callout`](crate::HostConfig::http_callout):
///
/// ```
/// use std::time::Duration;
/// let check = sluice_sdk::CalloutRequest::new("authz", "GET", "/check")
///     .header("authorization", "Bearer x")
///     .timeout(Duration::from_millis(200));
/// ```
///
/// `:authority` defaults to the cluster name and `:scheme` to `http`;
/// `content-length` is set from the body.
#[derive(Clone, Debug)]
pub struct CalloutRequest {
    cluster: Vec<u8>,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    body: Vec<u8>,
    timeout_ms: u32,
    max_response_bytes: u64,
}

impl CalloutRequest {
    /// A request of `method` for `path` to the cluster named `cluster`.
    pub fn new(cluster: impl AsRef<[u8]>, method: impl AsRef<[u8]>, path: impl AsRef<[u8]>) -> CalloutRequest {
        CalloutRequest {
            cluster: cluster.as_ref().to_vec(),
            headers: vec![(b":method".to_vec(), method.as_ref().to_vec()), (b":path".to_vec(), path.as_ref().to_vec())],
            body: Vec::new(),
            timeout_ms: 0,
            max_response_bytes: 0,
        }
    }

    /// Add a header (`:authority` and `:scheme` are allowed too).
    pub fn header(mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> CalloutRequest {
        self.headers.push((name.as_ref().to_vec(), value.as_ref().to_vec()));
        self
    }

    /// The request body (none by default).
    pub fn body(mut self, body: impl AsRef<[u8]>) -> CalloutRequest {
        self.body = body.as_ref().to_vec();
        self
    }

    /// Bound on the whole exchange (default 5 s; millisecond resolution,
    /// at most `u32::MAX` ms).
    pub fn timeout(mut self, timeout: Duration) -> CalloutRequest {
        self.timeout_ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX).max(1);
        self
    }

    /// Largest response body accepted (default 1 MiB, at most 64 MiB);
    /// a larger one ends the callout with [`CalloutOutcome::ResponseTooLarge`].
    pub fn max_response_bytes(mut self, bytes: u64) -> CalloutRequest {
        self.max_response_bytes = bytes;
        self
    }

    /// Run `f` with the request as the ABI's struct (pointing into self).
    pub(crate) fn with_raw<R>(&self, f: impl FnOnce(&abi::sluice_callout_request) -> R) -> R {
        let headers: Vec<sluice_header> = self
            .headers
            .iter()
            .map(|(n, v)| sluice_header { name: sluice_buffer::from_slice(n), value: sluice_buffer::from_slice(v) })
            .collect();
        let raw = abi::sluice_callout_request {
            size: core::mem::size_of::<abi::sluice_callout_request>() as u32,
            timeout_ms: self.timeout_ms,
            cluster: sluice_buffer::from_slice(&self.cluster),
            headers: headers.as_ptr(),
            n_headers: headers.len(),
            body: sluice_buffer::from_slice(&self.body),
            max_response_bytes: self.max_response_bytes,
        };
        f(&raw)
    }
}

/// How a callout ended. Only `Response` carries a response (any status).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CalloutOutcome {
    Response,
    NoHealthyUpstream,
    Overflow,
    ConnectFailure,
    Reset,
    Timeout,
    ResponseTooLarge,
    ClusterUnknown,
    /// An outcome of a newer host.
    Unknown(u32),
}

impl CalloutOutcome {
    fn from_raw(v: abi::sluice_callout_outcome) -> CalloutOutcome {
        match v {
            abi::SLUICE_CALLOUT_OK => CalloutOutcome::Response,
            abi::SLUICE_CALLOUT_NO_HEALTHY_UPSTREAM => CalloutOutcome::NoHealthyUpstream,
            abi::SLUICE_CALLOUT_OVERFLOW => CalloutOutcome::Overflow,
            abi::SLUICE_CALLOUT_CONNECT_FAILURE => CalloutOutcome::ConnectFailure,
            abi::SLUICE_CALLOUT_RESET => CalloutOutcome::Reset,
            abi::SLUICE_CALLOUT_TIMEOUT => CalloutOutcome::Timeout,
            abi::SLUICE_CALLOUT_RESPONSE_TOO_LARGE => CalloutOutcome::ResponseTooLarge,
            abi::SLUICE_CALLOUT_CLUSTER_UNKNOWN => CalloutOutcome::ClusterUnknown,
            other => CalloutOutcome::Unknown(other),
        }
    }

    /// The raw ABI value.
    pub fn to_raw(self) -> abi::sluice_callout_outcome {
        match self {
            CalloutOutcome::Response => abi::SLUICE_CALLOUT_OK,
            CalloutOutcome::NoHealthyUpstream => abi::SLUICE_CALLOUT_NO_HEALTHY_UPSTREAM,
            CalloutOutcome::Overflow => abi::SLUICE_CALLOUT_OVERFLOW,
            CalloutOutcome::ConnectFailure => abi::SLUICE_CALLOUT_CONNECT_FAILURE,
            CalloutOutcome::Reset => abi::SLUICE_CALLOUT_RESET,
            CalloutOutcome::Timeout => abi::SLUICE_CALLOUT_TIMEOUT,
            CalloutOutcome::ResponseTooLarge => abi::SLUICE_CALLOUT_RESPONSE_TOO_LARGE,
            CalloutOutcome::ClusterUnknown => abi::SLUICE_CALLOUT_CLUSTER_UNKNOWN,
            CalloutOutcome::Unknown(v) => v,
        }
    }

    /// The name sluice's stats use (`callouts_failed{reason="timeout"}`).
    pub fn as_str(self) -> &'static str {
        match self {
            CalloutOutcome::Response => "ok",
            CalloutOutcome::NoHealthyUpstream => "no_healthy_upstream",
            CalloutOutcome::Overflow => "overflow",
            CalloutOutcome::ConnectFailure => "connect_failure",
            CalloutOutcome::Reset => "reset",
            CalloutOutcome::Timeout => "timeout",
            CalloutOutcome::ResponseTooLarge => "response_too_large",
            CalloutOutcome::ClusterUnknown => "cluster_unknown",
            CalloutOutcome::Unknown(_) => "unknown",
        }
    }
}

/// A finished callout, lent to the done hook: every view lives as long as
/// the hook (`'h`); copy what you keep.
#[derive(Clone, Copy)]
pub struct CalloutResult<'h> {
    raw: &'h abi::sluice_callout_result,
}

/// # Safety
/// `b` points to memory valid for `'h`.
unsafe fn view<'h>(b: sluice_buffer) -> &'h [u8] {
    if b.ptr.is_null() || b.len == 0 {
        &[]
    } else {
        core::slice::from_raw_parts(b.ptr, b.len)
    }
}

/// # Safety
/// `p` points to `n` headers valid for `'h`.
unsafe fn header_list<'h>(p: *const sluice_header, n: usize) -> &'h [sluice_header] {
    if p.is_null() || n == 0 {
        &[]
    } else {
        core::slice::from_raw_parts(p, n)
    }
}

impl<'h> CalloutResult<'h> {
    /// Wrap the result a done hook received.
    ///
    /// # Safety
    /// `raw` and everything it points to stay valid for `'h`.
    pub unsafe fn from_raw(raw: &'h abi::sluice_callout_result) -> CalloutResult<'h> {
        CalloutResult { raw }
    }

    pub fn outcome(&self) -> CalloutOutcome {
        CalloutOutcome::from_raw(self.raw.outcome)
    }

    /// The response's status (0 without a response).
    pub fn status(&self) -> u32 {
        self.raw.status
    }

    /// The response headers (no pseudo-headers), in the order received.
    pub fn headers(&self) -> Vec<CalloutHeader<'h>> {
        // SAFETY: from_raw's contract.
        unsafe { header_list(self.raw.headers, self.raw.n_headers) }
            .iter()
            // SAFETY: views valid for 'h.
            .map(|h| unsafe { (view(h.name), view(h.value)) })
            .collect()
    }

    /// The first value of response header `name` (any case).
    pub fn header(&self, name: impl AsRef<[u8]>) -> Option<&'h [u8]> {
        let name = name.as_ref();
        // SAFETY: from_raw's contract.
        unsafe { header_list(self.raw.headers, self.raw.n_headers) }
            .iter()
            // SAFETY: views valid for 'h.
            .find(|h| unsafe { view(h.name) }.eq_ignore_ascii_case(name))
            // SAFETY: views valid for 'h.
            .map(|h| unsafe { view(h.value) })
    }

    /// The whole response body.
    pub fn body(&self) -> &'h [u8] {
        // SAFETY: from_raw's contract.
        unsafe { view(self.raw.body) }
    }

    /// The response trailers, if any.
    pub fn trailers(&self) -> Vec<CalloutHeader<'h>> {
        // SAFETY: from_raw's contract.
        unsafe { header_list(self.raw.trailers, self.raw.n_trailers) }
            .iter()
            // SAFETY: views valid for 'h.
            .map(|h| unsafe { (view(h.name), view(h.value)) })
            .collect()
    }

    /// Why it failed, for logs (empty with a response).
    pub fn detail(&self) -> &'h [u8] {
        // SAFETY: from_raw's contract.
        unsafe { view(self.raw.detail) }
    }
}

impl core::fmt::Debug for CalloutResult<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CalloutResult")
            .field("outcome", &self.outcome())
            .field("status", &self.status())
            .field("body_len", &self.body().len())
            .field("detail", &String::from_utf8_lossy(self.detail()))
            .finish()
    }
}
