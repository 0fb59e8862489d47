//! Accelerators: peak throughput, memory, bandwidth and interconnect.
//!
//! Peaks are the datasheets' **dense** figures (never the 2:4 structured-sparsity ones, which
//! are twice as large and which no dense training run can reach). Units: FLOP/s, bytes, bytes/s.
//! Memory capacities are exact bytes: HBM and GDDR come in binary-sized stacks, so a datasheet's
//! "80GB" is 80 GiB (80 × 2^30 bytes), as `nvidia-smi` shows (81,920 MiB on an A100 80GB); where
//! a vendor's figure is not binary (H200's 141 GB) the datasheet's decimal GB is used.
//! Bandwidths are per GPU and per direction: NVLink's "900 GB/s" on H100 SXM is bidirectional,
//! so 450 GB/s each way.
//!
//! The `mfu` of a preset is an assumption, not a datasheet figure: a typical model-FLOPs
//! utilisation for dense transformer training at scale (PaLM reports 46% on TPU v4, Narayanan
//! et al. 2021 report 44–52% of A100 peak). Override it with `--mfu`.

use crate::{Error, Precision, Result};
use serde::{Deserialize, Serialize};

const GIB: f64 = 1073741824.0; // 2^30 bytes
const GB: f64 = 1e9;
const TFLOPS: f64 = 1e12;

/// One accelerator and the node it sits in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hardware {
    /// Preset or file name.
    pub name: String,
    /// Dense fp32 peak (non-tensor-core), FLOP/s.
    pub peak_fp32_flops: f64,
    /// Dense bf16/fp16 tensor peak, FLOP/s.
    pub peak_bf16_flops: f64,
    /// Dense fp8 tensor peak, FLOP/s; `None` where the chip has no fp8 units.
    pub peak_fp8_flops: Option<f64>,
    /// Device memory, bytes.
    pub memory_bytes: f64,
    /// Device memory bandwidth, bytes/s.
    pub memory_bandwidth: f64,
    /// Bandwidth to another GPU of the same node, per direction, bytes/s (NVLink, PCIe).
    pub intra_node_bandwidth: f64,
    /// Bandwidth to a GPU on another node, per GPU and direction, bytes/s (InfiniBand, Ethernet).
    pub inter_node_bandwidth: f64,
    /// GPUs in one node.
    pub gpus_per_node: u64,
    /// Assumed model-FLOPs utilisation for training time estimates (see the module docs).
    pub mfu: f64,
    /// Where the figures come from.
    pub source: String,
}

/// Preset names, in display order.
pub const HARDWARE_PRESETS: [&str; 8] =
    ["a100-40gb", "a100-80gb", "h100-sxm", "h100-pcie", "h200", "l4", "rtx4090", "mi300x"];

#[allow(clippy::too_many_arguments)]
fn preset(
    name: &str,
    fp32_tf: f64,
    bf16_tf: f64,
    fp8_tf: Option<f64>,
    memory_bytes: f64,
    bandwidth_gb_s: f64,
    intra_gb_s: f64,
    inter_gb_s: f64,
    gpus_per_node: u64,
    mfu: f64,
    source: &str,
) -> Hardware {
    Hardware {
        name: name.to_string(),
        peak_fp32_flops: fp32_tf * TFLOPS,
        peak_bf16_flops: bf16_tf * TFLOPS,
        peak_fp8_flops: fp8_tf.map(|t| t * TFLOPS),
        memory_bytes,
        memory_bandwidth: bandwidth_gb_s * GB,
        intra_node_bandwidth: intra_gb_s * GB,
        inter_node_bandwidth: inter_gb_s * GB,
        gpus_per_node,
        mfu,
        source: source.to_string(),
    }
}

