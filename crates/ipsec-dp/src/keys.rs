//! Per-SA keying material that wipes itself.

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::consts::{AES256_KEY_LEN, HMAC_SHA256_KEY_LEN};
use crate::error::KeyError;
use crate::suite::EspSuite;

/// The largest KEYMAT of any suite: AES-256 key || HMAC-SHA-256 key.
const MAX_KEYMAT: usize = AES256_KEY_LEN + HMAC_SHA256_KEY_LEN;

/// The keying material of one ESP SA: suite, encryption key, nonce salt and
/// integrity key.
///
/// RFC 4309 §7.1 / RFC 4106 §8.1 / RFC 7634 §4: an AEAD's keying material is
/// the key followed by the salt (3 octets for CCM, 4 for GCM and
/// ChaCha20-Poly1305). RFC 7296 §2.17: a non-AEAD suite's is the encryption
/// key followed by the integrity key (see [`crate::suite`] for the table).
/// The bytes are zeroized on drop and never printed by `Debug`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SaKeys {
    #[zeroize(skip)]
    suite: EspSuite,
    keymat: [u8; MAX_KEYMAT],
}

impl SaKeys {
    /// Splits `keymat = key || salt || integrity key` as RFC 4309 §7.1 /
    /// RFC 4106 §8.1 / RFC 7634 §4 / RFC 7296 §2.17 lay it out.
    pub fn new(suite: EspSuite, keymat: &[u8]) -> Result<Self, KeyError> {
        let expected = suite.keymat_len();
        if keymat.len() != expected {
            return Err(KeyError::BadKeymatLength {
                suite: suite.name(),
                expected,
                got: keymat.len(),
            });
        }
        let mut keys = SaKeys {
            suite,
            keymat: [0u8; MAX_KEYMAT],
        };
        if let Some(dst) = keys.keymat.get_mut(..expected) {
            dst.copy_from_slice(keymat);
        }
        Ok(keys)
    }

    /// The suite these keys are for.
    pub fn suite(&self) -> EspSuite {
        self.suite
    }

    /// The encryption key (AES or ChaCha20; empty for NULL). Secret: do not log.
    pub fn key(&self) -> &[u8] {
        self.keymat.get(..self.suite.key_len()).unwrap_or(&[])
    }

    /// The nonce salt. Secret: do not log.
    pub fn salt(&self) -> &[u8] {
        let k = self.suite.key_len();
        self.keymat.get(k..k + self.suite.salt_len()).unwrap_or(&[])
    }

    /// The integrity (HMAC) key of a non-AEAD suite; empty for the AEADs.
    /// Secret: do not log.
    pub fn integ_key(&self) -> &[u8] {
        let k = self.suite.key_len() + self.suite.salt_len();
        self.keymat
            .get(k..k + self.suite.integ_key_len())
            .unwrap_or(&[])
    }
}

impl core::fmt::Debug for SaKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SaKeys")
            .field("suite", &self.suite)
            .field("keymat", &"<redacted>")
            .finish()
    }
}

impl PartialEq for SaKeys {
    /// Constant-time comparison of the keying material.
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.suite == other.suite && bool::from(self.keymat.ct_eq(&other.keymat))
    }
}

impl Eq for SaKeys {}
