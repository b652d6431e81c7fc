//! The traits a module implements.

use crate::callout::{CalloutId, CalloutResult};
use crate::host_config::HostConfig;
use crate::host_filter::HostFilter;
use crate::types::{BodyStatus, HeadersStatus, TrailersStatus};
use core::any::Any;

/// One configured filter (one entry of an `http_filters` list). Created on
/// the host's main thread by the constructor named in
/// [`declare_module!`](crate::declare_module) from the filter name and the
/// operator's `config` (JSON bytes); the constructor rejects bad config by
/// returning `Err(reason)`, which the host shows in its load error.
///
/// `new_filter` runs on every worker concurrently, hence `Send + Sync`.
/// The value is dropped on the main thread after every stream using it has
/// ended (put cleanup in `Drop`).
pub trait HttpFilterConfig: Send + Sync + 'static {
    /// A filter for a new stream (on the stream's worker).
    fn new_filter(&self, host: &mut HostFilter<'_>) -> Box<dyn HttpFilter>;

    /// Parse a route's `typed_per_filter_config` entry for this filter (main
    /// thread). Filters read it back with
    /// [`HostFilter::per_route_config`]. The default refuses, so a route
    /// config aimed at a filter that takes none is a load error.
    fn new_per_route_config(
        &self,
        host: &mut HostConfig<'_>,
        config: &[u8],
    ) -> Result<Box<dyn Any + Send + Sync>, String> {
        let _ = (host, config);
        Err("this filter takes no per-route config".to_string())
    }

    /// A commit through a config-level scheduler
    /// ([`HostConfig::new_scheduler`]), on the host's module main thread, in
    /// commit order.
    fn on_scheduled(&self, host: &mut HostConfig<'_>, event_id: u64) {
        let _ = (host, event_id);
    }

    /// A config callout ([`HostConfig::http_callout`]) finished, on the
    /// host's module main thread; `result` lives as long as the call.
    fn on_callout_done(&self, host: &mut HostConfig<'_>, id: CalloutId, result: &CalloutResult<'_>) {
        let _ = (host, id, result);
    }
}

/// One filter on one stream. Every hook runs on the worker thread that owns
/// the stream (including `on_scheduled`), so the filter needs no locking and
/// need not be `Send`. Each hook has a pass-through default; the filter is
/// dropped once, after the stream ended.
///
/// A panic in a hook is caught by the SDK: it is logged, the stream is
/// answered with a 500 (or failed by the host when a reply is no longer
/// possible) and the filter's later hooks are skipped.
#[allow(unused_variables)]
pub trait HttpFilter: 'static {
    /// Request headers arrived; `end_of_stream` when there is no body.
    fn on_request_headers(&mut self, host: &mut HostFilter<'_>, end_of_stream: bool) -> HeadersStatus {
        HeadersStatus::Continue
    }
    /// A request body chunk arrived (read it as `BodyKind::ReceivedRequest`).
    fn on_request_body(&mut self, host: &mut HostFilter<'_>, end_of_stream: bool) -> BodyStatus {
        BodyStatus::Continue
    }
    /// Request trailers arrived.
    fn on_request_trailers(&mut self, host: &mut HostFilter<'_>) -> TrailersStatus {
        TrailersStatus::Continue
    }
    /// Response headers arrived.
    fn on_response_headers(&mut self, host: &mut HostFilter<'_>, end_of_stream: bool) -> HeadersStatus {
        HeadersStatus::Continue
    }
    /// A response body chunk arrived (read it as `BodyKind::ReceivedResponse`).
    fn on_response_body(&mut self, host: &mut HostFilter<'_>, end_of_stream: bool) -> BodyStatus {
        BodyStatus::Continue
    }
    /// Response trailers arrived.
    fn on_response_trailers(&mut self, host: &mut HostFilter<'_>) -> TrailersStatus {
        TrailersStatus::Continue
    }
    /// The stream ended for any reason (read-only calls still work).
    fn on_stream_complete(&mut self, host: &mut HostFilter<'_>) {}
    /// A [`Scheduler::commit`](crate::Scheduler::commit) for this filter,
    /// delivered on its worker in commit order.
    fn on_scheduled(&mut self, host: &mut HostFilter<'_>, event_id: u64) {}
    /// A [`Timer`](crate::Timer) of this filter is due (on its worker).
    fn on_timer(&mut self, host: &mut HostFilter<'_>, timer: crate::TimerId) {}
    /// A callout of this filter ([`HostFilter::http_callout`]) finished, on
    /// its worker, while the stream runs; `result` lives as long as the
    /// call. Typically resumes the request (`continue_decoding`) or
    /// answers it (`send_response`).
    fn on_callout_done(&mut self, host: &mut HostFilter<'_>, id: CalloutId, result: &CalloutResult<'_>) {}
}