impl Hardware {
    /// A preset by name; see [`HARDWARE_PRESETS`].
    pub fn preset(name: &str) -> Result<Self> {
        let h = match name.to_ascii_lowercase().as_str() {
            // NVIDIA A100 Tensor Core GPU datasheet (2021), SXM column: FP32 19.5 TFLOPS,
            // BF16 312 TFLOPS dense (624 sparse), 40GB HBM2 at 1,555 GB/s, NVLink 600 GB/s
            // bidirectional. Inter-node: DGX A100, 8 × 200 Gb/s HDR InfiniBand = 25 GB/s/GPU.
            "a100-40gb" => preset(
                "a100-40gb",
                19.5,
                312.0,
                None,
                40.0 * GIB,
                1555.0,
                300.0,
                25.0,
                8,
                0.45,
                "NVIDIA A100 datasheet (SXM4 40GB); DGX A100 HDR InfiniBand",
            ),
            // Same datasheet, 80GB SXM column: HBM2e at 2,039 GB/s.
            "a100-80gb" => preset(
                "a100-80gb",
                19.5,
                312.0,
                None,
                80.0 * GIB,
                2039.0,
                300.0,
                25.0,
                8,
                0.45,
                "NVIDIA A100 datasheet (SXM4 80GB); DGX A100 HDR InfiniBand",
            ),
            // NVIDIA H100 Tensor Core GPU datasheet, SXM column: FP32 67 TFLOPS, BF16 1,979
            // TFLOPS *with sparsity* so 989.4 dense, FP8 3,958 sparse so 1,978.9 dense, 80GB HBM3
            // at 3.35 TB/s, NVLink 900 GB/s bidirectional. DGX H100: 8 × 400 Gb/s NDR = 50 GB/s.
            "h100-sxm" => preset(
                "h100-sxm",
                67.0,
                989.4,
                Some(1978.9),
                80.0 * GIB,
                3350.0,
                450.0,
                50.0,
                8,
                0.40,
                "NVIDIA H100 datasheet (SXM5 80GB), dense figures; DGX H100 NDR InfiniBand",
            ),
            // Same datasheet, PCIe column: FP32 51, BF16 756 dense (1,513 sparse), FP8 1,513
            // dense, 80GB HBM2e at 2.0 TB/s; PCIe Gen5 x16 64 GB/s per direction, one 400 Gb/s
            // NIC per two GPUs assumed between nodes.
            "h100-pcie" => preset(
                "h100-pcie",
                51.0,
                756.0,
                Some(1513.0),
                80.0 * GIB,
                2000.0,
                64.0,
                25.0,
                8,
                0.35,
                "NVIDIA H100 datasheet (PCIe 80GB), dense figures; PCIe Gen5 x16",
            ),
            // NVIDIA H200 Tensor Core GPU datasheet, SXM column: same compute as H100 SXM
            // (989 TFLOPS BF16 dense, 1,979 FP8 dense), 141 GB HBM3e at 4.8 TB/s, NVLink 900 GB/s.
            "h200" => preset(
                "h200",
                67.0,
                989.4,
                Some(1978.9),
                141.0 * GB,
                4800.0,
                450.0,
                50.0,
                8,
                0.40,
                "NVIDIA H200 datasheet (SXM 141GB), dense figures; NDR InfiniBand",
            ),
            // NVIDIA L4 datasheet: FP32 30.3 TFLOPS, BF16 242 TFLOPS *with sparsity* so 121
            // dense, FP8 485 sparse so 242.5 dense, 24GB GDDR6 at 300 GB/s, PCIe Gen4 x16
            // (32 GB/s per direction); 100 Gb/s Ethernet between nodes assumed.
            "l4" => preset(
                "l4",
                30.3,
                121.0,
                Some(242.5),
                24.0 * GIB,
                300.0,
                32.0,
                12.5,
                8,
                0.35,
                "NVIDIA L4 datasheet, dense figures; PCIe Gen4",
            ),
            // NVIDIA Ada Lovelace architecture whitepaper, Appendix A (GeForce RTX 4090): FP32
            // 82.6 TFLOPS; BF16 tensor with FP32 accumulate 165.2 dense (330.4 sparse); FP8 with
            // FP32 accumulate 330.3 dense; 24GB GDDR6X at 1,008 GB/s; no NVLink, PCIe Gen4 x16.
            "rtx4090" => preset(
                "rtx4090",
                82.6,
                165.2,
                Some(330.3),
                24.0 * GIB,
                1008.0,
                32.0,
                12.5,
                8,
                0.35,
                "NVIDIA Ada whitepaper Appendix A (RTX 4090), FP32 accumulate, dense",
            ),
            // AMD Instinct MI300X data sheet: FP32 163.4 TFLOPS, BF16 1,307.4 dense (2,614.9
            // sparse), FP8 2,614.9 dense, 192GB HBM3 at 5.3 TB/s, Infinity Fabric 896 GB/s
            // aggregate bidirectional (448 GB/s each way); 400 Gb/s NIC per GPU.
            "mi300x" => preset(
                "mi300x",
                163.4,
                1307.4,
                Some(2614.9),
                192.0 * GIB,
                5300.0,
                448.0,
                50.0,
                8,
                0.35,
                "AMD Instinct MI300X data sheet, dense figures",
            ),
            _ => {
                return Err(Error::UnknownName {
                    what: "GPU preset",
                    name: name.to_string(),
                    expected: format!("{}, cpu, or a .toml file", HARDWARE_PRESETS.join(", ")),
                });
            }
        };
        Ok(h)
    }

    /// Dense peak FLOP/s for matrix multiplies in `precision`. Weight-only integer formats
    /// compute in bf16 (the weights are dequantised on the fly), so they get the bf16 peak.
    pub fn peak_flops(&self, precision: Precision) -> Result<f64> {
        match precision {
            Precision::Fp32 => Ok(self.peak_fp32_flops),
            Precision::Bf16 | Precision::Fp16 | Precision::Int8 | Precision::Int4 => {
                Ok(self.peak_bf16_flops)
            }
            Precision::Fp8 => self.peak_fp8_flops.ok_or_else(|| {
                Error::Unsupported(format!("{} has no fp8 tensor cores", self.name))
            }),
        }
    }

