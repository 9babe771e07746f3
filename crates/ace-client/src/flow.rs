//! The Client as a sans-IO host: each [`Access`] runs the profile's flow as a
//! typed state machine (discovery → token → SA pair → `/authz-info` → resource).
//!
//! With an EDHOC key ([`ClientHost::set_edhoc_key`]) the client asks the AS
//! for EDHOC (`req_cnf` = its `kid`); when the token selects it (draft
//! Appendix B), the flow is token → `/authz-info` with EDHOC message_1 →
//! message_2 in the 2.01 → SA pair from EDHOC_Exporter → C_R ‖ message_3 to
//! `/.well-known/edhoc` → 2.04 accepted only over the new pair → resource.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ace_coap::consts::APPLICATION_ACE_CBOR;
use ace_coap::{Event, Method, Request, RequestId, Response, ResponseCode};
use ace_core::authz_info::{AuthzInfoEdhoc, AuthzInfoRequest};
use ace_core::cnf::{Cnf, Kmp};
use ace_core::edhoc::{self, InitiatorWaitM2, PublicKey, StaticKey};
use ace_core::hints::AsCreationHints;
use ace_core::ipsec::{IpsecParams, IpsecSpiUpdate, Mode, SecProtocol, Seed};
use ace_core::labels;
use ace_core::labels::content_format::CID_EDHOC_CBOR_SEQ;
use ace_core::labels::edhoc::WELL_KNOWN_PATH;
use ace_core::scope::Scope;
use ace_core::token::{AceErrorResponse, TokenRequest, TokenResponse};
use ace_node::{dp_pair_spec, DpRole, Host, Node, NodeEvent, Now, PairId, Peer, SeqState};
use ipsec_dp::consts::NAT_T_PORT;
use ipsec_dp::suite::EspSuite;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The client's registration at its AS: where the AS is and the SA pair that protects C↔AS.
pub struct AsRegistration {
    /// The AS's ESP-in-UDP address.
    pub esp_addr: SocketAddr,
    /// The AS's CoAP port inside ESP.
    pub coap_port: u16,
    /// SPI of the client→AS SA and of the AS→client SA.
    pub spi_c: u32,
    pub spi_as: u32,
    pub seed: Seed,
    pub alg: i64,
    /// The AS URI as RSs advertise it in their hints (to recognise it).
    pub uri: Option<String>,
}

/// One resource access, with everything the flow may need.
#[derive(Clone, Debug)]
pub struct Access {
    /// The RS's plain CoAP address (also its CoAP port inside ESP).
    pub rs: SocketAddr,
    /// The RS's ESP-in-UDP address (default: the RS's IP, port 4500).
    pub rs_esp: Option<SocketAddr>,
    /// Audience for the token request; None: learn it from the RS's 4.01 (discovery).
    pub audience: Option<String>,
    pub scope: Option<Scope>,
    pub method: Method,
    pub path: String,
    pub payload: Vec<u8>,
    pub content_format: Option<u16>,
}

/// A step of the flow, for transcripts.
#[derive(Clone, Debug)]
pub struct Step {
    pub name: &'static str,
    pub code: Option<String>,
    pub detail: String,
}

/// Why an access failed.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{step}: no answer ({reason})")]
    NoAnswer { step: &'static str, reason: String },
    #[error("token request refused: {0:?}")]
    TokenRefused(Box<AceErrorResponse>),
    #[error("{step}: {code} {detail}")]
    Refused {
        step: &'static str,
        code: String,
        detail: String,
    },
    #[error("{step}: {detail}")]
    Protocol { step: &'static str, detail: String },
}

/// The result of an access: the RS's final response and the steps taken.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub response: Response,
    pub steps: Vec<Step>,
}

/// Identifies an access in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OpId(pub u64);

#[derive(Debug)]
enum State {
    Probing,
    RequestingToken {
        audience: String,
        attempts: u32,
    },
    PostingToken {
        pair: PairId,
        exp: u64,
        audience: String,
    },
    /// EDHOC (draft Appendix B.2): token and message_1 posted, waiting for
    /// message_2 in the 2.01. Nothing is installed yet.
    PostingTokenEdhoc(Box<EdhocPending>),
    /// EDHOC: message_2 verified, the pair derived and installed, C_R ‖
    /// message_3 posted; the 2.04 must come over `pair`.
    SendingMessage3 {
        pair: PairId,
        exp: u64,
        audience: String,
    },
    /// `reused`: the session existed before this access; if the RS no longer
    /// knows it, the access fetches a new token once.
    Requesting {
        pair: PairId,
        reused: bool,
    },
    /// IKEv2 (draft §3.2.2/§3.2.3): token posted; the plain 2.01 starts
    /// IKE_SA_INIT towards the RS (NOTES-profile point 4).
    PostingTokenIke(Box<IkePending>),
    /// IKEv2 running; the Child SA becomes the session's pair.
    IkeExchange {
        exp: u64,
        audience: String,
    },
    /// Another access to the same RS is getting a token: this one waits for
    /// its session instead of fetching a second token (which would replace
    /// the first access's SA pair while it is in use).
    Waiting,
}

impl State {
    /// Getting a token or setting its SA pair up.
    fn acquiring(&self) -> bool {
        matches!(
            self,
            State::Probing
                | State::RequestingToken { .. }
                | State::PostingToken { .. }
                | State::PostingTokenEdhoc(_)
                | State::SendingMessage3 { .. }
                | State::PostingTokenIke(_)
                | State::IkeExchange { .. }
        )
    }
}

/// What C keeps between the token POST and its 2.01 (IKEv2).
#[derive(Debug)]
struct IkePending {
    exp: u64,
    audience: String,
    rs_esp: SocketAddr,
    params: ikev2::InitiatorParams,
    /// The RS starts IKE_SA_INIT (`ike_rs_initiates`): C waits as responder.
    rs_initiates: bool,
    /// With `rs_initiates`, a Child SA that came up before the 2.01 did.
    early: Option<Box<ikev2::ChildSa>>,
}

/// Which IKEv2 proof-of-possession key the client asks for.
#[derive(Clone, Debug)]
pub enum IkeKey {
    /// A PSK the AS draws (draft §3.2.2): `req_cnf` = {kmp: ikev2}.
    Psk,
    /// Raw public keys (draft §3.2.3): the client's P-256 key and its `kid`.
    Rpk {
        kid: Vec<u8>,
        key: std::sync::Arc<ikev2::crypto::P256SigningKey>,
    },
}

/// What C keeps between message_1 and message_2.
#[derive(Debug)]
struct EdhocPending {
    wait: InitiatorWaitM2,
    exp: u64,
    audience: String,
    spi_sa_c: u32,
    spi_sa_rs: u32,
    suite: EspSuite,
    life: u32,
    /// The RS's credential, from `rs_cnf`.
    rs_key: PublicKey,
    /// SHA-256 of the access token: the exporter context of the seed.
    context: [u8; 32],
}

