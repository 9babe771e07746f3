//! EDHOC (RFC 9528) as the key management method of draft-aragon-ace-ipsec-profile-01
//! Appendix B: the glue between this profile and the `lakers` crate.
//!
//! * Credentials are CWT Claims Sets (CCS, RFC 9528 §3.5.2) built from the
//!   P-256 COSE_Keys that travel in the token's `cnf` and the token
//!   response's `rs_cnf`, and referenced in EDHOC by `kid` (ID_CRED_x =
//!   `{4: kid}`), so messages stay small. Both sides build the CCS bytes the
//!   same way ([`PublicKey::ccs`]): they enter EDHOC's transcript.
//! * [`initiate`] / [`InitiatorWaitM2`] are C's side, [`respond`] /
//!   [`ResponderWaitM3`] the RS's. [`InitiatorWaitM2`] consumes itself;
//!   [`ResponderWaitM3`] survives a message_3 that does not decrypt (anyone
//!   can post one) and is spent by any other outcome, after which it
//!   refuses everything. None of them logs or prints key material, and the
//!   Responder's secrets are wiped when spent or dropped.
//! * [`edhoc_exporter`] is EDHOC_Exporter (RFC 9528 §4.2.1) over PRK_out,
//!   with a 16-bit label: lakers 0.8's own exporter takes a `u8` label,
//!   which cannot name the Private Use range (32768–65535) the IPsec seed
//!   label comes from. [`ipsec_seed`] is the profile's seed derivation.
//! * [`message_3_request`] / [`parse_message_3_request`] frame C_R ‖
//!   message_3 as RFC 9528 Appendix A.2 sends it to the EDHOC resource;
//!   [`error_message`] is RFC 9528 §6's error message.
//!
//! Every call into lakers runs under [`std::panic::catch_unwind`]: lakers
//! 0.8 panics on some attacker-chosen inputs (an empty SUITES_I array, a
//! G_X or G_Y that is no curve point, a long C_I or C_R, map headers that
//! overflow its CBOR skipper inside plaintext_2/plaintext_3, EAD too long
//! for its MAC context buffer). Such a panic becomes
//! [`EdhocError::Internal`] (counted by [`lakers_panics`]); the state it
//! ran on is dropped or marked spent, never used again. Messages are also
//! framing-checked before lakers sees them ([`respond`],
//! [`InitiatorWaitM2::process_message_2`],
//! [`ResponderWaitM3::process_message_3`]).
//!
//! lakers 0.8 implements method 3 (static DH keys on both sides) with
//! cipher suite 2 only: there is no method for symmetric proof-of-possession
//! keys, so the AS refuses them for EDHOC.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};

use coset::iana::{self, EnumI64};
use coset::{CoseKey, CoseKeyBuilder, KeyType, Label};
use hmac::digest::FixedOutput;
use hmac::{Hmac, KeyInit, Mac};
use lakers::{
    credential_check_or_fetch, r_parse_message_3, r_prepare_message_2, r_process_message_1,
    r_verify_message_3, ConnId, Credential, CredentialTransfer, CryptoTrait as _, EDHOCError,
    EDHOCMethod, EDHOCSuite, EdhocInitiator, EdhocInitiatorWaitM2, EdhocMessageBuffer,
    ResponderStart, WaitM3,
};
use lakers_crypto_rustcrypto::Crypto;
use rand::rngs::StdRng;
use sha2::{Digest, Sha256};
use thiserror::Error;
use zeroize::{Zeroize, Zeroizing};

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
    /// lakers panicked on this input (caught; see [`lakers_panics`]). The
    /// state it ran on is gone: nothing of this exchange is kept.
    #[error("EDHOC: the EDHOC implementation failed on this input")]
    Internal,
    /// The exchange already ended (completed, or failed after message_3
    /// decrypted): a [`ResponderWaitM3`] processes message_3 once.
    #[error("EDHOC: this exchange has ended")]
    Spent,
}

fn lakers_error(e: EDHOCError) -> EdhocError {
    match e {
        EDHOCError::UnexpectedCredential => EdhocError::UnexpectedCredential,
        other => EdhocError::Protocol(format!("{other:?}")),
    }
}

