//! The `isoflop train --config FILE` parser on arbitrary text: an error, or settings whose
//! counts are finite and non-negative and whose tokenizer is one the trainer knows.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(f) = isoflop_train::TrainFile::parse(text, "fuzz.toml") {
        for c in [f.params, f.tokens, f.batch_tokens, f.eval_tokens, f.final_eval_tokens]
            .into_iter()
            .flatten()
        {
            assert!(c.is_finite() && c >= 0.0, "count {c} passed");
        }
        assert!(f.tokenizer.as_deref().is_none_or(|t| t == "byte" || t == "bpe"));
    }
});
