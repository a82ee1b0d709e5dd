//! Fuzz the FIX decoder: any bytes, fed as a stream, must never panic, every consumed
//! count must make progress, and every decoded message must survive validation, parsing
//! and field iteration.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tachyon_fix_gateway::{decode, parse_app, validate, Decoded};

fuzz_target!(|data: &[u8]| {
    let mut buf = data;
    loop {
        match decode(buf) {
            Decoded::Message { msg, consumed } => {
                assert!(consumed > 0 && consumed <= buf.len());
                for _ in msg.fields() {}
                if validate(&msg).is_ok() && !matches!(msg.msg_type(), b"A" | b"0" | b"1" | b"2" | b"3" | b"4" | b"5") {
                    let _ = parse_app(&msg);
                }
                buf = &buf[consumed..];
            }
            Decoded::Garbled { consumed, .. } => {
                assert!(consumed > 0 && consumed <= buf.len());
                buf = &buf[consumed..];
            }
            Decoded::Incomplete { skip } => {
                assert!(skip <= buf.len());
                break;
            }
        }
    }
});
