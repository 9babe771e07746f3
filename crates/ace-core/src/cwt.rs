//! CBOR Web Tokens (RFC 8392) as access tokens (RFC 9200 §5.10): the claims
//! set, and its protection by COSE (RFC 9052/9053).
//!
//! * [`encrypt_token`] / [`decrypt_token`]: COSE_Encrypt0 (RFC 9052 §5.2,
//!   tag 16) with AES-GCM (RFC 9053 §4.1) or AES-CCM (§4.2). A token of this
//!   profile must be encrypted when it carries key material such as the
//!   Direct Provisioning `seed` (RFC 9200 §6.1). The protected header holds
//!   `alg`, the unprotected header `kid` and a random `IV` of the length the
//!   algorithm fixes (12 bytes GCM, 13 bytes CCM-16-*); the AAD is the
//!   Enc_structure `["Encrypt0", protected, h'']` (RFC 9052 §5.3).
//!   [`encrypt_token`] emits the COSE tag 16 without the optional CWT tag
//!   61 (RFC 8392 §6: the token travels as `application/cwt` or inside
//!   `access_token`, which already say what it is); both forms decode.
//! * [`verify_mac0_token`] / [`mac0_token`]: COSE_Mac0 (tag 17) with HMAC
//!   256/64 or 256/256 (RFC 9053 §3.1), as in RFC 8392 Appendix A.4.
//! * [`decode_sign1_unverified`]: the structure of a COSE_Sign1 CWT (tag
//!   18, RFC 8392 Appendix A.3) and its Sig_structure, for a caller that
//!   verifies the signature itself. This crate does no ECDSA.

use aead::{Aead, AeadCore, KeyInit, Nonce, Payload};
use aes_gcm::aes::{Aes128, Aes256};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use ccm::consts::{U13, U8};
use ccm::Ccm;
use ciborium::value::Value;
use coset::iana::{self, EnumI64};
use coset::{
    AsCborValue, CoseEncrypt0, CoseEncrypt0Builder, CoseMac0, CoseMac0Builder, CoseSign1, Header,
    HeaderBuilder, RegisteredLabel, RegisteredLabelWithPrivate, TaggedCborSerializable,
};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;
use zeroize::Zeroizing;

use crate::cbor::{self, int, uint, MapReader, MapWriter};
use crate::cnf::Cnf;
use crate::error::{CoapCode, DecodeError};
use crate::labels::{cbor_tag, claim as c, content_format, cose_alg};
use crate::scope::Scope;

type AesCcm16_64_128 = Ccm<Aes128, U8, U13>;
type AesCcm16_64_256 = Ccm<Aes256, U8, U13>;

/// The claims of an access token (RFC 8392 §3, RFC 8747 §3.1, RFC 9200
/// §5.10). NumericDates are unix seconds; a floating-point date on the wire
/// is accepted (RFC 8392 §2 allows it) and rounded towards the safe side
/// (`exp`/`iat` down, `nbf` up).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Claims {
    /// `iss` (1): the AS.
    pub iss: Option<String>,
    /// `sub` (2).
    pub sub: Option<String>,
    /// `aud` (3): the RS.
    pub aud: Option<String>,
    /// `exp` (4).
    pub exp: Option<u64>,
    /// `nbf` (5).
    pub nbf: Option<u64>,
    /// `iat` (6).
    pub iat: Option<u64>,
    /// `cti` (7).
    pub cti: Option<Vec<u8>>,
    /// `scope` (9).
    pub scope: Option<Scope>,
    /// `ace_profile` (38).
    pub ace_profile: Option<i64>,
    /// `cnf` (8).
    pub cnf: Option<Cnf>,
    /// `exi` (40): lifetime in seconds from when the RS first sees the token
    /// (RFC 9200 §5.10.3).
    pub exi: Option<u64>,
    /// `cnonce` (39): the client-nonce of the AS Request Creation Hints.
    pub cnonce: Option<Vec<u8>>,
}