struct Op {
    access: Access,
    state: State,
    steps: Vec<Step>,
    /// Ends when the SA pair is confirmed, without a resource request
    /// ([`ClientHost::establish`]).
    establish_only: bool,
}

/// An established channel to an RS.
#[derive(Clone, Debug)]
pub struct Session {
    pub pair: PairId,
    pub exp_unix: u64,
    pub audience: String,
}

/// The state file name of the client's registration pair.
pub const REGISTRATION_STATE: &str = "client-registration";

/// How often a collision of SPI_SA_RS may be answered with a token update.
const MAX_TOKEN_ATTEMPTS: u32 = 3;

pub struct ClientHost {
    node: Node,
    id: String,
    as_pair: PairId,
    as_port: u16,
    as_uri: Option<String>,
    ops: HashMap<OpId, Op>,
    pending: HashMap<RequestId, OpId>,
    sessions: HashMap<SocketAddr, Session>,
    done: VecDeque<(OpId, Result<Outcome, ClientError>)>,
    next_op: u64,
    rng: StdRng,
    edhoc_key: Option<StaticKey>,
    ike: Option<IkeKey>,
    ike_rs_initiates: bool,
    /// IKEv2 PSKs this client holds, by audience (`kid`, `k`): the next
    /// token request for that audience names the PSK by its `kid` and the
    /// AS does not send it again (draft §3.2.2).
    ike_psks: HashMap<String, (Vec<u8>, ikev2::Secret)>,
}

impl ClientHost {
    /// Asks for EDHOC tokens (draft Appendix B) with this static key: token
    /// requests carry its `kid` in `req_cnf`, and EDHOC runs with it.
    pub fn set_edhoc_key(&mut self, key: StaticKey) {
        self.edhoc_key = Some(key);
    }

    /// Asks for IKEv2 tokens (draft §3.2.2, §3.2.3) and runs an IKEv2
    /// initiator on the node's ESP-in-UDP port.
    pub fn set_ike(&mut self, cfg: ikev2::Config, key: IkeKey) -> Result<(), ikev2::IkeError> {
        self.node.enable_ike(cfg)?;
        self.ike = Some(key);
        Ok(())
    }

    /// Who starts IKE_SA_INIT after the token (NOTES-profile point 4):
    /// `false` (the default) — C, after the RS's 2.01; `true` — the RS,
    /// towards C's ESP-in-UDP port, as the acknowledgement of the token
    /// (the literal reading of the draft's Figure 8). C must then be
    /// reachable by the RS on that port (no NAT in between); it registers
    /// the RS as an IKE peer before posting the token.
    pub fn set_ike_rs_initiates(&mut self, yes: bool) {
        self.ike_rs_initiates = yes;
    }

    /// A PSK for IKEv2 with `audience` that this client already holds
    /// (provisioned with the device and registered at the AS): token
    /// requests name it by `kid` (draft §3.2.2). PSKs the AS draws are
    /// held the same way once received.
    pub fn hold_ike_psk(&mut self, audience: &str, kid: Vec<u8>, k: &[u8]) {
        self.ike_psks
            .insert(audience.to_string(), (kid, ikev2::Secret::from_slice(k)));
    }

    /// The `kid` of the IKEv2 PSK held for `audience`, if any.
    pub fn held_ike_psk_kid(&self, audience: &str) -> Option<&[u8]> {
        self.ike_psks.get(audience).map(|(kid, _)| kid.as_slice())
    }

