//! FIX 4.4 tag=value codec: framing and field iteration ([`decode`]), an encoder into a
//! caller-provided buffer ([`MessageWriter`]), UTCTimestamp text ([`time`]) and exact
//! decimal text ↔ integer grid steps ([`decimal`]).
//!
//! Nothing here allocates: decoding hands out slices of the caller's buffer, encoding
//! writes into the caller's buffer and reports `BufferTooSmall` instead of growing it.

pub(crate) mod decimal;
pub(crate) mod decode;
pub(crate) mod encode;
pub(crate) mod time;

/// The field separator, SOH (0x01).
pub const SOH: u8 = 0x01;
/// The only BeginString(8) we speak.
pub const BEGIN_STRING: &[u8] = b"FIX.4.4";
