//! Errors of host callbacks (`sluice_result` values other than `SLUICE_OK`).

use crate::abi;
use core::fmt;

/// Why a host callback failed. Every variant is a `SLUICE_ERR_*` code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The handle is stale: the filter or config was destroyed.
    InvalidHandle,
    /// The stream already ended (e.g. after `send_response` in this hook).
    StreamEnded,
    /// The header, metadata key or attribute is absent.
    NotFound,
    /// Not available now (e.g. the received body outside a body hook).
    Unavailable,
    /// An array was too small (the SDK retries these itself).
    BufferTooSmall,
    /// Bad argument: unknown kind or id, bad status code, reused metric name.
    InvalidArgument,
    /// A worker-only callback was called from another thread.
    WrongThread,
    /// Not allowed in this phase (e.g. defining a metric after config load).
    WrongPhase,
    /// A fixed host limit was reached.
    Limit,
    /// The host table lacks this callback (an older host) or the host API
    /// was never initialised.
    Unsupported,
    /// A scheduler commit was not queued (stream gone, host shutting down,
    /// or the scheduler's queue is full); see
    /// [`Scheduler::commit`](crate::Scheduler::commit).
    CommitRefused,
    /// A code this SDK does not know (a newer host).
    Unknown(i32),
}

/// The result of a host callback.
pub type Result<T> = core::result::Result<T, Error>;

impl Error {
    /// Map a `sluice_result` to `Ok(())` or the error it names.
    pub fn check(code: abi::sluice_result) -> Result<()> {
        match code {
            abi::SLUICE_OK => Ok(()),
            abi::SLUICE_ERR_INVALID_HANDLE => Err(Error::InvalidHandle),
            abi::SLUICE_ERR_STREAM_ENDED => Err(Error::StreamEnded),
            abi::SLUICE_ERR_NOT_FOUND => Err(Error::NotFound),
            abi::SLUICE_ERR_UNAVAILABLE => Err(Error::Unavailable),
            abi::SLUICE_ERR_BUFFER_TOO_SMALL => Err(Error::BufferTooSmall),
            abi::SLUICE_ERR_INVALID_ARGUMENT => Err(Error::InvalidArgument),
            abi::SLUICE_ERR_WRONG_THREAD => Err(Error::WrongThread),
            abi::SLUICE_ERR_WRONG_PHASE => Err(Error::WrongPhase),
            abi::SLUICE_ERR_LIMIT => Err(Error::Limit),
            other => Err(Error::Unknown(other)),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Error::InvalidHandle => "invalid or stale handle",
            Error::StreamEnded => "stream already ended",
            Error::NotFound => "not found",
            Error::Unavailable => "not available now",
            Error::BufferTooSmall => "buffer too small",
            Error::InvalidArgument => "invalid argument",
            Error::WrongThread => "called from the wrong thread",
            Error::WrongPhase => "not allowed in this phase",
            Error::Limit => "host limit reached",
            Error::Unsupported => "callback not provided by this host",
            Error::CommitRefused => "scheduler commit refused (stream gone, host closing or queue full)",
            Error::Unknown(code) => return write!(f, "unknown host result {code}"),
        };
        f.write_str(text)
    }
}

impl std::error::Error for Error {}

/// Lets config constructors (which return `Result<_, String>`) use `?` on
/// host calls: `let hits = host.define_counter("hits")?;`.
impl From<Error> for String {
    fn from(e: Error) -> String {
        e.to_string()
    }
}