    /// Installs the registration SA pair towards the AS.
    ///
    /// `resume` is the registration pair's persisted state (see
    /// [`ace_node::SeqState`]): `Some` makes the pair persistent under
    /// [`REGISTRATION_STATE`], `None` ephemeral (throwaway keys).
    pub fn new(
        mut node: Node,
        id: String,
        reg: AsRegistration,
        now: Instant,
        rng_seed: Option<u64>,
        resume: Option<SeqState>,
    ) -> Result<Self, String> {
        let suite = EspSuite::from_cose_alg(reg.alg)
            .ok_or_else(|| format!("alg {} is not supported", reg.alg))?;
        let mut spec = dp_pair_spec(
            DpRole::Client,
            reg.seed.as_bytes(),
            reg.spi_c,
            reg.spi_as,
            suite,
            reg.esp_addr,
            node.local_plain().ip(),
            reg.esp_addr.ip(),
            None,
            "AS".to_string(),
        )
        .map_err(|e| e.to_string())?;
        spec.persist = resume.map(|st| (REGISTRATION_STATE.to_string(), st));
        let as_pair = node.install_pair(now, spec).map_err(|e| e.to_string())?;
        let rng = match rng_seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_os_rng(),
        };
        Ok(ClientHost {
            node,
            id,
            as_pair,
            as_port: reg.coap_port,
            as_uri: reg.uri,
            ops: HashMap::new(),
            pending: HashMap::new(),
            sessions: HashMap::new(),
            done: VecDeque::new(),
            next_op: 1,
            rng,
            edhoc_key: None,
            ike: None,
            ike_rs_initiates: false,
            ike_psks: HashMap::new(),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }
    pub fn session(&self, rs: SocketAddr) -> Option<&Session> {
        self.sessions.get(&rs)
    }
    /// Forgets the session with an RS and deletes its SA pair.
    pub fn drop_session(&mut self, rs: SocketAddr) {
        if let Some(s) = self.sessions.remove(&rs) {
            self.node.remove_pair(s.pair);
        }
    }

    /// Starts an access. The flow reuses a live session with the RS.
    pub fn start(&mut self, now: Now, access: Access) -> OpId {
        self.begin(now, access, false)
    }

    /// Sets up a new SA pair with the RS — a new token, always — and ends
    /// once the RS confirmed it over the pair (the 2.01 / 2.04 is the
    /// outcome's response), without a resource request: for the
    /// transparent mode, where an unmodified program uses the pair. The
    /// pair is the RS's [`ClientHost::session`] then.
    pub fn establish(&mut self, now: Now, access: Access) -> OpId {
        self.begin(now, access, true)
    }

    fn begin(&mut self, now: Now, access: Access, establish_only: bool) -> OpId {
        let id = OpId(self.next_op);
        self.next_op += 1;
        let state = self.first_state(now, &access, establish_only);
        self.ops.insert(
            id,
            Op {
                access,
                state,
                steps: Vec::new(),
                establish_only,
            },
        );
        self.enter(now, id);
        id
    }

    /// Where an access to `access.rs` begins: on the live session (unless
    /// `fresh`), waiting for another access's token acquisition, or with
    /// its own.
    fn first_state(&self, now: Now, access: &Access, fresh: bool) -> State {
        let session = self
            .sessions
            .get(&access.rs)
            .filter(|s| !fresh && s.exp_unix > now.unix)
            .map(|s| s.pair);
        if let Some(pair) = session {
            return State::Requesting { pair, reused: true };
        }
        if self
            .ops
            .values()
            .any(|o| o.access.rs == access.rs && o.state.acquiring())
        {
            return State::Waiting;
        }
        match access.audience.clone() {
            Some(audience) => State::RequestingToken {
                audience,
                attempts: 0,
            },
            None => State::Probing,
        }
    }

    /// Resumes waiting accesses whose RS is no longer being acquired: on the
    /// new session, or (the acquisition failed) with their own attempt — one
    /// at a time per RS.
    fn wake_waiting(&mut self, now: Now) {
        let mut waiting: Vec<OpId> = self
            .ops
            .iter()
            .filter(|(_, o)| matches!(o.state, State::Waiting))
            .map(|(id, _)| *id)
            .collect();
        waiting.sort_by_key(|id| id.0);
        for id in waiting {
            let Some((access, fresh)) = self
                .ops
                .get(&id)
                .map(|o| (o.access.clone(), o.establish_only))
            else {
                continue;
            };
            let state = self.first_state(now, &access, fresh);
            if matches!(state, State::Waiting) {
                continue;
            }
            if let Some(op) = self.ops.get_mut(&id) {
                op.state = state;
            }
            self.enter(now, id);
        }
    }

    /// Finished accesses.
    pub fn poll_done(&mut self) -> Option<(OpId, Result<Outcome, ClientError>)> {
        self.done.pop_front()
    }

    /// Sends what the op's current state needs.
    fn enter(&mut self, now: Now, id: OpId) {
        let Some(op) = self.ops.get(&id) else { return };
        let a = &op.access;
        let (peer, req, alt) = match &op.state {
            State::Probing => (Peer::Plain(a.rs), resource_request(a), None),
            State::RequestingToken { audience, .. } => {
                let mut tr = TokenRequest::new();
                tr.audience = Some(audience.clone());
                tr.scope = a.scope.clone();
                // draft Appendix B.1: the PoP key names EDHOC's credential.
                tr.req_cnf = self.edhoc_key.as_ref().map(|k| Cnf {
                    kid: Some(k.public().kid.clone()),
                    ..Cnf::default()
                });
                // draft §3.2.2/§3.2.3: kmp = ikev2, with our public key for
                // raw public keys, without a key to get a PSK.
                if let Some(ike) = &self.ike {
                    tr.req_cnf = Some(Cnf {
                        kmp: Some(Kmp::Ikev2),
                        kid: match ike {
                            IkeKey::Psk => self.ike_psks.get(audience).map(|(kid, _)| kid.clone()),
                            IkeKey::Rpk { .. } => None,
                        },
                        cose_key: match ike {
                            IkeKey::Psk => None,
                            IkeKey::Rpk { kid, key } => {
                                let xy = key.public_key().to_xy();
                                let mut x = [0u8; 32];
                                let mut y = [0u8; 32];
                                x.copy_from_slice(&xy[..32]);
                                y.copy_from_slice(&xy[32..]);
                                Some(
                                    PublicKey {
                                        kid: kid.clone(),
                                        x,
                                        y,
                                    }
                                    .to_cose_key(),
                                )
                            }
                        },
                        ..Cnf::default()
                    });
                }
                (
                    Peer::Secure {
                        pair: self.as_pair,
                        port: self.as_port,
                    },
                    token_request(&tr),
                    None,
                )
            }
            State::PostingToken { .. }
            | State::PostingTokenEdhoc(_)
            | State::PostingTokenIke(_)
            | State::IkeExchange { .. }
            | State::SendingMessage3 { .. } => return, // sent by the response handlers
            State::Waiting => return, // resumed by `wake_waiting`
            State::Requesting { pair, .. } => (
                Peer::Secure {
                    pair: *pair,
                    port: a.rs.port(),
                },
                resource_request(a),
                None::<Peer>,
            ),
        };
        self.send(now, id, peer, req, alt);
    }

    fn send(&mut self, now: Now, id: OpId, peer: Peer, req: Request, alt: Option<Peer>) {
        let rid = self.node.endpoint().request(now.mono, peer, req, true);
        if let Some(alt) = alt {
            self.node.endpoint().expect_response_from(rid, alt);
        }
        self.pending.insert(rid, id);
    }

    fn step(
        &mut self,
        id: OpId,
        name: &'static str,
        code: Option<&ResponseCode>,
        detail: impl Into<String>,
    ) {
        if let Some(op) = self.ops.get_mut(&id) {
            op.steps.push(Step {
                name,
                code: code.map(|c| c.as_dotted().to_string()),
                detail: detail.into(),
            });
        }
    }

    fn finish(&mut self, id: OpId, r: Result<Response, ClientError>) {
        if let Some(op) = self.ops.remove(&id) {
            if let State::PostingToken { pair, .. } | State::SendingMessage3 { pair, .. } = op.state
            {
                // The RS refused the token or message_3: the pair installed for it goes too.
                if r.is_err() {
                    self.node.remove_pair(pair);
                }
            }
            self.done.push_back((
                id,
                r.map(|response| Outcome {
                    response,
                    steps: op.steps,
                }),
            ));
        }
    }

    fn on_response(&mut self, now: Now, id: OpId, from: Peer, resp: Response) {
        let Some(op) = self.ops.get(&id) else { return };
        match &op.state {
            State::Probing => {
                if resp.code != ResponseCode::Unauthorized {
                    self.step(
                        id,
                        "unauthorized request",
                        Some(&resp.code),
                        "resource answered without a token",
                    );
                    return self.finish(id, Ok(resp));
                }
                let hints = match AsCreationHints::from_cbor(&resp.payload) {
                    Ok(h) => h,
                    Err(e) => {
                        return self.finish(
                            id,
                            Err(ClientError::Protocol {
                                step: "discovery",
                                detail: format!(
                                    "4.01 without usable AS Request Creation Hints: {e}"
                                ),
                            }),
                        )
                    }
                };
                self.step(
                    id,
                    "unauthorized request",
                    Some(&resp.code),
                    format!("AS {} audience {:?}", hints.as_uri, hints.audience),
                );
                if let (Some(known), uri) = (&self.as_uri, &hints.as_uri) {
                    if known != uri {
                        return self.finish(
                            id,
                            Err(ClientError::Protocol {
                                step: "discovery",
                                detail: format!(
                                    "RS names AS {uri}, this client is registered with {known}"
                                ),
                            }),
                        );
                    }
                }
                let Some(audience) = hints.audience.clone() else {
                    return self.finish(
                        id,
                        Err(ClientError::Protocol {
                            step: "discovery",
                            detail: "hints carry no audience".into(),
                        }),
                    );
                };
                if let Some(op) = self.ops.get_mut(&id) {
                    op.state = State::RequestingToken {
                        audience,
                        attempts: 0,
                    };
                }
                self.enter(now, id);
            }
            State::RequestingToken { .. } => self.got_token(now, id, resp),
            State::PostingToken {
                pair,
                exp,
                audience,
            } => {
                let (pair, exp, audience) = (*pair, *exp, audience.clone());
                // draft §3.3.1: the 2.01 comes over the new pair; a plain one is
                // not a confirmation (anyone on the path can send it).
                let over_pair = matches!(from, Peer::Secure { pair: p, .. } if p == pair);
                if resp.code == ResponseCode::Created && !over_pair {
                    self.step(
                        id,
                        "POST /authz-info",
                        Some(&resp.code),
                        "2.01 not over the SA pair: ignored as unauthenticated",
                    );
                    return self.finish(
                        id,
                        Err(ClientError::Protocol {
                            step: "POST /authz-info",
                            detail: "the 2.01 did not arrive over the SA pair".into(),
                        }),
                    );
                }
                if resp.code != ResponseCode::Created {
                    let detail = String::from_utf8_lossy(&resp.payload).into_owned();
                    self.step(id, "POST /authz-info", Some(&resp.code), detail.clone());
                    return self.finish(
                        id,
                        Err(ClientError::Refused {
                            step: "POST /authz-info",
                            code: resp.code.as_dotted(),
                            detail,
                        }),
                    );
                }
                self.step(
                    id,
                    "POST /authz-info",
                    Some(&resp.code),
                    "2.01 received over ESP: SA pair confirmed",
                );
                self.established(now, id, (pair, exp, audience), resp);
            }
            State::PostingTokenEdhoc(_) => self.got_message_2(now, id, resp),
            State::PostingTokenIke(_) => self.start_ike(now, id, resp),
            // IKEv2 has no CoAP exchange in flight.
            State::IkeExchange { .. } => {}
            State::SendingMessage3 {
                pair,
                exp,
                audience,
            } => {
                let (pair, exp, audience) = (*pair, *exp, audience.clone());
                // The 2.04 comes over the new pair (as DP's 2.01 does): only
                // the RS that verified message_3 holds its keys.
                let over_pair = matches!(from, Peer::Secure { pair: p, .. } if p == pair);
                if resp.code != ResponseCode::Changed || !over_pair {
                    let detail = if resp.code == ResponseCode::Changed {
                        "the 2.04 did not arrive over the SA pair".to_string()
                    } else {
                        edhoc_error_text(&resp.payload)
                    };
                    self.step(id, "EDHOC message_3", Some(&resp.code), detail.clone());
                    return self.finish(
                        id,
                        Err(ClientError::Refused {
                            step: "EDHOC message_3",
                            code: resp.code.as_dotted(),
                            detail,
                        }),
                    );
                }
                self.step(
                    id,
                    "EDHOC message_3",
                    Some(&resp.code),
                    "2.04 received over ESP: EDHOC done, SA pair confirmed",
                );
                self.established(now, id, (pair, exp, audience), resp);
            }
            State::Requesting { .. } => {
                let (m, p) = self
                    .ops
                    .get(&id)
                    .map(|o| (o.access.method, o.access.path.clone()))
                    .unwrap_or((Method::Get, String::new()));
                self.step(
                    id,
                    "resource request",
                    Some(&resp.code),
                    format!("{m:?} {p} over ESP"),
                );
                self.finish(id, Ok(resp));
            }
            // A waiting access has nothing in flight.
            State::Waiting => {}
        }
    }

    /// The SA pair is confirmed: keep the session, send the resource
    /// request (or, establishing only, finish with `confirmation`).
    fn established(
        &mut self,
        now: Now,
        id: OpId,
        (pair, exp, audience): (PairId, u64, String),
        confirmation: Response,
    ) {
        let rs = self.ops.get(&id).map(|o| o.access.rs);
        if let Some(rs) = rs {
            if let Some(old) = self.sessions.insert(
                rs,
                Session {
                    pair,
                    exp_unix: exp,
                    audience,
                },
            ) {
                if old.pair != pair {
                    self.node.remove_pair(old.pair);
                }
            }
        }
        if self.ops.get(&id).is_some_and(|o| o.establish_only) {
            return self.finish(id, Ok(confirmation));
        }
        if let Some(op) = self.ops.get_mut(&id) {
            op.state = State::Requesting {
                pair,
                reused: false,
            };
        }
        self.enter(now, id);
    }

    fn fail(&mut self, id: OpId, step: &'static str, detail: impl Into<String>) {
        self.finish(
            id,
            Err(ClientError::Protocol {
                step,
                detail: detail.into(),
            }),
        )
    }

    /// draft Appendix B.2: EDHOC message_1 goes with the token to
    /// `/authz-info`; nothing is installed before message_2 verifies.
    #[allow(clippy::too_many_arguments)]
    fn start_edhoc(
        &mut self,
        now: Now,
        id: OpId,
        tr: TokenResponse,
        life: u32,
        exp: u64,
        audience: String,
        spi_sa_c: u32,
        spi_sa_rs: u32,
        suite: EspSuite,
    ) {
        let Some(key) = self.edhoc_key.as_ref() else {
            return self.fail(id, "POST /token", "EDHOC token without an EDHOC key");
        };
        let rs_key = match tr.rs_cnf.as_ref().map(PublicKey::from_cose_key) {
            Some(Ok(k)) => k,
            Some(Err(e)) => return self.fail(id, "POST /token", format!("rs_cnf: {e}")),
            None => return self.fail(id, "POST /token", "no rs_cnf"),
        };
        let lakers_rng = StdRng::from_rng(&mut self.rng);
        let (wait, message_1) = match edhoc::initiate(lakers_rng, key) {
            Ok(v) => v,
            Err(e) => return self.fail(id, "EDHOC message_1", e.to_string()),
        };
        let Some(rs) = self.ops.get(&id).map(|o| o.access.rs) else {
            return;
        };
        let upload = AuthzInfoEdhoc {
            access_token: tr.access_token,
            esp_udp_port: Some(self.node.local_esp().port()),
            message_1,
        };
        let context = edhoc::seed_context(&upload.access_token);
        if let Some(op) = self.ops.get_mut(&id) {
            op.state = State::PostingTokenEdhoc(Box::new(EdhocPending {
                wait,
                exp,
                audience,
                spi_sa_c,
                spi_sa_rs,
                suite,
                life,
                rs_key,
                context,
            }));
        }
        let req = Request {
            method: Method::Post,
            path: "/authz-info".into(),
            query: Vec::new(),
            content_format: Some(APPLICATION_ACE_CBOR),
            payload: upload.to_cbor(),
        };
        self.send(now, id, Peer::Plain(rs), req, None);
    }

    /// The RS answered the token + message_1: message_2 in a 2.01 (plain),
    /// or an RFC 9200 / EDHOC error. On message_2: verify it with the key of
    /// `rs_cnf`, derive the seed, install the pair, post C_R ‖ message_3.
    fn got_message_2(&mut self, now: Now, id: OpId, resp: Response) {
        let Some(op) = self.ops.get_mut(&id) else {
            return;
        };
        let State::PostingTokenEdhoc(pending) = std::mem::replace(&mut op.state, State::Probing)
        else {
            return;
        };
        let rs = op.access.rs;
        let rs_esp = op
            .access
            .rs_esp
            .unwrap_or(SocketAddr::new(rs.ip(), NAT_T_PORT));
        if resp.code != ResponseCode::Created {
            let detail = edhoc_error_text(&resp.payload);
            self.step(id, "POST /authz-info", Some(&resp.code), detail.clone());
            return self.finish(
                id,
                Err(ClientError::Refused {
                    step: "POST /authz-info",
                    code: resp.code.as_dotted(),
                    detail,
                }),
            );
        }
        let p = *pending;
        let done = match p.wait.process_message_2(&resp.payload, &p.rs_key) {
            Ok(d) => d,
            Err(e) => {
                self.step(id, "POST /authz-info", Some(&resp.code), e.to_string());
                return self.fail(id, "EDHOC message_2", e.to_string());
            }
        };
        self.step(
            id,
            "POST /authz-info",
            Some(&resp.code),
            "2.01 with EDHOC message_2: RS authenticated",
        );
        // draft §2.1: SPI_SA_RS must still be free here.
        if self.node.spi_in_use(p.spi_sa_rs) {
            return self.fail(id, "SA pair", "SPI_SA_RS is in use");
        }
        let seed = edhoc::ipsec_seed_with_context(done.prk_out.as_bytes(), &p.context);
        let life = Duration::from_secs(u64::from(p.life).min(p.exp.saturating_sub(now.unix)));
        let spec = match dp_pair_spec(
            DpRole::Client,
            seed.as_bytes(),
            p.spi_sa_c,
            p.spi_sa_rs,
            p.suite,
            rs_esp,
            self.node.local_plain().ip(),
            rs.ip(),
            Some(life),
            format!("{} via EDHOC", p.audience),
        ) {
            Ok(s) => s,
            Err(e) => return self.fail(id, "SA pair", e.to_string()),
        };
        let pair = match self.node.install_pair(now.mono, spec) {
            Ok(pair) => pair,
            Err(e) => return self.fail(id, "SA pair", e.to_string()),
        };
        if let Some(op) = self.ops.get_mut(&id) {
            op.state = State::SendingMessage3 {
                pair,
                exp: p.exp,
                audience: p.audience,
            };
        }
        let req = Request {
            method: Method::Post,
            path: WELL_KNOWN_PATH.into(),
            query: Vec::new(),
            content_format: Some(CID_EDHOC_CBOR_SEQ),
            payload: done.message_3_request(),
        };
        // RFC 9528 Appendix A.2, answered (2.04) over the new pair.
        self.send(
            now,
            id,
            Peer::Plain(rs),
            req,
            Some(Peer::Secure {
                pair,
                port: rs.port(),
            }),
        );
    }

    /// A request on a reused session got no answer or a 4.01: the RS no longer
    /// knows the token (restart, eviction). Drop the session and fetch a new
    /// token, once. Returns whether the op continues.
    fn retry_with_new_token(&mut self, now: Now, id: OpId) -> bool {
        let Some(op) = self.ops.get(&id) else {
            return false;
        };
        let State::Requesting { reused: true, .. } = op.state else {
            return false;
        };
        let rs = op.access.rs;
        let audience = self
            .sessions
            .get(&rs)
            .map(|s| s.audience.clone())
            .or_else(|| op.access.audience.clone());
        self.drop_session(rs);
        self.step(
            id,
            "session lost",
            None,
            "no answer or 4.01 on the old SA pair: new token",
        );
        if let Some(op) = self.ops.get_mut(&id) {
            op.state = match audience {
                Some(audience) => State::RequestingToken {
                    audience,
                    attempts: 0,
                },
                None => State::Probing,
            };
        }
        self.enter(now, id);
        true
    }

    /// The AS answered the token request: check it, install the pair, post the token.
    fn got_token(&mut self, now: Now, id: OpId, resp: Response) {
        if resp.code != ResponseCode::Created && self.forget_refused_psk(now, id, &resp.code) {
            return;
        }
        if resp.code != ResponseCode::Created {
            let err = AceErrorResponse::from_cbor(&resp.payload).map_err(|e| e.to_string());
            self.step(id, "POST /token", Some(&resp.code), format!("{err:?}"));
            return self.finish(
                id,
                Err(match err {
                    Ok(e) => ClientError::TokenRefused(Box::new(e)),
                    Err(d) => ClientError::Refused {
                        step: "POST /token",
                        code: resp.code.as_dotted(),
                        detail: d,
                    },
                }),
            );
        }
        let tr = match TokenResponse::from_cbor(&resp.payload) {
            Ok(t) => t,
            Err(e) => {
                return self.finish(
                    id,
                    Err(ClientError::Protocol {
                        step: "POST /token",
                        detail: format!("token response: {e}"),
                    }),
                )
            }
        };
        if self.ike.is_some() && tr.cnf.as_ref().and_then(|c| c.kmp) == Some(Kmp::Ikev2) {
            return self.got_ike_token(now, id, tr, &resp.code);
        }
        let checked = check_profile(&tr, self.edhoc_key.is_some());
        let (ipsec, suite, kmp) = match checked {
            Ok(v) => v,
            Err(d) => {
                return self.finish(
                    id,
                    Err(ClientError::Protocol {
                        step: "POST /token",
                        detail: d,
                    }),
                )
            }
        };
        let (Some(spi_c), Some(spi_rs)) = (ipsec.spi_sa_c, ipsec.spi_sa_rs) else {
            return self.finish(
                id,
                Err(ClientError::Protocol {
                    step: "POST /token",
                    detail: "incomplete ipsec".into(),
                }),
            );
        };
        let Some((audience, attempts, access)) = self.ops.get(&id).and_then(|op| match &op.state {
            State::RequestingToken { audience, attempts } => {
                Some((audience.clone(), *attempts, op.access.clone()))
            }
            _ => None,
        }) else {
            return;
        };
        self.step(
            id,
            "POST /token",
            Some(&resp.code),
            format!(
                "token {} bytes, SPI_SA_C {spi_c:#010x}, SPI_SA_RS {spi_rs:#010x}, {}{}",
                tr.access_token.len(),
                suite.name(),
                if kmp == Some(Kmp::Edhoc) {
                    ", kmp edhoc"
                } else {
                    ""
                }
            ),
        );
        // draft §2.1: SPI_SA_RS must be free here; otherwise ask for a token update.
        if self.node.spi_in_use(spi_rs) {
            if attempts + 1 >= MAX_TOKEN_ATTEMPTS {
                return self.finish(
                    id,
                    Err(ClientError::Protocol {
                        step: "POST /token",
                        detail: "SPI_SA_RS keeps colliding".into(),
                    }),
                );
            }
            let fresh = loop {
                let s: u32 = self.rng.random_range(256..=u32::MAX);
                if !self.node.spi_in_use(s) && s != spi_c {
                    break s;
                }
            };
            self.step(
                id,
                "SPI_SA_RS collision",
                None,
                format!("{spi_rs:#010x} in use: token update asking for {fresh:#010x}"),
            );
            let Ok(spi_update) = IpsecSpiUpdate::new(fresh) else {
                return self.finish(
                    id,
                    Err(ClientError::Protocol {
                        step: "POST /token",
                        detail: "no valid SPI for the update".into(),
                    }),
                );
            };
            let mut update = TokenRequest::new();
            update.audience = Some(audience.clone());
            update.req_cnf = Some(Cnf {
                ipsec_update: Some(spi_update),
                ..Cnf::default()
            });
            if let Some(op) = self.ops.get_mut(&id) {
                op.state = State::RequestingToken {
                    audience,
                    attempts: attempts + 1,
                };
            }
            let peer = Peer::Secure {
                pair: self.as_pair,
                port: self.as_port,
            };
            return self.send(now, id, peer, token_request(&update), None);
        }
        let exp = now
            .unix
            .saturating_add(tr.expires_in.unwrap_or(u64::from(ipsec.life)));
        if kmp == Some(Kmp::Edhoc) {
            return self.start_edhoc(now, id, tr, ipsec.life, exp, audience, spi_c, spi_rs, suite);
        }
        let Some(seed) = ipsec.seed.as_ref() else {
            return self.finish(
                id,
                Err(ClientError::Protocol {
                    step: "POST /token",
                    detail: "incomplete ipsec".into(),
                }),
            );
        };
        let life = Duration::from_secs(u64::from(ipsec.life).min(exp.saturating_sub(now.unix)));
        let rs_esp = access
            .rs_esp
            .unwrap_or(SocketAddr::new(access.rs.ip(), NAT_T_PORT));
        let spec = match dp_pair_spec(
            DpRole::Client,
            seed.as_bytes(),
            spi_c,
            spi_rs,
            suite,
            rs_esp,
            self.node.local_plain().ip(),
            access.rs.ip(),
            Some(life),
            format!("{audience} via token"),
        ) {
            Ok(s) => s,
            Err(e) => {
                return self.finish(
                    id,
                    Err(ClientError::Protocol {
                        step: "SA pair",
                        detail: e.to_string(),
                    }),
                )
            }
        };
        let pair = match self.node.install_pair(now.mono, spec) {
            Ok(p) => p,
            Err(e) => {
                return self.finish(
                    id,
                    Err(ClientError::Protocol {
                        step: "SA pair",
                        detail: e.to_string(),
                    }),
                )
            }
        };
        if let Some(op) = self.ops.get_mut(&id) {
            op.state = State::PostingToken {
                pair,
                exp,
                audience,
            };
        }
        let req = authz_info_post(tr.access_token, self.node.local_esp().port(), false);
        // draft §3.3.1: the 2.01 comes back over the SA pair just installed.
        self.send(
            now,
            id,
            Peer::Plain(access.rs),
            req,
            Some(Peer::Secure {
                pair,
                port: access.rs.port(),
            }),
        );
    }
}

impl ClientHost {
    /// An IKEv2 token (draft §3.2.2, §3.2.3): the PSK from `cnf` or the
    /// RS's key from `rs_cnf` become the IKE SA's credentials; the token is
    /// posted plain and its 2.01 starts IKE_SA_INIT.
    fn got_ike_token(&mut self, now: Now, id: OpId, tr: TokenResponse, code: &ResponseCode) {
        use ikev2::config::{key_id, ChildPolicy, Credential, InitiatorParams, PeerAuth};
        let Some((audience, access)) = self.ops.get(&id).and_then(|op| match &op.state {
            State::RequestingToken { audience, .. } => Some((audience.clone(), op.access.clone())),
            _ => None,
        }) else {
            return;
        };
        type Psk = Option<(Vec<u8>, ikev2::Secret)>;
        let built = (|| -> Result<(InitiatorParams, u32, Psk), String> {
            if tr.ace_profile != Some(labels::ace_profile::COAP_IPSEC) {
                return Err("ace_profile is not coap_ipsec".into());
            }
            let cnf = tr.cnf.as_ref().ok_or("token response has no cnf")?;
            let ipsec = cnf.ipsec.as_ref().ok_or("cnf has no ipsec structure")?;
            if ipsec.protocol != SecProtocol::Esp || ipsec.mode != Mode::Transport {
                return Err("only ESP transport mode is supported by this client".into());
            }
            let mut psk = None;
            let (local_id, credential, peer_id, peer_auth) = match &self.ike {
                Some(IkeKey::Psk) => {
                    // A PSK the AS drew comes as a COSE_Key; one this
                    // client holds is named by its kid only.
                    let (kid, k) = match (&cnf.cose_key, &cnf.kid) {
                        (Some(key), _) => {
                            let k = ace_core::cnf::symmetric_k(key)
                                .ok_or("the COSE_Key carries no k")?;
                            if key.key_id.is_empty() {
                                return Err("the COSE_Key carries no kid".into());
                            }
                            (key.key_id.clone(), ikev2::Secret::from_slice(k))
                        }
                        (None, Some(kid)) => match self.ike_psks.get(&audience) {
                            Some((held, k)) if held == kid => (kid.clone(), k.clone()),
                            _ => {
                                return Err(
                                    "the AS named an IKEv2 PSK this client does not hold".into()
                                )
                            }
                        },
                        (None, None) => {
                            return Err(
                                "an IKEv2 PSK token response carries the COSE_Key or its kid"
                                    .into(),
                            )
                        }
                    };
                    let rs_id = ikev2::payload::IdRepr {
                        id_type: ikev2::IdType::ID_FQDN,
                        data: audience.as_bytes().to_vec(),
                    };
                    psk = Some((kid.clone(), k.clone()));
                    (
                        key_id(&kid),
                        Credential::Psk(k.clone()),
                        Some(rs_id),
                        PeerAuth::Psk(k),
                    )
                }
                Some(IkeKey::Rpk { kid, key }) => {
                    let rs = tr
                        .rs_cnf
                        .as_ref()
                        .ok_or("a raw-key IKEv2 token response carries rs_cnf")?;
                    let rs = PublicKey::from_cose_key(rs).map_err(|e| e.to_string())?;
                    let rs_pk = ikev2::crypto::P256PublicKey::from_xy(&rs.x, &rs.y)
                        .map_err(|e| e.to_string())?;
                    (
                        key_id(kid),
                        Credential::P256(key.clone()),
                        Some(key_id(&rs.kid)),
                        PeerAuth::P256(rs_pk),
                    )
                }
                None => return Err("IKEv2 not enabled".into()),
            };
            let child = ChildPolicy {
                mode: ikev2::Mode::Transport,
                local_ts: vec![ikev2::payload::TrafficSelector::host(
                    self.node.local_plain().ip(),
                )],
                remote_ts: vec![ikev2::payload::TrafficSelector::host(access.rs.ip())],
                lifetime: Duration::from_secs(u64::from(ipsec.life)),
            };
            let remaining = tr.expires_in.unwrap_or(u64::from(ipsec.life));
            Ok((
                InitiatorParams {
                    local_id,
                    credential,
                    peer_id,
                    peer_auth,
                    child,
                    peer_natt_port: 0,
                    not_after: Some(
                        now.mono + Duration::from_secs(remaining.min(10 * 365 * 86_400)),
                    ),
                    tag: id.0,
                },
                ipsec.life,
                psk,
            ))
        })();
        let (mut params, life) = match built {
            Ok((params, life, psk)) => {
                if let Some(psk) = psk {
                    self.ike_psks.insert(audience.clone(), psk);
                }
                (params, life)
            }
            Err(detail) => {
                return self.finish(
                    id,
                    Err(ClientError::Protocol {
                        step: "POST /token",
                        detail,
                    }),
                )
            }
        };
        let rs_esp = access
            .rs_esp
            .unwrap_or(SocketAddr::new(access.rs.ip(), NAT_T_PORT));
        params.peer_natt_port = rs_esp.port();
        let exp = now
            .unix
            .saturating_add(tr.expires_in.unwrap_or(u64::from(life)));
        self.step(
            id,
            "POST /token",
            Some(code),
            format!(
                "token {} bytes, kmp ikev2 ({})",
                tr.access_token.len(),
                if matches!(self.ike, Some(IkeKey::Psk)) {
                    "PSK"
                } else {
                    "raw public keys"
                }
            ),
        );
        let rs_initiates = self.ike_rs_initiates;
        if rs_initiates {
            // The RS's IKE_SA_INIT may come before its 2.01: be ready first.
            let Some(peer_id) = params.peer_id.clone() else {
                return self.fail(id, "POST /token", "no IKEv2 identity for the RS");
            };
            let entry = ikev2::config::PeerEntry {
                id: peer_id,
                auth: params.peer_auth.clone(),
                local_id: params.local_id.clone(),
                credential: params.credential.clone(),
                child: params.child.clone(),
                not_after: params.not_after.unwrap_or(
                    now.mono + Duration::from_secs(u64::from(life).min(10 * 365 * 86_400)),
                ),
                tag: params.tag,
            };
            match self.node.ike() {
                Some(ep) => ep.authorize_peer(entry),
                None => return self.fail(id, "POST /token", "IKEv2 not enabled"),
            }
        }
        if let Some(op) = self.ops.get_mut(&id) {
            op.state = State::PostingTokenIke(Box::new(IkePending {
                exp,
                audience,
                rs_esp,
                params,
                rs_initiates,
                early: None,
            }));
        }
        let req = authz_info_post(tr.access_token, self.node.local_esp().port(), rs_initiates);
        self.send(now, id, Peer::Plain(access.rs), req, None);
    }

