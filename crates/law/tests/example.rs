//! The shipped example is exactly what its documented generator makes.

use isoflop_law::synthetic::{chinchilla_example, to_csv};

#[test]
fn shipped_example_matches_its_generator() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/chinchilla_synthetic.csv");
    let shipped = std::fs::read_to_string(path).unwrap();
    assert_eq!(
        shipped,
        to_csv(&chinchilla_example()),
        "regenerate with `cargo run -p isoflop-law --example gen_chinchilla`"
    );
    assert_eq!(shipped.lines().count(), 241);
}
