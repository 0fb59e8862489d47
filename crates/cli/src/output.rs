//! Writing results: atomic files and JSON on stdout.
// Used by the verbs as they are built; allowed until every helper has a caller.
#![allow(dead_code)]

use anyhow::Result;
use std::path::Path;

/// Writes `bytes` to `path` atomically with isoflop-atomic: a reader never sees a
/// half-written file, a failure leaves the old file (or none) and no temporary file, the new
/// file gets the mode a plain create would give (a rewritten file keeps its own), and a target
/// that is not a regular file (`/dev/stdout`, `/dev/full`) is written through, never replaced.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    isoflop_atomic::write(path, bytes)?;
    Ok(())
}

/// Prints one pretty JSON document on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// `s` safe to print on a terminal: control characters (ESC, CR, newlines, DEL, C1) and the
/// bidirectional-override marks are written as Rust escapes (`\u{1b}`), so a run or sweep
/// name imported from elsewhere cannot move the cursor, recolour or reorder the screen.
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !s.chars().any(unsafe_char) {
        return s.into();
    }
    s.chars()
        .map(|c| if unsafe_char(c) { c.escape_unicode().to_string() } else { c.to_string() })
        .collect::<String>()
        .into()
}

/// A count with thousands separators: `123,456,789`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn printable_escapes_what_drives_a_terminal() {
        assert_eq!(super::printable("l2d64-r20-s0"), "l2d64-r20-s0");
        assert_eq!(super::printable("a\x1b[2Jb\r\n"), "a\\u{1b}[2Jb\\u{d}\\u{a}");
        assert_eq!(super::printable("x\u{202e}y"), "x\\u{202e}y");
        assert_eq!(super::printable("naïve ✓"), "naïve ✓");
    }

    #[test]
    fn thousands() {
        assert_eq!(super::thousands(124_439_808), "124,439,808");
        assert_eq!(super::thousands(1_234_567), "1,234,567");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(12), "12");
    }
}
