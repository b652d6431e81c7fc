//! Answering gRPC calls with a gRPC status.
//!
//! A gRPC client reads a call's outcome from `grpc-status`, not from the
//! HTTP status. [`HostFilter::send_grpc_status`] answers with a
//! trailers-only response (HTTP 200, `content-type: application/grpc`,
//! `grpc-status` and `grpc-message` in the one HEADERS block that ends the
//! stream), built on `send_response`. The host answers a gRPC request the
//! same way when a filter calls plain `send_response` with an error status
//! (403 becomes `PERMISSION_DENIED`, 503 `UNAVAILABLE`, ...); this helper is
//! for choosing the exact code and message.

use crate::error::Result;
use crate::host_filter::HostFilter;

/// The gRPC status codes (the same numbers in every gRPC implementation).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GrpcStatus {
    Ok = 0,
    Cancelled = 1,
    Unknown = 2,
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    NotFound = 5,
    AlreadyExists = 6,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    Aborted = 10,
    OutOfRange = 11,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    DataLoss = 15,
    Unauthenticated = 16,
}

/// True for a gRPC content type: `application/grpc`, alone or with a
/// `+codec` suffix or parameters (gRPC-Web is not gRPC here).
pub fn is_grpc_content_type(content_type: &[u8]) -> bool {
    const GRPC: &[u8] = b"application/grpc";
    content_type.len() >= GRPC.len()
        && content_type[..GRPC.len()].eq_ignore_ascii_case(GRPC)
        && matches!(content_type.get(GRPC.len()), None | Some(b'+') | Some(b';'))
}

/// Percent-encodes a `grpc-message` value as gRPC requires: bytes outside
/// printable ASCII, and `%`, become `%XX`.
pub fn encode_grpc_message(message: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(message.len());
    for &c in message {
        if !(0x20..=0x7e).contains(&c) || c == b'%' {
            out.extend_from_slice(&[b'%', HEX[usize::from(c >> 4)], HEX[usize::from(c & 0xf)]]);
        } else {
            out.push(c);
        }
    }
    out
}

impl HostFilter<'_> {
    /// True when the request is a gRPC call (see [`is_grpc_content_type`]).
    pub fn request_is_grpc(&self) -> bool {
        self.request_header("content-type").is_some_and(is_grpc_content_type)
    }

    /// Answer a gRPC call with `code` and `message` (percent-encoded here;
    /// empty for none); `details` goes to the access log. Like
    /// `send_response`, the stream has ended after `Ok`.
    pub fn send_grpc_status(&mut self, code: GrpcStatus, message: &str, details: &[u8]) -> Result<()> {
        let num = (code as u32).to_string();
        let msg = encode_grpc_message(message.as_bytes());
        let mut headers: Vec<(&[u8], &[u8])> =
            vec![(b"content-type", b"application/grpc"), (b"grpc-status", num.as_bytes())];
        if !msg.is_empty() {
            headers.push((b"grpc-message", &msg));
        }
        self.send_response_with_details(200, &headers, b"", details)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert!(is_grpc_content_type(b"application/grpc"));
        assert!(is_grpc_content_type(b"application/grpc+proto"));
        assert!(is_grpc_content_type(b"Application/GRPC; charset=x"));
        assert!(!is_grpc_content_type(b"application/grpc-web"));
        assert!(!is_grpc_content_type(b"application/json"));
    }

    #[test]
    fn messages_are_percent_encoded() {
        assert_eq!(encode_grpc_message(b"plain text"), b"plain text");
        assert_eq!(encode_grpc_message("100% sure\n\u{e9}".as_bytes()), b"100%25 sure%0A%C3%A9");
    }
}
