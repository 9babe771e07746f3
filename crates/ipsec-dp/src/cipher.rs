//! The ESP AEAD transform: an AES-CCM (RFC 4309) or AES-GCM (RFC 4106)
//! instance with its key schedule precomputed, and the salt that completes
//! the nonce.

use aead::array::Array;
use aead::{AeadInOut, KeyInit};
use aes::{Aes128, Aes256};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use ccm::consts::{U11, U8};
use ccm::Ccm;
use thiserror::Error;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::consts::{CCM_NONCE_LEN, CCM_SALT_LEN, ESP_IV_LEN, GCM_NONCE_LEN, GCM_SALT_LEN};
use crate::error::KeyError;
use crate::keys::SaKeys;
use crate::suite::EspSuite;

/// RFC 4309: AES-CCM with an 8-octet ICV and an 11-octet nonce (L = 4).
type Aes128Ccm8 = Ccm<Aes128, U8, U11>;
/// RFC 4309: AES-256-CCM with an 8-octet ICV and an 11-octet nonce (L = 4).
type Aes256Ccm8 = Ccm<Aes256, U8, U11>;

/// The AEAD rejected its input: the ICV did not verify, or a length is out
/// of the algorithm's range. Carries nothing on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("AEAD operation failed")]
pub struct CryptoError;

enum Engine {
    // Boxed so that an SA stays small whatever the suite; allocated once per SA.
    Ccm128(Box<Aes128Ccm8>),
    Ccm256(Box<Aes256Ccm8>),
    Gcm128(Box<Aes128Gcm>),
    Gcm256(Box<Aes256Gcm>),
}

/// A keyed ESP AEAD transform.
///
/// The AES key schedule (and for GCM the GHASH key) is computed once, in
/// [`EspAead::new`]; sealing and opening neither allocate nor re-key. The AES
/// key schedules wipe themselves on drop (the `zeroize` features of `aes`
/// and `aes-gcm`), the salt is wiped by this type.
pub struct EspAead {
    suite: EspSuite,
    salt: [u8; GCM_SALT_LEN],
    engine: Engine,
}

impl Drop for EspAead {
    fn drop(&mut self) {
        self.salt.zeroize();
    }
}

impl ZeroizeOnDrop for EspAead {}

impl core::fmt::Debug for EspAead {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EspAead")
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

impl EspAead {
    /// Expands the key schedule for `keys`.
    ///
    /// Fails only if the key length does not match the suite, which
    /// [`SaKeys::new`] already rules out.
    pub fn new(keys: &SaKeys) -> Result<Self, KeyError> {
        let suite = keys.suite();
        let mut salt = [0u8; GCM_SALT_LEN];
        let s = keys.salt();
        if let Some(dst) = salt.get_mut(..s.len()) {
            dst.copy_from_slice(s);
        }
        let key = keys.key();
        let bad = |_| KeyError::BadKeymatLength {
            suite: suite.name(),
            expected: suite.keymat_len(),
            got: key.len() + s.len(),
        };
        let engine = match suite {
            EspSuite::AesCcm8_128 => {
                Engine::Ccm128(Box::new(Aes128Ccm8::new_from_slice(key).map_err(bad)?))
            }
            EspSuite::AesCcm8_256 => {
                Engine::Ccm256(Box::new(Aes256Ccm8::new_from_slice(key).map_err(bad)?))
            }
            EspSuite::AesGcm16_128 => {
                Engine::Gcm128(Box::new(Aes128Gcm::new_from_slice(key).map_err(bad)?))
            }
            EspSuite::AesGcm16_256 => {
                Engine::Gcm256(Box::new(Aes256Gcm::new_from_slice(key).map_err(bad)?))
            }
        };
        Ok(EspAead {
            suite,
            salt,
            engine,
        })
    }

    /// The suite.
    pub fn suite(&self) -> EspSuite {
        self.suite
    }

