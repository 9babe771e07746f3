//! The ESP transforms of the profile: combined-mode (AEAD) algorithms and
//! AES-CBC / NULL with HMAC-SHA-256-128.
//!
//! # Keying material (RFC 7296 §2.17 order: encryption key, then integrity key)
//!
//! | suite                     | KEYMAT layout                                   | bytes |
//! |---------------------------|-------------------------------------------------|-------|
//! | AES-CCM-8/16-128          | AES key (16) \|\| salt (3)   (RFC 4309 §7.1)       | 19    |
//! | AES-CCM-8/16-256          | AES key (32) \|\| salt (3)                          | 35    |
//! | AES-GCM-16-128            | AES key (16) \|\| salt (4)   (RFC 4106 §8.1)       | 20    |
//! | AES-GCM-16-256            | AES key (32) \|\| salt (4)                          | 36    |
//! | ChaCha20-Poly1305         | ChaCha20 key (32) \|\| salt (4) (RFC 7634 §4)      | 36    |
//! | AES-CBC-128/HMAC-SHA-256  | AES key (16) \|\| HMAC key (32) (RFC 3602, 4868)   | 48    |
//! | AES-CBC-256/HMAC-SHA-256  | AES key (32) \|\| HMAC key (32)                    | 64    |
//! | NULL/HMAC-SHA-256         | HMAC key (32)                (RFC 2410, 4868)     | 32    |

use crate::consts::{
    AES128_KEY_LEN, AES256_KEY_LEN, CBC_IV_LEN, CCM16_ICV_LEN, CCM8_ICV_LEN, CCM_SALT_LEN,
    CHACHA20_KEY_LEN, CHACHA20_POLY1305_ICV_LEN, CHACHA20_SALT_LEN, COSE_ALG_A128GCM,
    COSE_ALG_A256GCM, COSE_ALG_AES_CCM_16_128_128, COSE_ALG_AES_CCM_16_128_256,
    COSE_ALG_AES_CCM_16_64_128, COSE_ALG_AES_CCM_16_64_256, COSE_ALG_CHACHA20_POLY1305,
    COSE_ALG_PRIVATE_AES_CBC_128_HMAC_SHA256_128, COSE_ALG_PRIVATE_AES_CBC_256_HMAC_SHA256_128,
    COSE_ALG_PRIVATE_NULL_HMAC_SHA256_128, ESP_IV_LEN, GCM_ICV_LEN, GCM_SALT_LEN,
    HMAC_SHA256_128_ICV_LEN, HMAC_SHA256_KEY_LEN, IKEV2_AUTH_HMAC_SHA2_256_128, IKEV2_ENCR_AES_CBC,
    IKEV2_ENCR_AES_CCM_16, IKEV2_ENCR_AES_CCM_8, IKEV2_ENCR_AES_GCM_16,
    IKEV2_ENCR_CHACHA20_POLY1305, IKEV2_ENCR_NULL,
};

/// An ESP transform with its key sizes.
///
/// The profile names algorithms by their COSE identifiers (RFC 9053). Only the
/// key length and ICV length carry over from COSE: COSE's AES-CCM-16-* use
/// a 13-byte nonce, while ESP's CCM (RFC 4309 §4) uses an 11-byte nonce =
/// 3-byte salt || 8-byte IV (L = 4). ESP's GCM and ChaCha20-Poly1305 nonce is
/// 4-byte salt || 8-byte IV (RFC 4106 §4, RFC 7634 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EspSuite {
    /// RFC 4309 AES-CCM, 8-octet ICV, 128-bit key (ENCR_AES_CCM_8, keylen 128).
    AesCcm8_128,
    /// RFC 4309 AES-CCM, 8-octet ICV, 256-bit key (ENCR_AES_CCM_8, keylen 256).
    AesCcm8_256,
    /// RFC 4106 AES-GCM, 16-octet ICV, 128-bit key (ENCR_AES_GCM_16, keylen 128).
    AesGcm16_128,
    /// RFC 4106 AES-GCM, 16-octet ICV, 256-bit key (ENCR_AES_GCM_16, keylen 256).
    AesGcm16_256,
    /// RFC 4309 AES-CCM, 16-octet ICV, 128-bit key (ENCR_AES_CCM_16, keylen 128).
    AesCcm16_128,
    /// RFC 4309 AES-CCM, 16-octet ICV, 256-bit key (ENCR_AES_CCM_16, keylen 256).
    AesCcm16_256,
    /// RFC 7634 ChaCha20-Poly1305 (ENCR_CHACHA20_POLY1305).
    ChaCha20Poly1305,
    /// RFC 3602 AES-CBC with a 128-bit key and RFC 4868 HMAC-SHA-256-128
    /// (ENCR_AES_CBC keylen 128 + AUTH_HMAC_SHA2_256_128), encrypt-then-MAC.
    AesCbc128HmacSha256,
    /// RFC 3602 AES-CBC with a 256-bit key and RFC 4868 HMAC-SHA-256-128.
    AesCbc256HmacSha256,
    /// RFC 2410 NULL encryption with RFC 4868 HMAC-SHA-256-128: integrity
    /// without confidentiality. Never chosen by [`EspSuite::from_cose_alg`];
    /// only by [`EspSuite::from_cose_alg_allow_null`] with `allow_null`.
    NullHmacSha256,
}

