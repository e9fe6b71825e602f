//! Certificate serial numbers: 16 random bytes (≥ 64 bits of entropy as the
//! CA/B Forum requires), forced positive and never zero-led so the DER
//! INTEGER is always exactly 16 octets.

use openssl::bn::BigNum;
use openssl::rand::rand_bytes;

use crate::error::Result;

pub const SERIAL_LEN: usize = 16;

/// A fresh random serial as raw big-endian bytes.
pub fn random() -> Result<[u8; SERIAL_LEN]> {
    let mut b = [0u8; SERIAL_LEN];
    rand_bytes(&mut b)?;
    // Clear the sign bit (positive) and make the top byte non-zero (no
    // leading-zero trimming, so every serial has the same encoded length).
    b[0] = (b[0] & 0x7f) | 0x01;
    Ok(b)
}

/// Lower-case hex, the canonical text form used in the store and the API.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parse a hex serial (any case, optional colons) back into bytes.
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    let clean: String = s.chars().filter(|c| *c != ':').collect();
    if clean.is_empty() || !clean.len().is_multiple_of(2) {
        return None;
    }
    (0..clean.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&clean[i..i + 2], 16).ok())
        .collect()
}

pub fn to_bignum(bytes: &[u8]) -> Result<BigNum> {
    Ok(BigNum::from_slice(bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_positive_unique_and_fixed_length() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let s = random().unwrap();
            assert!(s[0] & 0x80 == 0 && s[0] != 0);
            assert!(seen.insert(s));
            assert_eq!(from_hex(&to_hex(&s)).unwrap(), s.to_vec());
        }
    }

    #[test]
    fn hex_parsing_rejects_garbage() {
        assert!(from_hex("").is_none());
        assert!(from_hex("abc").is_none());
        assert!(from_hex("zz").is_none());
        assert_eq!(from_hex("0A:ff").unwrap(), vec![0x0a, 0xff]);
    }
}
