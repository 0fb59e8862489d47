//! Writes `examples/chinchilla_synthetic.csv`: 240 runs of Hoffmann et al. 2022's published law
//! (E = 1.69, A = 406.4, B = 410.7, α = 0.34, β = 0.28) on 12 IsoFLOP budgets from 1e17 to
//! 3.2e22 FLOPs, with 1% log-normal noise, seed 2022 (see `isoflop_law::synthetic`).
//!
//! `cargo run -p isoflop-law --example gen_chinchilla > examples/chinchilla_synthetic.csv`

fn main() {
    print!("{}", isoflop_law::synthetic::to_csv(&isoflop_law::synthetic::chinchilla_example()));
}
