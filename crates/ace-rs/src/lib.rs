//! `ace-rs`: the Resource Server of the `coap_ipsec` profile.
//!
//! * `POST /authz-info` (unprotected, RFC 9200 §5.10.1): decrypt and validate
//!   the access token, derive the SA pair from its `ipsec` structure (Direct
//!   Provisioning, draft §3.3.1), install it, and answer 2.01 **over ESP**.
//! * With EDHOC (draft Appendix B.2, enabled by [`ResourceServer::enable_edhoc`]):
//!   `POST /authz-info` carries the token *and* EDHOC message_1; the RS
//!   validates the token first (RFC 9200 errors, no EDHOC state), then
//!   answers 2.01 with message_2 (plain). C posts C_R ‖ message_3 to
//!   `/.well-known/edhoc` (RFC 9528 Appendix A.2); once it verifies the RS
//!   derives the seed with EDHOC_Exporter, installs the SA pair and answers
//!   2.04 **over the pair**. Nothing is installed unless message_3 verifies;
//!   pending exchanges are bounded and expire.
//! * Any other request without an SA: 4.01 with AS Request Creation Hints
//!   (RFC 9200 §5.3) and nothing more (draft §4.1).
//! * Requests over an SA pair: served if the token bound to that pair covers
//!   resource and method; 4.03 if not the resource, 4.05 if not the method
//!   (draft §3.3).
//!
//! [`ResourceServer`] is a sans-IO [`Host`]: its state changes only through
//! node events, and every decision is counted in [`RsStats`].
//!
//! In transparent mode ([`ResourceServer::enable_hand_over`]) an unmodified
//! CoAP server serves the resources: each pair, once its 2.01 / 2.04 is
//! queued, is reported with the token's grants ([`HandsOver`]) and moves
//! into the TUN data path, whose scope filter applies the same rule as
//! [`ace_node::scope::decide`].

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ace_coap::{
    consts::APPLICATION_ACE_CBOR, Event, IncomingId, Method, Request, Response, ResponseCode,
};
use ace_core::authz_info::AuthzInfoUpload;
use ace_core::cnf::{Cnf, Kmp};
use ace_core::cwt::{decrypt_token, Claims, TokenKey};
use ace_core::edhoc::{self, PublicKey, ResponderWaitM3, StaticKey};
use ace_core::hints::AsCreationHints;
use ace_core::ipsec::{IpsecParams, Mode, SecProtocol};
use ace_core::labels::content_format::{CID_EDHOC_CBOR_SEQ, EDHOC_CBOR_SEQ};
use ace_core::labels::edhoc::WELL_KNOWN_PATH;
use ace_core::scope::Scope;
use ace_core::validate::{validate_claims, TokenInvalid};
use ace_node::scope::{decide, ScopeDecision};
use ace_node::transparent::{HandsOver, ReadyPair};
use ace_node::{dp_pair_spec, DpRole, Host, InstallError, Node, NodeEvent, Now, PairId, Peer};
use ipsec_dp::consts::NAT_T_PORT;
use ipsec_dp::suite::EspSuite;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The path of the token upload endpoint (RFC 9200 §5.10.1).
pub const AUTHZ_INFO: &str = "/authz-info";

/// One resource the RS serves.
#[derive(Clone, Debug)]
pub struct ResourceSpec {
    pub path: String,
    pub value: Vec<u8>,
    pub content_format: Option<u16>,
    /// Methods the resource supports, as AIF bits (RFC 9237).
    pub methods: u64,
}

/// Static configuration of an RS.
pub struct RsConfig {
    /// The `aud` this RS accepts.
    pub audience: String,
    /// The `iss` it accepts (None: any issuer holding one of `token_keys`).
    pub issuer: Option<String>,
    /// The AS's token endpoint, for the AS Request Creation Hints.
    pub as_uri: String,
    /// Keys shared with the AS for COSE_Encrypt0 tokens, looked up by `kid`.
    pub token_keys: Vec<TokenKey>,
    /// Meaning of text scope tokens: name → (path, AIF method bits).
    pub text_scopes: HashMap<String, Vec<(String, u64)>>,
    pub resources: Vec<ResourceSpec>,
    /// Bound on stored tokens (RFC 9200 §5.10.1: the RS must protect its storage).
    pub max_tokens: usize,
}

/// A token the RS accepted, with the SA pair it set up.
#[derive(Clone, Debug)]
pub struct AcceptedToken {
    pub cti: Vec<u8>,
    pub entries: Vec<(String, u64)>,
    pub exp_unix: u64,
    pub expires: Instant,
    /// The SA pair the token set up; None once it ended (the record stays
    /// until `exp`, so the token cannot set the same keys up again).
    pub pair: Option<PairId>,
    pub spi_sa_c: u32,
    pub spi_sa_rs: u32,
    pub peer: SocketAddr,
    /// IKEv2 tokens: the tag of the peer authorization in the IKE endpoint.
    pub ike_tag: Option<u64>,
    /// IKEv2 tokens: a Child SA was set up (once it ends, the token is spent).
    pub ike_done: bool,
}

/// The RS's IKEv2 responder (draft §3.2.2, §3.2.3): the Client starts
/// IKE_SA_INIT after the plain 2.01 (NOTES-profile point 4) on the RS's
/// ESP-in-UDP port.
pub struct IkeResponderConfig {
    /// The endpoint's settings (suites, timers, DoS limits).
    pub config: ikev2::Config,
    /// IDr with a PSK (draft: unspecified; here ID_FQDN with the audience).
    pub psk_id: ikev2::payload::IdRepr,
    /// The RS's P-256 signature key and its `kid` (IDr = ID_KEY_ID(kid)),
    /// for tokens with raw public keys; the AS returns its public half in
    /// `rs_cnf`.
    pub signing_key: Option<(Vec<u8>, std::sync::Arc<ikev2::crypto::P256SigningKey>)>,
}

struct IkeRs {
    psk_id: ikev2::payload::IdRepr,
    signing_key: Option<(Vec<u8>, std::sync::Arc<ikev2::crypto::P256SigningKey>)>,
    next_tag: u64,
    tag_to_cti: HashMap<u64, Vec<u8>>,
    /// Tags of exchanges this RS started (`ike_rs_initiates`): if one
    /// fails before its Child SA, the token is forgotten so that C can
    /// post it again.
    initiated: std::collections::HashSet<u64>,
}

/// Highest `max_pending` [`ResourceServer::enable_edhoc`] accepts (larger
/// values are clamped): pending exchanges are keyed by one-byte C_R values
/// (256 of them), and a free one must always remain.
pub const MAX_PENDING_LIMIT: usize = 200;

/// A pending exchange ends after this many message_3 attempts that fail
/// before decrypting (each from the exchange's own address).
pub const MAX_MESSAGE_3_FAILURES: u8 = 3;

/// The RS's EDHOC Responder (draft Appendix B.2).
pub struct EdhocResponderConfig {
    /// Its static P-256 key with `kid` (the AS returns the public half in `rs_cnf`).
    pub key: StaticKey,
    /// At most this many exchanges wait for message_3 at once (at most
    /// [`MAX_PENDING_LIMIT`]).
    pub max_pending: usize,
    /// A pending exchange is dropped when message_3 has not come by then.
    pub pending_timeout: Duration,
}

