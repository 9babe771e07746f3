//! Token issuance: policy, scope, Direct Provisioning of the SA pair or
//! EDHOC (draft Appendix B.1), the CWT.
//! Pure logic: time and randomness come in as arguments.
//!
//! A client asks for EDHOC by sending `req_cnf` with its key's `kid` (or
//! the COSE_Key itself, RFC 9201 §3.1). When the audience's registration
//! names an EDHOC key ([`Issuer::set_edhoc_rs_key`]) the token gets
//! `cnf = {COSE_Key: the client's public key, ipsec: SPIs and alg without
//! seed, kmp: edhoc}` and the response `rs_cnf` = the RS's public key;
//! otherwise the AS issues Direct Provisioning, as without `req_cnf`.

use std::collections::HashMap;

use ace_core::cnf::{Cnf, Kmp};
use ace_core::coset::{iana, KeyType};
use ace_core::cwt::{encrypt_token, Claims, TokenKey};
use ace_core::edhoc::PublicKey;
use ace_core::ipsec::{IpsecParams, Mode, SecProtocol, Seed};
use ace_core::labels;
use ace_core::scope::{AifEntry, Scope};
use ace_core::token::{AceErrorCode, AceErrorResponse, TokenRequest, TokenResponse};
use rand::{CryptoRng, Rng, RngCore};

/// A Resource Server registered at the AS.
pub struct RsRegistration {
    pub audience: String,
    /// Key shared with the RS; tokens are COSE_Encrypt0 under it (RFC 9200 §6.1).
    pub token_key: TokenKey,
    /// COSE algorithm id of the ESP transform the RS prefers (draft §2: the AS knows RS's capabilities).
    pub esp_alg: i64,
    /// SA lifetime the RS wants, seconds (never more than the token's).
    pub sa_life: u32,
}

/// What a client may get from one audience.
#[derive(Clone, Debug)]
pub struct Policy {
    pub client: String,
    pub audience: String,
    /// Text scope tokens the client may be granted.
    pub text: Vec<String>,
    /// AIF entries the client may be granted (RFC 9237).
    pub aif: Vec<AifEntry>,
}

/// What was issued, kept for token updates (draft §2.1).
#[derive(Clone)]
struct Grant {
    scope: Scope,
    exp: u64,
    spi_sa_c: u32,
    /// Every SPI_SA_RS already issued with this seed: an update must not
    /// repeat one (the same seed and SPIs give the same keys).
    spis_sa_rs: Vec<u32>,
    alg: i64,
    life: u32,
    keys: KeyMethod,
}

/// How the SA pair of a token gets its keys.
#[derive(Clone)]
enum KeyMethod {
    /// Direct Provisioning: the AS draws the seed (draft §3.2.1).
    Dp(Seed),
    /// EDHOC between C and RS (draft Appendix B), with these static keys.
    Edhoc { client: PublicKey, rs: PublicKey },
    /// IKEv2 with a symmetric proof-of-possession key (draft §3.2.2,
    /// Figure 6): COSE_Key {kty: Symmetric, kid, k}. `held`: the client
    /// named a PSK it already holds by its `kid`, so the response carries
    /// the `kid` only; otherwise the AS drew it and returns it.
    IkePsk { kid: Vec<u8>, k: Seed, held: bool },
    /// IKEv2 with raw public keys (draft §3.2.3, Figure 7): the client's
    /// key goes in the token, the RS's in `rs_cnf`.
    IkeRpk { client: PublicKey, rs: PublicKey },
}

/// Outcome counters.
#[derive(Clone, Debug, Default)]
pub struct IssuerStats {
    pub issued: u64,
    pub updates: u64,
    pub refused: std::collections::BTreeMap<&'static str, u64>,
}

pub struct Issuer {
    pub issuer: String,
    pub token_lifetime: u64,
    rs: HashMap<String, RsRegistration>,
    policies: Vec<Policy>,
    grants: HashMap<(String, String), Grant>,
    cti_counter: u64,
    stats: IssuerStats,
    /// EDHOC static public keys of RSs (by audience) that support draft Appendix B.
    edhoc_rs: HashMap<String, PublicKey>,
    /// EDHOC static public keys of clients, from their registration.
    edhoc_clients: HashMap<String, PublicKey>,
    /// The RSs' IKEv2 signature keys (P-256), by audience.
    ike_rs: HashMap<String, PublicKey>,
    /// IKEv2 PSKs the AS drew or had registered, by `kid`: a client that
    /// holds one names it in `req_cnf` for its next token (draft §3.2.2).
    ike_psks: HashMap<Vec<u8>, IkePskRecord>,
}

