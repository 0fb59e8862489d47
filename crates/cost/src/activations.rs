//! Activation memory of training (Korthikanti et al. 2022, "Reducing Activation Recomputation in
//! Large Transformer Models").
//!
//! Bytes stored per transformer layer for the backward pass, 16-bit activations, with s the
//! sequence length, b the micro-batch size, h the hidden size, a the attention heads and t the
//! tensor-parallel size (their Table 2):
//!
//! | setting                                   | bytes per layer            |
//! |-------------------------------------------|----------------------------|
//! | no parallelism                            | `sbh·(34 + 5as/h)`         |
//! | tensor parallel                           | `sbh·(10 + 24/t + 5as/(ht))` |
//! | tensor + sequence parallel                | `sbh·(34/t + 5as/(ht))`    |
//! | tensor parallel + selective recompute     | `sbh·(10 + 24/t)`          |
//! | tensor + sequence parallel + selective    | `sbh·34/t`                 |
//! | full recomputation                        | `2·sbh` (the layer input)  |
//!
//! The `5as/h` term is the s×s attention scores, softmax and dropout mask; flash attention
//! (Dao et al. 2022) never stores them, so with it the term drops as with selective recompute.
//! Under full recomputation with tensor parallelism and no sequence parallelism the layer input
//! is replicated on every tensor-parallel rank (`2sbh`); with sequence parallelism it is split
//! (`2sbh/t`).
//!
//! Pipeline parallelism with the 1F1B schedule keeps p micro-batches in flight on the first stage,
//! which holds L/p layers: L layers' worth in all (§4.2.3). The interleaved schedule with m model
//! chunks per device multiplies this by `1 + (p−1)/(p·m)`. The embedding output's dropout mask
//! (`sbh·p/t` with sequence parallelism, §4.3) is added on the first stage, and the output layer
//! (`4·sbh/t·(1 + v/h)`, §4.3) only when there is a single stage.
//!
//! A GPT-2 or Llama layer differs slightly from the GPT layer of the paper (SwiGLU stores more,
//! grouped-query attention less); the paper's counts are used for every family, as is common.
//! All results are bytes; convert with 2^30 for GiB.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::{Error, Result};

/// Which activations are recomputed in the backward pass instead of stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Recompute {
    /// Store everything the backward needs.
    #[default]
    None,
    /// Recompute the attention scores, softmax and dropout (Korthikanti et al. 2022 §4.2).
    Selective,
    /// Store only each layer's input and recompute the whole layer (Chen et al. 2016).
    Full,
}

impl Recompute {
    /// Every strategy, cheapest in time first.
    pub const ALL: [Recompute; 3] = [Self::None, Self::Selective, Self::Full];
}

impl fmt::Display for Recompute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "none",
            Self::Selective => "selective",
            Self::Full => "full",
        })
    }
}

impl FromStr for Recompute {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(Self::None),
            "selective" => Ok(Self::Selective),
            "full" => Ok(Self::Full),
            _ => Err(Error::UnknownName {
                what: "recomputation",
                name: s.to_string(),
                expected: "none, selective, full".to_string(),
            }),
        }
    }
}
