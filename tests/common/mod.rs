#![allow(dead_code)]
pub mod fix_client;