/// A PSK for IKEv2 between one client and one audience (a PSK shared with
/// two RSs would let one impersonate the client to the other).
#[derive(Clone)]
struct IkePskRecord {
    client: String,
    audience: String,
    k: Seed,
    /// Unix time after which the `kid` no longer names it; `u64::MAX` for
    /// a registered one.
    valid_until: u64,
}

/// Most IKEv2 PSKs the AS keeps for reuse; expired ones go first, and a
/// full table draws fresh PSKs without keeping them.
pub const MAX_IKE_PSKS: usize = 100_000;

/// The lowest SPI that is not reserved (RFC 4303 §2.1: 1–255 are reserved, 0 is local).
pub const MIN_SPI: u32 = 256;

/// How many token updates one grant allows (each for a new SPI_SA_RS).
pub const MAX_UPDATES: usize = 8;

fn refuse(code: AceErrorCode, text: &str) -> AceErrorResponse {
    AceErrorResponse::with_description(code, text)
}

impl Issuer {
    pub fn new(
        issuer: String,
        token_lifetime: u64,
        rs: Vec<RsRegistration>,
        policies: Vec<Policy>,
    ) -> Self {
        Issuer {
            issuer,
            token_lifetime,
            rs: rs.into_iter().map(|r| (r.audience.clone(), r)).collect(),
            policies,
            grants: HashMap::new(),
            cti_counter: 0,
            stats: IssuerStats::default(),
            edhoc_rs: HashMap::new(),
            edhoc_clients: HashMap::new(),
            ike_rs: HashMap::new(),
            ike_psks: HashMap::new(),
        }
    }

    /// Registers a PSK for IKEv2 that `client` holds for `audience` (e.g.
    /// provisioned with the device): the client names it by `kid` in
    /// `req_cnf` and the AS puts it in the token without returning it.
    pub fn register_ike_psk(&mut self, client: &str, audience: &str, kid: Vec<u8>, k: Seed) {
        self.ike_psks.insert(
            kid,
            IkePskRecord {
                client: client.to_string(),
                audience: audience.to_string(),
                k,
                valid_until: u64::MAX,
            },
        );
    }

    /// How many IKEv2 PSKs the AS keeps for reuse.
    pub fn ike_psk_count(&self) -> usize {
        self.ike_psks.len()
    }

    /// A drawn PSK stays nameable by its `kid` for one token lifetime after
    /// the last token that carried it expires; a registered one always.
    fn keep_ike_psk(
        &mut self,
        now: u64,
        client: &str,
        audience: &str,
        kid: &[u8],
        k: &Seed,
        exp: u64,
    ) {
        let until = exp.saturating_add(self.token_lifetime);
        if let Some(r) = self.ike_psks.get_mut(kid) {
            r.valid_until = r.valid_until.max(until);
            return;
        }
        if self.ike_psks.len() >= MAX_IKE_PSKS {
            self.ike_psks.retain(|_, r| r.valid_until >= now);
            if self.ike_psks.len() >= MAX_IKE_PSKS {
                return;
            }
        }
        self.ike_psks.insert(
            kid.to_vec(),
            IkePskRecord {
                client: client.to_string(),
                audience: audience.to_string(),
                k: k.clone(),
                valid_until: until,
            },
        );
    }

    /// Registers the EDHOC static public key (with its `kid`) of the RS
    /// behind `audience`: the AS then issues EDHOC tokens for it to clients
    /// that ask (draft Appendix B.1) and returns the key in `rs_cnf`.
    pub fn set_ike_rs_key(&mut self, audience: &str, key: PublicKey) {
        self.ike_rs.insert(audience.to_string(), key);
    }

    /// The EDHOC key of an RS (its `rs_cnf` in EDHOC token responses).
    pub fn set_edhoc_rs_key(&mut self, audience: &str, key: PublicKey) {
        self.edhoc_rs.insert(audience.to_string(), key);
    }