    /// The AS refused a token request that named a held IKEv2 PSK (it may
    /// have forgotten it): forget it too and ask again for a fresh one.
    fn forget_refused_psk(&mut self, now: Now, id: OpId, code: &ResponseCode) -> bool {
        let Some(State::RequestingToken { audience, attempts }) =
            self.ops.get(&id).map(|o| &o.state)
        else {
            return false;
        };
        let (audience, attempts) = (audience.clone(), *attempts);
        if *code != ResponseCode::BadRequest
            || !matches!(self.ike, Some(IkeKey::Psk))
            || attempts >= MAX_TOKEN_ATTEMPTS
            || self.ike_psks.remove(&audience).is_none()
        {
            return false;
        }
        self.step(
            id,
            "POST /token",
            Some(code),
            "the AS refused the held IKEv2 PSK: asking for a new one",
        );
        if let Some(op) = self.ops.get_mut(&id) {
            op.state = State::RequestingToken {
                audience,
                attempts: attempts + 1,
            };
        }
        self.enter(now, id);
        true
    }

    /// The RS accepted the IKEv2 token (a plain 2.01: it proves nothing
    /// yet; IKE_AUTH will): start IKE_SA_INIT.
    fn start_ike(&mut self, now: Now, id: OpId, resp: Response) {
        if resp.code != ResponseCode::Created {
            let detail = String::from_utf8_lossy(&resp.payload).into_owned();
            self.step(id, "POST /authz-info", Some(&resp.code), detail.clone());
            return self.finish(
                id,
                Err(ClientError::Refused {
                    step: "POST /authz-info",
                    code: resp.code.as_dotted(),
                    detail,
                }),
            );
        }
        let Some(op) = self.ops.get_mut(&id) else {
            return;
        };
        let State::PostingTokenIke(p) = std::mem::replace(&mut op.state, State::Waiting) else {
            return;
        };
        let p = *p;
        op.state = State::IkeExchange {
            exp: p.exp,
            audience: p.audience,
        };
        if p.rs_initiates {
            self.step(
                id,
                "POST /authz-info",
                Some(&resp.code),
                "2.01: the RS starts IKE_SA_INIT",
            );
            if let Some(c) = p.early {
                self.on_ike_event(now, ikev2::Event::ChildSaUp(c));
            }
            return;
        }
        self.step(
            id,
            "POST /authz-info",
            Some(&resp.code),
            "2.01: IKEv2 IKE_SA_INIT follows",
        );
        let local = self.node.local_esp();
        let started = match self.node.ike() {
            Some(ike) => ike
                .initiate(now.mono, local, p.rs_esp, p.params)
                .map_err(|e| e.to_string()),
            None => Err("IKEv2 not enabled".to_string()),
        };
        self.node.ike_changed();
        if let Err(detail) = started {
            self.fail(id, "IKEv2", detail);
        }
    }

