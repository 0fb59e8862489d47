//! The Hugging Face `config.json` reader on arbitrary text: an error or a shape whose
//! parameter count can be computed, never a panic (overflow included).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(shape) = isoflop_cost::from_hf_config(text, "config.json") {
        let p = shape.params();
        assert!(p.total >= p.non_embedding, "{p:?}");
    }
});
