//! ECDSA on P-256 with SHA-256 for the AUTH payload (RFC 7296 §2.15,
//! §3.8), with raw public keys (RFC 7670).
//!
//! Two Auth Methods carry it:
//!
//! - **9, ECDSA with SHA-256 on the P-256 curve** (RFC 4754 §3, §7): the
//!   Authentication Data is r | s, each 32 octets big-endian, 64 in all.
//! - **14, Digital Signature** (RFC 7427 §3): one octet giving the length
//!   of the ASN.1 AlgorithmIdentifier, the AlgorithmIdentifier (for
//!   ecdsa-with-SHA256 the 12 octets of RFC 7427 Appendix A, without
//!   parameters: [`ECDSA_WITH_SHA256_ALGORITHM_IDENTIFIER`]), then the
//!   signature as that algorithm encodes it: the DER `Ecdsa-Sig-Value`
//!   SEQUENCE { r INTEGER, s INTEGER }. The verifier accepts this
//!   AlgorithmIdentifier only.
//!
//! Either way the signed data is the `*SignedOctets` of §2.15
//! ([`crate::auth::signed_octets`]), hashed with SHA-256 by the algorithm.
//!
//! A raw public key travels in a CERT payload of encoding 15 (RFC 7670 §3)
//! as a DER SubjectPublicKeyInfo (RFC 5480 §2: id-ecPublicKey with the
//! namedCurve secp256r1, the uncompressed point); [`P256PublicKey`] reads
//! and writes that form and the COSE_Key x / y coordinates.

use aws_lc_rs::agreement::{self, ECDH_P256};
use aws_lc_rs::encoding::{AsBigEndian, EcPrivateKeyBin};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair, ParsedPublicKey, UnparsedPublicKey, ECDSA_P256_SHA256_ASN1,
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING,
};
use zeroize::Zeroizing;

use super::CryptoError;
use crate::consts::AuthMethod;

/// RFC 7427 Appendix A: the DER
/// AlgorithmIdentifier of ecdsa-with-SHA256 (OID 1.2.840.10045.4.3.2, no
/// parameters, RFC 5758 §3.2).
pub const ECDSA_WITH_SHA256_ALGORITHM_IDENTIFIER: [u8; 12] = [
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
];

/// RFC 5480 §2: the DER SubjectPublicKeyInfo of a P-256 key up to its
/// uncompressed point: SEQUENCE { SEQUENCE { id-ecPublicKey, secp256r1 },
/// BIT STRING (0 unused bits) }.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
/// SEC1 §2.3.3: 0x04 | x | y.
const UNCOMPRESSED_LEN: usize = 65;
/// A P-256 coordinate or scalar.
const COORD_LEN: usize = 32;
/// RFC 4754 §7: r | s.
const FIXED_SIG_LEN: usize = 2 * COORD_LEN;

/// A P-256 public key (a point on the curve, checked on construction).
#[derive(Clone, PartialEq, Eq)]
pub struct P256PublicKey {
    /// 0x04 | x | y.
    point: [u8; UNCOMPRESSED_LEN],
}