impl Claims {
    /// The claims set map (deterministic key order).
    pub fn to_value(&self) -> Value {
        let mut m = MapWriter::new();
        m.put_opt(c::ISS, self.iss.clone().map(Value::Text))
            .put_opt(c::SUB, self.sub.clone().map(Value::Text))
            .put_opt(c::AUD, self.aud.clone().map(Value::Text))
            .put_opt(c::EXP, self.exp.map(uint))
            .put_opt(c::NBF, self.nbf.map(uint))
            .put_opt(c::IAT, self.iat.map(uint))
            .put_opt(c::CTI, self.cti.clone().map(Value::Bytes))
            .put_opt(c::CNF, self.cnf.as_ref().map(Cnf::to_value))
            .put_opt(c::SCOPE, self.scope.as_ref().map(Scope::to_value))
            .put_opt(c::ACE_PROFILE, self.ace_profile.map(int))
            .put_opt(c::CNONCE, self.cnonce.clone().map(Value::Bytes))
            .put_opt(c::EXI, self.exi.map(uint));
        m.finish()
    }

    /// Encoded claims set.
    pub fn to_cbor(&self) -> Vec<u8> {
        cbor::encode(&self.to_value())
    }

    /// Decode from a borrowed CBOR value; [`Self::from_owned_value`] avoids the copy.
    pub fn from_value(value: &Value) -> Result<Self, DecodeError> {
        Self::from_owned_value(value.clone())
    }

    /// Decode a claims set; unknown claims are ignored.
    pub fn from_owned_value(value: Value) -> Result<Self, DecodeError> {
        let mut m = MapReader::new(value, "CWT claims set")?;
        Ok(Claims {
            iss: m.text(c::ISS, "iss")?,
            sub: m.text(c::SUB, "sub")?,
            aud: m.text(c::AUD, "aud")?,
            exp: m
                .take(c::EXP)
                .map(|v| numeric_date(&v, "exp", Round::Down))
                .transpose()?,
            nbf: m
                .take(c::NBF)
                .map(|v| numeric_date(&v, "nbf", Round::Up))
                .transpose()?,
            iat: m
                .take(c::IAT)
                .map(|v| numeric_date(&v, "iat", Round::Down))
                .transpose()?,
            cti: m.bytes(c::CTI, "cti")?,
            cnf: m.take(c::CNF).map(Cnf::from_owned_value).transpose()?,
            scope: m.take(c::SCOPE).map(Scope::from_owned_value).transpose()?,
            ace_profile: m.int(c::ACE_PROFILE, "ace_profile")?,
            cnonce: m.bytes(c::CNONCE, "cnonce")?,
            exi: m.uint(c::EXI, "exi")?,
        })
    }

    /// Decode an encoded claims set.
    pub fn from_cbor(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_owned_value(cbor::decode(bytes)?)
    }
}

#[derive(Clone, Copy)]
enum Round {
    Up,
    Down,
}

fn numeric_date(v: &Value, field: &'static str, round: Round) -> Result<u64, DecodeError> {
    match v {
        Value::Integer(_) => cbor::value_to_u64(v, field),
        Value::Float(f) if f.is_finite() && *f >= 0.0 && *f < 1.8e19 => {
            let r = match round {
                Round::Up => f.ceil(),
                Round::Down => f.floor(),
            };
            // In range by the guard above.
            Ok(r as u64)
        }
        Value::Float(_) => Err(DecodeError::invalid(
            field,
            "not a non-negative NumericDate",
        )),
        _ => Err(DecodeError::wrong_type(field, "NumericDate (int or float)")),
    }
}

/// Content encryption algorithms for tokens (RFC 9053 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentAlg {
    /// A128GCM (1): 16-byte key, 12-byte nonce, 16-byte tag.
    A128Gcm,
    /// A256GCM (3): 32-byte key, 12-byte nonce, 16-byte tag.
    A256Gcm,
    /// AES-CCM-16-64-128 (10): 16-byte key, 13-byte nonce, 8-byte tag.
    AesCcm16_64_128,
    /// AES-CCM-16-64-256 (11): 32-byte key, 13-byte nonce, 8-byte tag.
    AesCcm16_64_256,
}

impl ContentAlg {
    /// COSE algorithm id.
    pub fn id(self) -> i64 {
        match self {
            ContentAlg::A128Gcm => cose_alg::A128GCM,
            ContentAlg::A256Gcm => cose_alg::A256GCM,
            ContentAlg::AesCcm16_64_128 => cose_alg::AES_CCM_16_64_128,
            ContentAlg::AesCcm16_64_256 => cose_alg::AES_CCM_16_64_256,
        }
    }

