//! Logging through the host's zap logger. Thread-safe, but each call from a
//! module-created thread costs ~12 µs (the Go runtime binds the thread), so
//! keep it off hot foreign-thread paths.

use crate::host::callback;
use crate::types::LogLevel;
use core::fmt;

/// True when the host would keep a message at `level`; lets callers skip
/// formatting.
pub fn enabled(level: LogLevel) -> bool {
    match callback!(log_enabled) {
        // SAFETY: plain value argument.
        Ok(f) => unsafe { f(level as u32) },
        Err(_) => false,
    }
}

/// Log a preformatted message.
pub fn log_str(level: LogLevel, msg: &str) {
    if let Ok(f) = callback!(log) {
        // SAFETY: the host copies msg during the call.
        unsafe { f(level as u32, msg.as_ptr(), msg.len()) }
    }
}

/// Format and log, skipping the formatting when the level is disabled.
pub fn log(level: LogLevel, args: fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    match args.as_str() {
        Some(s) => log_str(level, s),
        None => log_str(level, &std::fmt::format(args)),
    }
}

/// Log at an explicit level: `sluice_log!(LogLevel::Warn, "x = {}", x)`.
#[macro_export]
macro_rules! sluice_log {
    ($level:expr, $($arg:tt)+) => {
        $crate::log::log($level, format_args!($($arg)+))
    };
}
/// Log at trace level.
#[macro_export]
macro_rules! sluice_trace { ($($arg:tt)+) => { $crate::sluice_log!($crate::LogLevel::Trace, $($arg)+) }; }
/// Log at debug level.
#[macro_export]
macro_rules! sluice_debug { ($($arg:tt)+) => { $crate::sluice_log!($crate::LogLevel::Debug, $($arg)+) }; }
/// Log at info level.
#[macro_export]
macro_rules! sluice_info { ($($arg:tt)+) => { $crate::sluice_log!($crate::LogLevel::Info, $($arg)+) }; }
/// Log at warn level.
#[macro_export]
macro_rules! sluice_warn { ($($arg:tt)+) => { $crate::sluice_log!($crate::LogLevel::Warn, $($arg)+) }; }
/// Log at error level.
#[macro_export]
macro_rules! sluice_error { ($($arg:tt)+) => { $crate::sluice_log!($crate::LogLevel::Error, $($arg)+) }; }
/// Log at critical level.
#[macro_export]
macro_rules! sluice_critical { ($($arg:tt)+) => { $crate::sluice_log!($crate::LogLevel::Critical, $($arg)+) }; }