    /// Encrypts `buf` in place and writes the ICV into `icv` (which must be
    /// exactly [`EspSuite::icv_len`] bytes).
    ///
    /// Nonce = salt || `iv` (RFC 4309 §4: 3 + 8 octets; RFC 4106 §4: 4 + 8
    /// octets). `aad` is SPI || Sequence Number (RFC 4309 §5, RFC 4106 §5),
    /// or SPI || 64-bit ESN for the test vectors that use ESN.
    pub fn encrypt_detached(
        &self,
        iv: &[u8; ESP_IV_LEN],
        aad: &[u8],
        buf: &mut [u8],
        icv: &mut [u8],
    ) -> Result<(), CryptoError> {
        if icv.len() != self.suite.icv_len() {
            return Err(CryptoError);
        }
        let tag_bytes: Result<_, _> = match &self.engine {
            Engine::Ccm128(c) => c
                .encrypt_inout_detached(&self.ccm_nonce(iv), aad, buf.into())
                .map(|t| copy_tag(&t, icv)),
            Engine::Ccm256(c) => c
                .encrypt_inout_detached(&self.ccm_nonce(iv), aad, buf.into())
                .map(|t| copy_tag(&t, icv)),
            Engine::Gcm128(c) => c
                .encrypt_inout_detached(&self.gcm_nonce(iv), aad, buf.into())
                .map(|t| copy_tag(&t, icv)),
            Engine::Gcm256(c) => c
                .encrypt_inout_detached(&self.gcm_nonce(iv), aad, buf.into())
                .map(|t| copy_tag(&t, icv)),
        };
        tag_bytes.map_err(|_| CryptoError)
    }

    /// Verifies `icv` over `aad` and the ciphertext in `buf`, and decrypts
    /// `buf` in place. On failure the contents of `buf` are unspecified
    /// (never the plaintext for CCM, which wipes it; still the ciphertext for
    /// GCM, which verifies before decrypting) and must not be used.
    pub fn decrypt_detached(
        &self,
        iv: &[u8; ESP_IV_LEN],
        aad: &[u8],
        buf: &mut [u8],
        icv: &[u8],
    ) -> Result<(), CryptoError> {
        let r = match &self.engine {
            Engine::Ccm128(c) => {
                let tag = Array::try_from(icv).map_err(|_| CryptoError)?;
                c.decrypt_inout_detached(&self.ccm_nonce(iv), aad, buf.into(), &tag)
            }
            Engine::Ccm256(c) => {
                let tag = Array::try_from(icv).map_err(|_| CryptoError)?;
                c.decrypt_inout_detached(&self.ccm_nonce(iv), aad, buf.into(), &tag)
            }
            Engine::Gcm128(c) => {
                let tag = Array::try_from(icv).map_err(|_| CryptoError)?;
                c.decrypt_inout_detached(&self.gcm_nonce(iv), aad, buf.into(), &tag)
            }
            Engine::Gcm256(c) => {
                let tag = Array::try_from(icv).map_err(|_| CryptoError)?;
                c.decrypt_inout_detached(&self.gcm_nonce(iv), aad, buf.into(), &tag)
            }
        };
        r.map_err(|_| CryptoError)
    }

    /// RFC 4309 §4: nonce = 3-octet salt || 8-octet IV.
    fn ccm_nonce(&self, iv: &[u8; ESP_IV_LEN]) -> Array<u8, U11> {
        let mut n = [0u8; CCM_NONCE_LEN];
        let (s, i) = n.split_at_mut(CCM_SALT_LEN);
        s.copy_from_slice(self.salt.get(..CCM_SALT_LEN).unwrap_or(&[0; CCM_SALT_LEN]));
        i.copy_from_slice(iv);
        Array::from(n)
    }

    /// RFC 4106 §4: nonce = 4-octet salt || 8-octet IV.
    fn gcm_nonce(&self, iv: &[u8; ESP_IV_LEN]) -> aes_gcm::Nonce<aead::consts::U12> {
        let mut n = [0u8; GCM_NONCE_LEN];
        let (s, i) = n.split_at_mut(GCM_SALT_LEN);
        s.copy_from_slice(&self.salt);
        i.copy_from_slice(iv);
        Array::from(n)
    }
}

fn copy_tag(tag: &[u8], icv: &mut [u8]) {
    if icv.len() == tag.len() {
        icv.copy_from_slice(tag);
    }
}
