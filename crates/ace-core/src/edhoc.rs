//! EDHOC (RFC 9528) as the key management method of draft-aragon-ace-ipsec-profile-01
//! Appendix B: the glue between this profile and the `lakers` crate.
//!
//! * Credentials are CWT Claims Sets (CCS, RFC 9528 §3.5.2) built from the
//!   P-256 COSE_Keys that travel in the token's `cnf` and the token
//!   response's `rs_cnf`, and referenced in EDHOC by `kid` (ID_CRED_x =
//!   `{4: kid}`), so messages stay small. Both sides build the CCS bytes the
//!   same way ([`PublicKey::ccs`]): they enter EDHOC's transcript.
//! * [`initiate`] / [`InitiatorWaitM2`] are C's side, [`respond`] /
//!   [`ResponderWaitM3`] the RS's: each state consumes itself, so a message
//!   in the wrong state cannot be processed, and none of them logs or prints
//!   key material.
//! * [`edhoc_exporter`] is EDHOC_Exporter (RFC 9528 §4.2.1) over PRK_out,
//!   with a 16-bit label: lakers 0.8's own exporter takes a `u8` label,
//!   which cannot name the Private Use range (32768–65535) the IPsec seed
//!   label comes from. [`ipsec_seed`] is the profile's seed derivation.
//! * [`message_3_request`] / [`parse_message_3_request`] frame C_R ‖
//!   message_3 as RFC 9528 Appendix A.2 sends it to the EDHOC resource;
//!   [`error_message`] is RFC 9528 §6's error message.
//!
//! lakers 0.8 implements method 3 (static DH keys on both sides) with
//! cipher suite 2 only: there is no method for symmetric proof-of-possession
//! keys, so the AS refuses them for EDHOC.

use coset::iana::{self, EnumI64};
use coset::{CoseKey, CoseKeyBuilder, KeyType, Label};
use hmac::{Hmac, KeyInit, Mac};
use lakers::{
    credential_check_or_fetch, ConnId, Credential, CredentialTransfer, EDHOCError, EDHOCMethod,
    EDHOCSuite, EdhocInitiator, EdhocInitiatorWaitM2, EdhocMessageBuffer, EdhocResponder,
    EdhocResponderWaitM3,
};
use lakers_crypto_rustcrypto::Crypto;
use rand::rngs::StdRng;
use sha2::{Digest, Sha256};
use thiserror::Error;
use zeroize::Zeroizing;

use crate::ipsec::Seed;
use crate::labels::edhoc as l;

/// lakers' crypto backend (RustCrypto) over a seeded `StdRng`.
pub type EdhocCrypto = Crypto<Rng06<StdRng>>;

/// Length of PRK_out, PRK_exporter and the IPsec seed: SHA-256's output,
/// the hash of cipher suite 2 (RFC 9528 §3.6), equal to HMAC-SHA-256's key
/// length, the PRF of RFC 7296 §2.14's SKEYSEED.
pub const PRK_LEN: usize = 32;

/// A deterministic generator for tests and fuzzing (`StdRng` from a seed).
pub fn seeded_rng(seed: u64) -> StdRng {
    use rand::SeedableRng;
    StdRng::seed_from_u64(seed)
}

/// Bridges a `rand` 0.9 generator to the `rand_core` 0.6 traits that
/// lakers' RustCrypto backend requires.
pub struct Rng06<R>(pub R);