impl EdhocResponderConfig {
    /// Defaults: 16 pending exchanges, 30 s each.
    pub fn new(key: StaticKey) -> Self {
        EdhocResponderConfig {
            key,
            max_pending: 16,
            pending_timeout: Duration::from_secs(30),
        }
    }
}

/// An EDHOC exchange waiting for message_3: the validated token and
/// lakers' state. Removed when message_3 verifies, when one decrypts but
/// fails (only the exchange's Initiator can produce it), after
/// [`MAX_MESSAGE_3_FAILURES`] attempts that do not decrypt, on expiry, or
/// when the same token successfully starts a new exchange. Requests from
/// another address than `from` do not touch it.
struct PendingEdhoc {
    wait: ResponderWaitM3,
    /// message_3 attempts from `from` that failed without ending the exchange.
    failures: u8,
    cti: Vec<u8>,
    entries: Vec<(String, u64)>,
    exp: u64,
    spi_sa_c: u32,
    spi_sa_rs: u32,
    suite: EspSuite,
    life: u32,
    client: PublicKey,
    /// SHA-256 of the access token: the exporter context of the seed.
    context: [u8; 32],
    from: SocketAddr,
    esp: SocketAddr,
    expires: Instant,
}

/// Everything the RS decided, by outcome.
#[derive(Clone, Debug, Default)]
pub struct RsStats {
    pub tokens_accepted: u64,
    /// Refused tokens by reason ("expired", "wrong-audience", "spi-collision", …).
    pub tokens_rejected: BTreeMap<&'static str, u64>,
    pub unauthorized: u64,
    pub forbidden: u64,
    pub method_not_allowed: u64,
    pub not_found: u64,
    pub served: u64,
    pub tokens_expired: u64,
    /// EDHOC exchanges started (token valid, message_2 sent).
    pub edhoc_started: u64,
    /// EDHOC exchanges completed (message_3 verified, SA pair installed).
    pub edhoc_completed: u64,
    /// EDHOC exchanges that ended without an SA pair, by reason
    /// ("message-1", "message-3", "unknown-c_r", "expired", "pending-full", …).
    pub edhoc_failed: BTreeMap<&'static str, u64>,
}

/// The Resource Server host.
pub struct ResourceServer {
    node: Node,
    cfg: RsConfig,
    tokens: HashMap<Vec<u8>, AcceptedToken>,
    by_pair: HashMap<PairId, Vec<u8>>,
    values: BTreeMap<String, ResourceSpec>,
    stats: RsStats,
    started_unix: u64,
    edhoc: Option<EdhocResponderConfig>,
    /// Pending EDHOC exchanges by C_R (its CBOR encoding).
    pending: HashMap<Vec<u8>, PendingEdhoc>,
    rng: StdRng,
    /// Transparent mode: established pairs to hand over, if enabled.
    ready: Option<Vec<ReadyPair>>,
    ike: Option<IkeRs>,
}

/// What a successful `/authz-info` leads to.
enum Uploaded {
    /// Direct Provisioning: the pair is installed; 2.01 over it.
    Dp(Accepted),
    /// EDHOC: the exchange waits for message_3; 2.01 with message_2, plain.
    Edhoc { message_2: Vec<u8> },
    /// IKEv2: the peer is authorized in the IKE endpoint; 2.01, plain; the
    /// Client starts IKE_SA_INIT.
    Ike,
}

/// A token accepted at `/authz-info`: its pair, and whether this request
/// installed it (false: the same token posted again while its pair lives).
struct Accepted {
    pair: PairId,
    fresh: bool,
}

/// A refusal of `/authz-info`: code, counted reason, diagnostic.
struct Refusal {
    code: ResponseCode,
    reason: &'static str,
    detail: String,
    /// Answer with an EDHOC error message (RFC 9528 §6, Appendix A.2)
    /// instead of a diagnostic: the token was fine, EDHOC failed.
    edhoc: bool,
}

impl Refusal {
    fn new(code: ResponseCode, reason: &'static str, detail: impl Into<String>) -> Self {
        Refusal {
            code,
            reason,
            detail: detail.into(),
            edhoc: false,
        }
    }

    fn edhoc(code: ResponseCode, reason: &'static str, detail: impl Into<String>) -> Self {
        Refusal {
            edhoc: true,
            ..Refusal::new(code, reason, detail)
        }
    }

    fn response(&self) -> Response {
        if self.edhoc {
            Response {
                code: self.code,
                content_format: Some(EDHOC_CBOR_SEQ),
                payload: edhoc::error_message(&self.detail),
            }
        } else {
            diagnostic(self.code, &self.detail)
        }
    }
}

impl ResourceServer {
    /// `started_unix`: when this RS instance started (tokens issued earlier
    /// are refused, since accepted tokens are not kept across restarts).
    pub fn new(node: Node, cfg: RsConfig, started_unix: u64) -> Self {
        let values = cfg
            .resources
            .iter()
            .map(|r| (r.path.clone(), r.clone()))
            .collect();
        ResourceServer {
            node,
            cfg,
            tokens: HashMap::new(),
            by_pair: HashMap::new(),
            values,
            stats: RsStats::default(),
            started_unix,
            edhoc: None,
            pending: HashMap::new(),
            rng: StdRng::from_os_rng(),
            ready: None,
            ike: None,
        }
    }

    /// Accepts IKEv2 tokens (draft §3.2.2, §3.2.3): runs an IKEv2 responder
    /// on the node's ESP-in-UDP port.
    pub fn enable_ike(&mut self, c: IkeResponderConfig) -> Result<(), ikev2::IkeError> {
        self.node.enable_ike(c.config)?;
        self.ike = Some(IkeRs {
            psk_id: c.psk_id,
            signing_key: c.signing_key,
            next_tag: 1,
            tag_to_cti: HashMap::new(),
            initiated: std::collections::HashSet::new(),
        });
        Ok(())
    }