static LAKERS_PANICS: AtomicU64 = AtomicU64::new(0);

/// How many calls into lakers panicked in this process (each caught and
/// returned as [`EdhocError::Internal`]).
pub fn lakers_panics() -> u64 {
    LAKERS_PANICS.load(Ordering::Relaxed)
}

/// Runs `f` (which calls into lakers), turning a panic into
/// [`EdhocError::Internal`]. Whatever `f` captured by value is dropped by
/// the unwinding; callers hand it copies or state they give up.
fn guarded<T>(f: impl FnOnce() -> Result<T, EdhocError>) -> Result<T, EdhocError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => {
            LAKERS_PANICS.fetch_add(1, Ordering::Relaxed);
            Err(EdhocError::Internal)
        }
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

/// Longest C_I / C_R byte string lakers 0.8 stores: its `ConnId` holds 8
/// encoded bytes (`MAX_CONNID_ENCODED_LEN`, private; default features), but
/// its decoder accepts headers up to 23 and then overruns that array.
const MAX_CONN_ID_BSTR_LEN: usize = 7;

/// Highest number of cipher suites lakers stores (`MAX_SUITES_LEN`).
const MAX_SUITES: u8 = lakers::MAX_SUITES_LEN as u8;

/// The length of the CBOR unsigned integer at `bytes[0]` as lakers decodes
/// one (`u8`: `0x00..=0x17`, or `0x18` and a byte ≥ 24, preferred encoding).
fn uint_len(bytes: &[u8]) -> Option<usize> {
    match bytes {
        [0x00..=0x17, ..] => Some(1),
        [0x18, 24..=255, ..] => Some(2),
        _ => None,
    }
}

/// Whether `x` is the x-coordinate of a P-256 point (an EDHOC ephemeral
/// key G_X / G_Y is sent compressed, x only, RFC 9528 §3.7): lakers'
/// RustCrypto backend panics on one that is not.
fn is_p256_x(x: &[u8]) -> bool {
    use p256::elliptic_curve::point::DecompressPoint;
    use p256::elliptic_curve::subtle::Choice;
    let Ok(x) = <&[u8; 32]>::try_from(x) else {
        return false;
    };
    p256::AffinePoint::decompress(&(*x).into(), Choice::from(0))
        .is_some()
        .into()
}