    /// Registers a client's EDHOC static public key (with its `kid`): a
    /// token request whose `req_cnf` names that `kid` gets it in `cnf`.
    pub fn set_edhoc_client_key(&mut self, client: &str, key: PublicKey) {
        self.edhoc_clients.insert(client.to_string(), key);
    }

    pub fn stats(&self) -> &IssuerStats {
        &self.stats
    }

    /// RFC 9200 §5.8: handles one token request from an authenticated client.
    pub fn issue<R: RngCore + CryptoRng>(
        &mut self,
        now_unix: u64,
        client: &str,
        req: &TokenRequest,
        rng: &mut R,
    ) -> Result<TokenResponse, AceErrorResponse> {
        let r = self.issue_inner(now_unix, client, req, rng);
        match &r {
            Ok(_) => self.stats.issued += 1,
            Err(e) => *self.stats.refused.entry(e.error.name()).or_default() += 1,
        }
        r
    }

    fn issue_inner<R: RngCore + CryptoRng>(
        &mut self,
        now: u64,
        client: &str,
        req: &TokenRequest,
        rng: &mut R,
    ) -> Result<TokenResponse, AceErrorResponse> {
        if req.grant_type != labels::grant_type::CLIENT_CREDENTIALS {
            return Err(refuse(
                AceErrorCode::UnsupportedGrantType,
                "only client_credentials is supported",
            ));
        }
        let audience = req
            .audience
            .as_deref()
            .ok_or_else(|| refuse(AceErrorCode::InvalidRequest, "audience is required"))?;
        let rs = self
            .rs
            .get(audience)
            .ok_or_else(|| refuse(AceErrorCode::InvalidRequest, "unknown audience"))?;
        let policy = self
            .policies
            .iter()
            .find(|p| p.client == client && p.audience == audience)
            .ok_or_else(|| {
                refuse(
                    AceErrorCode::UnauthorizedClient,
                    "client has no access to this audience",
                )
            })?;

        // A proof-of-possession key in req_cnf asks for EDHOC (draft
        // Appendix B.1); the audience decides whether it gets it.
        let mut edhoc = None;
        if let Some(cnf) = req.req_cnf.as_ref().filter(|c| c.kmp == Some(Kmp::Ikev2)) {
            edhoc = Some(self.requested_ike(now, client, audience, cnf, rng)?);
        } else if let Some(cnf) = &req.req_cnf {
            if cnf.cose_key.is_some() || cnf.kid.is_some() {
                if cnf.ipsec.is_some() || cnf.ipsec_update.is_some() {
                    return Err(refuse(
                        AceErrorCode::InvalidRequest,
                        "req_cnf carries a key or an ipsec update, not both",
                    ));
                }
                let client_key = self.requested_edhoc_key(client, cnf)?;
                edhoc = self.edhoc_rs.get(audience).map(|rs| KeyMethod::Edhoc {
                    client: client_key,
                    rs: rs.clone(),
                });
            }
        }

        // Token update for an SPI_SA_RS collision at C (draft §2.1).
        if let Some(cnf) = &req.req_cnf {
            if cnf.ipsec.is_some() {
                return Err(refuse(
                    AceErrorCode::InvalidRequest,
                    "req_cnf may carry an ipsec map with SPI_SA_RS only",
                ));
            }
            if let Some(update) = &cnf.ipsec_update {
                let new_spi = update.spi_sa_rs;
                if new_spi < MIN_SPI {
                    return Err(refuse(
                        AceErrorCode::InvalidRequest,
                        "a token update carries a valid SPI_SA_RS",
                    ));
                }
                let key = (client.to_string(), audience.to_string());
                let grant = self
                    .grants
                    .get(&key)
                    .cloned()
                    .filter(|g| g.exp > now)
                    .ok_or_else(|| {
                        refuse(AceErrorCode::InvalidGrant, "no current token to update")
                    })?;
                if new_spi == grant.spi_sa_c {
                    return Err(refuse(
                        AceErrorCode::InvalidRequest,
                        "SPI_SA_RS must differ from SPI_SA_C",
                    ));
                }
                if grant.spis_sa_rs.contains(&new_spi) || grant.spis_sa_rs.len() >= MAX_UPDATES {
                    return Err(refuse(
                        AceErrorCode::InvalidRequest,
                        "this SPI_SA_RS was already issued with this token's keys",
                    ));
                }
                if let Some(g) = self.grants.get_mut(&key) {
                    g.spis_sa_rs.push(new_spi);
                }
                self.stats.updates += 1;
                return self.build(
                    now,
                    client,
                    audience,
                    grant.scope.clone(),
                    grant.exp,
                    grant.spi_sa_c,
                    new_spi,
                    grant.alg,
                    grant.life,
                    grant.keys,
                    rng,
                );
            }
        }

        let scope = grant_scope(req.scope.as_ref(), policy)?;
        let exp = now.saturating_add(self.token_lifetime);
        // Grants only serve updates of a current token.
        self.grants.retain(|_, g| g.exp > now);
        let life = rs
            .sa_life
            .min(u32::try_from(self.token_lifetime).unwrap_or(u32::MAX));
        let alg = rs.esp_alg;
        let spi_sa_c = rng.random_range(MIN_SPI..=u32::MAX);
        let spi_sa_rs = loop {
            let s = rng.random_range(MIN_SPI..=u32::MAX);
            if s != spi_sa_c {
                break s;
            }
        };
        let keys = match edhoc {
            Some(k) => k,
            None => {
                let mut seed = [0u8; 32];
                rng.fill_bytes(&mut seed);
                KeyMethod::Dp(Seed::new(seed))
            }
        };
        self.grants.insert(
            (client.to_string(), audience.to_string()),
            Grant {
                scope: scope.clone(),
                exp,
                spi_sa_c,
                spis_sa_rs: vec![spi_sa_rs],
                alg,
                life,
                keys: keys.clone(),
            },
        );
        let mut resp = self.build(
            now,
            client,
            audience,
            scope.clone(),
            exp,
            spi_sa_c,
            spi_sa_rs,
            alg,
            life,
            keys,
            rng,
        )?;
        // RFC 9200 §5.8.2: `scope` is required when the granted scope differs
        // from the requested one.
        if req.scope.as_ref() != Some(&scope) {
            resp.scope = Some(scope);
        }
        Ok(resp)
    }