    /// draft §3.2.2/§3.2.3 after the token validated: the PoP key from
    /// `cnf` becomes an authorized IKE peer named ID_KEY_ID(kid), bounded
    /// by the token's `exp`; the Child SA it may set up is ESP in transport
    /// mode between the Client's address and ours. With `initiate_to`
    /// (C posted `ike_rs_initiates`), the RS starts IKE_SA_INIT towards
    /// that address instead, with IDr = ID_KEY_ID(kid). Changes nothing on
    /// refusal.
    #[allow(clippy::too_many_arguments)]
    fn ike_accept(
        &mut self,
        now: Now,
        from: SocketAddr,
        cti: &[u8],
        exp: u64,
        entries: Vec<(String, u64)>,
        cnf: &ace_core::cnf::Cnf,
        initiate_to: Option<SocketAddr>,
    ) -> Result<Uploaded, Refusal> {
        use ikev2::config::{
            key_id, ChildPolicy, Credential, InitiatorParams, PeerAuth, PeerEntry,
        };
        use ResponseCode::*;
        let local_ip = self.node.local_plain().ip();
        let Some(ike) = self.ike.as_mut() else {
            return Err(Refusal::new(
                BadRequest,
                "kmp-unsupported",
                "this RS does not run IKEv2",
            ));
        };
        let ipsec = cnf.ipsec.as_ref().ok_or_else(|| {
            Refusal::new(BadRequest, "no-ipsec", "cnf carries no ipsec structure")
        })?;
        if ipsec.protocol != SecProtocol::Esp || ipsec.mode != Mode::Transport {
            return Err(Refusal::new(
                BadRequest,
                "sa-unsupported",
                "this RS supports ESP in transport mode",
            ));
        }
        let key = cnf.cose_key.as_ref().ok_or_else(|| {
            Refusal::new(
                BadRequest,
                "no-pop-key",
                "an IKEv2 token carries the PoP key",
            )
        })?;
        let kid = key.key_id.clone();
        if kid.is_empty() {
            return Err(Refusal::new(
                BadRequest,
                "no-kid",
                "the PoP key has no kid (it names IDi)",
            ));
        }
        let (auth, local_id, credential) = if key.kty
            == ace_core::coset::KeyType::Assigned(ace_core::coset::iana::KeyType::Symmetric)
        {
            let k = ace_core::cnf::symmetric_k(key).ok_or_else(|| {
                Refusal::new(
                    BadRequest,
                    "pop-key-invalid",
                    "symmetric PoP key without k (16 octets at least)",
                )
            })?;
            let k = ikev2::Secret::from_slice(k);
            (
                PeerAuth::Psk(k.clone()),
                ike.psk_id.clone(),
                Credential::Psk(k),
            )
        } else {
            let pk = ace_core::edhoc::PublicKey::from_cose_key(key)
                .map_err(|e| Refusal::new(BadRequest, "pop-key-invalid", e.to_string()))?;
            let pk = ikev2::crypto::P256PublicKey::from_xy(&pk.x, &pk.y)
                .map_err(|e| Refusal::new(BadRequest, "pop-key-invalid", e.to_string()))?;
            let (rs_kid, rs_key) = ike.signing_key.clone().ok_or_else(|| {
                Refusal::new(
                    BadRequest,
                    "kmp-unsupported",
                    "this RS has no IKEv2 signature key",
                )
            })?;
            (
                PeerAuth::P256(pk),
                key_id(&rs_kid),
                Credential::P256(rs_key),
            )
        };
        if self.tokens.len() >= self.cfg.max_tokens {
            return Err(Refusal::new(
                ServiceUnavailable,
                "store-full",
                "token store full",
            ));
        }
        let remaining = exp.saturating_sub(now.unix);
        let life = Duration::from_secs(remaining.min(u64::from(ipsec.life)));
        let tag = ike.next_tag;
        let child = ChildPolicy {
            mode: ikev2::Mode::Transport,
            local_ts: vec![ikev2::payload::TrafficSelector::host(local_ip)],
            remote_ts: vec![ikev2::payload::TrafficSelector::host(from.ip())],
            lifetime: life,
        };
        let local_esp = self.node.local_esp();
        let Some(ep) = self.node.ike() else {
            return Err(Refusal::new(
                BadRequest,
                "kmp-unsupported",
                "this RS does not run IKEv2",
            ));
        };
        match initiate_to {
            None => ep.authorize_peer(PeerEntry {
                id: key_id(&kid),
                auth,
                local_id,
                credential,
                child,
                not_after: after_secs(now.mono, remaining),
                tag,
            }),
            Some(to) => {
                let params = InitiatorParams {
                    local_id,
                    credential,
                    peer_id: Some(key_id(&kid)),
                    peer_auth: auth,
                    child,
                    peer_natt_port: to.port(),
                    not_after: Some(after_secs(now.mono, remaining)),
                    tag,
                };
                ep.initiate(now.mono, local_esp, to, params)
                    .map_err(|e| Refusal::new(ServiceUnavailable, "ike-initiate", e.to_string()))?;
            }
        }
        self.node.ike_changed();
        if let Some(ike) = self.ike.as_mut() {
            ike.next_tag += 1;
            ike.tag_to_cti.insert(tag, cti.to_vec());
            if initiate_to.is_some() {
                ike.initiated.insert(tag);
            }
        }
        match initiate_to {
            None => {
                tracing::info!(%from, cti = %hex::encode(cti), kid = %hex::encode(&kid), life_s = life.as_secs(), "IKEv2 token accepted: waiting for IKE_SA_INIT")
            }
            Some(to) => {
                tracing::info!(%from, %to, cti = %hex::encode(cti), kid = %hex::encode(&kid), life_s = life.as_secs(), "IKEv2 token accepted: IKE_SA_INIT sent")
            }
        }
        self.tokens.insert(
            cti.to_vec(),
            AcceptedToken {
                cti: cti.to_vec(),
                entries,
                exp_unix: exp,
                expires: after_secs(now.mono, remaining),
                pair: None,
                spi_sa_c: 0,
                spi_sa_rs: 0,
                peer: from,
                ike_tag: Some(tag),
                ike_done: false,
            },
        );
        self.stats.tokens_accepted += 1;
        Ok(Uploaded::Ike)
    }

