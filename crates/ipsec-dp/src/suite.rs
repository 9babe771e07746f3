//! The ESP AEAD suites of the profile.

use crate::consts::{
    AES128_KEY_LEN, AES256_KEY_LEN, CCM8_ICV_LEN, CCM_SALT_LEN, COSE_ALG_A128GCM, COSE_ALG_A256GCM,
    COSE_ALG_AES_CCM_16_64_128, COSE_ALG_AES_CCM_16_64_256, ESP_IV_LEN, GCM_ICV_LEN, GCM_SALT_LEN,
    IKEV2_ENCR_AES_CCM_8, IKEV2_ENCR_AES_GCM_16,
};

/// An ESP combined-mode (AEAD) algorithm with its key size.
///
/// The profile names algorithms by their COSE identifiers (RFC 9053). Only the
/// key length and ICV length carry over from COSE: COSE's AES-CCM-16-64-* use
/// a 13-byte nonce, while ESP's CCM (RFC 4309 §4) uses an 11-byte nonce =
/// 3-byte salt || 8-byte IV (L = 4). ESP's GCM nonce is 4-byte salt || 8-byte
/// IV (RFC 4106 §4).
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
}

impl EspSuite {
    /// Every suite.
    pub const ALL: [EspSuite; 4] = [
        EspSuite::AesCcm8_128,
        EspSuite::AesCcm8_256,
        EspSuite::AesGcm16_128,
        EspSuite::AesGcm16_256,
    ];

    /// AES key length in octets.
    pub const fn key_len(self) -> usize {
        match self {
            EspSuite::AesCcm8_128 | EspSuite::AesGcm16_128 => AES128_KEY_LEN,
            EspSuite::AesCcm8_256 | EspSuite::AesGcm16_256 => AES256_KEY_LEN,
        }
    }

    /// RFC 4309 §7.1: 3 octets for CCM; RFC 4106 §8.1: 4 octets for GCM.
    pub const fn salt_len(self) -> usize {
        match self {
            EspSuite::AesCcm8_128 | EspSuite::AesCcm8_256 => CCM_SALT_LEN,
            EspSuite::AesGcm16_128 | EspSuite::AesGcm16_256 => GCM_SALT_LEN,
        }
    }

    /// ICV length: 8 (RFC 4309 §6.1, CCM-8) or 16 (RFC 4106 §6, GCM-16).
    pub const fn icv_len(self) -> usize {
        match self {
            EspSuite::AesCcm8_128 | EspSuite::AesCcm8_256 => CCM8_ICV_LEN,
            EspSuite::AesGcm16_128 | EspSuite::AesGcm16_256 => GCM_ICV_LEN,
        }
    }

    /// RFC 4106 §3.1 / RFC 4309 §3.1: the explicit IV is 8 octets.
    pub const fn iv_len(self) -> usize {
        ESP_IV_LEN
    }

    /// Keying material per SA: key || salt (RFC 4309 §7.1, RFC 4106 §8.1).
    pub const fn keymat_len(self) -> usize {
        self.key_len() + self.salt_len()
    }

    /// The suite for a COSE algorithm identifier (RFC 9053 Tables 5 and 6).
    pub const fn from_cose_alg(alg: i64) -> Option<Self> {
        match alg {
            COSE_ALG_AES_CCM_16_64_128 => Some(EspSuite::AesCcm8_128),
            COSE_ALG_AES_CCM_16_64_256 => Some(EspSuite::AesCcm8_256),
            COSE_ALG_A128GCM => Some(EspSuite::AesGcm16_128),
            COSE_ALG_A256GCM => Some(EspSuite::AesGcm16_256),
            _ => None,
        }
    }

    /// The COSE algorithm identifier with the same key and ICV length.
    pub const fn cose_alg(self) -> i64 {
        match self {
            EspSuite::AesCcm8_128 => COSE_ALG_AES_CCM_16_64_128,
            EspSuite::AesCcm8_256 => COSE_ALG_AES_CCM_16_64_256,
            EspSuite::AesGcm16_128 => COSE_ALG_A128GCM,
            EspSuite::AesGcm16_256 => COSE_ALG_A256GCM,
        }
    }

    /// IKEv2 Transform Type 1 ID (RFC 7296 §3.3.2 registry); the key length
    /// goes in the Key Length attribute.
    pub const fn ikev2_transform_id(self) -> u16 {
        match self {
            EspSuite::AesCcm8_128 | EspSuite::AesCcm8_256 => IKEV2_ENCR_AES_CCM_8,
            EspSuite::AesGcm16_128 | EspSuite::AesGcm16_256 => IKEV2_ENCR_AES_GCM_16,
        }
    }

    /// Human-readable name, e.g. `"AES-CCM-8-128"`.
    pub const fn name(self) -> &'static str {
        match self {
            EspSuite::AesCcm8_128 => "AES-CCM-8-128",
            EspSuite::AesCcm8_256 => "AES-CCM-8-256",
            EspSuite::AesGcm16_128 => "AES-GCM-16-128",
            EspSuite::AesGcm16_256 => "AES-GCM-16-256",
        }
    }
}

impl core::fmt::Display for EspSuite {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}
