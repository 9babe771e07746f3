//! Key derivation: RFC 7296 §2.13 prf+ with PRF_HMAC_SHA2_256, and the
//! profile's Direct Provisioning derivation of an SA pair.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use crate::consts::{PRF_HMAC_SHA256_LEN, PRF_PLUS_MAX_BLOCKS};
use crate::error::KdfError;
use crate::keys::SaKeys;
use crate::suite::EspSuite;

type HmacSha256 = Hmac<Sha256>;

/// RFC 7296 §2.13: `prf+ (K, S) = T1 | T2 | T3 | ...` with
/// `T1 = prf (K, S | 0x01)` and `Tn = prf (K, Tn-1 | S | n)`, where prf is
/// HMAC-SHA-256 (PRF_HMAC_SHA2_256, RFC 4868).
///
/// The counter is one octet, so at most 255 blocks (8160 bytes) can be
/// produced; asking for more is an error.
pub fn prf_plus(key: &[u8], data: &[u8], out_len: usize) -> Result<Zeroizing<Vec<u8>>, KdfError> {
    let max = PRF_PLUS_MAX_BLOCKS * PRF_HMAC_SHA256_LEN;
    if out_len > max {
        return Err(KdfError::OutputTooLong {
            requested: out_len,
            max,
        });
    }
    let mut out = Zeroizing::new(Vec::with_capacity(out_len));
    let mut t = [0u8; PRF_HMAC_SHA256_LEN];
    let mut have_t = false;
    let mut counter: u8 = 1;
    // HMAC accepts keys of any length (RFC 2104 §3), so this cannot fail;
    // the error arm keeps peer-controlled input from ever panicking.
    let base = <HmacSha256 as KeyInit>::new_from_slice(key).map_err(|_| KdfError::EmptySeed)?;
    while out.len() < out_len {
        let mut mac = base.clone();
        if have_t {
            mac.update(&t);
        }
        mac.update(data);
        mac.update(&[counter]);
        let block = mac.finalize().into_bytes();
        t.copy_from_slice(&block);
        have_t = true;
        let take = (out_len - out.len()).min(PRF_HMAC_SHA256_LEN);
        out.extend_from_slice(t.get(..take).unwrap_or(&[]));
        counter = counter.wrapping_add(1);
    }
    t.zeroize();
    Ok(out)
}

/// The profile's Direct Provisioning derivation of the two SAs
/// (draft-aragon-ace-ipsec-profile):
///
/// ```text
/// KEYMAT = prf+(seed, SPI_SA_C || SPI_SA_RS)     (SPIs as 4-byte big-endian)
/// ```
///
/// taken in RFC 7296 §2.17 order: all of SA-C's keying material first
/// (encryption key, then salt — RFC 4309 §7.1 / RFC 4106 §8.1), then SA-RS's.
/// SA-C protects Client -> RS traffic (the RS receives on SPI_SA_C), SA-RS
/// protects RS -> Client traffic.
///
/// Returns `(SA-C keys, SA-RS keys)`.
pub fn derive_dp_sa_pair(
    seed: &[u8],
    spi_sa_c: u32,
    spi_sa_rs: u32,
    suite: EspSuite,
) -> Result<(SaKeys, SaKeys), KdfError> {
    if seed.is_empty() {
        return Err(KdfError::EmptySeed);
    }
    let mut s = [0u8; 8];
    s[..4].copy_from_slice(&spi_sa_c.to_be_bytes());
    s[4..].copy_from_slice(&spi_sa_rs.to_be_bytes());
    let n = suite.keymat_len();
    let keymat = prf_plus(seed, &s, 2 * n)?;
    let (c, rs) = keymat.split_at(n);
    Ok((SaKeys::new(suite, c)?, SaKeys::new(suite, rs)?))
}