    /// A Child SA from the IKE endpoint becomes the token's pair; its end
    /// ends the pair.
    fn on_ike_event(&mut self, now: Now, ev: ikev2::Event) {
        match ev {
            ikev2::Event::ChildSaUp(c) => {
                let Some(cti) = self
                    .ike
                    .as_ref()
                    .and_then(|i| i.tag_to_cti.get(&c.tag))
                    .cloned()
                else {
                    return;
                };
                let peer_ip = c.remote.ip();
                let spec = match ace_node::ike_pair_spec(
                    &c,
                    self.node.local_plain().ip(),
                    peer_ip,
                    format!("token {} (IKEv2)", hex::encode(&cti)),
                ) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "IKEv2 Child SA not installed");
                        return;
                    }
                };
                match self.node.install_pair(now.mono, spec) {
                    Ok(pair) => {
                        if let Some(old) = c.rekeyed_from.and_then(|spi| self.pair_by_spi_in(spi)) {
                            self.node.remove_pair(old);
                            self.by_pair.remove(&old);
                        }
                        self.by_pair.insert(pair, cti.clone());
                        if let Some(t) = self.tokens.get_mut(&cti) {
                            t.pair = Some(pair);
                            t.ike_done = true;
                            if let Some(ike) = self.ike.as_mut() {
                                ike.initiated.remove(&c.tag);
                            }
                            t.spi_sa_c = c.spi_in;
                            t.spi_sa_rs = c.spi_out;
                        }
                        tracing::info!(cti = %hex::encode(&cti), spi_in = format_args!("{:#010x}", c.spi_in), spi_out = format_args!("{:#010x}", c.spi_out), "IKEv2 Child SA installed");
                    }
                    Err(e) => tracing::warn!(error = %e, "IKEv2 Child SA not installed"),
                }
            }
            ikev2::Event::ChildSaDeleted { spi_in, .. } => {
                if let Some(pair) = self.pair_by_spi_in(spi_in) {
                    self.node.remove_pair(pair);
                    self.pair_ended(pair);
                }
            }
            ikev2::Event::Failed {
                failure,
                remote,
                tag,
                ..
            } => {
                tracing::info!(%remote, ?failure, "IKEv2 exchange failed");
                // An exchange this RS started for a token failed before any
                // Child SA: forget the token, so that C may post it again.
                let Some(ike) = self.ike.as_mut() else { return };
                if !ike.initiated.remove(&tag) {
                    return;
                }
                let Some(cti) = ike.tag_to_cti.remove(&tag) else {
                    return;
                };
                if self
                    .tokens
                    .get(&cti)
                    .is_some_and(|t| t.pair.is_none() && !t.ike_done)
                {
                    self.tokens.remove(&cti);
                    tracing::info!(cti = %hex::encode(&cti), "IKEv2 token forgotten: the exchange the RS started failed");
                }
            }
            other => tracing::debug!(?other, "IKEv2 event"),
        }
    }

    fn pair_by_spi_in(&self, spi_in: u32) -> Option<PairId> {
        self.by_pair
            .keys()
            .copied()
            .find(|p| self.node.pair(*p).is_some_and(|i| i.spi_in == spi_in))
    }

    /// Transparent mode: every pair a token sets up is reported by
    /// [`HandsOver::take_ready`] once its confirmation is queued, for the
    /// driver to move into the TUN data path.
    pub fn enable_hand_over(&mut self) {
        self.ready.get_or_insert_with(Vec::new);
    }

    /// The pair is confirmed to the client: hand it over if enabled.
    fn established(&mut self, pair: PairId) {
        let Some(ready) = self.ready.as_mut() else {
            return;
        };
        let grants = self
            .by_pair
            .get(&pair)
            .and_then(|cti| self.tokens.get(cti))
            .map(|t| t.entries.clone().into());
        ready.push(ReadyPair { pair, grants });
    }

    /// Accepts EDHOC tokens (draft Appendix B) with this Responder
    /// configuration (`max_pending` clamped to [`MAX_PENDING_LIMIT`]).
    /// `rng_seed` makes tests deterministic; `None` draws from the OS.
    pub fn enable_edhoc(&mut self, mut cfg: EdhocResponderConfig, rng_seed: Option<u64>) {
        if cfg.max_pending > MAX_PENDING_LIMIT {
            tracing::warn!(
                max_pending = cfg.max_pending,
                limit = MAX_PENDING_LIMIT,
                "EDHOC max_pending clamped"
            );
            cfg.max_pending = MAX_PENDING_LIMIT;
        }
        self.edhoc = Some(cfg);
        if let Some(s) = rng_seed {
            self.rng = StdRng::seed_from_u64(s);
        }
    }

    /// EDHOC exchanges waiting for message_3.
    pub fn pending_edhoc_count(&self) -> usize {
        self.pending.len()
    }

    /// The effective `max_pending` of the EDHOC Responder (after clamping).
    pub fn edhoc_max_pending(&self) -> Option<usize> {
        self.edhoc.as_ref().map(|c| c.max_pending)
    }

    pub fn stats(&self) -> &RsStats {
        &self.stats
    }
    pub fn tokens(&self) -> impl Iterator<Item = &AcceptedToken> {
        self.tokens.values()
    }
    pub fn token_count(&self) -> usize {
        self.tokens.len()
    }
    /// Current value of a resource.
    pub fn resource(&self, path: &str) -> Option<&[u8]> {
        self.values.get(path).map(|r| r.value.as_slice())
    }

    fn hints(&self) -> Response {
        let mut hints = AsCreationHints::new(self.cfg.as_uri.clone());
        hints.audience = Some(self.cfg.audience.clone());
        Response {
            code: ResponseCode::Unauthorized,
            content_format: Some(APPLICATION_ACE_CBOR),
            payload: hints.to_cbor(),
        }
    }

    fn on_request(&mut self, now: Now, id: IncomingId, peer: Peer, req: Request) {
        match peer {
            Peer::Plain(from) if req.path == AUTHZ_INFO => {
                let (resp, via, fresh) = match self.authz_info(now, from, &req) {
                    Ok(Uploaded::Dp(Accepted { pair, fresh })) => (
                        created(),
                        Some(Peer::Secure {
                            pair,
                            port: from.port(),
                        }),
                        fresh,
                    ),
                    Ok(Uploaded::Ike) => (created(), None, false),
                    Ok(Uploaded::Edhoc { message_2 }) => (
                        Response {
                            code: ResponseCode::Created,
                            content_format: Some(EDHOC_CBOR_SEQ),
                            payload: message_2,
                        },
                        None,
                        false,
                    ),
                    Err(r) => {
                        self.count_refusal(from, &r);
                        (r.response(), None, false)
                    }
                };
                let sent = match via {
                    Some(alt) => self.node.endpoint().respond_via(now.mono, id, resp, alt),
                    None => self.node.endpoint().respond(now.mono, id, resp),
                };
                match (sent, via) {
                    (Err(e), via) => {
                        tracing::warn!(error = %e, "could not answer /authz-info");
                        if let (Some(Peer::Secure { pair, .. }), true) = (via, fresh) {
                            self.undo_unanswerable(pair);
                        }
                    }
                    (Ok(()), Some(Peer::Secure { pair, .. })) if fresh => self.established(pair),
                    (Ok(()), _) => {}
                }
            }
            Peer::Plain(from) if req.path == WELL_KNOWN_PATH && self.edhoc.is_some() => {
                let (resp, via) = match self.edhoc_message_3(now, from, &req) {
                    Ok(pair) => (
                        Response {
                            code: ResponseCode::Changed,
                            content_format: None,
                            payload: Vec::new(),
                        },
                        Some(Peer::Secure {
                            pair,
                            port: from.port(),
                        }),
                    ),
                    Err(r) => {
                        if r.reason.starts_with("edhoc-") {
                            *self
                                .stats
                                .edhoc_failed
                                .entry(&r.reason["edhoc-".len()..])
                                .or_default() += 1;
                        }
                        self.count_refusal(from, &r);
                        (r.response(), None)
                    }
                };
                let sent = match via {
                    Some(alt) => self.node.endpoint().respond_via(now.mono, id, resp, alt),
                    None => self.node.endpoint().respond(now.mono, id, resp),
                };
                match (sent, via) {
                    (Err(e), via) => {
                        tracing::warn!(error = %e, "could not answer the EDHOC resource");
                        if let Some(Peer::Secure { pair, .. }) = via {
                            self.undo_unanswerable(pair);
                            self.stats.edhoc_completed =
                                self.stats.edhoc_completed.saturating_sub(1);
                        }
                    }
                    (Ok(()), Some(Peer::Secure { pair, .. })) => self.established(pair),
                    (Ok(()), _) => {}
                }
            }
            Peer::Plain(from) => {
                // RFC 9200 §5.3, draft §4.1: only what C needs to reach the AS.
                self.stats.unauthorized += 1;
                if ace_node::log_throttle(self.stats.unauthorized) {
                    tracing::info!(%from, path = %req.path, count = self.stats.unauthorized, "unauthorized request: 4.01 with AS Request Creation Hints");
                }
                let resp = self.hints();
                let _ = self.node.endpoint().respond(now.mono, id, resp);
            }
            Peer::Secure { pair, .. } => {
                let resp = self.serve(pair, &req);
                let _ = self.node.endpoint().respond(now.mono, id, resp);
            }
        }
    }

    fn count_refusal(&mut self, from: SocketAddr, r: &Refusal) {
        let n = self.stats.tokens_rejected.entry(r.reason).or_default();
        *n += 1;
        if ace_node::log_throttle(*n) {
            tracing::warn!(%from, reason = r.reason, detail = %r.detail, code = %r.code.as_dotted(), count = *n, "refused at /authz-info or the EDHOC resource");
        }
    }

    /// The client never learns of the pair a request installed: undo it
    /// (and only it).
    fn undo_unanswerable(&mut self, pair: PairId) {
        self.node.remove_pair(pair);
        if let Some(cti) = self.by_pair.remove(&pair) {
            self.tokens.remove(&cti);
        }
        self.stats.tokens_accepted = self.stats.tokens_accepted.saturating_sub(1);
        *self
            .stats
            .tokens_rejected
            .entry("unanswerable")
            .or_default() += 1;
    }

    /// RFC 9200 §5.10.1 and draft §3.3.1 (Direct Provisioning) or Appendix
    /// B.2 (EDHOC). Changes nothing unless it succeeds.
    fn authz_info(
        &mut self,
        now: Now,
        from: SocketAddr,
        req: &Request,
    ) -> Result<Uploaded, Refusal> {
        use ResponseCode::*;
        if req.method != Method::Post {
            return Err(Refusal::new(
                MethodNotAllowed,
                "method",
                "POST the access token",
            ));
        }
        let (upload, message_1) = match AuthzInfoUpload::from_cbor(&req.payload).map_err(|e| {
            Refusal::new(BadRequest, "malformed", format!("authz-info payload: {e}"))
        })? {
            AuthzInfoUpload::Token(t) => (t, None),
            AuthzInfoUpload::TokenWithEdhoc(e) => (e.token_request(), Some(e.message_1)),
        };
        let keys = &self.cfg.token_keys;
        let claims = decrypt_token(&upload.access_token, |kid| {
            keys.iter().find(|k| k.kid == kid)
        })
        .map_err(|e| Refusal::new(Unauthorized, "token-invalid", format!("token: {e}")))?;
        validate_claims(
            &claims,
            now.unix,
            &self.cfg.audience,
            self.cfg.issuer.as_deref(),
        )
        .map_err(|e| Refusal::new(coap_code(e.coap_code()), invalid_reason(&e), e.to_string()))?;
        let cti = claims
            .cti
            .clone()
            .ok_or_else(|| Refusal::new(BadRequest, "no-cti", "token has no cti"))?;
        let exp = claims
            .exp
            .ok_or_else(|| Refusal::new(BadRequest, "no-exp", "token has no exp"))?;

        // A token posted again: same SA pair, same answer (idempotent).
        // A token posted again: while its pair lives, the same answer on the
        // same pair (idempotent); once the pair ended, never again: the same
        // seed and SPIs would give the same keys with counters back at zero.
        if let Some(t) = self.tokens.get(&cti) {
            // Transparent mode: the pair lives in the data path, where the
            // node cannot answer over it.
            if t.pair.is_some_and(|p| self.node.is_handed_over(p)) {
                return Err(Refusal::new(
                    Conflict,
                    "handed-over",
                    "this token's SA pair is in use by the transparent data path; request a new token",
                ));
            }
            // An IKEv2 token whose IKE exchange has not completed yet, or
            // whose Child SA lives: the same plain 2.01 again (the Client
            // may have lost it; the IKE SA is keyed by IKEv2, not by the
            // token, so nothing is repeated).
            if t.ike_tag.is_some()
                && (!t.ike_done || t.pair.is_some_and(|p| self.node.pair(p).is_some()))
            {
                return Ok(Uploaded::Ike);
            }
            return match t.pair.filter(|p| self.node.pair(*p).is_some()) {
                // An EDHOC token's pair is keyed by its exchange: a second
                // exchange for the same token would collide on SPI_SA_C.
                Some(_) if message_1.is_some() => Err(Refusal::new(
                    Conflict,
                    "edhoc-established",
                    "this token's SA pair is established; request a new token",
                )),
                Some(pair) => Ok(Uploaded::Dp(Accepted { pair, fresh: false })),
                None => Err(Refusal::new(
                    Unauthorized,
                    "token-spent",
                    "this token's SA pair has ended; request a new token",
                )),
            };
        }
        // Accepted tokens are kept in memory only: a token issued before this
        // RS instance started may already have set up these keys.
        if claims.iat.is_some_and(|iat| iat < self.started_unix) {
            return Err(Refusal::new(
                Unauthorized,
                "predates-rs",
                "the token was issued before this RS started; request a new token",
            ));
        }
        let entries = self.scope_entries(&claims)?;

        let cnf = claims
            .cnf
            .as_ref()
            .ok_or_else(|| Refusal::new(BadRequest, "no-cnf", "token has no cnf"))?;
        let ipsec = cnf.ipsec.as_ref().ok_or_else(|| {
            Refusal::new(BadRequest, "no-ipsec", "cnf carries no ipsec structure")
        })?;
        match (cnf.kmp, message_1) {
            (Some(Kmp::Edhoc), Some(m1)) => {
                let cnf = cnf.clone();
                let token = upload.access_token.clone();
                return self.edhoc_start(now, from, &upload, &token, &cti, exp, entries, &cnf, &m1);
            }
            (Some(Kmp::Ikev2), None) => {
                let cnf = cnf.clone();
                let initiate_to = upload
                    .ike_rs_initiates
                    .then(|| SocketAddr::new(from.ip(), upload.esp_udp_port_or_default()));
                return self.ike_accept(now, from, &cti, exp, entries, &cnf, initiate_to);
            }
            (Some(Kmp::Edhoc), None) => {
                return Err(Refusal::new(
                    BadRequest,
                    "edhoc-message-1-missing",
                    "the token selects EDHOC: post EDHOC message_1 with it (draft Appendix B.2)",
                ))
            }
            (None, Some(_)) => {
                return Err(Refusal::new(
                    BadRequest,
                    "edhoc-not-selected",
                    "EDHOC message_1 posted with a token that does not select EDHOC",
                ))
            }
            _ => {}
        }
        if cnf.cose_key.is_some() || cnf.kmp.is_some() {
            return Err(Refusal::new(
                BadRequest,
                "kmp-unsupported",
                "only Direct Provisioning is supported by this RS",
            ));
        }
        let (spi_c, spi_rs, suite) = esp_transport_sa(ipsec)?;
        let Some(seed) = ipsec.seed.as_ref() else {
            return Err(Refusal::new(
                BadRequest,
                "dp-incomplete",
                "Direct Provisioning needs SPI_SA_C, SPI_SA_RS, alg and seed",
            ));
        };
        // draft §2.1: a colliding SPI_SA_C is an error and nothing is set up.
        if self.node.spi_in_use(spi_c) {
            return Err(Refusal::new(
                Conflict,
                "spi-collision",
                format!("SPI_SA_C {spi_c:#010x} is in use"),
            ));
        }
        if self.tokens.len() >= self.cfg.max_tokens {
            return Err(Refusal::new(
                ServiceUnavailable,
                "store-full",
                "token store full",
            ));
        }
        // An SA never outlives its token (NOTES-profile §12).
        let remaining = exp.saturating_sub(now.unix);
        let life = Duration::from_secs(remaining.min(u64::from(ipsec.life)));
        let spec = dp_pair_spec(
            DpRole::Server,
            seed.as_bytes(),
            spi_c,
            spi_rs,
            suite,
            SocketAddr::new(from.ip(), upload.esp_udp_port.unwrap_or(NAT_T_PORT)),
            self.node.local_plain().ip(),
            from.ip(),
            Some(life),
            format!("token {}", hex::encode(&cti)),
        )
        .map_err(|e| Refusal::new(BadRequest, "kdf", e.to_string()))?;
        let pair = self
            .node
            .install_pair(now.mono, spec)
            .map_err(|e| match e {
                InstallError::SpiInUse(_) => Refusal::new(Conflict, "spi-collision", e.to_string()),
                InstallError::Invalid(_) => Refusal::new(BadRequest, "sa-invalid", e.to_string()),
            })?;
        tracing::info!(%from, cti = %hex::encode(&cti), spi_sa_c = format_args!("{spi_c:#010x}"), spi_sa_rs = format_args!("{spi_rs:#010x}"), suite = suite.name(), life_s = life.as_secs(), "token accepted, SA pair installed");
        self.by_pair.insert(pair, cti.clone());
        self.tokens.insert(
            cti.clone(),
            AcceptedToken {
                cti,
                entries,
                exp_unix: exp,
                // The record lives until the token expires; the pair may end sooner (`life`).
                expires: after_secs(now.mono, remaining),
                pair: Some(pair),
                spi_sa_c: spi_c,
                spi_sa_rs: spi_rs,
                peer: from,
                ike_tag: None,
                ike_done: false,
            },
        );
        self.stats.tokens_accepted += 1;
        Ok(Uploaded::Dp(Accepted { pair, fresh: true }))
    }

    /// draft Appendix B.2 after the token validated: check the EDHOC token's
    /// `cnf`, process message_1 and keep the exchange pending. Changes
    /// nothing unless it succeeds (then an older exchange of the same token
    /// is replaced: a re-posted token with a bad message_1 leaves it be).
    #[allow(clippy::too_many_arguments)]
    fn edhoc_start(
        &mut self,
        now: Now,
        from: SocketAddr,
        upload: &ace_core::authz_info::AuthzInfoRequest,
        token: &[u8],
        cti: &[u8],
        exp: u64,
        entries: Vec<(String, u64)>,
        cnf: &Cnf,
        message_1: &[u8],
    ) -> Result<Uploaded, Refusal> {
        use ResponseCode::*;
        let Some(cfg) = self.edhoc.as_ref() else {
            return Err(Refusal::new(
                BadRequest,
                "kmp-unsupported",
                "this RS does not support EDHOC",
            ));
        };
        let (max_pending, timeout) = (cfg.max_pending, cfg.pending_timeout);
        let ipsec = cnf.ipsec.as_ref().ok_or_else(|| {
            Refusal::new(BadRequest, "no-ipsec", "cnf carries no ipsec structure")
        })?;
        let (spi_c, spi_rs, suite) = esp_transport_sa(ipsec)?;
        if ipsec.seed.is_some() {
            return Err(Refusal::new(
                BadRequest,
                "edhoc-ipsec",
                "an EDHOC token carries SPI_SA_C, SPI_SA_RS and alg, and no seed (draft Appendix B.1)",
            ));
        }
        let client = cnf
            .cose_key
            .as_ref()
            .ok_or_else(|| {
                Refusal::new(
                    BadRequest,
                    "edhoc-no-key",
                    "an EDHOC token binds the client's COSE_Key (draft §3.2.3)",
                )
            })
            .and_then(|k| {
                PublicKey::from_cose_key(k)
                    .map_err(|e| Refusal::new(BadRequest, "edhoc-key", e.to_string()))
            })?;
        self.expire_pending(now.mono);
        // The same token starting over replaces its older exchange, but only
        // once the new one is set up: until then the older one counts as gone
        // for the checks below, and stays.
        let replaced: Option<Vec<u8>> = self
            .pending
            .iter()
            .find(|(_, p)| p.cti == cti)
            .map(|(k, _)| k.clone());
        let others = self.pending.len() - usize::from(replaced.is_some());
        if self.node.spi_in_use(spi_c)
            || self
                .pending
                .iter()
                .any(|(k, p)| Some(k) != replaced.as_ref() && p.spi_sa_c == spi_c)
        {
            return Err(Refusal::new(
                Conflict,
                "spi-collision",
                format!("SPI_SA_C {spi_c:#010x} is in use"),
            ));
        }
        if self.tokens.len() + others >= self.cfg.max_tokens {
            return Err(Refusal::new(
                ServiceUnavailable,
                "store-full",
                "token store full",
            ));
        }
        if others >= max_pending {
            *self.stats.edhoc_failed.entry("pending-full").or_default() += 1;
            return Err(Refusal::new(
                ServiceUnavailable,
                "edhoc-pending-full",
                "too many EDHOC exchanges in progress",
            ));
        }
        // C_R: one byte, unique among the pending exchanges (the replaced one
        // included: it stays until this one is set up).
        let start: u8 = self.rng.random();
        let Some(c_r) = free_c_r(start, |enc| self.pending.contains_key(enc)) else {
            *self.stats.edhoc_failed.entry("pending-full").or_default() += 1;
            return Err(Refusal::new(
                ServiceUnavailable,
                "edhoc-pending-full",
                "no free C_R",
            ));
        };
        let lakers_rng = StdRng::from_rng(&mut self.rng);
        let Some(cfg) = self.edhoc.as_ref() else {
            return Err(Refusal::new(BadRequest, "kmp-unsupported", "no EDHOC"));
        };
        let (wait, message_2) =
            edhoc::respond(lakers_rng, &cfg.key, message_1, &[c_r.0]).map_err(|e| {
                let (counted, reason) = match e {
                    edhoc::EdhocError::Internal => ("internal", "edhoc-internal"),
                    _ => ("message-1", "edhoc-message-1"),
                };
                *self.stats.edhoc_failed.entry(counted).or_default() += 1;
                Refusal::edhoc(BadRequest, reason, e.to_string())
            })?;
        if let Some(old) = replaced {
            self.pending.remove(&old);
            tracing::info!(%from, cti = %hex::encode(cti), c_r = %hex::encode(&old), "EDHOC exchange replaced by a new one for the same token");
        }
        let esp = SocketAddr::new(from.ip(), upload.esp_udp_port.unwrap_or(NAT_T_PORT));
        tracing::info!(%from, cti = %hex::encode(cti), c_r = %hex::encode(&c_r.1), "token valid, EDHOC message_2 sent");
        self.pending.insert(
            c_r.1,
            PendingEdhoc {
                wait,
                failures: 0,
                cti: cti.to_vec(),
                entries,
                exp,
                spi_sa_c: spi_c,
                spi_sa_rs: spi_rs,
                suite,
                life: ipsec.life,
                client,
                context: edhoc::seed_context(token),
                from,
                esp,
                expires: now.mono + timeout,
            },
        );
        self.stats.edhoc_started += 1;
        Ok(Uploaded::Edhoc { message_2 })
    }

    /// RFC 9528 Appendix A.2: C_R ‖ message_3 at the EDHOC resource. On
    /// success the SA pair is installed (seed = EDHOC_Exporter, draft
    /// Appendix B.2) and returned. Only a request from the address that
    /// posted message_1 reaches the exchange; see [`PendingEdhoc`] for when
    /// a failure ends it.
    fn edhoc_message_3(
        &mut self,
        now: Now,
        from: SocketAddr,
        req: &Request,
    ) -> Result<PairId, Refusal> {
        use ResponseCode::*;
        if req.method != Method::Post {
            return Err(Refusal::new(
                MethodNotAllowed,
                "method",
                "POST C_R and message_3",
            ));
        }
        if req
            .content_format
            .is_some_and(|cf| cf != CID_EDHOC_CBOR_SEQ && cf != EDHOC_CBOR_SEQ)
        {
            return Err(Refusal::edhoc(
                UnsupportedContentFormat,
                "edhoc-content-format",
                "expected application/cid-edhoc+cbor-seq",
            ));
        }
        let (c_r, message_3) = edhoc::parse_message_3_request(&req.payload)
            .map_err(|e| Refusal::edhoc(BadRequest, "edhoc-framing", e.to_string()))?;
        self.expire_pending(now.mono);
        let unknown = || {
            Refusal::edhoc(
                BadRequest,
                "edhoc-unknown-c_r",
                "no EDHOC exchange waits for message_3 with this C_R",
            )
        };
        let pending = self.pending.get_mut(c_r).ok_or_else(unknown)?;
        // C_R is one byte and travels in the clear: only the address that
        // posted message_1 may touch the exchange.
        if pending.from != from {
            return Err(Refusal::edhoc(
                BadRequest,
                "edhoc-wrong-peer",
                "no EDHOC exchange waits for message_3 with this C_R from this address",
            ));
        }
        let prk_out = match pending.wait.process_message_3(message_3, &pending.client) {
            Ok(prk_out) => prk_out,
            Err(e) => {
                pending.failures = pending.failures.saturating_add(1);
                if pending.wait.is_spent() || pending.failures >= MAX_MESSAGE_3_FAILURES {
                    self.pending.remove(c_r);
                }
                let reason = match e {
                    edhoc::EdhocError::Internal => "edhoc-internal",
                    _ => "edhoc-message-3",
                };
                return Err(Refusal::edhoc(BadRequest, reason, e.to_string()));
            }
        };
        let p = self.pending.remove(c_r).ok_or_else(unknown)?;
        if p.exp <= now.unix {
            return Err(Refusal::new(
                Unauthorized,
                "expired",
                "the token expired during EDHOC",
            ));
        }
        if self.node.spi_in_use(p.spi_sa_c) {
            return Err(Refusal::new(
                Conflict,
                "spi-collision",
                format!("SPI_SA_C {:#010x} is in use", p.spi_sa_c),
            ));
        }
        let seed = edhoc::ipsec_seed_with_context(prk_out.as_bytes(), &p.context);
        let remaining = p.exp.saturating_sub(now.unix);
        let life = Duration::from_secs(remaining.min(u64::from(p.life)));
        let spec = dp_pair_spec(
            DpRole::Server,
            seed.as_bytes(),
            p.spi_sa_c,
            p.spi_sa_rs,
            p.suite,
            p.esp,
            self.node.local_plain().ip(),
            p.from.ip(),
            Some(life),
            format!("token {} (EDHOC)", hex::encode(&p.cti)),
        )
        .map_err(|e| Refusal::new(BadRequest, "kdf", e.to_string()))?;
        let pair = self
            .node
            .install_pair(now.mono, spec)
            .map_err(|e| match e {
                InstallError::SpiInUse(_) => Refusal::new(Conflict, "spi-collision", e.to_string()),
                InstallError::Invalid(_) => Refusal::new(BadRequest, "sa-invalid", e.to_string()),
            })?;
        tracing::info!(%from, cti = %hex::encode(&p.cti), spi_sa_c = format_args!("{:#010x}", p.spi_sa_c), spi_sa_rs = format_args!("{:#010x}", p.spi_sa_rs), suite = p.suite.name(), life_s = life.as_secs(), "EDHOC completed, SA pair installed");
        self.by_pair.insert(pair, p.cti.clone());
        self.tokens.insert(
            p.cti.clone(),
            AcceptedToken {
                cti: p.cti,
                entries: p.entries,
                exp_unix: p.exp,
                expires: after_secs(now.mono, remaining),
                pair: Some(pair),
                spi_sa_c: p.spi_sa_c,
                spi_sa_rs: p.spi_sa_rs,
                peer: p.from,
                ike_tag: None,
                ike_done: false,
            },
        );
        self.stats.tokens_accepted += 1;
        self.stats.edhoc_completed += 1;
        Ok(pair)
    }

    /// Drops the pending exchanges whose time is up.
    fn expire_pending(&mut self, now: Instant) {
        let before = self.pending.len();
        self.pending.retain(|_, p| p.expires > now);
        let gone = (before - self.pending.len()) as u64;
        if gone > 0 {
            *self.stats.edhoc_failed.entry("expired").or_default() += gone;
        }
    }

    /// The (path, methods) pairs a token grants on this RS.
    fn scope_entries(&self, claims: &Claims) -> Result<Vec<(String, u64)>, Refusal> {
        let scope = claims.scope.as_ref().ok_or_else(|| {
            Refusal::new(ResponseCode::BadRequest, "no-scope", "token has no scope")
        })?;
        let entries: Vec<(String, u64)> = match scope {
            Scope::Text(s) => s
                .split(' ')
                .filter(|t| !t.is_empty())
                .filter_map(|t| self.cfg.text_scopes.get(t))
                .flatten()
                .cloned()
                .collect(),
            // Only entries naming a resource of this RS count (RFC 9200 §5.10.1.1).
            Scope::Aif(list) => list
                .iter()
                .filter(|e| self.values.contains_key(&e.path))
                .map(|e| (e.path.clone(), e.methods))
                .collect(),
        };
        if entries.is_empty() {
            // RFC 9200 §5.10.1.1: the scope names nothing this RS has.
            return Err(Refusal::new(
                ResponseCode::BadRequest,
                "scope-empty",
                "the token's scope grants nothing on this RS",
            ));
        }
        Ok(entries)
    }

    /// Draft §3.3: 4.03 if the token does not cover the resource, 4.05 if it does not cover the method.
    fn serve(&mut self, pair: PairId, req: &Request) -> Response {
        let Some(token) = self.by_pair.get(&pair).and_then(|cti| self.tokens.get(cti)) else {
            self.stats.unauthorized += 1;
            return self.hints();
        };
        let bit = req.method.aif_bit();
        match decide(&token.entries, &req.path, bit) {
            ScopeDecision::Granted => {}
            ScopeDecision::NotResource => {
                self.stats.forbidden += 1;
                return diagnostic(
                    ResponseCode::Forbidden,
                    "the access token does not cover this resource",
                );
            }
            ScopeDecision::NotMethod => {
                self.stats.method_not_allowed += 1;
                return diagnostic(
                    ResponseCode::MethodNotAllowed,
                    "the access token does not cover this method",
                );
            }
        }
        let Some(res) = self.values.get_mut(&req.path) else {
            self.stats.not_found += 1;
            return diagnostic(ResponseCode::NotFound, "no such resource");
        };
        if res.methods & bit == 0 {
            self.stats.method_not_allowed += 1;
            return diagnostic(
                ResponseCode::MethodNotAllowed,
                "the resource does not support this method",
            );
        }
        self.stats.served += 1;
        match req.method {
            Method::Get | Method::Fetch => Response {
                code: ResponseCode::Content,
                content_format: res.content_format,
                payload: res.value.clone(),
            },
            Method::Put | Method::Post | Method::Patch | Method::IPatch => {
                res.value = req.payload.clone();
                if req.content_format.is_some() {
                    res.content_format = req.content_format;
                }
                Response {
                    code: ResponseCode::Changed,
                    content_format: None,
                    payload: Vec::new(),
                }
            }
            Method::Delete => {
                res.value.clear();
                Response {
                    code: ResponseCode::Deleted,
                    content_format: None,
                    payload: Vec::new(),
                }
            }
        }
    }

    /// The pair ended (SA lifetime): the token can no longer be used, but its
    /// record stays until `exp` so that it cannot set the same keys up again.
    fn pair_ended(&mut self, pair: PairId) {
        if let Some(cti) = self.by_pair.remove(&pair) {
            if let Some(t) = self.tokens.get_mut(&cti) {
                t.pair = None;
            }
            tracing::info!(cti = %hex::encode(&cti), "SA pair of a token ended");
        }
    }
}

