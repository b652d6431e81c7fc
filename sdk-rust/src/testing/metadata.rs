//! Dynamic metadata in the fake host: the callbacks that read and set it,
//! written once for every map they reach (a stream's own, its connection's,
//! a network filter's connection's), and what tests read back.

use super::callbacks::{input, out_view, put};
use super::state::{bytes, Bytes, Metadata, MetadataMap};
use crate::abi::{self, sluice_buffer};

/// Where a metadata callback finds its map.
pub(crate) trait MetadataSource {
    /// The handle the callback receives.
    type Handle;
    /// Run `read` on the map of `h`, or return why there is none.
    fn read(h: Self::Handle, read: impl FnOnce(&MetadataMap) -> abi::sluice_result) -> abi::sluice_result;
}

/// A metadata map the filter may also set.
pub(crate) trait MetadataSink: MetadataSource {
    /// Run `write` on the map of `h` and the graveyard of replaced values
    /// (views of them may still be held), or return why it cannot be set.
    fn write(h: Self::Handle, write: impl FnOnce(&mut MetadataMap, &mut Vec<Bytes>)) -> abi::sluice_result;
}

unsafe fn key(ns: *const u8, nl: usize, k: *const u8, kl: usize) -> (String, String) {
    (String::from_utf8_lossy(input(ns, nl)).into_owned(), String::from_utf8_lossy(input(k, kl)).into_owned())
}

/// What a metadata getter hands out for a stored value.
pub(crate) trait MetadataValue: Sized {
    /// The value, or why the stored one cannot be read as this type.
    fn of(stored: &(Option<Bytes>, Option<f64>)) -> Result<Self, abi::sluice_result>;
}

/// `metadata_get_string`: a view into the map (replaced values are kept
/// in a graveyard, so the view outlives changes in the hook).
impl MetadataValue for sluice_buffer {
    fn of(stored: &(Option<Bytes>, Option<f64>)) -> Result<Self, abi::sluice_result> {
        match stored {
            (Some(v), _) => Ok(out_view(v)),
            _ => Err(abi::SLUICE_ERR_INVALID_ARGUMENT),
        }
    }
}

/// `metadata_get_number`; as in sluice, a string holding a number reads
/// as that number.
impl MetadataValue for f64 {
    fn of(stored: &(Option<Bytes>, Option<f64>)) -> Result<Self, abi::sluice_result> {
        match stored {
            (_, Some(v)) => Ok(*v),
            (Some(text), None) => std::str::from_utf8(text)
                .ok()
                .and_then(|t| t.parse::<f64>().ok())
                .ok_or(abi::SLUICE_ERR_INVALID_ARGUMENT),
            (None, None) => Err(abi::SLUICE_ERR_NOT_FOUND),
        }
    }
}

/// `metadata_get_string` (`T` = `sluice_buffer`) and `metadata_get_number`
/// (`T` = `f64`).
pub(crate) unsafe extern "C" fn get<M: MetadataSource, T: MetadataValue>(
    h: M::Handle,
    ns: *const u8,
    nl: usize,
    k: *const u8,
    kl: usize,
    out: *mut T,
) -> abi::sluice_result {
    let key = key(ns, nl, k, kl);
    M::read(h, |map| put(out, map.get(&key).ok_or(abi::SLUICE_ERR_NOT_FOUND).and_then(T::of)))
}

pub(crate) unsafe extern "C" fn set_string<M: MetadataSink>(
    h: M::Handle,
    ns: *const u8,
    nl: usize,
    k: *const u8,
    kl: usize,
    v: *const u8,
    vl: usize,
) -> abi::sluice_result {
    let (key, value) = (key(ns, nl, k, kl), bytes(input(v, vl)));
    M::write(h, |map, graveyard| set(map, graveyard, key, (Some(value), None)))
}

pub(crate) unsafe extern "C" fn set_number<M: MetadataSink>(
    h: M::Handle,
    ns: *const u8,
    nl: usize,
    k: *const u8,
    kl: usize,
    v: f64,
) -> abi::sluice_result {
    let key = key(ns, nl, k, kl);
    M::write(h, |map, graveyard| set(map, graveyard, key, (None, Some(v))))
}

/// Set a metadata value; a replaced string goes to `graveyard`.
pub(crate) fn set(
    map: &mut MetadataMap,
    graveyard: &mut Vec<Bytes>,
    key: (String, String),
    value: (Option<Bytes>, Option<f64>),
) {
    if let Some((Some(old), _)) = map.insert(key, value) {
        graveyard.push(old);
    }
}

/// Value `ns`.`key` of a map, for tests.
pub(crate) fn lookup(map: &MetadataMap, ns: &str, key: &str) -> Option<Metadata> {
    match map.get(&(ns.to_string(), key.to_string()))? {
        (Some(v), _) => Some(Metadata::String(v.to_vec())),
        (_, Some(n)) => Some(Metadata::Number(*n)),
        _ => None,
    }
}

/// A looked-up value as `metadata_string` returns it: `Err(NotFound)`
/// when absent or a number.
pub(crate) fn string_value(m: Option<Metadata>) -> crate::error::Result<Vec<u8>> {
    match m {
        Some(Metadata::String(v)) => Ok(v),
        _ => Err(crate::Error::NotFound),
    }
}

/// A looked-up value as `metadata_number` returns it: `Err(NotFound)`
/// when absent or a string.
pub(crate) fn number_value(m: Option<Metadata>) -> crate::error::Result<f64> {
    match m {
        Some(Metadata::Number(n)) => Ok(n),
        _ => Err(crate::Error::NotFound),
    }
}