impl<R: rand::RngCore> rand_core_06::RngCore for Rng06<R> {
    fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill_bytes(dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core_06::Error> {
        self.0.fill_bytes(dest);
        Ok(())
    }
}

impl<R: rand::CryptoRng> rand_core_06::CryptoRng for Rng06<R> {}

/// Why an EDHOC step failed. Carries no key material.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EdhocError {
    /// A key or COSE_Key is not a usable P-256 key (RFC 9053 §7.1).
    #[error("EDHOC key: {0}")]
    Key(&'static str),
    /// The peer's ID_CRED_x does not name the credential the token (or
    /// `rs_cnf`) binds to it.
    #[error("EDHOC: the peer's ID_CRED does not name the expected credential")]
    UnexpectedCredential,
    /// An EAD item marked critical (RFC 9528 §3.8): none is supported.
    #[error("EDHOC: critical EAD item not supported")]
    CriticalEad,
    /// A message larger than lakers' buffers (RFC 9528 messages are
    /// bounded by lakers' `MAX_MESSAGE_SIZE_LEN`).
    #[error("EDHOC: message of {0} bytes exceeds the implementation's limit")]
    TooLarge(usize),
    /// The C_R ‖ message_3 payload of RFC 9528 Appendix A.2 is malformed.
    #[error("EDHOC: malformed C_R ‖ message_3 payload")]
    Framing,
    /// lakers refused the message (parse error, MAC or AEAD failure, wrong
    /// cipher suite, …).
    #[error("EDHOC: {0}")]
    Protocol(String),
}

fn lakers_error(e: EDHOCError) -> EdhocError {
    match e {
        EDHOCError::UnexpectedCredential => EdhocError::UnexpectedCredential,
        other => EdhocError::Protocol(format!("{other:?}")),
    }
}

/// message_2 and message_3 are each one CBOR byte string (RFC 9528
/// §5.3.1, §5.4.1) with a 1- or 2-byte header whose length is exactly the
/// rest. Checked before lakers sees them: lakers 0.8's message_3 decoder
/// trusts the header's length and panics on a short message (found by
/// `fuzz/fuzz_targets/authz_info_edhoc.rs` with the 4 bytes `71 03 21 f6`).
fn check_single_bstr(bytes: &[u8], min: usize) -> Result<(), EdhocError> {
    let (len, header) = match bytes {
        [b @ 0x40..=0x57, ..] => (usize::from(b - 0x40), 1),
        [0x58, l, ..] if *l >= 24 => (usize::from(*l), 2),
        _ => return Err(EdhocError::Protocol("not a CBOR byte string".into())),
    };
    if len + header != bytes.len() || len < min {
        return Err(EdhocError::Protocol("byte string length mismatch".into()));
    }
    Ok(())
}

fn buffer(bytes: &[u8]) -> Result<EdhocMessageBuffer, EdhocError> {
    EdhocMessageBuffer::new_from_slice(bytes).map_err(|_| EdhocError::TooLarge(bytes.len()))
}

/// A P-256 public key with its `kid`: one party's EDHOC authentication
/// credential as the AS distributes it (`cnf` / `rs_cnf` COSE_Key).
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// `kid`, 1–16 bytes: the credential's reference in ID_CRED_x.
    pub kid: Vec<u8>,
    /// Affine x coordinate, big-endian.
    pub x: [u8; 32],
    /// Affine y coordinate, big-endian.
    pub y: [u8; 32],
}

impl core::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PublicKey")
            .field("kid", &hex::encode(&self.kid))
            .field("x", &hex::encode(&self.x[..4]))
            .finish_non_exhaustive()
    }
}

/// Longest `kid` lakers 0.8 stores (`BufferKid`).
pub const MAX_KID_LEN: usize = 16;

fn check_kid(kid: &[u8]) -> Result<(), EdhocError> {
    if kid.is_empty() || kid.len() > MAX_KID_LEN {
        return Err(EdhocError::Key("kid must be 1 to 16 bytes"));
    }
    Ok(())
}

impl PublicKey {
    /// From the SEC1 encoding (65 bytes uncompressed `04 ‖ x ‖ y`, or 33
    /// bytes compressed), checked to be on the curve.
    pub fn from_sec1(bytes: &[u8], kid: Vec<u8>) -> Result<Self, EdhocError> {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        check_kid(&kid)?;
        let pk = p256::PublicKey::from_sec1_bytes(bytes)
            .map_err(|_| EdhocError::Key("not a P-256 point (SEC1)"))?;
        Self::from_point(&pk.to_encoded_point(false), kid)
    }

    fn from_point(p: &p256::EncodedPoint, kid: Vec<u8>) -> Result<Self, EdhocError> {
        let (Some(x), Some(y)) = (p.x(), p.y()) else {
            return Err(EdhocError::Key("point at infinity"));
        };
        let mut out = PublicKey {
            kid,
            x: [0; 32],
            y: [0; 32],
        };
        out.x.copy_from_slice(x);
        out.y.copy_from_slice(y);
        Ok(out)
    }