    /// From a COSE algorithm id.
    pub fn from_id(id: i64) -> Option<Self> {
        match id {
            cose_alg::A128GCM => Some(ContentAlg::A128Gcm),
            cose_alg::A256GCM => Some(ContentAlg::A256Gcm),
            cose_alg::AES_CCM_16_64_128 => Some(ContentAlg::AesCcm16_64_128),
            cose_alg::AES_CCM_16_64_256 => Some(ContentAlg::AesCcm16_64_256),
            _ => None,
        }
    }

    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            ContentAlg::A128Gcm | ContentAlg::AesCcm16_64_128 => 16,
            ContentAlg::A256Gcm | ContentAlg::AesCcm16_64_256 => 32,
        }
    }

    /// Nonce (full IV) length in bytes: 12 for GCM (RFC 9053 §4.1), 15 - L
    /// = 13 for CCM with L = 2 (RFC 9053 §4.2).
    pub fn nonce_len(self) -> usize {
        match self {
            ContentAlg::A128Gcm | ContentAlg::A256Gcm => 12,
            ContentAlg::AesCcm16_64_128 | ContentAlg::AesCcm16_64_256 => 13,
        }
    }
}

/// Symmetric key shared by the AS and an RS for protecting tokens. The key
/// bytes are zeroized on drop and never shown by `Debug`.
#[derive(Clone)]
pub struct TokenKey {
    /// Key identifier, sent in the unprotected header (RFC 9052 §3.1).
    pub kid: Vec<u8>,
    /// The algorithm this key is for (RFC 9052 §7: a key is bound to one).
    pub alg: ContentAlg,
    key: Zeroizing<Vec<u8>>,
}

impl TokenKey {
    /// Wrap key bytes of the length `alg` needs.
    pub fn new(kid: impl Into<Vec<u8>>, alg: ContentAlg, key: &[u8]) -> Result<Self, CwtError> {
        if key.len() != alg.key_len() {
            return Err(CwtError::KeyLength {
                expected: alg.key_len(),
                got: key.len(),
            });
        }
        Ok(TokenKey {
            kid: kid.into(),
            alg,
            key: Zeroizing::new(key.to_vec()),
        })
    }

    /// A fresh random key.
    pub fn generate(
        kid: impl Into<Vec<u8>>,
        alg: ContentAlg,
        rng: &mut impl rand::CryptoRng,
    ) -> Self {
        let mut key = Zeroizing::new(vec![0u8; alg.key_len()]);
        rng.fill_bytes(&mut key);
        TokenKey {
            kid: kid.into(),
            alg,
            key,
        }
    }

    /// The secret key bytes.
    pub fn key_bytes(&self) -> &[u8] {
        &self.key
    }
}

impl core::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TokenKey")
            .field("kid", &hex::encode(&self.kid))
            .field("alg", &self.alg)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// MAC algorithms for tokens (RFC 9053 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MacAlg {
    /// HMAC 256/64 (4): HMAC-SHA-256 truncated to 8 bytes.
    Hmac256_64,
    /// HMAC 256/256 (5).
    Hmac256_256,
}

impl MacAlg {
    /// COSE algorithm id.
    pub fn id(self) -> i64 {
        match self {
            MacAlg::Hmac256_64 => cose_alg::HMAC_256_64,
            MacAlg::Hmac256_256 => cose_alg::HMAC_256_256,
        }
    }

    /// From a COSE algorithm id.
    pub fn from_id(id: i64) -> Option<Self> {
        match id {
            cose_alg::HMAC_256_64 => Some(MacAlg::Hmac256_64),
            cose_alg::HMAC_256_256 => Some(MacAlg::Hmac256_256),
            _ => None,
        }
    }

    /// Tag length in bytes.
    pub fn tag_len(self) -> usize {
        match self {
            MacAlg::Hmac256_64 => 8,
            MacAlg::Hmac256_256 => 32,
        }
    }
}

/// Symmetric MAC key for COSE_Mac0 tokens; zeroized, redacted `Debug`.
#[derive(Clone)]
pub struct MacKey {
    /// Key identifier.
    pub kid: Vec<u8>,
    /// The algorithm this key is for.
    pub alg: MacAlg,
    key: Zeroizing<Vec<u8>>,
}

impl MacKey {
    /// Wrap key bytes (any non-empty length; RFC 9053 §3.1 recommends at
    /// least the hash output length).
    pub fn new(kid: impl Into<Vec<u8>>, alg: MacAlg, key: &[u8]) -> Result<Self, CwtError> {
        if key.is_empty() {
            return Err(CwtError::KeyLength {
                expected: 32,
                got: 0,
            });
        }
        Ok(MacKey {
            kid: kid.into(),
            alg,
            key: Zeroizing::new(key.to_vec()),
        })
    }
}