impl EspSuite {
    /// Every suite that provides confidentiality (NULL encryption is left
    /// out; see [`EspSuite::ALL_WITH_NULL`]). The first four are the
    /// original AEAD suites, in their original order.
    pub const ALL: [EspSuite; 9] = [
        EspSuite::AesCcm8_128,
        EspSuite::AesCcm8_256,
        EspSuite::AesGcm16_128,
        EspSuite::AesGcm16_256,
        EspSuite::AesCcm16_128,
        EspSuite::AesCcm16_256,
        EspSuite::ChaCha20Poly1305,
        EspSuite::AesCbc128HmacSha256,
        EspSuite::AesCbc256HmacSha256,
    ];

    /// Every suite, NULL encryption included.
    pub const ALL_WITH_NULL: [EspSuite; 10] = [
        EspSuite::AesCcm8_128,
        EspSuite::AesCcm8_256,
        EspSuite::AesGcm16_128,
        EspSuite::AesGcm16_256,
        EspSuite::AesCcm16_128,
        EspSuite::AesCcm16_256,
        EspSuite::ChaCha20Poly1305,
        EspSuite::AesCbc128HmacSha256,
        EspSuite::AesCbc256HmacSha256,
        EspSuite::NullHmacSha256,
    ];

    /// Is this a combined-mode (AEAD) transform (RFC 4303 §3.2.3)?
    pub const fn is_aead(self) -> bool {
        !matches!(
            self,
            EspSuite::AesCbc128HmacSha256
                | EspSuite::AesCbc256HmacSha256
                | EspSuite::NullHmacSha256
        )
    }

    /// Does this suite encrypt? (Only NULL encryption does not.)
    pub const fn is_confidential(self) -> bool {
        !matches!(self, EspSuite::NullHmacSha256)
    }

    /// Encryption key length in octets (0 for NULL encryption).
    pub const fn key_len(self) -> usize {
        match self {
            EspSuite::AesCcm8_128
            | EspSuite::AesGcm16_128
            | EspSuite::AesCcm16_128
            | EspSuite::AesCbc128HmacSha256 => AES128_KEY_LEN,
            EspSuite::AesCcm8_256
            | EspSuite::AesGcm16_256
            | EspSuite::AesCcm16_256
            | EspSuite::AesCbc256HmacSha256 => AES256_KEY_LEN,
            EspSuite::ChaCha20Poly1305 => CHACHA20_KEY_LEN,
            EspSuite::NullHmacSha256 => 0,
        }
    }

    /// Nonce salt length: 3 for CCM (RFC 4309 §7.1), 4 for GCM (RFC 4106
    /// §8.1) and ChaCha20-Poly1305 (RFC 7634 §4), 0 for the non-AEAD suites.
    pub const fn salt_len(self) -> usize {
        match self {
            EspSuite::AesCcm8_128
            | EspSuite::AesCcm8_256
            | EspSuite::AesCcm16_128
            | EspSuite::AesCcm16_256 => CCM_SALT_LEN,
            EspSuite::AesGcm16_128 | EspSuite::AesGcm16_256 => GCM_SALT_LEN,
            EspSuite::ChaCha20Poly1305 => CHACHA20_SALT_LEN,
            EspSuite::AesCbc128HmacSha256
            | EspSuite::AesCbc256HmacSha256
            | EspSuite::NullHmacSha256 => 0,
        }
    }