    fn on_ike_event(&mut self, now: Now, ev: ikev2::Event) {
        match ev {
            ikev2::Event::ChildSaUp(c) => {
                // A rekey replaces a session's pair.
                if let Some(old_spi) = c.rekeyed_from {
                    let Some((rs, old_pair)) = self
                        .sessions
                        .iter()
                        .find(|(_, s)| self.node.pair(s.pair).is_some_and(|i| i.spi_in == old_spi))
                        .map(|(rs, s)| (*rs, s.pair))
                    else {
                        return;
                    };
                    let label = format!("{rs} via IKEv2 (rekeyed)");
                    if let Ok(spec) =
                        ace_node::ike_pair_spec(&c, self.node.local_plain().ip(), rs.ip(), label)
                    {
                        if let Ok(pair) = self.node.install_pair(now.mono, spec) {
                            if let Some(s) = self.sessions.get_mut(&rs) {
                                s.pair = pair;
                            }
                            self.node.remove_pair(old_pair);
                        }
                    }
                    return;
                }
                let id = OpId(c.tag);
                // The RS started IKEv2 and finished before its 2.01 came:
                // keep the Child SA until the token's answer is in.
                if let Some(op) = self.ops.get_mut(&id) {
                    if let State::PostingTokenIke(p) = &mut op.state {
                        if p.rs_initiates && p.early.is_none() {
                            p.early = Some(c);
                        }
                        return;
                    }
                }
                let Some((exp, audience, rs)) = self.ops.get(&id).and_then(|op| match &op.state {
                    State::IkeExchange { exp, audience } => {
                        Some((*exp, audience.clone(), op.access.rs))
                    }
                    _ => None,
                }) else {
                    return;
                };
                let spec = match ace_node::ike_pair_spec(
                    &c,
                    self.node.local_plain().ip(),
                    rs.ip(),
                    format!("{audience} via IKEv2"),
                ) {
                    Ok(s) => s,
                    Err(e) => return self.fail(id, "IKEv2", e),
                };
                let pair = match self.node.install_pair(now.mono, spec) {
                    Ok(p) => p,
                    Err(e) => return self.fail(id, "IKEv2", e.to_string()),
                };
                self.step(
                    id,
                    "IKEv2",
                    None,
                    format!(
                        "IKE_SA_INIT + IKE_AUTH: Child SA {} in {:#010x} out {:#010x}",
                        c.cipher.encr.map_or(0, |e| e.0),
                        c.spi_in,
                        c.spi_out
                    ),
                );
                let confirmation = Response {
                    code: ResponseCode::Created,
                    content_format: None,
                    payload: Vec::new(),
                };
                self.established(now, id, (pair, exp, audience), confirmation);
            }
            ikev2::Event::Failed { tag, failure, .. }
            | ikev2::Event::ChildSaFailed { tag, failure, .. } => {
                let id = OpId(tag);
                if self.ops.get(&id).is_some_and(|o| {
                    matches!(
                        o.state,
                        State::IkeExchange { .. } | State::PostingTokenIke(_)
                    )
                }) {
                    self.fail(id, "IKEv2", format!("{failure:?}"));
                }
            }
            ikev2::Event::ChildSaDeleted { spi_in, .. } => {
                let gone: Vec<(SocketAddr, PairId)> = self
                    .sessions
                    .iter()
                    .filter(|(_, s)| self.node.pair(s.pair).is_some_and(|i| i.spi_in == spi_in))
                    .map(|(rs, s)| (*rs, s.pair))
                    .collect();
                for (rs, pair) in gone {
                    self.node.remove_pair(pair);
                    self.sessions.remove(&rs);
                }
            }
            other => tracing::debug!(?other, "IKEv2 event"),
        }
    }
}

/// The token response must be this profile's Direct Provisioning (draft
/// §3.3), or EDHOC (Appendix B) when the client has an EDHOC key.
fn check_profile(
    tr: &TokenResponse,
    edhoc: bool,
) -> Result<(IpsecParams, EspSuite, Option<Kmp>), String> {
    if tr.ace_profile != Some(labels::ace_profile::COAP_IPSEC) {
        return Err(format!(
            "ace_profile {:?} is not coap_ipsec",
            tr.ace_profile
        ));
    }
    let cnf = tr.cnf.as_ref().ok_or("token response has no cnf")?;
    let ipsec = cnf.ipsec.clone().ok_or("cnf has no ipsec structure")?;
    match cnf.kmp {
        Some(Kmp::Edhoc) if edhoc => {
            if ipsec.seed.is_some() {
                return Err("an EDHOC token response carries no seed".into());
            }
            if tr.rs_cnf.is_none() {
                return Err("an EDHOC token response carries the RS's key in rs_cnf".into());
            }
        }
        Some(_) => {
            return Err(
                "the token selects a key management protocol this client does not run".into(),
            )
        }
        None if cnf.cose_key.is_some() => {
            return Err("only Direct Provisioning is supported by this client".into())
        }
        None => {}
    }
    if ipsec.protocol != SecProtocol::Esp || ipsec.mode != Mode::Transport {
        return Err("only ESP transport mode is supported by this client".into());
    }
    let alg = ipsec.alg.ok_or("ipsec has no alg")?;
    let suite = EspSuite::from_cose_alg(alg).ok_or_else(|| format!("alg {alg} not supported"))?;
    Ok((ipsec, suite, cnf.kmp))
}

/// The ERR_INFO of an EDHOC error message (RFC 9528 §6), or the payload
/// as text.
fn edhoc_error_text(payload: &[u8]) -> String {
    match payload {
        // ERR_CODE 1 followed by a short text string.
        [0x01, rest @ ..] if !rest.is_empty() => {
            let skip = match rest[0] {
                0x60..=0x77 => 1,
                0x78 => 2,
                0x79 => 3,
                _ => 0,
            };
            let text = rest.get(skip..).unwrap_or_default();
            format!("EDHOC error: {}", String::from_utf8_lossy(text))
        }
        _ => String::from_utf8_lossy(payload).into_owned(),
    }
}

/// `POST /authz-info` with the token and our ESP-in-UDP port.
fn authz_info_post(access_token: Vec<u8>, esp_port: u16, ike_rs_initiates: bool) -> Request {
    let upload = AuthzInfoRequest {
        access_token,
        esp_udp_port: Some(esp_port),
        ike_rs_initiates,
    };
    Request {
        method: Method::Post,
        path: "/authz-info".into(),
        query: Vec::new(),
        content_format: Some(APPLICATION_ACE_CBOR),
        payload: upload.to_cbor(),
    }
}

fn resource_request(a: &Access) -> Request {
    Request {
        method: a.method,
        path: a.path.clone(),
        query: Vec::new(),
        content_format: a.content_format,
        payload: a.payload.clone(),
    }
}

fn token_request(tr: &TokenRequest) -> Request {
    Request {
        method: Method::Post,
        path: "/token".into(),
        query: Vec::new(),
        content_format: Some(APPLICATION_ACE_CBOR),
        payload: tr.to_cbor(),
    }
}

impl Host for ClientHost {
    fn node(&mut self) -> &mut Node {
        &mut self.node
    }
    fn node_ref(&self) -> &Node {
        &self.node
    }
    fn on_event(&mut self, now: Now, event: NodeEvent) {
        match event {
            NodeEvent::Coap(Event::Response { id, peer, response }) => {
                if let Some(op) = self.pending.remove(&id) {
                    if response.code == ResponseCode::Unauthorized
                        && self.retry_with_new_token(now, op)
                    {
                        return;
                    }
                    self.on_response(now, op, peer, response);
                }
            }
            NodeEvent::Coap(Event::Failed { id, reason, .. }) => {
                if let Some(op) = self.pending.remove(&id) {
                    if self.retry_with_new_token(now, op) {
                        return;
                    }
                    let step = match self.ops.get(&op).map(|o| &o.state) {
                        Some(State::Probing) => "unauthorized request",
                        Some(State::RequestingToken { .. }) => "POST /token",
                        Some(
                            State::PostingToken { .. }
                            | State::PostingTokenEdhoc(_)
                            | State::PostingTokenIke(_),
                        ) => "POST /authz-info",
                        Some(State::SendingMessage3 { .. }) => "EDHOC message_3",
                        _ => "resource request",
                    };
                    self.finish(
                        op,
                        Err(ClientError::NoAnswer {
                            step,
                            reason: format!("{reason:?}"),
                        }),
                    );
                }
            }
            NodeEvent::Coap(Event::Request { id, peer, .. }) => {
                // A client serves nothing.
                let _ = self.node.endpoint().respond(
                    now.mono,
                    id,
                    Response {
                        code: ResponseCode::NotFound,
                        content_format: None,
                        payload: Vec::new(),
                    },
                );
                tracing::debug!(?peer, "client got a request");
            }
            NodeEvent::PairExpired(pair) => {
                self.sessions.retain(|_, s| s.pair != pair);
            }
            NodeEvent::Ike(ev) => self.on_ike_event(now, ev),
        }
        self.wake_waiting(now);
    }
}
