//! `[ike]` in `ace-ipsec gateway`: IKEv2 (the sans-IO `ikev2::Endpoint`)
//! sets the gateway's SA pairs up, rekeys and deletes them.
//!
//! The driver is thin: a UDP socket on the IKE port (500), and the NAT-T
//! port shared with the data path's ESP-in-UDP socket (RFC 3948: the data
//! path keeps ESP whose SPI it owns and hands everything else back —
//! IKE behind the non-ESP marker, keepalives, unknown SPIs). It feeds the
//! endpoint datagrams and the time, sends its transmits, and turns its
//! events into data-path changes:
//!
//! * `ChildSaUp` → an SA pair (suite, SPIs, keying material, tunnel or
//!   transport mode, the peer's NAT-T address, the narrowed traffic
//!   selectors as PROTECT policies); with `rekeyed_from`, the new SAs join
//!   the old pair: outbound moves to the new SA at once, both inbound SAs
//!   are accepted until the old one is deleted.
//! * `ChildSaDeleted` → that inbound SA goes; the pair goes with its last
//!   SA. `IkeSaDown` → every pair of that IKE SA goes.
//!
//! Test commands arrive on an optional Unix datagram socket (`control`):
//! `rekey-child`, `rekey-ike`, `delete-child`, `delete`, `initiate`,
//! `status` (one word per datagram; each acts on every IKE SA).
//!
//! Nothing secret is logged: SPIs, suites, identities and counters only.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ikev2::config::key_id;
use ikev2::consts::{DhGroup, EncrId, IdType, IntegId, PrfId};
use ikev2::crypto::{P256PublicKey, P256SigningKey};
use ikev2::payload::ts::TsRange;
use ikev2::payload::{IdRepr, TrafficSelector};
use ikev2::{
    ChildPolicy, ChildSa, ChildSuite, Config, Credential, Endpoint, Event, IkeSaId, IkeSuite,
    InitiatorParams, PeerAuth, PeerEntry, Secret,
};
use ipsec_dp::encap::{classify, Classified};
use ipsec_dp::keys::SaKeys;
use ipsec_dp::mode::EspEncap;
use ipsec_dp::sa::{InboundSa, OutboundSa};
use ipsec_dp::spd::{AddrSelector, PortRange, SaRef, Selector};
use ipsec_dp::suite::EspSuite;
use ipsec_gw::{Mode, SplitPair, Zeroizing};
use serde::Deserialize;

use super::datapath::{throttled, Control};
use crate::config::ConfigError;

/// `[ike]`: one peer, as initiator or responder.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IkeToml {
    /// "initiator" or "responder".
    pub role: String,
    /// Our IKE address (port 500); a specific address, like `udp_listen`.
    pub listen: SocketAddr,
    /// The peer's IKE address (initiator: where IKE_SA_INIT goes).
    pub peer: Option<SocketAddr>,
    /// Our identity: `keyid:TEXT`, `keyid:#HEX`, `@#HEX` (ID_KEY_ID),
    /// `fqdn:NAME` or `@NAME` (ID_FQDN).
    pub local_id: String,
    /// The peer's identity (responder: required, the IDi it must send;
    /// initiator: the IDr it must send, any if absent).
    pub remote_id: Option<String>,
    /// Shared key, hex (AUTH method 2).
    pub psk: Option<String>,
    /// Our P-256 private scalar, 64 hex digits (raw public keys).
    pub private_key: Option<String>,
    /// The peer's P-256 public key, hex 04|x|y.
    pub peer_public_key: Option<String>,
    /// "tunnel" (default) or "transport".
    pub mode: Option<String>,
    /// Our side's traffic (prefixes, e.g. "10.98.1.1/32").
    pub local_ts: Vec<String>,
    /// The peer's side's traffic.
    pub remote_ts: Vec<String>,
    /// IKE proposals, e.g. "aes128gcm16-prfsha256-x25519" (default: the
    /// endpoint's list).
    pub proposals: Option<Vec<String>>,
    /// ESP proposals, e.g. "aes128gcm16" or "aes256gcm16-ecp256" (a group:
    /// PFS in Child SA rekeys).
    pub esp_proposals: Option<Vec<String>>,
    /// Child SA lifetime in seconds (the initiator rekeys at 90 %); default 3600.
    pub child_lifetime: Option<u64>,
    /// Rekey the IKE SA after this many seconds (default: never).
    pub ike_rekey_after: Option<u64>,
    /// Liveness check after this many idle seconds (default: none).
    pub dpd: Option<u64>,
    /// A Unix datagram socket for test commands (see the module doc).
    pub control: Option<PathBuf>,
}

/// A validated `[ike]` table.
pub struct IkeSettings {
    pub cfg: Config,
    pub listen: SocketAddr,
    pub initiator: Option<(SocketAddr, InitiatorParams)>,
    pub responder: Option<PeerEntry>,
    pub control: Option<PathBuf>,
}

fn err(file: &Path, key: &str, msg: impl Into<String>) -> ConfigError {
    ConfigError {
        file: file.to_path_buf(),
        key: format!("ike.{key}"),
        msg: msg.into(),
    }
}

/// `keyid:kid-01`, `keyid:#6b69`, `@#6b69` → ID_KEY_ID; `fqdn:x`, `@x` → ID_FQDN.
pub fn parse_id(s: &str) -> Result<IdRepr, String> {
    let hex_or_text = |v: &str| -> Result<Vec<u8>, String> {
        match v.strip_prefix('#') {
            Some(h) => hex::decode(h).map_err(|e| format!("{s:?}: {e}")),
            None => Ok(v.as_bytes().to_vec()),
        }
    };
    let id = if let Some(v) = s.strip_prefix("keyid:") {
        key_id(&hex_or_text(v)?)
    } else if let Some(h) = s.strip_prefix("@#") {
        key_id(&hex::decode(h).map_err(|e| format!("{s:?}: {e}"))?)
    } else if let Some(v) = s.strip_prefix("fqdn:").or_else(|| s.strip_prefix('@')) {
        IdRepr {
            id_type: IdType::ID_FQDN,
            data: v.as_bytes().to_vec(),
        }
    } else {
        return Err(format!(
            "{s:?}: use keyid:NAME, keyid:#HEX, @#HEX, fqdn:NAME or @NAME"
        ));
    };
    if id.data.is_empty() {
        return Err(format!("{s:?}: empty identity"));
    }
    Ok(id)
}