    /// Integrity key length: 32 for HMAC-SHA-256-128 (RFC 4868 §2.1.1), 0
    /// for the AEADs (whose integrity key is the encryption key).
    pub const fn integ_key_len(self) -> usize {
        if self.is_aead() {
            0
        } else {
            HMAC_SHA256_KEY_LEN
        }
    }

    /// ICV length: 8 (RFC 4309 CCM-8) or 16 (CCM-16, GCM-16, RFC 7634
    /// Poly1305, RFC 4868 HMAC-SHA-256-128).
    pub const fn icv_len(self) -> usize {
        match self {
            EspSuite::AesCcm8_128 | EspSuite::AesCcm8_256 => CCM8_ICV_LEN,
            EspSuite::AesCcm16_128 | EspSuite::AesCcm16_256 => CCM16_ICV_LEN,
            EspSuite::AesGcm16_128 | EspSuite::AesGcm16_256 => GCM_ICV_LEN,
            EspSuite::ChaCha20Poly1305 => CHACHA20_POLY1305_ICV_LEN,
            EspSuite::AesCbc128HmacSha256
            | EspSuite::AesCbc256HmacSha256
            | EspSuite::NullHmacSha256 => HMAC_SHA256_128_ICV_LEN,
        }
    }

    /// Explicit IV carried in every packet: 8 octets for the AEADs (RFC 4106
    /// §3.1, RFC 4309 §3.1, RFC 7634 §2), 16 for AES-CBC (RFC 3602 §3), none
    /// for NULL (RFC 2410 §2).
    pub const fn iv_len(self) -> usize {
        match self {
            EspSuite::AesCbc128HmacSha256 | EspSuite::AesCbc256HmacSha256 => CBC_IV_LEN,
            EspSuite::NullHmacSha256 => 0,
            _ => ESP_IV_LEN,
        }
    }

    /// The block size the ciphertext (payload | padding | Pad Length | Next
    /// Header) must be a multiple of: 16 for AES-CBC (RFC 3602 §2.4), else
    /// the 4 octets of RFC 4303 §2.4.
    pub const fn block_align(self) -> usize {
        match self {
            EspSuite::AesCbc128HmacSha256 | EspSuite::AesCbc256HmacSha256 => CBC_IV_LEN,
            _ => crate::consts::ESP_ALIGN,
        }
    }

    /// Keying material per SA, in RFC 7296 §2.17 order: encryption key,
    /// salt, then integrity key (see the module table).
    pub const fn keymat_len(self) -> usize {
        self.key_len() + self.salt_len() + self.integ_key_len()
    }

    /// The suite for a COSE algorithm identifier (RFC 9053 Tables 5, 6 and 7,
    /// and this crate's private-use identifiers for AES-CBC + HMAC). Never
    /// returns [`EspSuite::NullHmacSha256`].
    pub const fn from_cose_alg(alg: i64) -> Option<Self> {
        Self::from_cose_alg_allow_null(alg, false)
    }

    /// Like [`EspSuite::from_cose_alg`], and with `allow_null` also maps
    /// [`COSE_ALG_PRIVATE_NULL_HMAC_SHA256_128`] to
    /// [`EspSuite::NullHmacSha256`] (integrity only; configure explicitly).
    pub const fn from_cose_alg_allow_null(alg: i64, allow_null: bool) -> Option<Self> {
        match alg {
            COSE_ALG_AES_CCM_16_64_128 => Some(EspSuite::AesCcm8_128),
            COSE_ALG_AES_CCM_16_64_256 => Some(EspSuite::AesCcm8_256),
            COSE_ALG_AES_CCM_16_128_128 => Some(EspSuite::AesCcm16_128),
            COSE_ALG_AES_CCM_16_128_256 => Some(EspSuite::AesCcm16_256),
            COSE_ALG_A128GCM => Some(EspSuite::AesGcm16_128),
            COSE_ALG_A256GCM => Some(EspSuite::AesGcm16_256),
            COSE_ALG_CHACHA20_POLY1305 => Some(EspSuite::ChaCha20Poly1305),
            COSE_ALG_PRIVATE_AES_CBC_128_HMAC_SHA256_128 => Some(EspSuite::AesCbc128HmacSha256),
            COSE_ALG_PRIVATE_AES_CBC_256_HMAC_SHA256_128 => Some(EspSuite::AesCbc256HmacSha256),
            COSE_ALG_PRIVATE_NULL_HMAC_SHA256_128 if allow_null => Some(EspSuite::NullHmacSha256),
            _ => None,
        }
    }

