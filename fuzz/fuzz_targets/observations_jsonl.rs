//! The observation reader on arbitrary JSONL bytes: an error or observations that pass the
//! reader's own validation, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| common::observations(data, "jsonl"));