/// message_1 (RFC 9528 §5.2.1) = METHOD, SUITES_I, G_X, C_I, ? EAD_1 as lakers
/// 0.8 can take it, checked before lakers sees it: lakers indexes the last
/// element of SUITES_I without checking that the array has one (`03 98 00
/// 58 20 …` panicked the RS), overruns its `ConnId` on a C_I byte string of
/// 8 to 23 bytes, and panics on a G_X off the curve. METHOD is a uint;
/// SUITES_I a uint or an array of 2..=9 uints with a one-byte header; G_X
/// `58 20` and a P-256 x-coordinate; C_I a one-byte integer or a byte
/// string of at most 7 bytes; the rest, if any, is EAD_1 (lakers parses it).
fn check_message_1(m: &[u8]) -> Result<(), EdhocError> {
    let bad = |what: &str| EdhocError::Protocol(format!("message_1: {what}"));
    let mut i = uint_len(m).ok_or_else(|| bad("METHOD is not a uint"))?;
    match m.get(i) {
        Some(&h) if h >> 5 == 4 => {
            let n = h & 0x1f;
            if !(2..=MAX_SUITES).contains(&n) {
                return Err(bad("SUITES_I array of unsupported length"));
            }
            i += 1;
            for _ in 0..n {
                i += uint_len(&m[i..]).ok_or_else(|| bad("SUITES_I item is not a uint"))?;
            }
        }
        _ => i += uint_len(&m[i..]).ok_or_else(|| bad("SUITES_I is not a uint or array"))?,
    }
    match m.get(i..i + 2 + 32) {
        Some([0x58, 0x20, x @ ..]) if is_p256_x(x) => i += 2 + 32,
        _ => return Err(bad("G_X is not a P-256 x-coordinate of 32 bytes")),
    }
    i += match m.get(i) {
        Some(0x00..=0x17 | 0x20..=0x37) => 1,
        Some(&h @ 0x40..=0x57) if usize::from(h - 0x40) <= MAX_CONN_ID_BSTR_LEN => {
            1 + usize::from(h - 0x40)
        }
        _ => return Err(bad("C_I is not a one-byte integer or a short byte string")),
    };
    if i > m.len() {
        return Err(bad("truncated C_I"));
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
        let ccs = self.ccs();
        guarded(|| Credential::parse_ccs(&ccs).map_err(lakers_error))
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
    // T(i) is secret (the output is its prefix): HMAC writes it straight
    // into a buffer that is wiped on drop (`zeroize`'s volatile writes, which
    // the optimiser keeps), no output array temporary in between.
    let mut out = Zeroizing::new(Vec::with_capacity(length));
    let mut t = Zeroizing::new([0u8; 32]);
    let mut t_len = 0;
    let mut counter = 1u8;
    while out.len() < length {
        // Any key length is valid for HMAC.
        let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(prk) else {
            break;
        };
        mac.update(&t[..t_len]);
        mac.update(info);
        mac.update(&[counter]);
        FixedOutput::finalize_into(mac, (&mut *t).into());
        t_len = t.len();
        let take = (length - out.len()).min(t_len);
        out.extend_from_slice(&t[..take]);
        counter = counter.wrapping_add(1);
    }
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
    let mut s = Zeroizing::new([0u8; PRK_LEN]);
    s.copy_from_slice(&out);
    Seed::new(*s)
}

/// The CBOR encoding of the connection identifier whose bytes are `raw`
/// (RFC 9528 §3.3.2: a one-byte identifier that is the encoding of an
/// integer in −24..=23 is sent as that integer, anything else as a byte
/// string). `None` if too long for lakers.
pub fn conn_id_cbor(raw: &[u8]) -> Option<Vec<u8>> {
    guarded(|| Ok(ConnId::from_slice(raw).map(|c| c.as_cbor().to_vec())))
        .ok()
        .flatten()
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
    let cred = key.public.credential()?;
    guarded(move || {
        let mut init = EdhocInitiator::new(
            Crypto::new(Rng06(rng)),
            EDHOCMethod::StatStat,
            EDHOCSuite::CipherSuite2,
        );
        init.set_identity(*key.private, cred);
        let (wait, m1) = init.prepare_message_1(None, &None).map_err(lakers_error)?;
        Ok((InitiatorWaitM2 { inner: wait }, m1.as_slice().to_vec()))
    })
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
    /// message_3 with ID_CRED_I by reference (`kid`), no EAD. The state is
    /// consumed whatever the outcome (also when lakers panics: it is dropped
    /// by the unwinding).
    pub fn process_message_2(
        self,
        message_2: &[u8],
        rs: &PublicKey,
    ) -> Result<InitiatorDone, EdhocError> {
        // G_Y (32) and CIPHERTEXT_2 (at least C_R, ID_CRED_R, MAC_2 of 8).
        check_single_bstr(message_2, 32 + 10)?;
        let header = if message_2[0] == 0x58 { 2 } else { 1 };
        if !is_p256_x(&message_2[header..header + 32]) {
            return Err(EdhocError::Protocol(
                "message_2: G_Y is not a P-256 x-coordinate".into(),
            ));
        }
        let m2 = buffer(message_2)?;
        let cred = rs.credential()?;
        let inner = self.inner;
        guarded(move || {
            let (processing, c_r, id_cred_r, ead_2) =
                inner.parse_message_2(&m2).map_err(lakers_error)?;
            if ead_2.is_some_and(|e| e.is_critical) {
                return Err(EdhocError::CriticalEad);
            }
            let cred_r = credential_check_or_fetch(Some(cred), id_cred_r).map_err(lakers_error)?;
            let processed = processing.verify_message_2(cred_r).map_err(lakers_error)?;
            let (_wait_m4, m3, mut prk_out) = processed
                .prepare_message_3(CredentialTransfer::ByReference, &None)
                .map_err(lakers_error)?;
            let done = InitiatorDone {
                c_r: c_r.as_cbor().to_vec(),
                message_3: m3.as_slice().to_vec(),
                prk_out: PrkOut::new(prk_out),
            };
            prk_out.zeroize();
            Ok(done)
        })
    }
}

/// The RS waiting for message_3. `Debug` never shows lakers' state.
///
/// Kept as lakers' plain `WaitM3` data (its low-level API), not its
/// consuming `EdhocResponderWaitM3`: a message_3 that fails before it
/// decrypts (anyone can post one) must not end the exchange, so every
/// attempt runs on a copy. Once a message_3 decrypts under K_3, which only
/// the exchange's Initiator can produce, the exchange is spent whatever
/// follows (RFC 9528 §5.4.3); likewise after a lakers panic.
pub struct ResponderWaitM3 {
    state: WaitM3,
    crypto: EdhocCrypto,
    spent: bool,
}

impl core::fmt::Debug for ResponderWaitM3 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ResponderWaitM3(<redacted>)")
    }
}

