//! Synthetic sweeps made from known laws, for tests, benchmarks and the shipped example.
//!
//! An IsoFLOP sweep: for each compute budget C (FLOPs), models whose tokens-per-parameter ratio
//! r = D/N runs log-evenly over [r_min, r_max], so N = √(C/(6r)) and D = C/(6N) (C = 6ND,
//! Kaplan et al. 2020, section 2.1). Losses get multiplicative log-normal noise,
//! L · exp(σ z) with z ~ N(0, 1) (Box–Muller from a seeded ChaCha8 stream), so σ is the
//! standard deviation of the log-loss residual that the fitter sees.

use crate::{CurveParams, Observation, Schedule};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Hoffmann et al. 2022's published Chinchilla fit (eq. 10 / section 4.3):
/// E = 1.69, A = 406.4, B = 410.7, α = 0.34, β = 0.28.
pub const HOFFMANN: [f64; 5] = [1.69, 406.4, 410.7, 0.34, 0.28];

/// Chinchilla's law L = E + A/N^α + B/D^β for `p` = [E, A, B, α, β].
pub fn chinchilla_loss(p: &[f64; 5], n: f64, d: f64) -> f64 {
    p[0] + p[1] / n.powf(p[3]) + p[2] / d.powf(p[4])
}

/// The shape of a synthetic IsoFLOP sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    /// Compute budgets in FLOPs.
    pub budgets: Vec<f64>,
    /// Models per budget.
    pub per_budget: usize,
    /// Smallest tokens-per-parameter ratio.
    pub r_min: f64,
    /// Largest tokens-per-parameter ratio.
    pub r_max: f64,
    /// σ of the multiplicative log-normal noise on loss (0: none).
    pub noise: f64,
    /// Seed of the noise.
    pub seed: u64,
}

impl Sweep {
    /// `count` budgets log-evenly from `lo` to `hi` FLOPs, `per_budget` models each, ratios
    /// 2 to 500, no noise, seed 0.
    pub fn log_even(lo: f64, hi: f64, count: usize, per_budget: usize) -> Self {
        let budgets = (0..count)
            .map(|i| {
                let t = if count > 1 { i as f64 / (count - 1) as f64 } else { 0.0 };
                (lo.ln() + t * (hi.ln() - lo.ln())).exp()
            })
            .collect();
        Self { budgets, per_budget, r_min: 2.0, r_max: 500.0, noise: 0.0, seed: 0 }
    }

    /// The same sweep with noise σ and a seed.
    pub fn with_noise(mut self, noise: f64, seed: u64) -> Self {
        self.noise = noise;
        self.seed = seed;
        self
    }

    /// The sweep's observations under `law(n, d)`, with C = 6ND set explicitly and run ids
    /// `b{budget}-m{model}`.
    pub fn observe(&self, law: impl Fn(f64, f64) -> f64) -> Vec<Observation> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut out = Vec::with_capacity(self.budgets.len() * self.per_budget);
        for (bi, &c) in self.budgets.iter().enumerate() {
            for m in 0..self.per_budget {
                let t =
                    if self.per_budget > 1 { m as f64 / (self.per_budget - 1) as f64 } else { 0.5 };
                let r = (self.r_min.ln() + t * (self.r_max.ln() - self.r_min.ln())).exp();
                let n = (c / (6.0 * r)).sqrt();
                let d = c / (6.0 * n);
                let z = if self.noise > 0.0 { standard_normal(&mut rng) } else { 0.0 };
                let mut o = Observation::new(n, d, law(n, d) * (self.noise * z).exp());
                o.c = Some(6.0 * n * d);
                o.run = Some(format!("b{bi}-m{m}"));
                out.push(o);
            }
        }
        out
    }
}

/// One draw from N(0, 1) by Box–Muller.
pub fn standard_normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = 1.0 - rng.r#gen::<f64>(); // (0, 1]: ln is finite
    let u2: f64 = rng.r#gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Illustrative parameters of the whole-curve law (L0 = 2.35, A = 0.55, α = 0.47, C = 0.28;
/// ours, not fitted to any run), with a peak rate of 1e-3: curves near 5.5 nats at step 100
/// and 2.28 after 20,000 steps of cosine decay to a tenth, of which C·S2 = 0.25 nats is the
/// annealing's drop.
pub const CURVE_EXAMPLE: CurveParams = CurveParams { l0: 2.35, a: 0.55, alpha: 0.47, c: 0.28 };

/// A loss curve of the whole-curve law: the loss at steps `every`, 2·`every`, … up to the
/// schedule's end, under momentum decay `lambda`, with multiplicative log-normal noise of
/// σ = `noise` (seeded as [`Sweep::observe`]).
pub fn curve_points(
    params: &CurveParams,
    schedule: &Schedule,
    lambda: f64,
    every: u64,
    noise: f64,
    seed: u64,
) -> Vec<(u64, f64)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let areas = schedule.areas(lambda, schedule.total_steps);
    (1..=schedule.total_steps / every.max(1))
        .map(|k| {
            let step = k * every.max(1);
            let clean =
                params.loss(areas.s1(step).unwrap_or(f64::NAN), areas.s2(step).unwrap_or(f64::NAN));
            let z = if noise > 0.0 { standard_normal(&mut rng) } else { 0.0 };
            (step, clean * (noise * z).exp())
        })
        .collect()
}

/// The sweep behind `examples/chinchilla_synthetic.csv`: Hoffmann et al.'s law, 12 budgets
/// from 1e17 to about 3.2e22 FLOPs (half-decade steps), 20 models each (240 rows, the size of
/// Besiroglu et al.'s Chinchilla data), 1% log-normal noise, seed 2022.
pub fn chinchilla_example() -> Vec<Observation> {
    let hi = 1e17 * 10f64.powf(5.5);
    Sweep::log_even(1e17, hi, 12, 20)
        .with_noise(0.01, 2022)
        .observe(|n, d| chinchilla_loss(&HOFFMANN, n, d))
}

/// Writes observations as CSV with columns `run,N,D,C,loss` (what `isoflop fit` reads).
pub fn to_csv(obs: &[Observation]) -> String {
    let mut s = String::from("run,N,D,C,loss\n");
    for o in obs {
        s.push_str(&format!(
            "{},{:.6e},{:.6e},{:.6e},{:.6}\n",
            o.run.as_deref().unwrap_or(""),
            o.n,
            o.d,
            o.compute(),
            o.loss
        ));
    }
    s
}