impl core::fmt::Debug for P256PublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "P256PublicKey(")?;
        for b in &self.point {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

impl P256PublicKey {
    /// From the SEC1 uncompressed point 0x04 | x | y (65 octets); the point
    /// must lie on P-256.
    pub fn from_sec1_uncompressed(bytes: &[u8]) -> Result<Self, CryptoError> {
        let point: [u8; UNCOMPRESSED_LEN] = bytes
            .try_into()
            .map_err(|_| CryptoError::InvalidPublicKey("not 65 octets"))?;
        if point.first() != Some(&0x04) {
            return Err(CryptoError::InvalidPublicKey("not an uncompressed point"));
        }
        ParsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, point)
            .map_err(|_| CryptoError::InvalidPublicKey("not a point on P-256"))?;
        Ok(P256PublicKey { point })
    }

    /// From the coordinates, as a COSE_Key carries them (RFC 9053 §7.1.1:
    /// x and y, 32 octets each, leading zeros kept).
    pub fn from_xy(x: &[u8], y: &[u8]) -> Result<Self, CryptoError> {
        if x.len() != COORD_LEN || y.len() != COORD_LEN {
            return Err(CryptoError::InvalidPublicKey(
                "coordinates are not 32 octets",
            ));
        }
        let mut point = Vec::with_capacity(UNCOMPRESSED_LEN);
        point.push(0x04);
        point.extend_from_slice(x);
        point.extend_from_slice(y);
        Self::from_sec1_uncompressed(&point)
    }

    /// From a DER SubjectPublicKeyInfo (the Certificate Data of a CERT
    /// payload of encoding 15, RFC 7670 §3): only the P-256 form of RFC
    /// 5480 with an uncompressed point (91 octets) is accepted.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, CryptoError> {
        match der.split_at_checked(P256_SPKI_PREFIX.len()) {
            Some((prefix, point)) if prefix == P256_SPKI_PREFIX => {
                Self::from_sec1_uncompressed(point)
            }
            _ => Err(CryptoError::InvalidPublicKey(
                "not a DER P-256 SubjectPublicKeyInfo with an uncompressed point",
            )),
        }
    }

    /// x | y, 64 octets (the COSE_Key coordinates).
    pub fn to_xy(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        if let Some(xy) = self.point.get(1..) {
            out.copy_from_slice(xy);
        }
        out
    }

    /// The SEC1 uncompressed point 0x04 | x | y.
    pub fn to_sec1_uncompressed(&self) -> [u8; UNCOMPRESSED_LEN] {
        self.point
    }

    /// The DER SubjectPublicKeyInfo (RFC 5480 §2), the Certificate Data of
    /// a CERT payload of encoding 15 (RFC 7670 §3).
    pub fn spki_der(&self) -> Vec<u8> {
        [P256_SPKI_PREFIX.as_slice(), self.point.as_slice()].concat()
    }
}

/// A P-256 private key for signing AUTH payloads. `Debug` shows the public
/// key only.
pub struct P256SigningKey {
    /// For method 9 (r | s).
    fixed: EcdsaKeyPair,
    /// For method 14 (DER).
    asn1: EcdsaKeyPair,
    public: P256PublicKey,
}

impl core::fmt::Debug for P256SigningKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("P256SigningKey")
            .field("public", &self.public)
            .field("private", &"<redacted>")
            .finish()
    }
}

impl P256SigningKey {
    /// From the private scalar d, 32 octets big-endian (1 ≤ d < n), as a
    /// COSE_Key's `d` carries it.
    pub fn from_private_scalar(d: &[u8; 32]) -> Result<Self, CryptoError> {
        let invalid = || CryptoError::InvalidPrivateKey("P-256 ECDSA");
        let public = agreement::PrivateKey::from_private_key(&ECDH_P256, d)
            .map_err(|_| invalid())?
            .compute_public_key()
            .map_err(|_| invalid())?;
        let public = public.as_ref();
        let fixed = EcdsaKeyPair::from_private_key_and_public_key(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            d,
            public,
        )
        .map_err(|_| invalid())?;
        let asn1 = EcdsaKeyPair::from_private_key_and_public_key(
            &ECDSA_P256_SHA256_ASN1_SIGNING,
            d,
            public,
        )
        .map_err(|_| invalid())?;
        let public = P256PublicKey::from_sec1_uncompressed(fixed.public_key().as_ref())?;
        Ok(P256SigningKey {
            fixed,
            asn1,
            public,
        })
    }

    /// A fresh key from aws-lc's random generator.
    pub fn generate() -> Result<Self, CryptoError> {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .map_err(|_| CryptoError::Internal("ECDSA key generation"))?;
        let bin: EcPrivateKeyBin<'static> = pair
            .private_key()
            .as_be_bytes()
            .map_err(|_| CryptoError::Internal("ECDSA private key export"))?;
        let mut d = Zeroizing::new([0u8; COORD_LEN]);
        if bin.as_ref().len() != COORD_LEN {
            return Err(CryptoError::Internal("ECDSA private key export"));
        }
        d.copy_from_slice(bin.as_ref());
        Self::from_private_scalar(&d)
    }