fn wipe_wait_m3(s: &mut WaitM3) {
    s.y.zeroize();
    s.prk_3e2m.zeroize();
}

impl Drop for ResponderWaitM3 {
    fn drop(&mut self) {
        wipe_wait_m3(&mut self.state);
    }
}

/// The RS answers message_1 as Responder (RFC 9528 §5.2.3, §5.3.2) with its
/// static key, C_R = `c_r` (the identifier's bytes, RFC 9528 §3.3.2) and
/// ID_CRED_R by reference: returns the state and message_2. message_1 is
/// framing-checked first (lakers 0.8 panics on some malformed ones).
pub fn respond(
    rng: StdRng,
    key: &StaticKey,
    message_1: &[u8],
    c_r: &[u8],
) -> Result<(ResponderWaitM3, Vec<u8>), EdhocError> {
    check_message_1(message_1)?;
    respond_unchecked(rng, key, message_1, c_r)
}

/// [`respond`] without the framing check (lakers' panics are still caught).
fn respond_unchecked(
    rng: StdRng,
    key: &StaticKey,
    message_1: &[u8],
    c_r: &[u8],
) -> Result<(ResponderWaitM3, Vec<u8>), EdhocError> {
    let m1 = buffer(message_1)?;
    let c_r = guarded(|| Ok(ConnId::from_slice(c_r)))?.ok_or(EdhocError::Key("C_R too long"))?;
    let cred_r = key.public.credential()?;
    guarded(move || {
        let mut crypto = Crypto::new(Rng06(rng));
        let (y, g_y) = crypto.p256_generate_key_pair();
        let mut start = ResponderStart {
            method: EDHOCMethod::StatStat.into(),
            y,
            g_y,
        };
        let processed = r_process_message_1(&start, &mut crypto, &m1).map_err(lakers_error);
        start.y.zeroize();
        let (mut processing, _c_i, ead_1) = processed?;
        let prepared = if ead_1.is_some_and(|e| e.is_critical) {
            Err(EdhocError::CriticalEad)
        } else {
            r_prepare_message_2(
                &processing,
                &mut crypto,
                cred_r,
                &key.private,
                c_r,
                CredentialTransfer::ByReference,
                &None,
            )
            .map_err(lakers_error)
        };
        processing.y.zeroize();
        let (state, m2) = prepared?;
        Ok((
            ResponderWaitM3 {
                state,
                crypto,
                spent: false,
            },
            m2.as_slice().to_vec(),
        ))
    })
}