    /// The COSE algorithm identifier with the same key and ICV length (a
    /// private-use value for the non-AEAD suites).
    pub const fn cose_alg(self) -> i64 {
        match self {
            EspSuite::AesCcm8_128 => COSE_ALG_AES_CCM_16_64_128,
            EspSuite::AesCcm8_256 => COSE_ALG_AES_CCM_16_64_256,
            EspSuite::AesCcm16_128 => COSE_ALG_AES_CCM_16_128_128,
            EspSuite::AesCcm16_256 => COSE_ALG_AES_CCM_16_128_256,
            EspSuite::AesGcm16_128 => COSE_ALG_A128GCM,
            EspSuite::AesGcm16_256 => COSE_ALG_A256GCM,
            EspSuite::ChaCha20Poly1305 => COSE_ALG_CHACHA20_POLY1305,
            EspSuite::AesCbc128HmacSha256 => COSE_ALG_PRIVATE_AES_CBC_128_HMAC_SHA256_128,
            EspSuite::AesCbc256HmacSha256 => COSE_ALG_PRIVATE_AES_CBC_256_HMAC_SHA256_128,
            EspSuite::NullHmacSha256 => COSE_ALG_PRIVATE_NULL_HMAC_SHA256_128,
        }
    }

    /// IKEv2 Transform Type 1 ID (RFC 7296 §3.3.2 registry); the key length
    /// goes in the Key Length attribute (AES suites).
    pub const fn ikev2_transform_id(self) -> u16 {
        match self {
            EspSuite::AesCcm8_128 | EspSuite::AesCcm8_256 => IKEV2_ENCR_AES_CCM_8,
            EspSuite::AesCcm16_128 | EspSuite::AesCcm16_256 => IKEV2_ENCR_AES_CCM_16,
            EspSuite::AesGcm16_128 | EspSuite::AesGcm16_256 => IKEV2_ENCR_AES_GCM_16,
            EspSuite::ChaCha20Poly1305 => IKEV2_ENCR_CHACHA20_POLY1305,
            EspSuite::AesCbc128HmacSha256 | EspSuite::AesCbc256HmacSha256 => IKEV2_ENCR_AES_CBC,
            EspSuite::NullHmacSha256 => IKEV2_ENCR_NULL,
        }
    }

    /// IKEv2 Transform Type 3 (integrity) ID, for the non-AEAD suites.
    pub const fn ikev2_integrity_id(self) -> Option<u16> {
        if self.is_aead() {
            None
        } else {
            Some(IKEV2_AUTH_HMAC_SHA2_256_128)
        }
    }

    /// Human-readable name, e.g. `"AES-CCM-8-128"`.
    pub const fn name(self) -> &'static str {
        match self {
            EspSuite::AesCcm8_128 => "AES-CCM-8-128",
            EspSuite::AesCcm8_256 => "AES-CCM-8-256",
            EspSuite::AesCcm16_128 => "AES-CCM-16-128",
            EspSuite::AesCcm16_256 => "AES-CCM-16-256",
            EspSuite::AesGcm16_128 => "AES-GCM-16-128",
            EspSuite::AesGcm16_256 => "AES-GCM-16-256",
            EspSuite::ChaCha20Poly1305 => "CHACHA20-POLY1305",
            EspSuite::AesCbc128HmacSha256 => "AES-CBC-128-HMAC-SHA-256-128",
            EspSuite::AesCbc256HmacSha256 => "AES-CBC-256-HMAC-SHA-256-128",
            EspSuite::NullHmacSha256 => "NULL-HMAC-SHA-256-128",
        }
    }

    /// The suite with this [`name`](Self::name), NULL included.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL_WITH_NULL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name))
    }
}

impl core::fmt::Display for EspSuite {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}
