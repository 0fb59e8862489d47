//! Bit-packing of `b`-bit codes and of 0/1 masks into bytes.
//!
//! Codes are written least-significant bit first into a little-endian bit stream: code `i`
//! occupies bits `i·b .. (i+1)·b` of the stream, and bit `k` of the stream is bit `k % 8` of
//! byte `k / 8`. For `b = 4` that is two codes per byte, the first in the low nibble (the
//! layout of GPTQ's and llama.cpp's Q4 blocks); for `b = 3` eight codes fill three bytes. The
//! stream's unused top bits are zero, so a file can be checked for them.

/// Bytes holding `n` codes of `bits` bits.
pub fn packed_len(n: usize, bits: u32) -> usize {
    (n * bits as usize).div_ceil(8)
}

/// Packs `codes` (each `< 2^bits`) into [`packed_len`] bytes.
///
/// # Panics
/// If a code does not fit in `bits` bits (a caller's bug: quantizers produce in-range codes).
pub fn pack(codes: &[u32], bits: u32) -> Vec<u8> {
    assert!((1..=8).contains(&bits), "pack: {bits} bits");
    let mut out = vec![0u8; packed_len(codes.len(), bits)];
    let mut pos = 0usize;
    for &c in codes {
        assert!(c < (1 << bits), "pack: code {c} does not fit in {bits} bits");
        let (byte, shift) = (pos / 8, pos % 8);
        let wide = (c as u16) << shift;
        out[byte] |= wide as u8;
        if shift + bits as usize > 8 {
            out[byte + 1] |= (wide >> 8) as u8;
        }
        pos += bits as usize;
    }
    out
}

/// Unpacks `n` codes of `bits` bits; `None` if `bytes` is not exactly [`packed_len`] long or
/// its padding bits are not zero.
pub fn unpack(bytes: &[u8], n: usize, bits: u32) -> Option<Vec<u32>> {
    if !(1..=8).contains(&bits) || bytes.len() != packed_len(n, bits) {
        return None;
    }
    let mask = (1u16 << bits) - 1;
    let mut out = Vec::with_capacity(n);
    let mut pos = 0usize;
    for _ in 0..n {
        let (byte, shift) = (pos / 8, pos % 8);
        let lo = u16::from(bytes[byte]);
        let hi = bytes.get(byte + 1).map_or(0, |&b| u16::from(b));
        out.push(u32::from(((lo | hi << 8) >> shift) & mask));
        pos += bits as usize;
    }
    let used = n * bits as usize;
    if !used.is_multiple_of(8) && bytes.last().is_some_and(|&b| b >> (used % 8) != 0) {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_round_trips_bit_exactly() {
        for bits in 1..=8u32 {
            for n in [0usize, 1, 2, 3, 7, 8, 9, 63, 1000] {
                let codes: Vec<u32> = (0..n)
                    .map(|i| ((i as u32).wrapping_mul(2_654_435_761) >> 7) % (1 << bits))
                    .collect();
                let bytes = pack(&codes, bits);
                assert_eq!(bytes.len(), packed_len(n, bits));
                assert_eq!(unpack(&bytes, n, bits).unwrap(), codes, "{bits} bits, {n} codes");
                // Re-packing the unpacked codes gives the same bytes.
                assert_eq!(pack(&unpack(&bytes, n, bits).unwrap(), bits), bytes);
            }
        }
    }

    #[test]
    fn int4_is_two_nibbles_low_first_and_int3_fills_three_bytes() {
        assert_eq!(pack(&[0x1, 0xF, 0x7], 4), vec![0xF1, 0x07]);
        assert_eq!(packed_len(8, 3), 3);
        // 0b111 at code 0 and 0b001 at code 7: bits 0-2 and bit 21.
        assert_eq!(pack(&[7, 0, 0, 0, 0, 0, 0, 1], 3), vec![0x07, 0x00, 0x20]);
    }

    #[test]
    fn bad_lengths_and_padding_are_caught() {
        let b = pack(&[1, 2, 3], 4);
        assert!(unpack(&b, 4, 4).is_some()); // 4 codes fill the same 2 bytes
        assert!(unpack(&b, 5, 4).is_none());
        assert!(unpack(&b[..1], 3, 4).is_none());
        assert!(unpack(&[0xF1, 0x17], 3, 4).is_none()); // a set padding bit
    }
}
