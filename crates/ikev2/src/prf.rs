//! RFC 7296 §2.13: the pseudorandom function and prf+.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::consts::{PrfId, PRF_HMAC_SHA2_256_LEN, PRF_PLUS_MAX_BLOCKS};
use crate::error::KdfError;

type HmacSha256 = Hmac<Sha256>;

/// Secret octets (keys, SKEYSEED, KEYMAT): zeroized on drop, never printed.
#[derive(Clone, Default)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Takes ownership of `bytes`.
    pub fn new(bytes: Vec<u8>) -> Self {
        Secret(Zeroizing::new(bytes))
    }

    /// Copies `bytes`.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Secret::new(bytes.to_vec())
    }

    /// The octets. Secret: do not log.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Length in octets (not secret).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it is empty (AEAD transforms have empty SK_a).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl core::fmt::Debug for Secret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Secret(<{} octets redacted>)", self.0.len())
    }
}

/// A negotiated PRF transform (RFC 7296 §3.3.2, Transform Type 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prf {
    /// PRF_HMAC_SHA2_256 (RFC 4868): 32-octet output, 32-octet preferred key.
    HmacSha256,
}

impl Prf {
    /// The PRF for a Transform ID, or [`KdfError::UnsupportedTransform`].
    pub fn from_id(id: PrfId) -> Result<Self, KdfError> {
        match id {
            PrfId::PRF_HMAC_SHA2_256 => Ok(Prf::HmacSha256),
            other => Err(KdfError::UnsupportedTransform {
                kind: "PRF",
                id: other.0,
            }),
        }
    }

    /// Its Transform ID.
    pub fn id(self) -> PrfId {
        match self {
            Prf::HmacSha256 => PrfId::PRF_HMAC_SHA2_256,
        }
    }

    /// Output length in octets.
    pub fn output_len(self) -> usize {
        match self {
            Prf::HmacSha256 => PRF_HMAC_SHA2_256_LEN,
        }
    }

    /// RFC 7296 §2.14: the length of SK_d, SK_pi and SK_pr, "the preferred
    /// key length of the PRF agreed upon" (RFC 4868 §2.1.2: 32 octets).
    pub fn key_len(self) -> usize {
        match self {
            Prf::HmacSha256 => PRF_HMAC_SHA2_256_LEN,
        }
    }

    fn keyed(self, key: &[u8]) -> HmacSha256 {
        // HMAC takes keys of any length (RFC 2104 §3): this cannot fail,
        // and the fallback keeps peer-sized input from ever panicking.
        <HmacSha256 as KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| <HmacSha256 as KeyInit>::new(&Default::default()))
    }

    /// `prf(key, data)` with `data` given as the parts of a concatenation.
    pub fn prf(self, key: &[u8], data: &[&[u8]]) -> Secret {
        let mut mac = self.keyed(key);
        for d in data {
            mac.update(d);
        }
        Secret::new(mac.finalize().into_bytes().to_vec())
    }

    /// RFC 7296 §2.13:
    ///
    /// ```text
    /// prf+ (K,S) = T1 | T2 | T3 | T4 | ...
    /// T1 = prf (K, S | 0x01)
    /// Tn = prf (K, Tn-1 | S | n)
    /// ```
    ///
    /// with `S` the concatenation of `seed`. At most 255 blocks.
    pub fn prf_plus(self, key: &[u8], seed: &[&[u8]], len: usize) -> Result<Secret, KdfError> {
        let max = PRF_PLUS_MAX_BLOCKS * self.output_len();
        if len > max {
            return Err(KdfError::OutputTooLong {
                requested: len,
                max,
            });
        }
        let base = self.keyed(key);
        let mut out = Zeroizing::new(Vec::with_capacity(len + self.output_len()));
        let mut prev = Zeroizing::new(Vec::new());
        let mut counter: u8 = 1;
        while out.len() < len {
            let mut mac = base.clone();
            mac.update(&prev);
            for s in seed {
                mac.update(s);
            }
            mac.update(&[counter]);
            prev = Zeroizing::new(mac.finalize().into_bytes().to_vec());
            out.extend_from_slice(&prev);
            counter = counter.wrapping_add(1);
        }
        out.truncate(len);
        Ok(Secret(out))
    }
}
