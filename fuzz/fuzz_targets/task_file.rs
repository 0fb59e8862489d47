//! The labelled-task reader (`isoflop finetune --task FILE`) on arbitrary CSV and JSON Lines,
//! with and without a split column: an error, or a task that passes its own validation with
//! every label used and every split drawn from the file's rows.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the format and whether a split column is read.
    let Some((&how, body)) = data.split_first() else { return };
    let ext = if how & 1 == 0 { "csv" } else { "jsonl" };
    let split = (how & 2 != 0).then_some("split");
    let path = common::scratch(body, ext);
    if let Ok(task) = isoflop_train::task::load_file(&path, split, 7) {
        task.validate().expect("a loaded task is valid");
        assert!(!task.labels.is_empty());
    }
});