impl core::fmt::Debug for MacKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MacKey")
            .field("kid", &hex::encode(&self.kid))
            .field("alg", &self.alg)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// Why a token could not be produced or opened.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CwtError {
    /// Not CBOR, or not a COSE structure.
    #[error("malformed token: {0}")]
    Malformed(DecodeError),
    /// A COSE structure of another kind (the CBOR tag found).
    #[error("unexpected COSE structure (tag {0})")]
    WrongStructure(u64),
    /// A header parameter is marked critical (RFC 9052 §3.1 `crit`); this
    /// crate understands none beyond alg/kid/IV.
    #[error("critical header parameters not understood")]
    UnsupportedCritical,
    /// No `alg` in the protected header.
    #[error("no algorithm in the protected header")]
    MissingAlg,
    /// An algorithm this crate does not implement for this structure.
    #[error("unsupported algorithm {0}")]
    UnsupportedAlg(i64),
    /// No `kid` to select the key.
    #[error("no key identifier")]
    MissingKid,
    /// No key is known under the token's `kid`.
    #[error("unknown key identifier")]
    UnknownKid,
    /// The key found is for another algorithm than the token names.
    #[error("token algorithm {token} does not match key algorithm {key}")]
    AlgMismatch {
        /// Algorithm in the token.
        token: i64,
        /// Algorithm of the key.
        key: i64,
    },
    /// IV absent or of the wrong length (or a Partial IV, not supported).
    #[error("IV of {got} bytes, {expected} expected")]
    BadIv {
        /// Length the algorithm needs.
        expected: usize,
        /// Length found.
        got: usize,
    },
    /// Key of the wrong length for its algorithm.
    #[error("key of {got} bytes, {expected} expected")]
    KeyLength {
        /// Length the algorithm needs.
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// No ciphertext / payload (detached content is not used by CWTs).
    #[error("no ciphertext or payload")]
    NoContent,
    /// AEAD authentication failed: wrong key or tampered token.
    #[error("decryption failed")]
    DecryptFailed,
    /// MAC verification failed.
    #[error("MAC verification failed")]
    MacFailed,
    /// The content is itself a CWT (RFC 8392 §7.1 nesting), not supported.
    #[error("nested CWT not supported")]
    NestedCwt,
    /// The content is not a valid claims set.
    #[error("invalid claims: {0}")]
    Claims(DecodeError),
}

impl CwtError {
    /// CoAP code for an authz-info answer (RFC 9200 §5.10.1, §5.10.1.1):
    /// 4.00 when the payload does not parse to a token or its claims cannot
    /// be obtained, 4.01 when the security wrapper does not verify.
    pub fn coap_code(&self) -> CoapCode {
        match self {
            CwtError::Malformed(_)
            | CwtError::WrongStructure(_)
            | CwtError::NoContent
            | CwtError::Claims(_) => CoapCode::BAD_REQUEST,
            _ => CoapCode::UNAUTHORIZED,
        }
    }
}

fn malformed_cose(e: coset::CoseError) -> CwtError {
    CwtError::Malformed(DecodeError::Cose(format!("{e:?}")))
}

/// Strip the optional CWT tag 61, then the expected COSE tag (or accept the
/// untagged array).
fn unwrap_tags(bytes: &[u8], want: u64) -> Result<Value, CwtError> {
    let mut v = cbor::decode(bytes).map_err(CwtError::Malformed)?;
    if let Value::Tag(cbor_tag::CWT, inner) = v {
        v = *inner;
    }
    match v {
        Value::Tag(t, inner) if t == want => Ok(*inner),
        Value::Tag(t, _) => Err(CwtError::WrongStructure(t)),
        v @ Value::Array(_) => Ok(v),
        _ => Err(CwtError::Malformed(DecodeError::wrong_type(
            "token",
            "COSE array",
        ))),
    }
}

fn alg_id(h: &Header) -> Result<i64, CwtError> {
    match &h.alg {
        None => Err(CwtError::MissingAlg),
        Some(RegisteredLabelWithPrivate::Assigned(a)) => Ok(a.to_i64()),
        Some(RegisteredLabelWithPrivate::PrivateUse(i)) => Ok(*i),
        Some(RegisteredLabelWithPrivate::Text(_)) => Err(CwtError::UnsupportedAlg(0)),
    }
}