    /// From a COSE_Key (RFC 9053 §7.1.1): kty EC2, crv P-256, x and y of 32
    /// bytes forming a point on the curve, a `kid` of 1–16 bytes, no private
    /// part `d`.
    pub fn from_cose_key(key: &CoseKey) -> Result<Self, EdhocError> {
        if key.kty != KeyType::Assigned(iana::KeyType::EC2) {
            return Err(EdhocError::Key("COSE_Key is not EC2"));
        }
        let param = |label: i64| {
            key.params
                .iter()
                .find(|(l, _)| *l == Label::Int(label))
                .map(|(_, v)| v)
        };
        let crv = param(iana::Ec2KeyParameter::Crv.to_i64());
        if crv.and_then(|v| v.as_integer()).map(i128::from)
            != Some(i128::from(iana::EllipticCurve::P_256.to_i64()))
        {
            return Err(EdhocError::Key("COSE_Key curve is not P-256"));
        }
        if param(iana::Ec2KeyParameter::D.to_i64()).is_some() {
            return Err(EdhocError::Key("COSE_Key carries a private key"));
        }
        let coord = |label: i64| -> Result<[u8; 32], EdhocError> {
            param(label)
                .and_then(|v| v.as_bytes())
                .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
                .ok_or(EdhocError::Key("COSE_Key x/y missing or not 32 bytes"))
        };
        let x = coord(iana::Ec2KeyParameter::X.to_i64())?;
        let y = coord(iana::Ec2KeyParameter::Y.to_i64())?;
        let mut sec1 = [0u8; 65];
        sec1[0] = 4;
        sec1[1..33].copy_from_slice(&x);
        sec1[33..].copy_from_slice(&y);
        Self::from_sec1(&sec1, key.key_id.clone())
    }

    /// The COSE_Key `{1: 2, 2: kid, -1: 1, -2: x, -3: y}` (RFC 9053 §7.1.1).
    pub fn to_cose_key(&self) -> CoseKey {
        CoseKeyBuilder::new_ec2_pub_key(
            iana::EllipticCurve::P_256,
            self.x.to_vec(),
            self.y.to_vec(),
        )
        .key_id(self.kid.clone())
        .build()
    }

    /// The credential CRED_x: a CCS wrapping the COSE_Key in a `cnf` claim,
    /// `{8: {1: {1: 2, 2: kid, -1: 1, -2: x, -3: y}}}` (RFC 9528 §3.5.2, the
    /// form of RFC 9529's credentials without `sub`), in this order with
    /// preferred encodings. Deterministic: C and RS build the same bytes.
    pub fn ccs(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.kid.len() + 70);
        out.extend_from_slice(&[0xa1, 0x08, 0xa1, 0x01, 0xa5, 0x01, 0x02, 0x02]);
        push_bstr_header(&mut out, self.kid.len());
        out.extend_from_slice(&self.kid);
        out.extend_from_slice(&[0x20, 0x01, 0x21, 0x58, 0x20]);
        out.extend_from_slice(&self.x);
        out.extend_from_slice(&[0x22, 0x58, 0x20]);
        out.extend_from_slice(&self.y);
        out
    }

    fn credential(&self) -> Result<Credential, EdhocError> {
        Credential::parse_ccs(&self.ccs()).map_err(lakers_error)
    }
}

fn push_bstr_header(out: &mut Vec<u8>, len: usize) {
    // Only short byte strings occur here (kid ≤ 16, contexts ≤ 255 handled
    // by the general encoder below).
    if len < 24 {
        out.push(0x40 | len as u8);
    } else if len < 256 {
        out.extend_from_slice(&[0x58, len as u8]);
    } else {
        out.push(0x59);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    }
}

fn push_uint(out: &mut Vec<u8>, v: u64) {
    if v < 24 {
        out.push(v as u8);
    } else if v < 0x100 {
        out.extend_from_slice(&[0x18, v as u8]);
    } else if v < 0x1_0000 {
        out.push(0x19);
        out.extend_from_slice(&(v as u16).to_be_bytes());
    } else if v < 0x1_0000_0000 {
        out.push(0x1a);
        out.extend_from_slice(&(v as u32).to_be_bytes());
    } else {
        out.push(0x1b);
        out.extend_from_slice(&v.to_be_bytes());
    }
}

