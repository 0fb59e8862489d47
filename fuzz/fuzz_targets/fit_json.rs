//! The fit.json loader (`predict`, `plan` and the Python package read it) on arbitrary text:
//! an error, or a fit every tool can use: it predicts and plans without a panic, and saving it
//! again gives a file the loader takes back unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(fit) = isoflop_law::Fit::from_json(text, None) else { return };
    let _ = fit.predict(1e9, 2e10);
    let _ = fit.predict_interval(1e9, 2e10);
    let _ = isoflop_law::plan::compute_optimal(&fit, 1e21);
    let _ = isoflop_law::plan::for_target_loss(&fit, 2.5);
    let saved = serde_json::to_string(&fit).expect("a loaded fit serialises");
    let again = isoflop_law::Fit::from_json(&saved, None)
        .unwrap_or_else(|e| panic!("a loaded fit, saved again, is refused: {e}\n{saved}"));
    assert_eq!(
        serde_json::to_string(&again).expect("serialises"),
        saved,
        "a fit changes on a save-load round trip"
    );
});