    #[allow(clippy::too_many_arguments)]
    fn build<R: RngCore + CryptoRng>(
        &mut self,
        now: u64,
        client: &str,
        audience: &str,
        scope: Scope,
        exp: u64,
        spi_sa_c: u32,
        spi_sa_rs: u32,
        alg: i64,
        life: u32,
        keys: KeyMethod,
        rng: &mut R,
    ) -> Result<TokenResponse, AceErrorResponse> {
        if let KeyMethod::IkePsk { kid, k, .. } = &keys {
            self.keep_ike_psk(now, client, audience, kid, k, exp);
        }
        let rs = self
            .rs
            .get(audience)
            .ok_or_else(|| refuse(AceErrorCode::InvalidRequest, "unknown audience"))?;
        let (cnf, resp_cnf, rs_cnf) = match keys {
            KeyMethod::Dp(seed) => {
                let ipsec = IpsecParams {
                    mode: Mode::Transport,
                    protocol: SecProtocol::Esp,
                    life,
                    ip_c: None,
                    ip_rs: None,
                    spi_sa_c: Some(spi_sa_c),
                    spi_sa_rs: Some(spi_sa_rs),
                    alg: Some(alg),
                    seed: Some(seed),
                };
                let cnf = Cnf {
                    ipsec: Some(ipsec),
                    ..Cnf::default()
                };
                (cnf.clone(), cnf, None)
            }
            KeyMethod::IkePsk { kid, k, held } => {
                // draft §3.2.2, Figure 6: sec_A only (IKEv2 negotiates the
                // SPIs and transforms), kmp = ikev2, and the PSK as a
                // symmetric COSE_Key for the RS (in the encrypted token)
                // and, if the AS drew it, for C (in the confidential
                // response); a PSK C already holds is named by its kid.
                let key = ace_core::coset::CoseKeyBuilder::new_symmetric_key(k.as_bytes().to_vec())
                    .key_id(kid.clone())
                    .build();
                let cnf = Cnf {
                    cose_key: Some(key),
                    ipsec: Some(IpsecParams::transport(SecProtocol::Esp, life)),
                    kmp: Some(Kmp::Ikev2),
                    ..Cnf::default()
                };
                let for_c = if held {
                    Cnf {
                        cose_key: None,
                        kid: Some(kid),
                        ..cnf.clone()
                    }
                } else {
                    cnf.clone()
                };
                (cnf, for_c, None)
            }
            KeyMethod::IkeRpk { client, rs } => {
                // draft §3.2.3, Figure 7.
                let for_c = Cnf {
                    ipsec: Some(IpsecParams::transport(SecProtocol::Esp, life)),
                    kmp: Some(Kmp::Ikev2),
                    ..Cnf::default()
                };
                let for_rs = Cnf {
                    cose_key: Some(client.to_cose_key()),
                    ..for_c.clone()
                };
                (for_rs, for_c, Some(rs.to_cose_key()))
            }
            KeyMethod::Edhoc { client, rs } => {
                // draft Appendix B.1: alg and the SPIs, no seed; kmp = edhoc.
                let ipsec = IpsecParams::transport(SecProtocol::Esp, life)
                    .with_kmp_spis(spi_sa_c, spi_sa_rs, alg)
                    .map_err(|e| refuse(AceErrorCode::InvalidRequest, &e.to_string()))?;
                let for_c = Cnf {
                    ipsec: Some(ipsec),
                    kmp: Some(Kmp::Edhoc),
                    ..Cnf::default()
                };
                // The token binds the client's public key (§3.2.3): the RS
                // authenticates C with it in EDHOC.
                let for_rs = Cnf {
                    cose_key: Some(client.to_cose_key()),
                    ..for_c.clone()
                };
                (for_rs, for_c, Some(rs.to_cose_key()))
            }
        };
        self.cti_counter += 1;
        let mut cti = self.cti_counter.to_be_bytes().to_vec();
        let mut salt = [0u8; 4];
        rng.fill_bytes(&mut salt);
        cti.extend_from_slice(&salt);
        let claims = Claims {
            iss: Some(self.issuer.clone()),
            aud: Some(audience.to_string()),
            exp: Some(exp),
            iat: Some(now),
            cti: Some(cti),
            scope: Some(scope),
            ace_profile: Some(labels::ace_profile::COAP_IPSEC),
            cnf: Some(cnf),
            ..Claims::default()
        };
        let token = encrypt_token(&claims, &rs.token_key, rng)
            .map_err(|_| refuse(AceErrorCode::InvalidRequest, "token could not be built"))?;
        Ok(TokenResponse {
            access_token: token,
            expires_in: Some(exp.saturating_sub(now)),
            ace_profile: Some(labels::ace_profile::COAP_IPSEC),
            cnf: Some(resp_cnf),
            rs_cnf,
            scope: None,
        })
    }