/// A party's static P-256 key pair with its `kid` (the EDHOC
/// authentication key of method 3). Zeroizes its private part on drop;
/// `Debug` shows the `kid` only.
#[derive(Clone)]
pub struct StaticKey {
    private: Zeroizing<[u8; 32]>,
    public: PublicKey,
}

impl core::fmt::Debug for StaticKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StaticKey")
            .field("kid", &hex::encode(&self.public.kid))
            .finish_non_exhaustive()
    }
}

impl StaticKey {
    /// From the 32-byte private scalar (big-endian) and a `kid` of 1–16 bytes.
    pub fn from_private(d: &[u8], kid: Vec<u8>) -> Result<Self, EdhocError> {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        check_kid(&kid)?;
        let sk = p256::SecretKey::from_slice(d).map_err(|_| {
            EdhocError::Key("private key is not a P-256 scalar (32 bytes, 0 < d < n)")
        })?;
        let public = PublicKey::from_point(&sk.public_key().to_encoded_point(false), kid)?;
        let mut private = Zeroizing::new([0u8; 32]);
        private.copy_from_slice(&sk.to_bytes());
        Ok(StaticKey { private, public })
    }

    /// A fresh key pair.
    pub fn generate<R: rand::RngCore + rand::CryptoRng>(
        rng: &mut R,
        kid: Vec<u8>,
    ) -> Result<Self, EdhocError> {
        loop {
            let mut d = Zeroizing::new([0u8; 32]);
            rng.fill_bytes(&mut d[..]);
            match Self::from_private(&d[..], kid.clone()) {
                Err(EdhocError::Key(m)) if m.starts_with("private") => continue,
                r => return r,
            }
        }
    }

    /// The public half with its `kid`.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// The private scalar (for configuration round trips; never logged).
    pub fn private_bytes(&self) -> &[u8; 32] {
        &self.private
    }
}

/// EDHOC_KDF(PRK, label, context, length) = EDHOC_Expand(PRK, info, length)
/// with info = (label: uint, context: bstr, length: uint) as a CBOR
/// sequence, EDHOC_Expand = HKDF-Expand with SHA-256 for cipher suite 2
/// (RFC 9528 §4.1.2; RFC 5869 §2.3).
pub fn edhoc_kdf(
    prk: &[u8; PRK_LEN],
    label: u16,
    context: &[u8],
    length: usize,
) -> Zeroizing<Vec<u8>> {
    let mut info = Vec::with_capacity(context.len() + 12);
    push_uint(&mut info, u64::from(label));
    push_bstr_header(&mut info, context.len());
    info.extend_from_slice(context);
    push_uint(&mut info, length as u64);
    hkdf_expand_sha256(prk, &info, length)
}

fn hkdf_expand_sha256(prk: &[u8; PRK_LEN], info: &[u8], length: usize) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(length));
    let mut t: Vec<u8> = Vec::new();
    let mut counter = 1u8;
    while out.len() < length {
        // Any key length is valid for HMAC.
        let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(prk) else {
            break;
        };
        mac.update(&t);
        mac.update(info);
        mac.update(&[counter]);
        t = mac.finalize().into_bytes().to_vec();
        let take = (length - out.len()).min(t.len());
        out.extend_from_slice(&t[..take]);
        counter = counter.wrapping_add(1);
    }
    t.iter_mut().for_each(|b| *b = 0);
    out
}

/// EDHOC_Exporter(label, context, length) = EDHOC_KDF(PRK_exporter, label,
/// context, length), PRK_exporter = EDHOC_KDF(PRK_out, 10, h'', 32)
/// (RFC 9528 §4.2.1, §4.1.3).
pub fn edhoc_exporter(
    prk_out: &[u8; PRK_LEN],
    label: u16,
    context: &[u8],
    length: usize,
) -> Zeroizing<Vec<u8>> {
    let prk_exporter = edhoc_kdf(prk_out, l::KDF_LABEL_PRK_EXPORTER, &[], PRK_LEN);
    let mut prk = Zeroizing::new([0u8; PRK_LEN]);
    prk.copy_from_slice(&prk_exporter);
    edhoc_kdf(&prk, label, context, length)
}