/// Common header checks: no `crit`, no nested CWT, protected `alg`, `kid`.
fn check_headers<'a>(
    protected: &'a Header,
    unprotected: &'a Header,
) -> Result<(i64, &'a [u8]), CwtError> {
    if !protected.crit.is_empty() || !unprotected.crit.is_empty() {
        return Err(CwtError::UnsupportedCritical);
    }
    for h in [protected, unprotected] {
        match &h.content_type {
            Some(RegisteredLabel::Assigned(iana::CoapContentFormat::Cwt)) => {
                return Err(CwtError::NestedCwt)
            }
            Some(RegisteredLabel::Text(t)) if t == "application/cwt" => {
                return Err(CwtError::NestedCwt)
            }
            _ => {}
        }
    }
    let alg = alg_id(protected)?;
    let kid = if !unprotected.key_id.is_empty() {
        &unprotected.key_id
    } else {
        &protected.key_id
    };
    if kid.is_empty() {
        return Err(CwtError::MissingKid);
    }
    Ok((alg, kid))
}

fn seal<A: KeyInit + Aead + AeadCore>(
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    msg: &[u8],
) -> Result<Vec<u8>, CwtError> {
    let cipher = A::new_from_slice(key).map_err(|_| CwtError::KeyLength {
        expected: 0,
        got: key.len(),
    })?;
    let nonce = Nonce::<A>::try_from(nonce).map_err(|_| CwtError::BadIv {
        expected: 0,
        got: nonce.len(),
    })?;
    cipher
        .encrypt(&nonce, Payload { msg, aad })
        .map_err(|_| CwtError::DecryptFailed)
}

fn open<A: KeyInit + Aead + AeadCore>(
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    msg: &[u8],
) -> Result<Vec<u8>, CwtError> {
    let cipher = A::new_from_slice(key).map_err(|_| CwtError::KeyLength {
        expected: 0,
        got: key.len(),
    })?;
    let nonce = Nonce::<A>::try_from(nonce).map_err(|_| CwtError::BadIv {
        expected: 0,
        got: nonce.len(),
    })?;
    cipher
        .decrypt(&nonce, Payload { msg, aad })
        .map_err(|_| CwtError::DecryptFailed)
}

fn aead_seal(
    alg: ContentAlg,
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    msg: &[u8],
) -> Result<Vec<u8>, CwtError> {
    match alg {
        ContentAlg::A128Gcm => seal::<Aes128Gcm>(key, nonce, aad, msg),
        ContentAlg::A256Gcm => seal::<Aes256Gcm>(key, nonce, aad, msg),
        ContentAlg::AesCcm16_64_128 => seal::<AesCcm16_64_128>(key, nonce, aad, msg),
        ContentAlg::AesCcm16_64_256 => seal::<AesCcm16_64_256>(key, nonce, aad, msg),
    }
}

fn aead_open(
    alg: ContentAlg,
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    msg: &[u8],
) -> Result<Vec<u8>, CwtError> {
    match alg {
        ContentAlg::A128Gcm => open::<Aes128Gcm>(key, nonce, aad, msg),
        ContentAlg::A256Gcm => open::<Aes256Gcm>(key, nonce, aad, msg),
        ContentAlg::AesCcm16_64_128 => open::<AesCcm16_64_128>(key, nonce, aad, msg),
        ContentAlg::AesCcm16_64_256 => open::<AesCcm16_64_256>(key, nonce, aad, msg),
    }
}

fn cose_alg_label(id: i64) -> RegisteredLabelWithPrivate<iana::Algorithm> {
    match iana::Algorithm::from_i64(id) {
        Some(a) => RegisteredLabelWithPrivate::Assigned(a),
        None => RegisteredLabelWithPrivate::PrivateUse(id),
    }
}

/// Encrypt `claims` into a tagged COSE_Encrypt0 (tag 16) under `key`, with a
/// fresh random IV from `rng`.
pub fn encrypt_token(
    claims: &Claims,
    key: &TokenKey,
    rng: &mut impl rand::CryptoRng,
) -> Result<Vec<u8>, CwtError> {
    let mut iv = vec![0u8; key.alg.nonce_len()];
    rng.fill_bytes(&mut iv);
    encrypt_token_with_iv(claims, key, &iv)
}