impl ResponderWaitM3 {
    /// Processes message_3 (RFC 9528 §5.4.3): ID_CRED_I must reference
    /// `client` (the COSE_Key of the token's `cnf`), MAC_3 must verify with
    /// it. Returns PRK_out; message_4 is not used.
    ///
    /// A message_3 that is malformed or fails AEAD decryption leaves the
    /// exchange as it was (it may come from anyone); from decryption on, the
    /// exchange is spent ([`Self::is_spent`]) whatever the outcome, and so it
    /// is after a lakers panic. A spent exchange answers [`EdhocError::Spent`].
    pub fn process_message_3(
        &mut self,
        message_3: &[u8],
        client: &PublicKey,
    ) -> Result<PrkOut, EdhocError> {
        if self.spent {
            return Err(EdhocError::Spent);
        }
        // CIPHERTEXT_3: at least ID_CRED_I, MAC_3 and the 8-byte AEAD tag.
        check_single_bstr(message_3, 1 + 8 + 8)?;
        let m3 = buffer(message_3)?;
        let cred = client.credential()?;
        // Decrypt and decode on a copy: lakers' state stays untouched.
        let mut copy = WaitM3 {
            y: self.state.y,
            prk_3e2m: self.state.prk_3e2m,
            th_3: self.state.th_3,
        };
        let crypto = &mut self.crypto;
        let parsed = guarded(|| r_parse_message_3(&mut copy, crypto, &m3).map_err(lakers_error));
        wipe_wait_m3(&mut copy);
        let (mut processing, id_cred_i, ead_3) = match parsed {
            Ok(p) => p,
            // The AEAD tag did not verify (lakers' RustCrypto backend): not
            // authenticated, not the end of the exchange.
            Err(e) if e == lakers_error(EDHOCError::MacVerificationFailed) => return Err(e),
            Err(e) => {
                self.spend();
                return Err(e);
            }
        };
        self.spend();
        let verified = guarded(|| {
            if ead_3.is_some_and(|e| e.is_critical) {
                return Err(EdhocError::CriticalEad);
            }
            let cred_i = credential_check_or_fetch(Some(cred), id_cred_i).map_err(lakers_error)?;
            r_verify_message_3(&mut processing, &mut self.crypto, cred_i).map_err(lakers_error)
        });
        processing.y.zeroize();
        processing.prk_3e2m.zeroize();
        let (mut processed, mut prk_out) = verified?;
        let out = PrkOut::new(prk_out);
        prk_out.zeroize();
        processed.prk_4e3m.zeroize();
        processed.prk_out.zeroize();
        processed.prk_exporter.zeroize();
        Ok(out)
    }

    /// Whether this exchange has ended: message_3 was accepted, or failed
    /// after it decrypted, or lakers panicked on it. The RS drops it then.
    pub fn is_spent(&self) -> bool {
        self.spent
    }