/// A one-byte C_R (its byte and CBOR encoding) that `taken` does not hold:
/// the first free one from `start` on, wrapping around; `None` if all 256
/// are taken. Bounded whatever `max_pending` is.
fn free_c_r(start: u8, taken: impl Fn(&[u8]) -> bool) -> Option<(u8, Vec<u8>)> {
    (0..=255u8).find_map(|i| {
        let raw = start.wrapping_add(i);
        edhoc::conn_id_cbor(&[raw])
            .filter(|enc| !taken(enc))
            .map(|enc| (raw, enc))
    })
}

/// The SA part of a token's `ipsec` structure that both set-up methods share
/// (draft §2.1): ESP in transport mode, both SPIs, and an `alg` this RS can
/// run. The seed rule differs per method and is the caller's.
/// `now` + `secs`, for a token's remaining lifetime: `exp` is the AS's
/// number, and an absurd one must not overflow the clock (capped at ten
/// years).
fn after_secs(now: Instant, secs: u64) -> Instant {
    const MAX: u64 = 10 * 365 * 86_400;
    now + Duration::from_secs(secs.min(MAX))
}

fn esp_transport_sa(ipsec: &IpsecParams) -> Result<(u32, u32, EspSuite), Refusal> {
    use ResponseCode::BadRequest;
    if ipsec.protocol != SecProtocol::Esp || ipsec.mode != Mode::Transport {
        return Err(Refusal::new(
            BadRequest,
            "sa-unsupported",
            "this RS supports ESP in transport mode",
        ));
    }
    let (Some(spi_c), Some(spi_rs), Some(alg)) = (ipsec.spi_sa_c, ipsec.spi_sa_rs, ipsec.alg)
    else {
        return Err(Refusal::new(
            BadRequest,
            "sa-incomplete",
            "the ipsec structure needs SPI_SA_C, SPI_SA_RS and alg",
        ));
    };
    let suite = EspSuite::from_cose_alg(alg).ok_or_else(|| {
        Refusal::new(
            BadRequest,
            "alg-unsupported",
            format!("alg {alg} is not supported"),
        )
    })?;
    Ok((spi_c, spi_rs, suite))
}

