//! Typed versions of the header's status, kind, event, attribute and level
//! enums.

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
    /// S: the server name the TLS client asked for (ABI 2.1; `NotFound` on
    /// cleartext connections or before the handshake completed, as for
    /// every TLS attribute)
    TlsSni = abi::SLUICE_ATTR_TLS_SNI,
    /// S: the negotiated application protocol (ALPN)
    TlsAlpn = abi::SLUICE_ATTR_TLS_ALPN,
    /// S: "TLSv1.2", "TLSv1.3"
    TlsVersion = abi::SLUICE_ATTR_TLS_VERSION,
    /// S: the client certificate's subject
    TlsPeerSubject = abi::SLUICE_ATTR_TLS_PEER_SUBJECT,
    /// S: the client certificate's SANs, comma-separated
    TlsPeerSans = abi::SLUICE_ATTR_TLS_PEER_SANS,
}

/// What a network filter's `on_new_connection`, `on_read` and `on_write`
/// return (Envoy's Network::FilterStatus). `StopIteration` stops only the
/// current pass over the filter chain: the next read iterates again from
/// the first filter, so a filter that holds a connection keeps returning
/// it until it calls `continue_reading`.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetworkStatus {
    Continue = abi::SLUICE_NETWORK_CONTINUE,
    StopIteration = abi::SLUICE_NETWORK_STOP_ITERATION,
}
status_from_raw!(NetworkStatus { Continue, StopIteration });

/// A connection event, for `NetworkFilter::on_event`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnectionEvent {
    /// The transport is ready: right after the chain started for
    /// cleartext, after the handshake with TLS (TLS attributes are set
    /// from then on).
    Connected,
    /// The client closed or reset the connection.
    RemoteClose,
    /// sluice closed it: a filter (this one included), a timeout, a drain.
    LocalClose,
}

impl ConnectionEvent {
    /// The event for a raw `sluice_network_event`; `None` for one this SDK
    /// does not know (a newer host).
    pub fn from_raw(raw: abi::sluice_network_event) -> Option<ConnectionEvent> {
        match raw {
            abi::SLUICE_NETWORK_EVENT_CONNECTED => Some(ConnectionEvent::Connected),
            abi::SLUICE_NETWORK_EVENT_REMOTE_CLOSE => Some(ConnectionEvent::RemoteClose),
            abi::SLUICE_NETWORK_EVENT_LOCAL_CLOSE => Some(ConnectionEvent::LocalClose),
            _ => None,
        }
    }

    /// The raw `sluice_network_event`.
    pub fn to_raw(self) -> abi::sluice_network_event {
        match self {
            ConnectionEvent::Connected => abi::SLUICE_NETWORK_EVENT_CONNECTED,
            ConnectionEvent::RemoteClose => abi::SLUICE_NETWORK_EVENT_REMOTE_CLOSE,
            ConnectionEvent::LocalClose => abi::SLUICE_NETWORK_EVENT_LOCAL_CLOSE,
        }
    }
}

/// How `HostConnection::close` closes the connection.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CloseType {
    /// Send what is queued for the client first.
    Flush = abi::SLUICE_CLOSE_FLUSH,
    /// Close now: queued output is lost, the client may see a reset.
    Abort = abi::SLUICE_CLOSE_ABORT,
}

/// Which buffer a network buffer call addresses.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NetworkBuffer {
    /// Inside `on_read`: the data the hook was given (the connection's
    /// read buffer: everything read and not yet drained, possibly seen
    /// before; or data a filter before this one injected). Outside
    /// `on_read`: the connection's read buffer.
    Read = abi::SLUICE_NETWORK_READ_BUFFER,
    /// The chunk passed to the running `on_write` (`Unavailable` elsewhere).
    Write = abi::SLUICE_NETWORK_WRITE_BUFFER,
}