    fn spend(&mut self) {
        self.spent = true;
        wipe_wait_m3(&mut self.state);
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
        let (mut wait_m3, m2) = respond(StdRng::seed_from_u64(3), &rs, &m1, &[0x05]).unwrap();
        let done = wait_m2.process_message_2(&m2, rs.public()).unwrap();
        assert_eq!(done.c_r, vec![0x05]);
        let req = done.message_3_request();
        let (c_r, m3) = parse_message_3_request(&req).unwrap();
        assert_eq!(c_r, &[0x05]);
        let prk_rs = wait_m3.process_message_3(m3, c.public()).unwrap();
        assert!(wait_m3.is_spent());
        assert_eq!(
            wait_m3.process_message_3(m3, c.public()).unwrap_err(),
            EdhocError::Spent
        );
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

    fn keys() -> (StaticKey, StaticKey) {
        let mut rng = StdRng::seed_from_u64(1);
        let c = StaticKey::generate(&mut rng, vec![0x2b]).unwrap();
        let rs = StaticKey::generate(&mut rng, vec![0x32]).unwrap();
        (c, rs)
    }

    /// The reviewer's trigger: SUITES_I = `98 00`, an empty array with a
    /// non-preferred header, which lakers 0.8 indexes at `len - 1`.
    fn empty_suites_message_1() -> Vec<u8> {
        let mut m = vec![0x03, 0x98, 0x00, 0x58, 0x20];
        m.extend_from_slice(&[0x11; 32]);
        m.push(0x00);
        m
    }

    fn genuine_message_1() -> Vec<u8> {
        let (c, _) = keys();
        initiate(StdRng::seed_from_u64(2), &c).unwrap().1
    }

    /// A 32-byte string that is no P-256 x-coordinate.
    fn off_curve_x() -> [u8; 32] {
        (0u8..=255)
            .map(|k| {
                let mut x = [0u8; 32];
                x[31] = k;
                x
            })
            .find(|x| !is_p256_x(x))
            .unwrap()
    }

    #[test]
    fn lakers_bounds_match_the_framing_checks() {
        assert!(ConnId::from_slice(&[0xaa; MAX_CONN_ID_BSTR_LEN]).is_some());
        assert!(ConnId::from_slice(&[0xaa; MAX_CONN_ID_BSTR_LEN + 1]).is_none());
        assert_eq!(usize::from(MAX_SUITES), lakers::MAX_SUITES_LEN);
    }

    #[test]
    fn message_1_framing_accepts_what_initiators_send() {
        let m1 = genuine_message_1();
        check_message_1(&m1).unwrap();
        // RFC 9529 §3's message_1: SUITES_I [6, 2], C_I -24.
        let rfc = hex::decode(
            "0382060258208af6f430ebe18d34184017a9a11bf511c8dff8f834730b96c1b7c8dbca2fc3b637",
        )
        .unwrap();
        check_message_1(&rfc).unwrap();
        // A byte-string C_I of 7 bytes, and an EAD_1 after it.
        let mut m = m1[..m1.len() - 1].to_vec();
        m.push(0x47);
        m.extend_from_slice(&[9; 7]);
        check_message_1(&m).unwrap();
        m.extend_from_slice(&[0x01, 0x41, 0x00]);
        check_message_1(&m).unwrap();
    }

    #[test]
    fn message_1_framing_rejects_what_panics_lakers() {
        let (_, rs) = keys();
        let good = genuine_message_1();
        let g_x = &good[good.len() - 33..good.len() - 1];
        let with = |suites: &[u8], x: &[u8], c_i: &[u8]| {
            let mut m = vec![0x03];
            m.extend_from_slice(suites);
            m.extend_from_slice(&[0x58, 0x20]);
            m.extend_from_slice(x);
            m.extend_from_slice(c_i);
            m
        };
        let mut long_c_i = vec![0x48];
        long_c_i.extend_from_slice(&[7; 8]);
        let bad = [
            empty_suites_message_1(),
            with(&[0x98, 0x00], g_x, &[0x00]),
            with(&[0x80], g_x, &[0x00]),
            with(&[0x81, 0x02], g_x, &[0x00]),
            with(&[0x8a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], g_x, &[0x00]),
            with(&[0x82, 0x19, 0x00, 0x02, 0x02], g_x, &[0x00]),
            with(&[0x02], &off_curve_x(), &[0x00]),
            with(&[0x02], g_x, &long_c_i),
            with(&[0x02], g_x, &[0x43, 1]),
            with(&[0x02], g_x, &[]),
            with(&[0x02], &g_x[..31], &[]),
            vec![0x03, 0x02, 0x58, 0x20, 0x00],
            vec![],
        ];
        for m in &bad {
            let e = respond(StdRng::seed_from_u64(3), &rs, m, &[0x05]).unwrap_err();
            assert!(
                matches!(e, EdhocError::Protocol(ref d) if d.starts_with("message_1")),
                "{}: {e:?}",
                hex::encode(m)
            );
        }
    }

    /// Finding 2's catch path, with the framing check bypassed: lakers
    /// panics, the panic becomes `Internal`, and is counted.
    #[test]
    fn a_lakers_panic_on_message_1_becomes_an_error() {
        let (_, rs) = keys();
        let good = genuine_message_1();
        let g_x = &good[good.len() - 33..good.len() - 1];
        let mut off_curve = vec![0x03, 0x02, 0x58, 0x20];
        off_curve.extend_from_slice(&off_curve_x());
        off_curve.push(0x00);
        let mut long_c_i = vec![0x03, 0x02, 0x58, 0x20];
        long_c_i.extend_from_slice(g_x);
        long_c_i.push(0x48);
        long_c_i.extend_from_slice(&[7; 8]);
        for m in [empty_suites_message_1(), off_curve, long_c_i] {
            let before = lakers_panics();
            let e = respond_unchecked(StdRng::seed_from_u64(3), &rs, &m, &[0x05]).unwrap_err();
            assert_eq!(e, EdhocError::Internal, "{}", hex::encode(&m));
            assert!(lakers_panics() > before);
        }
    }

    /// message_3 = bstr(AEAD(K_3, IV_3, Enc_structure(TH_3), plaintext_3))
    /// under the exchange's own keys (RFC 9528 §5.4.2): what only the
    /// Initiator of this exchange can produce.
    fn message_3_with_plaintext(wait: &ResponderWaitM3, plaintext_3: &[u8]) -> Vec<u8> {
        let (prk, th_3) = (&wait.state.prk_3e2m, &wait.state.th_3);
        let k_3: [u8; 16] = edhoc_kdf(prk, 3, th_3, 16)[..].try_into().unwrap();
        let iv_3: [u8; 13] = edhoc_kdf(prk, 4, th_3, 13)[..].try_into().unwrap();
        let mut ad = vec![0x83, 0x68];
        ad.extend_from_slice(b"Encrypt0");
        ad.extend_from_slice(&[0x40, 0x58, 0x20]);
        ad.extend_from_slice(th_3);
        let pt = EdhocMessageBuffer::new_from_slice(plaintext_3).unwrap();
        let mut crypto = Crypto::new(Rng06(seeded_rng(0)));
        let ct = crypto.aes_ccm_encrypt_tag_8(&k_3, &iv_3, &ad, &pt);
        let mut m3 = Vec::new();
        push_bstr_header(&mut m3, ct.len);
        m3.extend_from_slice(ct.as_slice());
        m3
    }

    #[test]
    fn a_map_header_that_overflows_lakers_in_plaintext_3_is_caught_and_ends_the_exchange() {
        let (c, rs) = keys();
        let (wait_m2, m1) = initiate(StdRng::seed_from_u64(2), &c).unwrap();
        let (mut wait_m3, m2) = respond(StdRng::seed_from_u64(3), &rs, &m1, &[0x05]).unwrap();
        let done = wait_m2.process_message_2(&m2, rs.public()).unwrap();
        // ID_CRED_I = a map of 255 pairs: lakers' `any_as_encoded` computes
        // 255 * 2 in a u8.
        let mut pt = vec![0xb8, 0xff];
        pt.extend_from_slice(&[0x48, 0, 0, 0, 0, 0, 0, 0, 0]);
        let evil = message_3_with_plaintext(&wait_m3, &pt);
        let e = wait_m3.process_message_3(&evil, c.public()).unwrap_err();
        if cfg!(debug_assertions) {
            // Overflow checks on: lakers panicked.
            assert_eq!(e, EdhocError::Internal);
        }
        assert!(wait_m3.is_spent(), "decrypted under K_3: the exchange ends");
        assert_eq!(
            wait_m3
                .process_message_3(&done.message_3, c.public())
                .unwrap_err(),
            EdhocError::Spent,
            "the state a panic ran on is never used again"
        );
        assert_eq!(wait_m3.state.prk_3e2m, [0; 32], "wiped");
    }

    #[test]
    fn message_3_that_fails_before_decryption_leaves_the_exchange_waiting() {
        let (c, rs) = keys();
        let (wait_m2, m1) = initiate(StdRng::seed_from_u64(2), &c).unwrap();
        let (mut wait_m3, m2) = respond(StdRng::seed_from_u64(3), &rs, &m1, &[0x05]).unwrap();
        let done = wait_m2.process_message_2(&m2, rs.public()).unwrap();
        let mut bad = done.message_3.clone();
        *bad.last_mut().unwrap() ^= 1;
        for m in [bad.as_slice(), &[0x41, 0x00], &[0x58, 0x30, 1, 2]] {
            assert!(wait_m3.process_message_3(m, c.public()).is_err());
            assert!(!wait_m3.is_spent());
        }
        let prk = wait_m3
            .process_message_3(&done.message_3, c.public())
            .unwrap();
        assert_eq!(prk.as_bytes(), done.prk_out.as_bytes());
    }

    #[test]
    fn message_3_that_decrypts_but_fails_ends_the_exchange() {
        let (c, rs) = keys();
        let other = StaticKey::generate(&mut StdRng::seed_from_u64(77), vec![0x2b]).unwrap();
        let (wait_m2, m1) = initiate(StdRng::seed_from_u64(2), &c).unwrap();
        let (mut wait_m3, m2) = respond(StdRng::seed_from_u64(3), &rs, &m1, &[0x05]).unwrap();
        let done = wait_m2.process_message_2(&m2, rs.public()).unwrap();
        // MAC_3 does not verify with the key the token names.
        assert!(wait_m3
            .process_message_3(&done.message_3, other.public())
            .is_err());
        assert!(wait_m3.is_spent());
        assert_eq!(
            wait_m3
                .process_message_3(&done.message_3, c.public())
                .unwrap_err(),
            EdhocError::Spent
        );
    }

    /// message_2 = bstr(G_Y ‖ plaintext_2 XOR KEYSTREAM_2) for this
    /// message_1 (RFC 9528 §5.3.2): what anyone answering C can send.
    fn message_2_with_plaintext(message_1: &[u8], plaintext_2: &[u8]) -> Vec<u8> {
        let mut crypto = Crypto::new(Rng06(seeded_rng(5)));
        let (y, g_y) = crypto.p256_generate_key_pair();
        let start = ResponderStart { method: 3, y, g_y };
        let m1 = EdhocMessageBuffer::new_from_slice(message_1).unwrap();
        let (p, _, _) = r_process_message_1(&start, &mut crypto, &m1).unwrap();
        let mut th_input = vec![0x58, 0x20];
        th_input.extend_from_slice(&g_y);
        th_input.extend_from_slice(&[0x58, 0x20]);
        th_input.extend_from_slice(&p.h_message_1);
        let th_2: [u8; 32] = Sha256::digest(&th_input).into();
        let g_xy = crypto.p256_ecdh(&y, &p.g_x);
        let prk_2e = crypto.hkdf_extract(&th_2, &g_xy);
        let ks = edhoc_kdf(&prk_2e, 0, &th_2, plaintext_2.len());
        let mut body = g_y.to_vec();
        body.extend(plaintext_2.iter().zip(ks.iter()).map(|(a, b)| a ^ b));
        let mut m2 = Vec::new();
        push_bstr_header(&mut m2, body.len());
        m2.extend_from_slice(&body);
        m2
    }

    #[test]
    fn a_plaintext_2_that_panics_lakers_is_an_error_for_the_initiator() {
        let (c, rs) = keys();
        let mut map = vec![0x05, 0xb8, 0xff];
        map.extend_from_slice(&[0x48, 0, 0, 0, 0, 0, 0, 0, 0]);
        let mut long_c_r = vec![0x48, 1, 2, 3, 4, 5, 6, 7, 8];
        long_c_r.extend_from_slice(&[0x41, 0x32, 0x48, 0, 0, 0, 0, 0, 0, 0, 0]);
        for (pt, always) in [(map, false), (long_c_r, true)] {
            let (wait_m2, m1) = initiate(StdRng::seed_from_u64(2), &c).unwrap();
            let m2 = message_2_with_plaintext(&m1, &pt);
            let e = wait_m2.process_message_2(&m2, rs.public()).unwrap_err();
            if always || cfg!(debug_assertions) {
                assert_eq!(e, EdhocError::Internal, "{}", hex::encode(&pt));
            }
        }
    }

    #[test]
    fn message_2_with_g_y_off_the_curve_is_refused_before_lakers() {
        let (c, rs) = keys();
        let (wait_m2, _m1) = initiate(StdRng::seed_from_u64(2), &c).unwrap();
        let mut m2 = vec![0x58, 42];
        m2.extend_from_slice(&off_curve_x());
        m2.extend_from_slice(&[0; 10]);
        let e = wait_m2.process_message_2(&m2, rs.public()).unwrap_err();
        assert!(
            matches!(e, EdhocError::Protocol(ref d) if d.contains("G_Y")),
            "{e:?}"
        );
    }
}