fn created() -> Response {
    Response {
        code: ResponseCode::Created,
        content_format: None,
        payload: Vec::new(),
    }
}

/// A response with a diagnostic payload (RFC 7252 §5.5.2).
fn diagnostic(code: ResponseCode, text: &str) -> Response {
    Response {
        code,
        content_format: None,
        payload: text.as_bytes().to_vec(),
    }
}

/// Maps ace-core's CoAP code (class, detail) onto the codec's enum.
fn coap_code(code: ace_core::CoapCode) -> ResponseCode {
    ResponseCode::from_code(code.to_u8()).unwrap_or(ResponseCode::BadRequest)
}

/// The counter label of a claim check failure.
fn invalid_reason(e: &TokenInvalid) -> &'static str {
    match e {
        TokenInvalid::Expired => "expired",
        TokenInvalid::NotYetValid => "not-yet-valid",
        TokenInvalid::WrongAudience => "wrong-audience",
        TokenInvalid::WrongIssuer => "wrong-issuer",
        TokenInvalid::MissingClaim(_) => "missing-claim",
        TokenInvalid::WrongProfile(_) => "wrong-profile",
    }
}

impl HandsOver for ResourceServer {
    fn take_ready(&mut self) -> Vec<ReadyPair> {
        self.ready.as_mut().map(std::mem::take).unwrap_or_default()
    }
}