/// An identity for logs: the type and the text (or hex).
pub fn show_id(id: &IdRepr) -> String {
    let kind = match id.id_type {
        IdType::ID_KEY_ID => "keyid",
        IdType::ID_FQDN => "fqdn",
        _ => "id",
    };
    match std::str::from_utf8(&id.data) {
        Ok(t) if t.chars().all(|c| c.is_ascii_graphic()) => format!("{kind}:{t}"),
        _ => format!("{kind}:#{}", hex::encode(&id.data)),
    }
}

fn dh_name(s: &str) -> Option<DhGroup> {
    match s {
        "x25519" | "curve25519" => Some(DhGroup::CURVE25519),
        "ecp256" => Some(DhGroup::ECP_256),
        _ => None,
    }
}

/// strongSwan-style IKE proposal names: `aes128gcm16-prfsha256-x25519`,
/// `aes256-sha256-ecp256` (AES-CBC with HMAC-SHA-256-128 and PRF SHA-256).
pub fn parse_ike_proposal(s: &str) -> Result<IkeSuite, String> {
    let bad = || format!("{s:?}: e.g. aes128gcm16-prfsha256-x25519 or aes256-sha256-ecp256");
    let parts: Vec<&str> = s.split('-').collect();
    let [encr, prf, dh] = parts.as_slice() else {
        return Err(bad());
    };
    let dh = dh_name(dh).ok_or_else(bad)?;
    let (encr, key_bits, integ) = match *encr {
        "aes128gcm16" => (EncrId::ENCR_AES_GCM_16, 128, IntegId::NONE),
        "aes256gcm16" => (EncrId::ENCR_AES_GCM_16, 256, IntegId::NONE),
        "aes128" => (EncrId::ENCR_AES_CBC, 128, IntegId::AUTH_HMAC_SHA2_256_128),
        "aes256" => (EncrId::ENCR_AES_CBC, 256, IntegId::AUTH_HMAC_SHA2_256_128),
        _ => return Err(bad()),
    };
    let ok_prf = if integ == IntegId::NONE {
        *prf == "prfsha256"
    } else {
        *prf == "sha256"
    };
    if !ok_prf {
        return Err(bad());
    }
    Ok(IkeSuite {
        encr,
        key_bits: Some(key_bits),
        integ,
        prf: PrfId::PRF_HMAC_SHA2_256,
        dh,
    })
}

/// strongSwan-style ESP proposal names: `aes128gcm16`, `aes256gcm16`,
/// `aes128ccm8`, `aes256ccm8`, `chacha20poly1305`, `aes128-sha256`,
/// `aes256-sha256`, each optionally followed by a D-H group (PFS) and
/// `-esn`.
pub fn parse_esp_proposal(s: &str) -> Result<(ChildSuite, Option<DhGroup>), String> {
    let bad = || {
        format!(
            "{s:?}: e.g. aes128gcm16, aes256gcm16-ecp256, chacha20poly1305, aes128-sha256, \
             aes128ccm8"
        )
    };
    let mut parts: Vec<&str> = s.split('-').collect();
    let mut esn = false;
    if parts.last() == Some(&"esn") {
        esn = true;
        parts.pop();
    }
    let mut pfs = None;
    if let Some(g) = parts.last().and_then(|p| dh_name(p)) {
        pfs = Some(g);
        parts.pop();
    }
    let suite = match parts.as_slice() {
        ["aes128gcm16"] => ChildSuite::ESP_AES128GCM16,
        ["aes256gcm16"] => ChildSuite::ESP_AES256GCM16,
        ["aes128ccm8"] | ["aes128ccm64"] => ChildSuite::ESP_AES128CCM8,
        ["aes256ccm8"] | ["aes256ccm64"] => ChildSuite::ESP_AES256CCM8,
        ["chacha20poly1305"] => ChildSuite::ESP_CHACHA20POLY1305,
        ["aes128", "sha256"] => ChildSuite::ESP_AES128CBC_SHA256,
        ["aes256", "sha256"] => ChildSuite::ESP_AES256CBC_SHA256,
        _ => return Err(bad()),
    };
    Ok((suite.with_esn(esn), pfs))
}

/// The data plane's suite for a negotiated Child SA suite.
pub fn esp_suite(s: &ChildSuite) -> Option<EspSuite> {
    let (encr, bits) = s.encr?;
    let aead = s.integ == IntegId::NONE;
    let cbc_integ = s.integ == IntegId::AUTH_HMAC_SHA2_256_128;
    Some(match (encr, bits) {
        (EncrId::ENCR_AES_GCM_16, Some(128)) if aead => EspSuite::AesGcm16_128,
        (EncrId::ENCR_AES_GCM_16, Some(256)) if aead => EspSuite::AesGcm16_256,
        (EncrId::ENCR_AES_CCM_8, Some(128)) if aead => EspSuite::AesCcm8_128,
        (EncrId::ENCR_AES_CCM_8, Some(256)) if aead => EspSuite::AesCcm8_256,
        (EncrId::ENCR_AES_CCM_16, Some(128)) if aead => EspSuite::AesCcm16_128,
        (EncrId::ENCR_AES_CCM_16, Some(256)) if aead => EspSuite::AesCcm16_256,
        (EncrId::ENCR_CHACHA20_POLY1305, None | Some(256)) if aead => EspSuite::ChaCha20Poly1305,
        (EncrId::ENCR_AES_CBC, Some(128)) if cbc_integ => EspSuite::AesCbc128HmacSha256,
        (EncrId::ENCR_AES_CBC, Some(256)) if cbc_integ => EspSuite::AesCbc256HmacSha256,
        (EncrId::ENCR_NULL, None) if cbc_integ => EspSuite::NullHmacSha256,
        _ => return None,
    })
}