    /// The public key.
    pub fn public_key(&self) -> P256PublicKey {
        self.public.clone()
    }
}

/// The Authentication Data of an AUTH payload of `method` over
/// `signed_octets` (RFC 7296 §2.15): method 9 gives r | s (RFC 4754 §7),
/// method 14 the RFC 7427 §3 form with ecdsa-with-SHA256. Other methods:
/// [`CryptoError::UnsupportedAuthMethod`].
pub fn sign_auth(
    method: AuthMethod,
    key: &P256SigningKey,
    signed_octets: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let rng = SystemRandom::new();
    let failed = |_| CryptoError::Internal("ECDSA signing");
    match method {
        AuthMethod::ECDSA_SHA256_P256 => Ok(key
            .fixed
            .sign(&rng, signed_octets)
            .map_err(failed)?
            .as_ref()
            .to_vec()),
        AuthMethod::DIGITAL_SIGNATURE => {
            let sig = key.asn1.sign(&rng, signed_octets).map_err(failed)?;
            let alg = ECDSA_WITH_SHA256_ALGORITHM_IDENTIFIER;
            let mut out = Vec::with_capacity(1 + alg.len() + sig.as_ref().len());
            // RFC 7427 §3: ASN.1 Length (1 octet), AlgorithmIdentifier,
            // Signature Value.
            out.push(alg.len() as u8);
            out.extend_from_slice(&alg);
            out.extend_from_slice(sig.as_ref());
            Ok(out)
        }
        other => Err(CryptoError::UnsupportedAuthMethod(other)),
    }
}

/// Checks the Authentication Data of an AUTH payload of `method` against
/// `signed_octets` (RFC 7296 §2.15) and the signer's public key.
///
/// Method 9 wants exactly 64 octets ([`CryptoError::SignatureLength`]);
/// method 14 wants the ecdsa-with-SHA256 AlgorithmIdentifier of RFC 7427
/// Appendix A byte for byte ([`CryptoError::SignatureAlgorithmMismatch`],
/// [`CryptoError::MalformedSignatureAuth`] if the length octet runs past
/// the data) and a DER signature. A signature that does not verify is
/// [`CryptoError::SignatureInvalid`]; other methods
/// [`CryptoError::UnsupportedAuthMethod`].
pub fn verify_auth(
    method: AuthMethod,
    key: &P256PublicKey,
    signed_octets: &[u8],
    auth_data: &[u8],
) -> Result<(), CryptoError> {
    let (alg, sig) = match method {
        AuthMethod::ECDSA_SHA256_P256 => {
            if auth_data.len() != FIXED_SIG_LEN {
                return Err(CryptoError::SignatureLength {
                    expected: FIXED_SIG_LEN,
                    got: auth_data.len(),
                });
            }
            (&ECDSA_P256_SHA256_FIXED, auth_data)
        }
        AuthMethod::DIGITAL_SIGNATURE => {
            let (&len, rest) = auth_data
                .split_first()
                .ok_or(CryptoError::MalformedSignatureAuth)?;
            let (alg_id, sig) = rest
                .split_at_checked(usize::from(len))
                .ok_or(CryptoError::MalformedSignatureAuth)?;
            if alg_id != ECDSA_WITH_SHA256_ALGORITHM_IDENTIFIER {
                return Err(CryptoError::SignatureAlgorithmMismatch);
            }
            (&ECDSA_P256_SHA256_ASN1, sig)
        }
        other => return Err(CryptoError::UnsupportedAuthMethod(other)),
    };
    UnparsedPublicKey::new(alg, &key.point)
        .verify(signed_octets, sig)
        .map_err(|_| CryptoError::SignatureInvalid)
}