/// [`encrypt_token`] with a caller-chosen IV, for test vectors and
/// documentation examples. An IV must never be used twice under one key
/// (AES-GCM and AES-CCM lose confidentiality and integrity if it is):
/// outside of fixed examples, use [`encrypt_token`].
pub fn encrypt_token_with_iv(
    claims: &Claims,
    key: &TokenKey,
    iv: &[u8],
) -> Result<Vec<u8>, CwtError> {
    if iv.len() != key.alg.nonce_len() {
        return Err(CwtError::BadIv {
            expected: key.alg.nonce_len(),
            got: iv.len(),
        });
    }
    let plaintext = Zeroizing::new(claims.to_cbor());
    let protected = HeaderBuilder::new()
        .algorithm_label(cose_alg_label(key.alg.id()))
        .build();
    let unprotected = HeaderBuilder::new()
        .key_id(key.kid.clone())
        .iv(iv.to_vec())
        .build();
    let msg = CoseEncrypt0Builder::new()
        .protected(protected)
        .unprotected(unprotected)
        .try_create_ciphertext(&plaintext, &[], |pt, aad| {
            aead_seal(key.alg, &key.key, iv, aad, pt)
        })?
        .build();
    msg.to_tagged_vec().map_err(malformed_cose)
}

/// Open a COSE_Encrypt0 token (tag 16, optionally inside the CWT tag 61, or
/// untagged) and decode its claims. `lookup` maps a `kid` to the key shared
/// with the AS that issued it (RFC 9200 §5.10.1.1: only an AS entitled to
/// issue tokens for this RS holds such a key).
pub fn decrypt_token<'k>(
    token: &[u8],
    lookup: impl Fn(&[u8]) -> Option<&'k TokenKey>,
) -> Result<Claims, CwtError> {
    let v = unwrap_tags(token, cbor_tag::COSE_ENCRYPT0)?;
    let enc = CoseEncrypt0::from_cbor_value(v).map_err(malformed_cose)?;
    let (alg, kid) = check_headers(&enc.protected.header, &enc.unprotected)?;
    let content_alg = ContentAlg::from_id(alg).ok_or(CwtError::UnsupportedAlg(alg))?;
    let key = lookup(kid).ok_or(CwtError::UnknownKid)?;
    if key.alg != content_alg {
        return Err(CwtError::AlgMismatch {
            token: alg,
            key: key.alg.id(),
        });
    }
    if !enc.unprotected.partial_iv.is_empty() || !enc.protected.header.partial_iv.is_empty() {
        return Err(CwtError::BadIv {
            expected: content_alg.nonce_len(),
            got: 0,
        });
    }
    let iv = if !enc.unprotected.iv.is_empty() {
        &enc.unprotected.iv
    } else {
        &enc.protected.header.iv
    };
    if iv.len() != content_alg.nonce_len() {
        return Err(CwtError::BadIv {
            expected: content_alg.nonce_len(),
            got: iv.len(),
        });
    }
    let plaintext = Zeroizing::new(enc.decrypt_ciphertext(
        &[],
        || CwtError::NoContent,
        |ct, aad| aead_open(content_alg, &key.key, iv, aad, ct),
    )?);
    claims_from_content(&plaintext)
}

/// Decode the content of a COSE structure as a claims set; content that is
/// itself a tagged COSE message or CWT is a nested CWT (RFC 8392 §7.1,
/// Appendix A.6), which this crate does not open.
fn claims_from_content(content: &[u8]) -> Result<Claims, CwtError> {
    match cbor::decode(content) {
        Ok(Value::Tag(
            cbor_tag::COSE_ENCRYPT0
            | cbor_tag::COSE_MAC0
            | cbor_tag::COSE_SIGN1
            | cbor_tag::CWT
            | cbor_tag::COSE_ENCRYPT
            | cbor_tag::COSE_MAC
            | cbor_tag::COSE_SIGN,
            _,
        )) => Err(CwtError::NestedCwt),
        Ok(v) => Claims::from_owned_value(v).map_err(CwtError::Claims),
        Err(e) => Err(CwtError::Claims(e)),
    }
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Result<[u8; 32], CwtError> {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).map_err(|_| CwtError::KeyLength {
            expected: 32,
            got: key.len(),
        })?;
    mac.update(data);
    Ok(mac.finalize().into_bytes().into())
}