/// A prefix ("10.98.1.0/24", a bare address is a host) as a traffic
/// selector (any protocol and port).
fn ts_prefix(s: &str) -> Result<TrafficSelector, String> {
    let (a, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr: std::net::Ipv4Addr = a
        .parse()
        .map_err(|e| format!("{s:?}: {e} (IPv4 prefixes)"))?;
    let len: u32 = match len {
        Some(l) => l.parse().map_err(|e| format!("{s:?}: {e}"))?,
        None => 32,
    };
    if len > 32 {
        return Err(format!("{s:?}: prefix length above 32"));
    }
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    let lo = u32::from(addr) & mask;
    let hi = lo | !mask;
    Ok(TrafficSelector {
        range: TsRange::V4(lo.into(), hi.into()),
        ..TrafficSelector::any_v4()
    })
}

fn hex_bytes(
    file: &Path,
    key: &str,
    v: &str,
    len: usize,
) -> Result<Zeroizing<Vec<u8>>, ConfigError> {
    let b = Zeroizing::new(hex::decode(v).map_err(|e| err(file, key, e.to_string()))?);
    if b.len() != len {
        return Err(err(
            file,
            key,
            format!(
                "expected {} hex digits ({len} bytes), got {}",
                2 * len,
                v.len()
            ),
        ));
    }
    Ok(b)
}

impl IkeToml {
    /// Validates into the endpoint's configuration and the peer's entry;
    /// `natt` is the gateway's `udp_listen` (the NAT-T port, shared with
    /// ESP-in-UDP).
    pub fn settings(&self, file: &Path, natt: SocketAddr) -> Result<IkeSettings, ConfigError> {
        let e = |k: &str, m: String| err(file, k, m);
        let initiator = match self.role.as_str() {
            "initiator" => true,
            "responder" => false,
            other => return Err(e("role", format!("{other:?}: use initiator or responder"))),
        };
        if self.listen.ip().is_unspecified() {
            return Err(e("listen", "name the local address, not a wildcard".into()));
        }
        if self.listen.ip() != natt.ip() {
            return Err(e(
                "listen",
                format!(
                    "{}: must be udp_listen's address ({})",
                    self.listen,
                    natt.ip()
                ),
            ));
        }
        let local_id = parse_id(&self.local_id).map_err(|m| e("local_id", m))?;
        let remote_id = self
            .remote_id
            .as_deref()
            .map(parse_id)
            .transpose()
            .map_err(|m| e("remote_id", m))?;
        let (credential, peer_auth) = match (&self.psk, &self.private_key, &self.peer_public_key) {
            (Some(psk), None, None) => {
                let k = hex::decode(psk).map_err(|x| e("psk", x.to_string()))?;
                if k.len() < 16 {
                    return Err(e("psk", "at least 16 bytes (32 hex digits)".into()));
                }
                let k = Secret::new(k);
                (Credential::Psk(k.clone()), PeerAuth::Psk(k))
            }
            (None, Some(d), Some(q)) => {
                let d = hex_bytes(file, "private_key", d, 32)?;
                let mut scalar = Zeroizing::new([0u8; 32]);
                scalar.copy_from_slice(&d);
                let key = P256SigningKey::from_private_scalar(&scalar)
                    .map_err(|x| e("private_key", x.to_string()))?;
                let q = hex_bytes(file, "peer_public_key", q, 65)?;
                let peer = P256PublicKey::from_sec1_uncompressed(&q)
                    .map_err(|x| e("peer_public_key", x.to_string()))?;
                (Credential::P256(Arc::new(key)), PeerAuth::P256(peer))
            }
            _ => {
                return Err(e(
                    "psk",
                    "give either psk, or private_key and peer_public_key".into(),
                ))
            }
        };
        let mode = match self.mode.as_deref().unwrap_or("tunnel") {
            "tunnel" => ikev2::Mode::Tunnel,
            "transport" => ikev2::Mode::Transport,
            other => return Err(e("mode", format!("{other:?}: use tunnel or transport"))),
        };
        let ts = |k: &str, v: &[String]| -> Result<Vec<TrafficSelector>, ConfigError> {
            if v.is_empty() {
                return Err(e(k, "at least one prefix".into()));
            }
            v.iter()
                .enumerate()
                .map(|(i, s)| ts_prefix(s).map_err(|m| e(&format!("{k}[{i}]"), m)))
                .collect()
        };
        let child = ChildPolicy {
            mode,
            local_ts: ts("local_ts", &self.local_ts)?,
            remote_ts: ts("remote_ts", &self.remote_ts)?,
            lifetime: Duration::from_secs(self.child_lifetime.unwrap_or(3600).max(10)),
        };
        let mut cfg = Config {
            natt_port: natt.port(),
            ike_rekey_after: self.ike_rekey_after.map(Duration::from_secs),
            liveness_interval: self.dpd.map(Duration::from_secs),
            ..Config::default()
        };
        if let Some(p) = &self.proposals {
            cfg.ike_suites = p
                .iter()
                .enumerate()
                .map(|(i, s)| parse_ike_proposal(s).map_err(|m| e(&format!("proposals[{i}]"), m)))
                .collect::<Result<_, _>>()?;
            if cfg.ike_suites.is_empty() {
                return Err(e("proposals", "at least one".into()));
            }
        }
        if let Some(p) = &self.esp_proposals {
            let mut suites = Vec::new();
            let mut pfs = None;
            for (i, s) in p.iter().enumerate() {
                let k = format!("esp_proposals[{i}]");
                let (suite, g) = parse_esp_proposal(s).map_err(|m| e(&k, m))?;
                if i > 0 && g != pfs {
                    return Err(e(
                        &k,
                        "every ESP proposal must name the same D-H group".into(),
                    ));
                }
                pfs = g;
                suites.push(suite);
            }
            if suites.is_empty() {
                return Err(e("esp_proposals", "at least one".into()));
            }
            cfg.child_suites = suites;
            cfg.child_pfs = pfs;
        }
        let (initiator, responder) = if initiator {
            let peer = self
                .peer
                .ok_or_else(|| e("peer", "the initiator needs the peer's IKE address".into()))?;
            let params = InitiatorParams {
                local_id,
                credential,
                peer_id: remote_id,
                peer_auth,
                child,
                peer_natt_port: 4500,
                not_after: None,
                tag: 1,
            };
            (Some((peer, params)), None)
        } else {
            let id = remote_id.ok_or_else(|| {
                e(
                    "remote_id",
                    "the responder needs the IDi its peer sends".into(),
                )
            })?;
            let entry = PeerEntry {
                id,
                auth: peer_auth,
                local_id,
                credential,
                child,
                // Far enough: a configured peer has no token expiry.
                not_after: Instant::now() + Duration::from_secs(100 * 365 * 86_400),
                tag: 1,
            };
            (None, Some(entry))
        };
        Ok(IkeSettings {
            cfg,
            listen: self.listen,
            initiator,
            responder,
            control: self.control.clone(),
        })
    }
}

/// An address range of a traffic selector as an SPD address selector.
fn addr_selector(r: &TsRange) -> Option<AddrSelector> {
    match *r {
        TsRange::V4(lo, hi) => AddrSelector::range(IpAddr::V4(lo), IpAddr::V4(hi)).ok(),
        TsRange::V6(lo, hi) => AddrSelector::range(IpAddr::V6(lo), IpAddr::V6(hi)).ok(),
    }
}

/// RFC 4301 §4.4.1: the negotiated traffic selectors as PROTECT policies
/// (every local × remote combination).
pub fn selectors(local: &[TrafficSelector], remote: &[TrafficSelector]) -> Option<Vec<Selector>> {
    let mut out = Vec::new();
    for l in local {
        for r in remote {
            let mut s = Selector::between(addr_selector(&l.range)?, addr_selector(&r.range)?);
            // Both sides name one protocol; 0 is any.
            let proto = if l.ip_protocol != 0 {
                l.ip_protocol
            } else {
                r.ip_protocol
            };
            if proto != 0 {
                s = s.with_protocol(proto);
            }
            s = s
                .with_local_ports(PortRange {
                    lo: l.start_port,
                    hi: l.end_port,
                })
                .with_remote_ports(PortRange {
                    lo: r.start_port,
                    hi: r.end_port,
                });
            out.push(s);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Why a Child SA could not become an SA pair.
#[derive(Debug, thiserror::Error)]
pub enum PairError {
    #[error("Child SA suite not supported by the data path")]
    Suite,
    #[error("AH Child SAs are not supported by the IKE gateway")]
    Ah,
    #[error("Child SA without UDP encapsulation (the gateway sends ESP in UDP only)")]
    NotEncapsulated,
    #[error("traffic selectors not expressible as policies")]
    Selectors,
    #[error("keys: {0}")]
    Keys(String),
}

impl PairError {
    pub fn reason(&self) -> &'static str {
        match self {
            PairError::Suite => "child-suite",
            PairError::Ah => "child-ah",
            PairError::NotEncapsulated => "child-not-encap",
            PairError::Selectors => "child-selectors",
            PairError::Keys(_) => "child-keys",
        }
    }
}

/// A Child SA as the data path's SA pair under `sa_ref`: ESP in UDP to
/// the peer's NAT-T address, tunnel mode between the IKE SA's addresses.
pub fn child_pair(now: Instant, sa_ref: SaRef, c: &ChildSa) -> Result<SplitPair, PairError> {
    if c.protocol != ikev2::ProtocolId::ESP {
        return Err(PairError::Ah);
    }
    if !c.encap {
        return Err(PairError::NotEncapsulated);
    }
    let suite = esp_suite(&c.suite).ok_or(PairError::Suite)?;
    let keys =
        |k: &Secret| SaKeys::new(suite, k.as_bytes()).map_err(|e| PairError::Keys(e.to_string()));
    // The IKE layer rekeys and deletes; the data path's hard lifetime is
    // only the backstop if a DELETE never comes.
    let options = ipsec_gw::SaOptions {
        esn: c.suite.esn,
        lifetime: ipsec_gw::SaLifetime::hard_time(Some(c.lifetime.mul_f64(1.2))),
        ..ipsec_gw::SaOptions::default()
    };
    let inbound = InboundSa::with_options(c.spi_in, keys(&c.keymat_in)?, now, options)
        .map_err(|e| PairError::Keys(e.to_string()))?;
    let outbound = OutboundSa::with_options(c.spi_out, keys(&c.keymat_out)?, now, options)
        .map_err(|e| PairError::Keys(e.to_string()))?;
    let mode = match c.mode {
        ikev2::Mode::Transport => Mode::Transport,
        ikev2::Mode::Tunnel => Mode::Tunnel {
            local: c.local.ip(),
            remote: c.remote.ip(),
        },
    };
    let sels = selectors(&c.local_ts, &c.remote_ts).ok_or(PairError::Selectors)?;
    Ok(SplitPair::from_esp_sas(
        sa_ref,
        format!("ike{}-{:08x}", c.ike, c.spi_in),
        inbound,
        outbound,
        EspEncap::Udp,
        mode,
        c.remote,
        sels,
    ))
}

/// The pairs the driver installed: which IKE SA and pair each inbound SPI
/// belongs to.
#[derive(Default)]
pub struct Pairs {
    by_spi: HashMap<u32, (IkeSaId, SaRef)>,
    next_ref: u32,
}

/// What the data path must do for an event.
#[derive(Debug, PartialEq, Eq)]
pub enum PairChange {
    Install(SaRef),
    Rekey(SaRef),
    RemoveSpi(u32),
    Remove(SaRef),
}

impl Pairs {
    /// IKE pairs use references far from the static `[[pair]]`s'.
    const FIRST_REF: u32 = 0x4000_0000;

    fn pair_spis(&self, r: SaRef) -> usize {
        self.by_spi.values().filter(|(_, x)| *x == r).count()
    }

    /// A Child SA came up: its pair's reference (a rekey joins the old
    /// Child SA's pair).
    pub fn child_up(&mut self, c: &ChildSa) -> PairChange {
        if let Some((_, r)) = c
            .rekeyed_from
            .and_then(|old| self.by_spi.get(&old).copied())
        {
            self.by_spi.insert(c.spi_in, (c.ike, r));
            return PairChange::Rekey(r);
        }
        if self.next_ref < Self::FIRST_REF {
            self.next_ref = Self::FIRST_REF;
        }
        let r = SaRef(self.next_ref);
        self.next_ref = self.next_ref.wrapping_add(1).max(Self::FIRST_REF);
        self.by_spi.insert(c.spi_in, (c.ike, r));
        PairChange::Install(r)
    }

    /// A Child SA went: that SA, or the whole pair with its last SA.
    pub fn child_deleted(&mut self, spi_in: u32) -> Option<PairChange> {
        let (_, r) = self.by_spi.remove(&spi_in)?;
        Some(if self.pair_spis(r) == 0 {
            PairChange::Remove(r)
        } else {
            PairChange::RemoveSpi(spi_in)
        })
    }

    /// An IKE SA went: every pair it still had.
    pub fn ike_down(&mut self, sa: IkeSaId) -> Vec<PairChange> {
        let refs: HashSet<SaRef> = self
            .by_spi
            .values()
            .filter(|(i, _)| *i == sa)
            .map(|(_, r)| *r)
            .collect();
        self.by_spi.retain(|_, (i, _)| *i != sa);
        refs.into_iter().map(PairChange::Remove).collect()
    }

    /// The Child SAs of `old` now belong to `new`.
    pub fn ike_rekeyed(&mut self, old: IkeSaId, new: IkeSaId) {
        for (i, _) in self.by_spi.values_mut() {
            if *i == old {
                *i = new;
            }
        }
    }

    /// Installed inbound SPIs.
    pub fn len(&self) -> usize {
        self.by_spi.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_spi.is_empty()
    }
}

/// The running IKE side of the gateway.
pub struct IkeDriver {
    ep: Endpoint,
    sock: tokio::net::UdpSocket,
    listen: SocketAddr,
    natt: SocketAddr,
    control: Control,
    from_dp: tokio::sync::mpsc::Receiver<(SocketAddr, Vec<u8>)>,
    initiator: Option<(SocketAddr, InitiatorParams)>,
    commands: Option<tokio::net::UnixDatagram>,
    command_path: Option<PathBuf>,
    pairs: Pairs,
    ike_sas: HashSet<IkeSaId>,
    drops: BTreeMap<&'static str, u64>,
    /// The most half-open IKE SAs seen at once (for `status`).
    half_open_max: usize,
}

impl IkeDriver {
    /// Binds the IKE port and the control socket; `from_dp` receives what
    /// the data path does not own on the NAT-T socket `natt`.
    pub fn new(
        s: IkeSettings,
        natt: SocketAddr,
        control: Control,
        from_dp: tokio::sync::mpsc::Receiver<(SocketAddr, Vec<u8>)>,
    ) -> Result<Self, String> {
        let mut ep = Endpoint::new(s.cfg).map_err(|e| format!("IKE endpoint: {e}"))?;
        if let Some(entry) = s.responder {
            ep.authorize_peer(entry);
        }
        let std_sock = std::net::UdpSocket::bind(s.listen)
            .map_err(|e| format!("ike.listen {}: {e}", s.listen))?;
        std_sock
            .set_nonblocking(true)
            .map_err(|e| format!("ike.listen: {e}"))?;
        let sock =
            tokio::net::UdpSocket::from_std(std_sock).map_err(|e| format!("ike.listen: {e}"))?;
        let commands = match &s.control {
            Some(p) => {
                let _ = std::fs::remove_file(p);
                Some(
                    tokio::net::UnixDatagram::bind(p)
                        .map_err(|e| format!("ike.control {}: {e}", p.display()))?,
                )
            }
            None => None,
        };
        Ok(IkeDriver {
            ep,
            sock,
            listen: s.listen,
            natt,
            control,
            from_dp,
            initiator: s.initiator,
            commands,
            command_path: s.control,
            pairs: Pairs::default(),
            ike_sas: HashSet::new(),
            drops: BTreeMap::new(),
            half_open_max: 0,
        })
    }

    /// Counts a drop or failure by reason and logs it (throttled).
    fn count_drop(&mut self, reason: &'static str, what: &str) {
        let n = self.drops.entry(reason).or_insert(0);
        *n += 1;
        if throttled(*n) {
            tracing::warn!(reason, count = *n, "ike: {what}");
        }
    }

    fn initiate(&mut self) {
        let Some((peer, params)) = self.initiator.clone() else {
            tracing::warn!("ike: initiate: not an initiator");
            return;
        };
        match self.ep.initiate(Instant::now(), self.listen, peer, params) {
            Ok(sa) => tracing::info!(sa, %peer, "ike: IKE_SA_INIT sent"),
            Err(e) => tracing::error!(error = %e, "ike: initiate failed"),
        }
    }

    /// Runs until the data path or the sockets fail (never returns Ok).
    pub async fn run(mut self) -> String {
        if self.initiator.is_some() {
            self.initiate();
        }
        let mut buf = vec![0u8; 65_536];
        let mut cmd = [0u8; 256];
        loop {
            self.flush().await;
            let deadline = self
                .ep
                .poll_timeout()
                .map(tokio::time::Instant::from_std)
                .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
            let commands = self.commands.as_ref();
            tokio::select! {
                r = self.sock.recv_from(&mut buf) => match r {
                    Ok((n, src)) => {
                        let now = Instant::now();
                        self.ep.handle(now, self.listen, src, &buf[..n]);
                        self.half_open_max = self.half_open_max.max(self.ep.half_open());
                    }
                    Err(e) => self.count_drop("ike-recv-error", &e.to_string()),
                },
                d = self.from_dp.recv() => {
                    let Some((src, dgram)) = d else {
                        return "data path gone".into();
                    };
                    self.natt_datagram(src, &dgram);
                }
                c = async { match commands { Some(s) => s.recv(&mut cmd).await, None => std::future::pending().await } } => {
                    match c {
                        Ok(n) => {
                            let word = String::from_utf8_lossy(&cmd[..n]).trim().to_string();
                            self.command(&word);
                        }
                        Err(e) => self.count_drop("control-recv-error", &e.to_string()),
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    self.ep.handle_timeout(Instant::now());
                }
            }
        }
    }

    /// A datagram on the NAT-T port the data path did not own.
    fn natt_datagram(&mut self, src: SocketAddr, dgram: &[u8]) {
        match classify(dgram) {
            Ok(Classified::Ike(m)) => {
                self.ep.handle(Instant::now(), self.natt, src, m);
                self.half_open_max = self.half_open_max.max(self.ep.half_open());
            }
            Ok(Classified::Keepalive) => {}
            Ok(Classified::Esp(_)) => {
                self.count_drop("esp-unknown-spi", "ESP for an SPI no pair owns")
            }
            Err(_) => self.count_drop("natt-malformed", "malformed datagram on the NAT-T port"),
        }
    }

    /// A test command from the control socket.
    fn command(&mut self, word: &str) {
        let now = Instant::now();
        let sas: Vec<IkeSaId> = self.ike_sas.iter().copied().collect();
        tracing::info!(command = word, ike_sas = sas.len(), "ike: command");
        for sa in &sas {
            let r = match word {
                "rekey-child" => self
                    .ep
                    .child_spis(*sa)
                    .into_iter()
                    .try_for_each(|spi| self.ep.rekey_child(now, *sa, spi)),
                "delete-child" => self
                    .ep
                    .child_spis(*sa)
                    .into_iter()
                    .try_for_each(|spi| self.ep.delete_child(now, *sa, spi)),
                "rekey-ike" => self.ep.rekey_ike(now, *sa),
                "delete" => self.ep.delete_ike(now, *sa),
                _ => Ok(()),
            };
            if let Err(e) = r {
                tracing::warn!(sa, command = word, error = %e, "ike: command refused");
            }
        }
        match word {
            "initiate" => self.initiate(),
            "status" => self.status(),
            "rekey-child" | "delete-child" | "rekey-ike" | "delete" => {}
            other => tracing::warn!(command = other, "ike: unknown command"),
        }
    }

    fn status(&self) {
        tracing::info!(
            ike_sas = self.ike_sas.len(),
            child_sas = self.pairs.len(),
            sa_table = self.ep.sa_count(),
            half_open = self.ep.half_open(),
            half_open_max = self.half_open_max,
            counters = ?self.ep.counters(),
            drops = ?self.drops,
            "ike: status"
        );
    }

    /// Sends what the endpoint queued and applies its events.
    async fn flush(&mut self) {
        while let Some(t) = self.ep.poll_transmit() {
            if t.non_esp_marker {
                let mut d = Vec::with_capacity(t.payload.len() + 4);
                d.extend_from_slice(&[0; 4]);
                d.extend_from_slice(&t.payload);
                if let Err(e) = self.control.send_esp(t.remote, &d) {
                    self.count_drop("natt-send-error", &e.to_string());
                }
            } else if let Err(e) = self.sock.send_to(&t.payload, t.remote).await {
                self.count_drop("ike-send-error", &e.to_string());
            }
        }
        while let Some(ev) = self.ep.poll_event() {
            self.event(ev);
        }
    }

    fn event(&mut self, ev: Event) {
        match ev {
            Event::IkeSaUp {
                sa,
                role,
                peer_id,
                remote,
                ..
            } => {
                self.ike_sas.insert(sa);
                tracing::info!(sa, ?role, peer = %show_id(&peer_id), %remote, "ike: IKE SA up");
            }
            Event::ChildSaUp(c) => self.child_up(&c),
            Event::ChildSaDeleted {
                sa,
                spi_in,
                spi_out,
                ..
            } => {
                tracing::info!(
                    sa,
                    spi_in = %format_args!("{spi_in:08x}"),
                    spi_out = %format_args!("{spi_out:08x}"),
                    "ike: Child SA deleted"
                );
                if let Some(ch) = self.pairs.child_deleted(spi_in) {
                    self.apply_removal(ch);
                }
            }
            Event::ChildSaFailed { sa, failure, .. } => {
                self.count_drop("child-failed", "Child SA failed");
                tracing::warn!(sa, ?failure, "ike: Child SA failed");
            }
            Event::IkeSaRekeyed { old, new } => {
                self.ike_sas.remove(&old);
                self.ike_sas.insert(new);
                self.pairs.ike_rekeyed(old, new);
                tracing::info!(old, new, "ike: IKE SA rekeyed");
            }
            Event::IkeSaDown { sa, reason, .. } => {
                self.ike_sas.remove(&sa);
                tracing::info!(sa, ?reason, "ike: IKE SA down");
                for ch in self.pairs.ike_down(sa) {
                    self.apply_removal(ch);
                }
            }
            Event::Failed {
                sa,
                remote,
                failure,
                ..
            } => {
                self.count_drop("ike-failed", "IKE SA setup failed");
                tracing::warn!(sa, %remote, ?failure, "ike: IKE SA setup failed");
            }
        }
    }

    fn apply_removal(&mut self, ch: PairChange) {
        match ch {
            PairChange::Remove(r) => {
                tracing::info!(pair = r.0, "ike: pair removed");
                self.control.remove(r);
            }
            PairChange::RemoveSpi(spi) => {
                tracing::info!(spi_in = %format_args!("{spi:08x}"), "ike: old SA removed, pair continues");
                self.control.remove_spi(spi);
            }
            PairChange::Install(_) | PairChange::Rekey(_) => {}
        }
    }

    fn child_up(&mut self, c: &ChildSa) {
        let change = self.pairs.child_up(c);
        let sa_ref = match change {
            PairChange::Install(r) | PairChange::Rekey(r) => r,
            _ => return,
        };
        match child_pair(Instant::now(), sa_ref, c) {
            Ok(pair) => {
                tracing::info!(
                    sa = c.ike,
                    spi_in = %format_args!("{:08x}", c.spi_in),
                    spi_out = %format_args!("{:08x}", c.spi_out),
                    suite = %esp_suite(&c.suite).map_or("?", |s| s.name()),
                    mode = ?c.mode,
                    peer = %c.remote,
                    rekeyed_from = %c.rekeyed_from.map(|s| format!("{s:08x}")).unwrap_or_default(),
                    pair = sa_ref.0,
                    "ike: Child SA up"
                );
                if matches!(change, PairChange::Rekey(_)) {
                    self.control.rekey(pair);
                } else {
                    self.control.install(pair);
                }
            }
            Err(e) => {
                self.pairs.child_deleted(c.spi_in);
                self.count_drop(e.reason(), &e.to_string());
                // The peer would send into a void: delete the Child SA.
                let _ = self.ep.delete_child(Instant::now(), c.ike, c.spi_in);
            }
        }
    }
}

impl Drop for IkeDriver {
    fn drop(&mut self) {
        self.status();
        if let Some(p) = &self.command_path {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_parse_like_strongswan_writes_them() {
        assert_eq!(parse_id("keyid:kid-01").unwrap(), key_id(b"kid-01"));
        assert_eq!(parse_id("@#6b69642d3031").unwrap(), key_id(b"kid-01"));
        assert_eq!(parse_id("keyid:#6b69").unwrap(), key_id(b"ki"));
        let f = parse_id("@rs.example").unwrap();
        assert_eq!(f.id_type, IdType::ID_FQDN);
        assert_eq!(show_id(&f), "fqdn:rs.example");
        assert!(parse_id("rs.example").is_err());
        assert!(parse_id("keyid:").is_err());
        assert!(parse_id("@#zz").is_err());
    }

    #[test]
    fn proposals_parse_and_map_to_the_data_plane() {
        assert_eq!(
            parse_ike_proposal("aes128gcm16-prfsha256-x25519").unwrap(),
            IkeSuite::AES128GCM_SHA256_X25519
        );
        assert_eq!(
            parse_ike_proposal("aes256-sha256-ecp256").unwrap(),
            IkeSuite::AES256CBC_SHA256_P256
        );
        assert!(parse_ike_proposal("aes128gcm16-sha256-x25519").is_err());
        assert!(parse_ike_proposal("3des-md5-modp1024").is_err());
        let (s, g) = parse_esp_proposal("aes256gcm16-ecp256").unwrap();
        assert_eq!(
            (s, g),
            (ChildSuite::ESP_AES256GCM16, Some(DhGroup::ECP_256))
        );
        assert_eq!(esp_suite(&s), Some(EspSuite::AesGcm16_256));
        let (s, g) = parse_esp_proposal("aes128-sha256").unwrap();
        assert_eq!(g, None);
        assert_eq!(esp_suite(&s), Some(EspSuite::AesCbc128HmacSha256));
        assert!(parse_esp_proposal("aes128gcm16-esn").unwrap().0.esn);
        assert!(parse_esp_proposal("blowfish").is_err());
        for s in [
            ChildSuite::ESP_AES128GCM16,
            ChildSuite::ESP_AES128CCM8,
            ChildSuite::ESP_AES256CCM8,
            ChildSuite::ESP_CHACHA20POLY1305,
            ChildSuite::ESP_AES256CBC_SHA256,
        ] {
            let e = esp_suite(&s).unwrap();
            assert_eq!(s.cipher().unwrap().keymat_len(), e.keymat_len(), "{e}");
        }
        assert_eq!(esp_suite(&ChildSuite::AH_SHA256), None);
    }

    #[test]
    fn prefixes_become_selector_ranges() {
        let t = ts_prefix("10.98.0.0/16").unwrap();
        assert_eq!(
            t.range,
            TsRange::V4(
                "10.98.0.0".parse().unwrap(),
                "10.98.255.255".parse().unwrap()
            )
        );
        assert!(ts_prefix("10.0.0.1/33").is_err());
        assert!(ts_prefix("::1/128").is_err());
        let s = selectors(&[ts_prefix("10.98.1.1").unwrap()], &[t]).unwrap();
        assert_eq!(s.len(), 1);
    }
}

#[cfg(test)]
mod example_tests {
    use super::*;
    use crate::gateway::GatewayToml;

    fn load(name: &str) -> Result<IkeSettings, String> {
        let file = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(name);
        let text = std::fs::read_to_string(&file).map_err(|e| e.to_string())?;
        let cfg: GatewayToml = crate::config::parse(&file, &text).map_err(|e| e.to_string())?;
        let natt = cfg.udp_listen.ok_or("no udp_listen")?;
        cfg.ike
            .ok_or("no [ike]")?
            .settings(&file, natt)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_examples_are_valid_and_complete() {
        let i = load("gateway-ike-initiator.toml").unwrap();
        let (peer, p) = i.initiator.as_ref().unwrap();
        assert_eq!(peer.port(), 500);
        assert_eq!(p.local_id, key_id(b"kid-01"));
        assert!(matches!(p.credential, Credential::Psk(_)));
        assert_eq!(i.cfg.natt_port, 4500);
        let r = load("gateway-ike-responder.toml").unwrap();
        let e = r.responder.as_ref().unwrap();
        assert!(matches!(e.auth, PeerAuth::P256(_)));
        assert_eq!(r.cfg.child_pfs, Some(DhGroup::ECP_256));
    }

    #[test]
    fn invalid_ike_tables_name_the_key() {
        let file = Path::new("gw.toml");
        let natt: SocketAddr = "10.99.0.1:4500".parse().unwrap();
        let base = r#"
role = "initiator"
listen = "10.99.0.1:500"
peer = "10.99.0.2:500"
local_id = "keyid:kid-01"
psk = "000102030405060708090a0b0c0d0e0f"
local_ts = ["10.98.1.1/32"]
remote_ts = ["10.98.2.1/32"]
"#;
        let check = |extra: &str, drop: &str, key: &str| {
            let text: String = base
                .lines()
                .filter(|l| drop.is_empty() || !l.starts_with(drop))
                .chain(extra.lines())
                .collect::<Vec<_>>()
                .join("\n");
            let t: IkeToml = toml::from_str(&text).unwrap();
            let e = t.settings(file, natt).err().expect(key);
            assert_eq!(e.key, key, "{}", e.msg);
        };
        check("", "peer", "ike.peer");
        check("role = \"both\"", "role", "ike.role");
        check("psk = \"00\"", "psk", "ike.psk");
        check("local_id = \"kid\"", "local_id", "ike.local_id");
        check("proposals = [\"des-md5-modp768\"]", "", "ike.proposals[0]");
        check(
            "esp_proposals = [\"aes128gcm16-x25519\", \"aes128gcm16\"]",
            "",
            "ike.esp_proposals[1]",
        );
        check("remote_ts = []", "remote_ts", "ike.remote_ts");
        check("listen = \"10.99.0.9:500\"", "listen", "ike.listen");
        check("private_key = \"00\"", "", "ike.psk");
        // Valid as it stands.
        let t: IkeToml = toml::from_str(base).unwrap();
        assert!(t.settings(file, natt).is_ok());
    }
}

#[cfg(test)]
mod pair_tests {
    use super::*;

    fn child(ike: IkeSaId, spi_in: u32, rekeyed_from: Option<u32>) -> ChildSa {
        let suite = ChildSuite::ESP_AES128GCM16;
        let cipher = suite.cipher().unwrap();
        let km = |b: u8| Secret::new(vec![b; cipher.keymat_len()]);
        ChildSa {
            ike,
            tag: 1,
            protocol: ikev2::ProtocolId::ESP,
            mode: ikev2::Mode::Tunnel,
            suite,
            cipher,
            spi_in,
            spi_out: spi_in + 1,
            keymat_in: km(1),
            keymat_out: km(2),
            local_ts: vec![ts_prefix("10.98.1.1").unwrap()],
            remote_ts: vec![ts_prefix("10.98.2.1").unwrap()],
            local: "10.99.0.1:4500".parse().unwrap(),
            remote: "10.99.0.2:4500".parse().unwrap(),
            encap: true,
            lifetime: Duration::from_secs(60),
            rekeyed_from,
        }
    }

    #[test]
    fn a_rekey_joins_the_old_pair_and_the_pair_goes_with_its_last_sa() {
        let mut p = Pairs::default();
        let PairChange::Install(r) = p.child_up(&child(1, 0x1000, None)) else {
            panic!()
        };
        assert_eq!(
            p.child_up(&child(1, 0x2000, Some(0x1000))),
            PairChange::Rekey(r)
        );
        assert_eq!(p.child_deleted(0x1000), Some(PairChange::RemoveSpi(0x1000)));
        assert_eq!(p.child_deleted(0x1000), None, "once");
        // The IKE SA was rekeyed: its Child SAs move with it.
        p.ike_rekeyed(1, 2);
        assert!(p.ike_down(1).is_empty());
        // A second, unrelated Child SA gets its own pair.
        let PairChange::Install(r2) = p.child_up(&child(2, 0x3000, None)) else {
            panic!()
        };
        assert_ne!(r, r2);
        assert_eq!(p.child_deleted(0x2000), Some(PairChange::Remove(r)));
        assert_eq!(p.ike_down(2), vec![PairChange::Remove(r2)]);
        assert!(p.is_empty());
    }

    #[test]
    fn a_child_sa_becomes_a_pair_and_what_the_data_path_cannot_carry_is_refused() {
        let now = Instant::now();
        let pair = child_pair(now, SaRef(5), &child(1, 0x1000, None)).unwrap();
        assert_eq!(pair.inbound.spi(), 0x1000);
        assert_eq!(pair.sa_ref, SaRef(5));
        let mut c = child(1, 0x1000, None);
        c.encap = false;
        assert!(matches!(
            child_pair(now, SaRef(5), &c),
            Err(PairError::NotEncapsulated)
        ));
        let mut c = child(1, 0x1000, None);
        c.keymat_in = Secret::new(vec![0; 3]);
        assert!(matches!(
            child_pair(now, SaRef(5), &c),
            Err(PairError::Keys(_))
        ));
        let mut c = child(1, 0x1000, None);
        c.suite = ChildSuite::AH_SHA256;
        c.protocol = ikev2::ProtocolId::AH;
        assert!(matches!(child_pair(now, SaRef(5), &c), Err(PairError::Ah)));
    }
}