/// The exporter context of the IPsec seed: SHA-256 of the access token as
/// posted to `/authz-info` (the bytes of the `access_token` bstr). Binds the
/// SA pair to the token; C cannot read the token's `cti` (the token is
/// encrypted for the RS), but both sides hold the token's bytes.
pub fn seed_context(access_token: &[u8]) -> [u8; 32] {
    Sha256::digest(access_token).into()
}

/// The profile's IPsec seed (draft Appendix B.2): EDHOC_Exporter(32768,
/// SHA-256(access_token), 32), then used exactly as a Direct Provisioning
/// `seed` (KEYMAT = prf+(seed, SPI_SA_C ‖ SPI_SA_RS)).
pub fn ipsec_seed(prk_out: &[u8; PRK_LEN], access_token: &[u8]) -> Seed {
    ipsec_seed_with_context(prk_out, &seed_context(access_token))
}

/// [`ipsec_seed`] from the exporter context ([`seed_context`]) already computed.
pub fn ipsec_seed_with_context(prk_out: &[u8; PRK_LEN], context: &[u8; 32]) -> Seed {
    let out = edhoc_exporter(prk_out, l::EXPORTER_LABEL_IPSEC_SEED, context, PRK_LEN);
    let mut s = [0u8; PRK_LEN];
    s.copy_from_slice(&out);
    let seed = Seed::new(s);
    s.iter_mut().for_each(|b| *b = 0);
    seed
}

/// The CBOR encoding of the connection identifier whose bytes are `raw`
/// (RFC 9528 §3.3.2: a one-byte identifier that is the encoding of an
/// integer in −24..=23 is sent as that integer, anything else as a byte
/// string). `None` if too long for lakers.
pub fn conn_id_cbor(raw: &[u8]) -> Option<Vec<u8>> {
    ConnId::from_slice(raw).map(|c| c.as_cbor().to_vec())
}

/// PRK_out (RFC 9528 §4.1.3) of a completed exchange. Zeroized on drop.
pub struct PrkOut(Zeroizing<[u8; PRK_LEN]>);

impl PrkOut {
    /// Wrap (for test vectors).
    pub fn new(bytes: [u8; PRK_LEN]) -> Self {
        PrkOut(Zeroizing::new(bytes))
    }
    /// The secret bytes.
    pub fn as_bytes(&self) -> &[u8; PRK_LEN] {
        &self.0
    }
    /// [`ipsec_seed`] over this PRK_out.
    pub fn ipsec_seed(&self, access_token: &[u8]) -> Seed {
        ipsec_seed(&self.0, access_token)
    }
}

impl core::fmt::Debug for PrkOut {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("PrkOut(<redacted>)")
    }
}

/// C waiting for message_2. Holds lakers' state (with the ephemeral and
/// static private keys): `Debug` never shows it.
pub struct InitiatorWaitM2 {
    inner: EdhocInitiatorWaitM2<EdhocCrypto>,
}

impl core::fmt::Debug for InitiatorWaitM2 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("InitiatorWaitM2(<redacted>)")
    }
}

/// C starts EDHOC as Initiator, method 3, cipher suite 2 (RFC 9528 §5.2.1):
/// returns the state and message_1. C_I is drawn by lakers (one byte).
pub fn initiate(rng: StdRng, key: &StaticKey) -> Result<(InitiatorWaitM2, Vec<u8>), EdhocError> {
    let mut init = EdhocInitiator::new(
        Crypto::new(Rng06(rng)),
        EDHOCMethod::StatStat,
        EDHOCSuite::CipherSuite2,
    );
    init.set_identity(*key.private, key.public.credential()?);
    let (wait, m1) = init.prepare_message_1(None, &None).map_err(lakers_error)?;
    Ok((InitiatorWaitM2 { inner: wait }, m1.as_slice().to_vec()))
}

/// What C has after message_2 verified: message_3 to send, C_R, PRK_out.
#[derive(Debug)]
pub struct InitiatorDone {
    /// C_R as its CBOR encoding (RFC 9528 §3.3.2).
    pub c_r: Vec<u8>,
    /// message_3 (RFC 9528 §5.4.1).
    pub message_3: Vec<u8>,
    /// PRK_out.
    pub prk_out: PrkOut,
}