    /// IKEv2 asked for (`req_cnf` with `kmp` = ikev2): without a key, the AS
    /// draws a PSK with a fresh `kid` (§3.2.2); with the client's P-256
    /// COSE_Key (or the `kid` of its registered key) and an RS that has an
    /// IKEv2 key, raw public keys (§3.2.3).
    fn requested_ike<R: RngCore + CryptoRng>(
        &self,
        now: u64,
        client: &str,
        audience: &str,
        cnf: &Cnf,
        rng: &mut R,
    ) -> Result<KeyMethod, AceErrorResponse> {
        if cnf.ipsec.is_some() || cnf.ipsec_update.is_some() {
            return Err(refuse(
                AceErrorCode::InvalidRequest,
                "req_cnf for IKEv2 carries no ipsec structure",
            ));
        }
        if cnf.cose_key.is_none() && cnf.kid.is_none() {
            let mut kid = vec![0u8; 8];
            rng.fill_bytes(&mut kid);
            let mut k = [0u8; 32];
            rng.fill_bytes(&mut k);
            return Ok(KeyMethod::IkePsk {
                kid,
                k: Seed::new(k),
                held: false,
            });
        }
        // A PSK the client already holds, named by its kid (§3.2.2): only
        // the client and audience it was drawn or registered for.
        if let (None, Some(kid)) = (&cnf.cose_key, &cnf.kid) {
            if let Some(r) = self.ike_psks.get(kid) {
                if r.client != client || r.audience != audience || r.valid_until < now {
                    return Err(refuse(
                        AceErrorCode::InvalidRequest,
                        "this kid names no IKEv2 PSK the AS holds for this client and audience",
                    ));
                }
                return Ok(KeyMethod::IkePsk {
                    kid: kid.clone(),
                    k: r.k.clone(),
                    held: true,
                });
            }
        }
        if cnf
            .cose_key
            .as_ref()
            .is_some_and(|k| k.kty == KeyType::Assigned(iana::KeyType::Symmetric))
        {
            return Err(refuse(
                AceErrorCode::UnsupportedPopKey,
                "send no key to get a PSK drawn by the AS, or a P-256 COSE_Key for raw public keys",
            ));
        }
        let client_key = self.requested_edhoc_key(client, cnf)?;
        let rs = self.ike_rs.get(audience).ok_or_else(|| {
            refuse(
                AceErrorCode::UnsupportedPopKey,
                "this audience has no IKEv2 public key: ask for a PSK (no key in req_cnf)",
            )
        })?;
        Ok(KeyMethod::IkeRpk {
            client: client_key,
            rs: rs.clone(),
        })
    }