    /// Reads a hardware description in TOML (human units, see `configs/hardware/`); `origin`
    /// names the file in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self> {
        let spec: HardwareSpec = toml::from_str(text)
            .map_err(|e| Error::Parse { origin: origin.to_string(), message: e.to_string() })?;
        spec.resolve(origin)
    }

    /// Checks that every figure is positive and the MFU a fraction.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str, v: f64| {
            Error::InvalidHardware(format!("{}: {what} must be positive, got {v}", self.name))
        };
        for (what, v) in [
            ("fp32 peak", self.peak_fp32_flops),
            ("bf16 peak", self.peak_bf16_flops),
            ("memory", self.memory_bytes),
            ("memory bandwidth", self.memory_bandwidth),
            ("intra-node bandwidth", self.intra_node_bandwidth),
            ("inter-node bandwidth", self.inter_node_bandwidth),
        ] {
            if !(v > 0.0 && v.is_finite()) {
                return Err(bad(what, v));
            }
        }
        if let Some(v) = self.peak_fp8_flops
            && !(v > 0.0 && v.is_finite())
        {
            return Err(bad("fp8 peak", v));
        }
        if self.gpus_per_node == 0 {
            return Err(bad("gpus_per_node", 0.0));
        }
        if !(self.mfu > 0.0 && self.mfu <= 1.0) {
            return Err(Error::InvalidHardware(format!(
                "{}: mfu must be in (0, 1], got {}",
                self.name, self.mfu
            )));
        }
        Ok(())
    }
}

/// The TOML form of [`Hardware`], in the units datasheets use.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HardwareSpec {
    name: String,
    fp32_tflops: f64,
    bf16_tflops: f64,
    fp8_tflops: Option<f64>,
    memory_gib: f64,
    memory_bandwidth_gb_s: f64,
    intra_node_gb_s: f64,
    inter_node_gb_s: f64,
    #[serde(default = "default_gpus_per_node")]
    gpus_per_node: u64,
    #[serde(default = "default_mfu")]
    mfu: f64,
    #[serde(default)]
    source: String,
}

fn default_gpus_per_node() -> u64 {
    8
}

fn default_mfu() -> f64 {
    0.4
}

impl HardwareSpec {
    fn resolve(self, origin: &str) -> Result<Hardware> {
        let h = preset(
            &self.name,
            self.fp32_tflops,
            self.bf16_tflops,
            self.fp8_tflops,
            self.memory_gib * GIB,
            self.memory_bandwidth_gb_s,
            self.intra_node_gb_s,
            self.inter_node_gb_s,
            self.gpus_per_node,
            self.mfu,
            if self.source.is_empty() { origin } else { &self.source },
        );
        h.validate()
            .map_err(|e| Error::Parse { origin: origin.to_string(), message: e.to_string() })?;
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_dense_and_valid() {
        for name in HARDWARE_PRESETS {
            let h = Hardware::preset(name).unwrap();
            h.validate().unwrap();
            assert_eq!(h.name, name);
        }
        // H100 SXM datasheet: 1,979 TFLOPS bf16 is the sparse figure; the dense one is half.
        let h = Hardware::preset("h100-sxm").unwrap();
        assert_eq!(h.peak_flops(Precision::Bf16).unwrap(), 989.4e12);
        assert_eq!(h.peak_flops(Precision::Fp8).unwrap(), 1978.9e12);
        assert!(Hardware::preset("a100-80gb").unwrap().peak_flops(Precision::Fp8).is_err());
        assert!(Hardware::preset("tpu-v9").is_err());
    }

    #[test]
    fn toml_file() {
        let text = r#"
name = "my-gpu"
fp32_tflops = 10
bf16_tflops = 100
memory_gib = 16
memory_bandwidth_gb_s = 500
intra_node_gb_s = 32
inter_node_gb_s = 12.5
"#;
        let h = Hardware::from_toml_str(text, "my.toml").unwrap();
        assert_eq!(h.memory_bytes, 16.0 * GIB);
        assert_eq!(h.peak_fp8_flops, None);
        let err =
            Hardware::from_toml_str("name = \"x\"\nbf16_tflop = 1\n", "bad.toml").unwrap_err();
        assert!(err.to_string().contains("bad.toml"), "{err}");
        let neg = text.replace("memory_gib = 16", "memory_gib = -16");
        let err = Hardware::from_toml_str(&neg, "neg.toml").unwrap_err();
        assert!(err.to_string().contains("memory must be positive"), "{err}");
    }
}
