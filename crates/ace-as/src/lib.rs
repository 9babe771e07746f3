//! `ace-as`: the Authorization Server of the `coap_ipsec` profile.
//!
//! `POST /token` (RFC 9200 §5.8) is served only over ESP: every registered
//! client shares an SA pair with the AS from its registration (draft §3.2
//! "MUST be secured"), and the AS identifies the client by the SA the request
//! arrived on. Plain requests get 4.01 and nothing else.

pub mod issuer;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use ace_coap::consts::APPLICATION_ACE_CBOR;
use ace_coap::{Event, IncomingId, Method, Request, Response, ResponseCode};
use ace_core::ipsec::Seed;
use ace_core::token::{AceErrorCode, AceErrorResponse, TokenRequest};
use ace_node::{dp_pair_spec, DpRole, Host, Node, NodeEvent, Now, PairId, Peer, SeqState};
use ipsec_dp::consts::NAT_T_PORT;
use ipsec_dp::suite::EspSuite;
use rand::rngs::StdRng;
use rand::SeedableRng;

pub use issuer::{Issuer, IssuerStats, Policy, RsRegistration};

/// The token endpoint's path (RFC 9200 §5.8).
pub const TOKEN_PATH: &str = "/token";

/// A client registered at the AS, with the SA pair that protects C↔AS.
pub struct ClientRegistration {
    pub id: String,
    /// SPI of the client→AS SA.
    pub spi_c: u32,
    /// SPI of the AS→client SA.
    pub spi_as: u32,
    pub seed: Seed,
    /// COSE algorithm id of the ESP transform.
    pub alg: i64,
    /// The client's ESP-in-UDP address, if fixed; otherwise learned from its first authenticated packet.
    pub esp_addr: Option<SocketAddr>,
}

/// Requests the AS refused before reaching the issuer.
#[derive(Clone, Debug, Default)]
pub struct AsStats {
    pub unprotected_refused: u64,
    pub bad_requests: u64,
    pub not_found: u64,
}

pub struct AuthorizationServer {
    node: Node,
    issuer: Issuer,
    clients: HashMap<PairId, String>,
    rng: StdRng,
    stats: AsStats,
}

/// Why the AS could not start.
#[derive(Debug, thiserror::Error)]
pub enum AsSetupError {
    #[error("client {client}: alg {alg} is not an ESP transform this AS supports")]
    Alg { client: String, alg: i64 },
    #[error("client {client}: {why}")]
    Pair { client: String, why: String },
}