    /// The client's EDHOC key that `req_cnf` names: its COSE_Key (P-256,
    /// with a `kid`), or the `kid` of the key registered for this client.
    /// A symmetric key is refused: RFC 9528 as lakers 0.8 implements it has
    /// no method for symmetric proof-of-possession keys.
    fn requested_edhoc_key(&self, client: &str, cnf: &Cnf) -> Result<PublicKey, AceErrorResponse> {
        if let Some(k) = &cnf.cose_key {
            if k.kty == KeyType::Assigned(iana::KeyType::Symmetric) {
                return Err(refuse(
                    AceErrorCode::UnsupportedPopKey,
                    "symmetric proof-of-possession keys are not supported: EDHOC here is \
                     RFC 9528 method 3 (static DH keys, lakers 0.8), which has no PSK method; \
                     send a P-256 COSE_Key or its kid, or no req_cnf for Direct Provisioning",
                ));
            }
            return PublicKey::from_cose_key(k)
                .map_err(|e| refuse(AceErrorCode::UnsupportedPopKey, &e.to_string()));
        }
        let kid = cnf.kid.as_deref().unwrap_or_default();
        match self.edhoc_clients.get(client) {
            Some(k) if k.kid == kid => Ok(k.clone()),
            _ => Err(refuse(
                AceErrorCode::InvalidRequest,
                "req_cnf names a kid that is not this client's registered EDHOC key",
            )),
        }
    }
}

/// The granted scope: the request's scope within what the policy allows; the
/// whole policy when the request names none (RFC 9200 §5.8.1 lets the AS use a default).
fn grant_scope(requested: Option<&Scope>, policy: &Policy) -> Result<Scope, AceErrorResponse> {
    let empty = || refuse(AceErrorCode::InvalidScope, "nothing requested is allowed");
    match requested {
        None if !policy.text.is_empty() => Ok(Scope::Text(policy.text.join(" "))),
        None if !policy.aif.is_empty() => Ok(Scope::Aif(policy.aif.clone())),
        None => Err(empty()),
        Some(Scope::Text(s)) => {
            let granted: Vec<&str> = s
                .split(' ')
                .filter(|t| policy.text.iter().any(|a| a == t))
                .collect();
            if granted.is_empty() {
                return Err(empty());
            }
            Ok(Scope::Text(granted.join(" ")))
        }
        Some(Scope::Aif(entries)) => {
            let granted: Vec<AifEntry> = entries
                .iter()
                .filter_map(|e| {
                    let allowed: u64 = policy
                        .aif
                        .iter()
                        .filter(|a| a.path == e.path)
                        .fold(0, |m, a| m | a.methods);
                    let m = e.methods & allowed;
                    (m != 0).then(|| AifEntry {
                        path: e.path.clone(),
                        methods: m,
                    })
                })
                .collect();
            if granted.is_empty() {
                return Err(empty());
            }
            Ok(Scope::Aif(granted))
        }
    }
}