/// MAC `claims` into a COSE_Mac0 (tag 17) wrapped in the CWT tag 61, as in
/// RFC 8392 Appendix A.4. Deterministic.
pub fn mac0_token(claims: &Claims, key: &MacKey) -> Result<Vec<u8>, CwtError> {
    let protected = HeaderBuilder::new()
        .algorithm_label(cose_alg_label(key.alg.id()))
        .build();
    let unprotected = HeaderBuilder::new().key_id(key.kid.clone()).build();
    let tag_len = key.alg.tag_len();
    let msg = CoseMac0Builder::new()
        .protected(protected)
        .unprotected(unprotected)
        .payload(claims.to_cbor())
        .try_create_tag(&[], |data| {
            hmac_sha256(&key.key, data).map(|t| t[..tag_len].to_vec())
        })?
        .build();
    let inner = msg.to_tagged_vec().map_err(malformed_cose)?;
    let mut out = cbor::encode(&Value::Tag(cbor_tag::CWT, Box::new(Value::Null)));
    // `encode` wrote tag 61 followed by null (0xf6): keep only the tag head.
    out.pop();
    out.extend_from_slice(&inner);
    Ok(out)
}

/// Verify a COSE_Mac0 token (tag 17, optionally inside tag 61, or untagged)
/// and decode its claims.
pub fn verify_mac0_token<'k>(
    token: &[u8],
    lookup: impl Fn(&[u8]) -> Option<&'k MacKey>,
) -> Result<Claims, CwtError> {
    let v = unwrap_tags(token, cbor_tag::COSE_MAC0)?;
    let mac = CoseMac0::from_cbor_value(v).map_err(malformed_cose)?;
    let (alg, kid) = check_headers(&mac.protected.header, &mac.unprotected)?;
    let mac_alg = MacAlg::from_id(alg).ok_or(CwtError::UnsupportedAlg(alg))?;
    let key = lookup(kid).ok_or(CwtError::UnknownKid)?;
    if key.alg != mac_alg {
        return Err(CwtError::AlgMismatch {
            token: alg,
            key: key.alg.id(),
        });
    }
    mac.verify_payload_tag(
        &[],
        || CwtError::NoContent,
        |tag, data| {
            if tag.len() != mac_alg.tag_len() {
                return Err(CwtError::MacFailed);
            }
            let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(&key.key)
                .map_err(|_| CwtError::MacFailed)?;
            m.update(data);
            m.verify_truncated_left(tag)
                .map_err(|_| CwtError::MacFailed)
        },
    )?;
    let payload = mac.payload.as_deref().ok_or(CwtError::NoContent)?;
    claims_from_content(payload)
}

/// A COSE_Sign1 CWT taken apart, its signature **not** verified.
#[derive(Debug, Clone, PartialEq)]
pub struct Sign1Parts {
    /// `alg` of the protected header (e.g. -7 ES256).
    pub alg: i64,
    /// `kid`.
    pub kid: Vec<u8>,
    /// The claims — untrusted until the signature is verified.
    pub claims: Claims,
    /// The signature bytes (for ES256, r ‖ s, RFC 9053 §2.1).
    pub signature: Vec<u8>,
    /// The Sig_structure `["Signature1", protected, h'', payload]` the
    /// signature covers (RFC 9052 §4.4).
    pub to_be_signed: Vec<u8>,
}

/// Decode a COSE_Sign1 CWT (tag 18, optionally inside tag 61, or untagged)
/// without verifying its signature: the caller must verify
/// `signature` over `to_be_signed` before trusting `claims`.
pub fn decode_sign1_unverified(token: &[u8]) -> Result<Sign1Parts, CwtError> {
    let v = unwrap_tags(token, cbor_tag::COSE_SIGN1)?;
    let sign1 = CoseSign1::from_cbor_value(v).map_err(malformed_cose)?;
    let (alg, kid) = check_headers(&sign1.protected.header, &sign1.unprotected)?;
    let kid = kid.to_vec();
    let payload = sign1.payload.as_deref().ok_or(CwtError::NoContent)?;
    let claims = claims_from_content(payload)?;
    Ok(Sign1Parts {
        alg,
        kid,
        claims,
        signature: sign1.signature.clone(),
        to_be_signed: sign1.tbs_data(&[]),
    })
}

/// Content-Format of a token posted to `/authz-info` (RFC 9200 §5.10.1).
pub const CWT_CONTENT_FORMAT: u16 = content_format::CWT;
