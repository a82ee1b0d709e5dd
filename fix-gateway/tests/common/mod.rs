//! Test helpers: builds frames independently of the crate's encoder.
#![allow(dead_code)]

/// `8=FIX.4.4␁9=<len>␁<body>10=<ck>␁` from `|`-separated body text (`|` → SOH).
pub fn frame(body: &str) -> Vec<u8> {
    let body = body.replace('|', "\x01");
    let mut out = format!("8=FIX.4.4\x019={}\x01{}", body.len(), body).into_bytes();
    let ck = out.iter().fold(0u8, |a, &b| a.wrapping_add(b));
    out.extend_from_slice(format!("10={:03}\x01", ck).as_bytes());
    out
}

/// Replaces SOH with `|` for readable assertions.
pub fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).replace('\x01', "|")
}