impl InitiatorDone {
    /// The payload C posts to the EDHOC resource: C_R ‖ message_3 (RFC 9528
    /// Appendix A.2).
    pub fn message_3_request(&self) -> Vec<u8> {
        message_3_request(&self.c_r, &self.message_3)
    }
}

impl InitiatorWaitM2 {
    /// Processes message_2 (RFC 9528 §5.3.3): ID_CRED_R must reference
    /// `rs` (the key from `rs_cnf`), MAC_2 must verify with it; then builds
    /// message_3 with ID_CRED_I by reference (`kid`), no EAD.
    pub fn process_message_2(
        self,
        message_2: &[u8],
        rs: &PublicKey,
    ) -> Result<InitiatorDone, EdhocError> {
        // G_Y (32) and CIPHERTEXT_2 (at least C_R, ID_CRED_R, MAC_2 of 8).
        check_single_bstr(message_2, 32 + 10)?;
        let m2 = buffer(message_2)?;
        let (processing, c_r, id_cred_r, ead_2) =
            self.inner.parse_message_2(&m2).map_err(lakers_error)?;
        if ead_2.is_some_and(|e| e.is_critical) {
            return Err(EdhocError::CriticalEad);
        }
        let cred_r =
            credential_check_or_fetch(Some(rs.credential()?), id_cred_r).map_err(lakers_error)?;
        let processed = processing.verify_message_2(cred_r).map_err(lakers_error)?;
        let (_wait_m4, m3, prk_out) = processed
            .prepare_message_3(CredentialTransfer::ByReference, &None)
            .map_err(lakers_error)?;
        Ok(InitiatorDone {
            c_r: c_r.as_cbor().to_vec(),
            message_3: m3.as_slice().to_vec(),
            prk_out: PrkOut::new(prk_out),
        })
    }
}

/// The RS waiting for message_3. `Debug` never shows lakers' state.
pub struct ResponderWaitM3 {
    inner: EdhocResponderWaitM3<EdhocCrypto>,
}

impl core::fmt::Debug for ResponderWaitM3 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ResponderWaitM3(<redacted>)")
    }
}

/// The RS answers message_1 as Responder (RFC 9528 §5.2.3, §5.3.2) with its
/// static key, C_R = `c_r` (the identifier's bytes, RFC 9528 §3.3.2) and
/// ID_CRED_R by reference: returns the state and message_2.
pub fn respond(
    rng: StdRng,
    key: &StaticKey,
    message_1: &[u8],
    c_r: &[u8],
) -> Result<(ResponderWaitM3, Vec<u8>), EdhocError> {
    let m1 = buffer(message_1)?;
    let c_r = ConnId::from_slice(c_r).ok_or(EdhocError::Key("C_R too long"))?;
    let resp = EdhocResponder::new(
        Crypto::new(Rng06(rng)),
        EDHOCMethod::StatStat,
        *key.private,
        key.public.credential()?,
    );
    let (processed, _c_i, ead_1) = resp.process_message_1(&m1).map_err(lakers_error)?;
    if ead_1.is_some_and(|e| e.is_critical) {
        return Err(EdhocError::CriticalEad);
    }
    let (wait, m2) = processed
        .prepare_message_2(CredentialTransfer::ByReference, Some(c_r), &None)
        .map_err(lakers_error)?;
    Ok((ResponderWaitM3 { inner: wait }, m2.as_slice().to_vec()))
}

impl ResponderWaitM3 {
    /// Processes message_3 (RFC 9528 §5.4.3): ID_CRED_I must reference
    /// `client` (the COSE_Key of the token's `cnf`), MAC_3 must verify with
    /// it. Returns PRK_out; message_4 is not used.
    pub fn process_message_3(
        self,
        message_3: &[u8],
        client: &PublicKey,
    ) -> Result<PrkOut, EdhocError> {
        // CIPHERTEXT_3: at least ID_CRED_I, MAC_3 and the 8-byte AEAD tag.
        check_single_bstr(message_3, 1 + 8 + 8)?;
        let m3 = buffer(message_3)?;
        let (processing, id_cred_i, ead_3) =
            self.inner.parse_message_3(&m3).map_err(lakers_error)?;
        if ead_3.is_some_and(|e| e.is_critical) {
            return Err(EdhocError::CriticalEad);
        }
        let cred_i = credential_check_or_fetch(Some(client.credential()?), id_cred_i)
            .map_err(lakers_error)?;
        let (_processed, prk_out) = processing.verify_message_3(cred_i).map_err(lakers_error)?;
        Ok(PrkOut::new(prk_out))
    }
}