impl Host for ResourceServer {
    fn node(&mut self) -> &mut Node {
        &mut self.node
    }
    fn node_ref(&self) -> &Node {
        &self.node
    }
    fn on_event(&mut self, now: Now, event: NodeEvent) {
        match event {
            NodeEvent::Coap(Event::Request { id, peer, request }) => {
                self.on_request(now, id, peer, request)
            }
            NodeEvent::Coap(other) => tracing::debug!(?other, "RS ignores client-side CoAP event"),
            NodeEvent::PairExpired(pair) => self.pair_ended(pair),
            NodeEvent::Ike(ev) => self.on_ike_event(now, ev),
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.tokens
            .values()
            .map(|t| t.expires)
            .chain(self.pending.values().map(|p| p.expires))
            .min()
    }
    fn on_timeout(&mut self, now: Now) {
        self.expire_pending(now.mono);
        // The token expired: forget it, and delete its pair if it still lives.
        let due: Vec<Vec<u8>> = self
            .tokens
            .values()
            .filter(|t| t.expires <= now.mono)
            .map(|t| t.cti.clone())
            .collect();
        for cti in due {
            if let Some(t) = self.tokens.remove(&cti) {
                if let Some(pair) = t.pair {
                    self.node.remove_pair(pair);
                    self.by_pair.remove(&pair);
                }
                if let (Some(tag), Some(ike)) = (t.ike_tag, self.ike.as_mut()) {
                    ike.tag_to_cti.remove(&tag);
                    ike.initiated.remove(&tag);
                }
                self.stats.tokens_expired += 1;
                tracing::info!(cti = %hex::encode(&cti), "token expired and forgotten");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn c_r_allocation_ends_when_every_value_is_taken() {
        let mut taken: HashSet<Vec<u8>> = HashSet::new();
        for start in [0u8, 7, 255] {
            taken.clear();
            for _ in 0..256 {
                let (raw, enc) = free_c_r(start, |e| taken.contains(e)).unwrap();
                assert_eq!(edhoc::conn_id_cbor(&[raw]).unwrap(), enc);
                assert!(taken.insert(enc));
            }
            assert_eq!(free_c_r(start, |e| taken.contains(e)), None);
        }
        // One left: found from any start.
        let last = taken.iter().next().unwrap().clone();
        taken.remove(&last);
        assert_eq!(free_c_r(200, |e| taken.contains(e)).unwrap().1, last);
    }
}
