//! The one font every chart uses, registered with plotters once per process.
//!
//! plotters' `ab_glyph` feature rasterises text from font bytes we hand it, instead of asking
//! the system's font libraries (fontconfig/freetype) that a fresh machine may lack. The bytes
//! are Ubuntu Light, shipped inside the `epaint_default_fonts` crate (Ubuntu Font Licence
//! 1.0), so the PNGs come out the same everywhere. The SVGs name the `sans-serif` family and
//! let the browser pick its own face; the embedded font only sizes their labels.

use plotters::style::{FontStyle, register_font};
use std::sync::Once;

/// The family name charts ask for.
pub(crate) const FAMILY: &str = "sans-serif";

static REGISTER: Once = Once::new();

/// Registers the embedded font under [`FAMILY`] for every style plotters may ask for.
pub(crate) fn ensure_registered() {
    REGISTER.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold, FontStyle::Italic, FontStyle::Oblique] {
            // The bytes are a valid TrueType font checked in by the crate's tests; a failure
            // here would surface as a plot error naming the missing family.
            let _ = register_font(FAMILY, style, epaint_default_fonts::UBUNTU_LIGHT);
        }
    });
}
