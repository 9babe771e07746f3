//! `ace-rs`: the Resource Server of the `coap_ipsec` profile.
//!
//! * `POST /authz-info` (unprotected, RFC 9200 §5.10.1): decrypt and validate
//!   the access token, derive the SA pair from its `ipsec` structure (Direct
//!   Provisioning, draft §3.3.1), install it, and answer 2.01 **over ESP**.
//! * Any other request without an SA: 4.01 with AS Request Creation Hints
//!   (RFC 9200 §5.3) and nothing more (draft §4.1).
//! * Requests over an SA pair: served if the token bound to that pair covers
//!   resource and method; 4.03 if not the resource, 4.05 if not the method
//!   (draft §3.3).
//!
//! [`ResourceServer`] is a sans-IO [`Host`]: its state changes only through
//! node events, and every decision is counted in [`RsStats`].

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ace_coap::{
    consts::APPLICATION_ACE_CBOR, Event, IncomingId, Method, Request, Response, ResponseCode,
};
use ace_core::authz_info::AuthzInfoRequest;
use ace_core::cwt::{decrypt_token, Claims, TokenKey};
use ace_core::hints::AsCreationHints;
use ace_core::ipsec::{Mode, SecProtocol};
use ace_core::scope::Scope;
use ace_core::validate::{validate_claims, TokenInvalid};
use ace_node::{dp_pair_spec, DpRole, Host, InstallError, Node, NodeEvent, Now, PairId, Peer};
use ipsec_dp::consts::NAT_T_PORT;
use ipsec_dp::suite::EspSuite;

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
}

impl Refusal {
    fn new(code: ResponseCode, reason: &'static str, detail: impl Into<String>) -> Self {
        Refusal {
            code,
            reason,
            detail: detail.into(),
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
        }
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
                    Ok(Accepted { pair, fresh }) => (
                        created(),
                        Some(Peer::Secure {
                            pair,
                            port: from.port(),
                        }),
                        fresh,
                    ),
                    Err(r) => {
                        let n = self.stats.tokens_rejected.entry(r.reason).or_default();
                        *n += 1;
                        if ace_node::log_throttle(*n) {
                            tracing::warn!(%from, reason = r.reason, detail = %r.detail, code = %r.code.as_dotted(), count = *n, "token refused at /authz-info");
                        }
                        (diagnostic(r.code, &r.detail), None, false)
                    }
                };
                let sent = match via {
                    Some(alt) => self.node.endpoint().respond_via(now.mono, id, resp, alt),
                    None => self.node.endpoint().respond(now.mono, id, resp),
                };
                if let Err(e) = sent {
                    tracing::warn!(error = %e, "could not answer /authz-info");
                    if let (Some(Peer::Secure { pair, .. }), true) = (via, fresh) {
                        // The client never learns of the pair this request
                        // installed: undo it (and only it).
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

    /// RFC 9200 §5.10.1 and draft §3.3.1. Changes nothing unless it succeeds.
    fn authz_info(
        &mut self,
        now: Now,
        from: SocketAddr,
        req: &Request,
    ) -> Result<Accepted, Refusal> {
        use ResponseCode::*;
        if req.method != Method::Post {
            return Err(Refusal::new(
                MethodNotAllowed,
                "method",
                "POST the access token",
            ));
        }
        let upload = AuthzInfoRequest::from_cbor(&req.payload).map_err(|e| {
            Refusal::new(BadRequest, "malformed", format!("authz-info payload: {e}"))
        })?;
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
            return match t.pair.filter(|p| self.node.pair(*p).is_some()) {
                Some(pair) => Ok(Accepted { pair, fresh: false }),
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
        if cnf.cose_key.is_some() || cnf.kmp.is_some() {
            return Err(Refusal::new(
                BadRequest,
                "kmp-unsupported",
                "only Direct Provisioning is supported by this RS",
            ));
        }
        if ipsec.protocol != SecProtocol::Esp || ipsec.mode != Mode::Transport {
            return Err(Refusal::new(
                BadRequest,
                "sa-unsupported",
                "this RS supports ESP in transport mode",
            ));
        }
        let (Some(spi_c), Some(spi_rs), Some(alg), Some(seed)) = (
            ipsec.spi_sa_c,
            ipsec.spi_sa_rs,
            ipsec.alg,
            ipsec.seed.as_ref(),
        ) else {
            return Err(Refusal::new(
                BadRequest,
                "dp-incomplete",
                "Direct Provisioning needs SPI_SA_C, SPI_SA_RS, alg and seed",
            ));
        };
        let suite = EspSuite::from_cose_alg(alg).ok_or_else(|| {
            Refusal::new(
                BadRequest,
                "alg-unsupported",
                format!("alg {alg} is not supported"),
            )
        })?;
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
                expires: now.mono + Duration::from_secs(remaining),
                pair: Some(pair),
                spi_sa_c: spi_c,
                spi_sa_rs: spi_rs,
                peer: from,
            },
        );
        self.stats.tokens_accepted += 1;
        Ok(Accepted { pair, fresh: true })
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
        let path_granted: Vec<u64> = token
            .entries
            .iter()
            .filter(|(p, _)| *p == req.path)
            .map(|(_, m)| *m)
            .collect();
        if path_granted.is_empty() {
            self.stats.forbidden += 1;
            return diagnostic(
                ResponseCode::Forbidden,
                "the access token does not cover this resource",
            );
        }
        if path_granted.iter().all(|m| m & bit == 0) {
            self.stats.method_not_allowed += 1;
            return diagnostic(
                ResponseCode::MethodNotAllowed,
                "the access token does not cover this method",
            );
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
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.tokens.values().map(|t| t.expires).min()
    }
    fn on_timeout(&mut self, now: Now) {
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
                self.stats.tokens_expired += 1;
                tracing::info!(cti = %hex::encode(&cti), "token expired and forgotten");
            }
        }
    }
}