impl AuthorizationServer {
    /// Installs one SA pair per registered client. `rng_seed` makes tests
    /// deterministic; None draws from the OS.
    ///
    /// `resume`: the registration pairs are long-lived, so their sequence
    /// numbers must survive restarts (see [`ace_node::SeqState`]); give the
    /// state the last run persisted under [`registration_state_name`]. `None`
    /// makes them ephemeral (for throwaway keys, as in the demo).
    pub fn new(
        mut node: Node,
        issuer: Issuer,
        clients: Vec<ClientRegistration>,
        now: Instant,
        rng_seed: Option<u64>,
        resume: Option<StateLookup<'_>>,
    ) -> Result<Self, AsSetupError> {
        let mut by_pair = HashMap::new();
        for c in clients {
            let suite = EspSuite::from_cose_alg(c.alg).ok_or(AsSetupError::Alg {
                client: c.id.clone(),
                alg: c.alg,
            })?;
            let peer = c.esp_addr.unwrap_or(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                NAT_T_PORT,
            ));
            let mut spec = dp_pair_spec(
                DpRole::Server,
                c.seed.as_bytes(),
                c.spi_c,
                c.spi_as,
                suite,
                peer,
                node.local_plain().ip(),
                peer.ip(),
                None,
                format!("client {}", c.id),
            )
            .map_err(|e| AsSetupError::Pair {
                client: c.id.clone(),
                why: e.to_string(),
            })?;
            if let Some(load) = resume {
                let name = registration_state_name(&c.id);
                let prev = load(&name).unwrap_or_default();
                spec.persist = Some((name, prev));
            }
            let pair = node
                .install_pair(now, spec)
                .map_err(|e| AsSetupError::Pair {
                    client: c.id.clone(),
                    why: e.to_string(),
                })?;
            by_pair.insert(pair, c.id);
        }
        let rng = match rng_seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_os_rng(),
        };
        Ok(AuthorizationServer {
            node,
            issuer,
            clients: by_pair,
            rng,
            stats: AsStats::default(),
        })
    }

    /// The token issuer (to register keys at run time).
    pub fn issuer_mut(&mut self) -> &mut Issuer {
        &mut self.issuer
    }
    pub fn issuer_stats(&self) -> &IssuerStats {
        self.issuer.stats()
    }
    pub fn stats(&self) -> &AsStats {
        &self.stats
    }

    fn on_request(&mut self, now: Now, id: IncomingId, peer: Peer, req: Request) {
        let resp = match peer {
            Peer::Plain(from) => {
                self.stats.unprotected_refused += 1;
                if ace_node::log_throttle(self.stats.unprotected_refused) {
                    tracing::warn!(%from, path = %req.path, count = self.stats.unprotected_refused, "unprotected request to the AS refused");
                }
                Response {
                    code: ResponseCode::Unauthorized,
                    content_format: None,
                    payload: b"the AS is reachable over IPsec only".to_vec(),
                }
            }
            Peer::Secure { pair, .. } => match self.clients.get(&pair).cloned() {
                None => {
                    self.stats.unprotected_refused += 1;
                    Response {
                        code: ResponseCode::Unauthorized,
                        content_format: None,
                        payload: Vec::new(),
                    }
                }
                Some(client) => self.token_endpoint(now, &client, &req),
            },
        };
        if let Err(e) = self.node.endpoint().respond(now.mono, id, resp) {
            tracing::warn!(error = %e, "could not answer");
        }
    }

    fn token_endpoint(&mut self, now: Now, client: &str, req: &Request) -> Response {
        if req.path != TOKEN_PATH {
            self.stats.not_found += 1;
            return Response {
                code: ResponseCode::NotFound,
                content_format: None,
                payload: Vec::new(),
            };
        }
        if req.method != Method::Post {
            self.stats.bad_requests += 1;
            return Response {
                code: ResponseCode::MethodNotAllowed,
                content_format: None,
                payload: Vec::new(),
            };
        }
        if req
            .content_format
            .is_some_and(|cf| cf != APPLICATION_ACE_CBOR)
        {
            self.stats.bad_requests += 1;
            return Response {
                code: ResponseCode::UnsupportedContentFormat,
                content_format: None,
                payload: Vec::new(),
            };
        }
        let tr = match TokenRequest::from_cbor(&req.payload) {
            Ok(t) => t,
            Err(e) => {
                self.stats.bad_requests += 1;
                let err =
                    AceErrorResponse::with_description(AceErrorCode::InvalidRequest, e.to_string());
                return error_response(&err);
            }
        };
        match self.issuer.issue(now.unix, client, &tr, &mut self.rng) {
            Ok(resp) => {
                tracing::info!(%client, audience = ?tr.audience, "access token issued");
                Response {
                    code: ResponseCode::Created,
                    content_format: Some(APPLICATION_ACE_CBOR),
                    payload: resp.to_cbor(),
                }
            }
            Err(err) => {
                tracing::warn!(%client, error = ?err.error, description = ?err.error_description, "token request refused");
                error_response(&err)
            }
        }
    }
}

/// Finds the persisted state of a registration pair by its name.
pub type StateLookup<'a> = &'a dyn Fn(&str) -> Option<SeqState>;

/// The state file name of a client's registration pair at the AS.
pub fn registration_state_name(client: &str) -> String {
    // Hex keeps the name injective: two client ids never share a file.
    format!("as-registration-{}", hex::encode(client.as_bytes()))
}

/// RFC 9200 §5.8.3: the error's CoAP code with an ace+cbor body.
fn error_response(err: &AceErrorResponse) -> Response {
    let c = err.coap_code();
    let code = ResponseCode::from_code(c.to_u8()).unwrap_or(ResponseCode::BadRequest);
    Response {
        code,
        content_format: Some(APPLICATION_ACE_CBOR),
        payload: err.to_cbor(),
    }
}

/// Summary for reports.
pub fn refused_summary(s: &IssuerStats) -> BTreeMap<&'static str, u64> {
    s.refused.clone()
}

impl Host for AuthorizationServer {
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
            NodeEvent::Coap(other) => tracing::debug!(?other, "AS ignores client-side CoAP event"),
            NodeEvent::PairExpired(pair) => {
                if let Some(c) = self.clients.remove(&pair) {
                    tracing::warn!(client = %c, "registration SA pair expired");
                }
            }
            NodeEvent::Ike(ev) => tracing::debug!(?ev, "AS ignores IKEv2 events"),
        }
    }
}