/// C_R ‖ message_3: the payload of C's request to the EDHOC resource (RFC
/// 9528 Appendix A.2), `c_r` being C_R's CBOR encoding.
pub fn message_3_request(c_r: &[u8], message_3: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(c_r.len() + message_3.len());
    out.extend_from_slice(c_r);
    out.extend_from_slice(message_3);
    out
}

/// Splits C_R ‖ message_3 (RFC 9528 Appendix A.2): C_R is a CBOR integer in
/// −24..=23 or a byte string of at most 23 bytes (RFC 9528 §3.3.2, lakers'
/// `ConnId`), returned as its encoding; message_3 is the rest, not empty.
pub fn parse_message_3_request(payload: &[u8]) -> Result<(&[u8], &[u8]), EdhocError> {
    let first = *payload.first().ok_or(EdhocError::Framing)?;
    let (major, info) = (first >> 5, usize::from(first & 0x1f));
    let c_r_len = match (major, info) {
        (0 | 1, 0..=23) => 1,
        (2, 0..=23) => 1 + info,
        _ => return Err(EdhocError::Framing),
    };
    if payload.len() <= c_r_len {
        return Err(EdhocError::Framing);
    }
    Ok(payload.split_at(c_r_len))
}

/// An EDHOC error message (RFC 9528 §6): ERR_CODE 1 (unspecified) with a
/// text ERR_INFO, as a CBOR sequence. What the RS sends, with 4.00 and
/// Content-Format 64, when an exchange fails (RFC 9528 Appendix A.2).
pub fn error_message(info: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(info.len() + 4);
    push_uint(&mut out, l::ERR_CODE_UNSPECIFIED as u64);
    let len = info.len();
    // A text string header: major type 3.
    let start = out.len();
    push_bstr_header(&mut out, len);
    out[start] = (out[start] & 0x1f) | 0x60;
    out.extend_from_slice(info.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn exchange_completes_and_both_sides_export_the_same_seed() {
        let mut rng = StdRng::seed_from_u64(1);
        let c = StaticKey::generate(&mut rng, vec![0x2b]).unwrap();
        let rs = StaticKey::generate(&mut rng, vec![0x32]).unwrap();
        let (wait_m2, m1) = initiate(StdRng::seed_from_u64(2), &c).unwrap();
        let (wait_m3, m2) = respond(StdRng::seed_from_u64(3), &rs, &m1, &[0x05]).unwrap();
        let done = wait_m2.process_message_2(&m2, rs.public()).unwrap();
        assert_eq!(done.c_r, vec![0x05]);
        let req = done.message_3_request();
        let (c_r, m3) = parse_message_3_request(&req).unwrap();
        assert_eq!(c_r, &[0x05]);
        let prk_rs = wait_m3.process_message_3(m3, c.public()).unwrap();
        assert_eq!(prk_rs.as_bytes(), done.prk_out.as_bytes());
        assert_eq!(
            prk_rs.ipsec_seed(b"token"),
            done.prk_out.ipsec_seed(b"token")
        );
        assert_ne!(
            prk_rs.ipsec_seed(b"token"),
            done.prk_out.ipsec_seed(b"other")
        );
    }

    #[test]
    fn error_message_is_a_cbor_sequence() {
        assert_eq!(error_message("x"), vec![0x01, 0x61, b'x']);
    }

    #[test]
    fn framing_rejects_bad_c_r() {
        assert!(parse_message_3_request(&[]).is_err());
        assert!(parse_message_3_request(&[0x05]).is_err());
        assert!(parse_message_3_request(&[0x18, 0x20, 0x41]).is_err());
        assert_eq!(
            parse_message_3_request(&[0x41, 0xaa, 0x42, 1, 2]).unwrap(),
            (&[0x41, 0xaa][..], &[0x42, 1, 2][..])
        );
    }
}
