//! Typed versions of the header's status, kind, attribute and level enums.

use crate::abi;

/// What a headers hook returns (Envoy's FilterHeadersStatus).
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadersStatus {
    Continue = abi::SLUICE_HEADERS_CONTINUE,
    StopIteration = abi::SLUICE_HEADERS_STOP_ITERATION,
    ContinueAndDontEndStream = abi::SLUICE_HEADERS_CONTINUE_AND_DONT_END_STREAM,
    StopAllIterationAndBuffer = abi::SLUICE_HEADERS_STOP_ALL_ITERATION_AND_BUFFER,
    StopAllIterationAndWatermark = abi::SLUICE_HEADERS_STOP_ALL_ITERATION_AND_WATERMARK,
}

/// What a body hook returns (Envoy's FilterDataStatus).
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyStatus {
    Continue = abi::SLUICE_BODY_CONTINUE,
    StopIterationAndBuffer = abi::SLUICE_BODY_STOP_ITERATION_AND_BUFFER,
    StopIterationAndWatermark = abi::SLUICE_BODY_STOP_ITERATION_AND_WATERMARK,
    StopIterationNoBuffer = abi::SLUICE_BODY_STOP_ITERATION_NO_BUFFER,
}

/// What a trailers hook returns (Envoy's FilterTrailersStatus).
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrailersStatus {
    Continue = abi::SLUICE_TRAILERS_CONTINUE,
    StopIteration = abi::SLUICE_TRAILERS_STOP_ITERATION,
}

macro_rules! status_from_raw {
    ($t:ident { $($v:ident),* }) => {
        impl TryFrom<i32> for $t {
            type Error = i32;
            /// The status for a raw ABI value; `Err(raw)` for an unknown one.
            fn try_from(raw: i32) -> Result<$t, i32> {
                $(if raw == $t::$v as i32 {
                    return Ok($t::$v);
                })*
                Err(raw)
            }
        }
    };
}
status_from_raw!(HeadersStatus {
    Continue,
    StopIteration,
    ContinueAndDontEndStream,
    StopAllIterationAndBuffer,
    StopAllIterationAndWatermark
});
status_from_raw!(BodyStatus { Continue, StopIterationAndBuffer, StopIterationAndWatermark, StopIterationNoBuffer });
status_from_raw!(TrailersStatus { Continue, StopIteration });

/// Which header map a header call addresses.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HeaderKind {
    RequestHeaders = abi::SLUICE_REQUEST_HEADERS,
    RequestTrailers = abi::SLUICE_REQUEST_TRAILERS,
    ResponseHeaders = abi::SLUICE_RESPONSE_HEADERS,
    ResponseTrailers = abi::SLUICE_RESPONSE_TRAILERS,
}

/// Which body a body call addresses. "Received" is the chunk passed to the
/// current body hook; "buffered" is what earlier `StopIterationAndBuffer`
/// returns kept.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BodyKind {
    ReceivedRequest = abi::SLUICE_RECEIVED_REQUEST_BODY,
    BufferedRequest = abi::SLUICE_BUFFERED_REQUEST_BODY,
    ReceivedResponse = abi::SLUICE_RECEIVED_RESPONSE_BODY,
    BufferedResponse = abi::SLUICE_BUFFERED_RESPONSE_BODY,
}

/// Log levels (zap's; trace is shown as debug by the host).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Trace = abi::SLUICE_LOG_TRACE,
    Debug = abi::SLUICE_LOG_DEBUG,
    Info = abi::SLUICE_LOG_INFO,
    Warn = abi::SLUICE_LOG_WARN,
    Error = abi::SLUICE_LOG_ERROR,
    Critical = abi::SLUICE_LOG_CRITICAL,
}

/// Stream attributes readable with `HostFilter::attribute_string` (S) or
/// `HostFilter::attribute_int` (I).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attribute {
    /// S: `:method`
    RequestMethod = abi::SLUICE_ATTR_REQUEST_METHOD,
    /// S: `:path`
    RequestPath = abi::SLUICE_ATTR_REQUEST_PATH,
    /// S: `:authority`
    RequestHost = abi::SLUICE_ATTR_REQUEST_HOST,
    /// S: `:scheme`
    RequestScheme = abi::SLUICE_ATTR_REQUEST_SCHEME,
    /// S: "HTTP/1.1", "HTTP/2", ...
    RequestProtocol = abi::SLUICE_ATTR_REQUEST_PROTOCOL,
    /// S: x-request-id of the stream
    RequestId = abi::SLUICE_ATTR_REQUEST_ID,
    /// S: "ip:port" of the downstream peer
    SourceAddress = abi::SLUICE_ATTR_SOURCE_ADDRESS,
    /// S: "ip:port" the peer connected to
    DestinationAddress = abi::SLUICE_ATTR_DESTINATION_ADDRESS,
    /// I
    SourcePort = abi::SLUICE_ATTR_SOURCE_PORT,
    /// I
    DestinationPort = abi::SLUICE_ATTR_DESTINATION_PORT,
    /// I: downstream connection id
    ConnectionId = abi::SLUICE_ATTR_CONNECTION_ID,
    /// I: stream id within the process
    StreamId = abi::SLUICE_ATTR_STREAM_ID,
    /// I: index of the owning worker
    WorkerIndex = abi::SLUICE_ATTR_WORKER_INDEX,
    /// I: `:status` once response headers exist
    ResponseCode = abi::SLUICE_ATTR_RESPONSE_CODE,
}
