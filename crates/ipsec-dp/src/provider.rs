//! The crypto-provider seam: which implementation runs each algorithm,
//! chosen here and nowhere else.
//!
//! Measured on this project's build machine (2 shared cores, AES-NI, VAES,
//! SHA-NI), seal+open of 1400-byte messages:
//!
//! | algorithm          | backend                                   | why                                     |
//! |--------------------|-------------------------------------------|-----------------------------------------|
//! | AES-GCM            | aws-lc-rs (AWS-LC assembly)               | 4.0 GB/s vs ring 3.1, RustCrypto 1.2    |
//! | ChaCha20-Poly1305  | aws-lc-rs                                 | AVX2/AVX-512 assembly                   |
//! | AES-CCM            | [`crate::aes_ccm`] over `aes` (AES-NI)    | neither aws-lc-rs nor ring offers CCM;  |
//! |                    |                                           | the `ccm` crate is ~4x slower           |
//! | AES-CBC            | [`crate::cbc_hmac`] over `aes` (AES-NI)   | decrypts 8 blocks in parallel           |
//! | HMAC-SHA-256-128   | RustCrypto `hmac` + `sha2` (SHA-NI)       | keyed state precomputed per SA          |
//!
//! Every key schedule is expanded once, when the SA is built; no per-packet
//! allocation or key setup happens in any backend.

use aws_lc_rs::aead::{LessSafeKey, UnboundKey, AES_128_GCM, AES_256_GCM, CHACHA20_POLY1305};

use crate::aes_ccm::AesCcm;
use crate::cbc_hmac::{AesCbc, HmacSha256_128};
use crate::cipher::CryptoError;
use crate::keys::SaKeys;
use crate::suite::EspSuite;

/// The keyed implementation of one suite.
pub(crate) enum Engine {
    /// AES-CCM (RFC 4309) by this crate over the `aes` crate's AES-NI.
    Ccm(Box<AesCcm>),
    /// AES-GCM (RFC 4106) or ChaCha20-Poly1305 (RFC 7634) by AWS-LC.
    AwsLc(Box<LessSafeKey>),
    /// AES-CBC (RFC 3602) + HMAC-SHA-256-128 (RFC 4868).
    CbcHmac(Box<(AesCbc, HmacSha256_128)>),
    /// NULL (RFC 2410) + HMAC-SHA-256-128.
    NullHmac(Box<HmacSha256_128>),
}

/// The name of the implementation [`new_engine`] picks for `suite`.
pub const fn backend_name(suite: EspSuite) -> &'static str {
    match suite {
        EspSuite::AesCcm8_128
        | EspSuite::AesCcm8_256
        | EspSuite::AesCcm16_128
        | EspSuite::AesCcm16_256 => "ipsec-dp AES-CCM (AES-NI when the CPU has it)",
        EspSuite::AesGcm16_128 | EspSuite::AesGcm16_256 | EspSuite::ChaCha20Poly1305 => "aws-lc-rs",
        EspSuite::AesCbc128HmacSha256 | EspSuite::AesCbc256HmacSha256 => {
            "ipsec-dp AES-CBC over aes + RustCrypto HMAC-SHA-256"
        }
        EspSuite::NullHmacSha256 => "RustCrypto HMAC-SHA-256",
    }
}

/// Expands the key schedule of `keys` with the backend chosen for its suite.
pub(crate) fn new_engine(keys: &SaKeys) -> Result<Engine, CryptoError> {
    let aws = |alg| -> Result<Engine, CryptoError> {
        let k = UnboundKey::new(alg, keys.key()).map_err(|_| CryptoError)?;
        Ok(Engine::AwsLc(Box::new(LessSafeKey::new(k))))
    };
    match keys.suite() {
        EspSuite::AesCcm8_128
        | EspSuite::AesCcm8_256
        | EspSuite::AesCcm16_128
        | EspSuite::AesCcm16_256 => Ok(Engine::Ccm(Box::new(AesCcm::new(keys.key())?))),
        EspSuite::AesGcm16_128 => aws(&AES_128_GCM),
        EspSuite::AesGcm16_256 => aws(&AES_256_GCM),
        EspSuite::ChaCha20Poly1305 => aws(&CHACHA20_POLY1305),
        EspSuite::AesCbc128HmacSha256 | EspSuite::AesCbc256HmacSha256 => {
            Ok(Engine::CbcHmac(Box::new((
                AesCbc::new(keys.key())?,
                HmacSha256_128::new(keys.integ_key())?,
            ))))
        }
        EspSuite::NullHmacSha256 => Ok(Engine::NullHmac(Box::new(HmacSha256_128::new(
            keys.integ_key(),
        )?))),
    }
}
