//! TOML configuration of the AS, RS and Client. Every error names the file,
//! the key and what is wrong; nothing starts on an invalid configuration.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use ace_core::cwt::TokenKey;
use ace_core::ipsec::Seed;
use ace_core::scope::AifEntry;
use serde::Deserialize;

/// A configuration error: which file, which key, what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{}: {key}: {msg}", file.display())]
pub struct ConfigError {
    pub file: PathBuf,
    pub key: String,
    pub msg: String,
}

fn err(file: &Path, key: impl Into<String>, msg: impl Into<String>) -> ConfigError {
    ConfigError {
        file: file.to_path_buf(),
        key: key.into(),
        msg: msg.into(),
    }
}

/// Reads and parses a TOML file into `T`, naming the key on type errors.
fn load<T: for<'de> Deserialize<'de>>(file: &Path) -> Result<T, ConfigError> {
    let text =
        std::fs::read_to_string(file).map_err(|e| err(file, "-", format!("cannot read: {e}")))?;
    parse(file, &text)
}

pub fn parse<T: for<'de> Deserialize<'de>>(file: &Path, text: &str) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let key = e
            .span()
            .map(|span| key_at(text, span.start))
            .unwrap_or_else(|| "-".into());
        err(file, key, e.message().to_string())
    })
}

/// Names the key at byte `pos` of a TOML text: `table.key (line N)`, from
/// the line's `key =` and the nearest `[table]` header above it.
fn key_at(text: &str, pos: usize) -> String {
    let before = text.get(..pos).unwrap_or(text);
    let line_no = before.lines().count().max(1);
    let line = text.lines().nth(line_no - 1).unwrap_or("");
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim())
        .filter(|k| !k.is_empty());
    let table = before
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').to_string());
    match (table, key) {
        (Some(t), Some(k)) => format!("{t}.{k} (line {line_no})"),
        (None, Some(k)) => format!("{k} (line {line_no})"),
        _ => format!("line {line_no}"),
    }
}

/// The state directory of a service: as configured (relative to the
/// configuration file), or `<config stem>.state` beside it.
pub fn state_dir(config: &Path, configured: Option<&Path>) -> PathBuf {
    let base = config.parent().unwrap_or(Path::new("."));
    match configured {
        Some(p) if p.is_absolute() => p.to_path_buf(),
        Some(p) => base.join(p),
        None => {
            let stem = config
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("ace-ipsec");
            base.join(format!("{stem}.state"))
        }
    }
}

/// COSE algorithm names accepted in configuration files (RFC 9053 ids).
pub fn alg_id(file: &Path, key: &str, name: &str) -> Result<i64, ConfigError> {
    match name {
        "A128GCM" => Ok(1),
        "A256GCM" => Ok(3),
        "AES-CCM-16-64-128" => Ok(10),
        "AES-CCM-16-64-256" => Ok(11),
        "AES-CCM-16-128-128" => Ok(30),
        "AES-CCM-16-128-256" => Ok(31),
        "ChaCha20/Poly1305" => Ok(24),
        // No COSE id exists for these: the profile's private ones (docs/profile.md §2).
        "AES-CBC-128-HMAC-SHA-256-128" => Ok(-65601),
        "AES-CBC-256-HMAC-SHA-256-128" => Ok(-65602),
        other => Err(err(
            file,
            key,
            format!(
                "unknown algorithm {other:?}; use A128GCM, A256GCM, AES-CCM-16-64-128, AES-CCM-16-64-256, \
                 AES-CCM-16-128-128, AES-CCM-16-128-256, ChaCha20/Poly1305, AES-CBC-128-HMAC-SHA-256-128 \
                 or AES-CBC-256-HMAC-SHA-256-128"
            ),
        )),
    }
}

pub fn alg_name(id: i64) -> &'static str {
    match id {
        1 => "A128GCM",
        3 => "A256GCM",
        10 => "AES-CCM-16-64-128",
        11 => "AES-CCM-16-64-256",
        _ => "unknown",
    }
}

fn hex_bytes(file: &Path, key: &str, s: &str, len: Option<usize>) -> Result<Vec<u8>, ConfigError> {
    let b = hex::decode(s).map_err(|e| err(file, key, format!("not hex: {e}")))?;
    if let Some(n) = len {
        if b.len() != n {
            return Err(err(
                file,
                key,
                format!("expected {} hex digits ({n} bytes), got {}", 2 * n, s.len()),
            ));
        }
    }
    Ok(b)
}

fn seed(file: &Path, key: &str, s: &str) -> Result<Seed, ConfigError> {
    let b = hex_bytes(file, key, s, Some(32))?;
    let mut a = [0u8; 32];
    a.copy_from_slice(&b);
    Ok(Seed::new(a))
}

fn spi(file: &Path, key: &str, v: u32) -> Result<u32, ConfigError> {
    if v < 256 {
        return Err(err(
            file,
            key,
            format!("SPI {v} is reserved (RFC 4303 §2.1: 0–255)"),
        ));
    }
    Ok(v)
}

/// AIF method names (RFC 9237 bits).
pub fn methods(file: &Path, key: &str, names: &[String]) -> Result<u64, ConfigError> {
    let mut m = 0;
    for n in names {
        m |= match n.to_ascii_uppercase().as_str() {
            "GET" => 1 << 0,
            "POST" => 1 << 1,
            "PUT" => 1 << 2,
            "DELETE" => 1 << 3,
            "FETCH" => 1 << 4,
            "PATCH" => 1 << 5,
            "IPATCH" => 1 << 6,
            other => return Err(err(file, key, format!("unknown method {other:?}"))),
        };
    }
    if m == 0 {
        return Err(err(file, key, "at least one method"));
    }
    Ok(m)
}

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct AifToml {
    pub path: String,
    pub methods: Vec<String>,
}

fn aif(file: &Path, key: &str, list: &[AifToml]) -> Result<Vec<AifEntry>, ConfigError> {
    list.iter()
        .enumerate()
        .map(|(i, a)| {
            if !a.path.starts_with('/') {
                return Err(err(file, format!("{key}[{i}].path"), "must start with /"));
            }
            Ok(AifEntry {
                path: a.path.clone(),
                methods: methods(file, &format!("{key}[{i}].methods"), &a.methods)?,
            })
        })
        .collect()
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct TokenKeyToml {
    /// Key identifier (text).
    pub kid: String,
    /// Hex key: 16 bytes.
    pub key: String,
    /// A128GCM or AES-CCM-16-64-128.
    pub alg: String,
}

fn token_key(file: &Path, key: &str, t: &TokenKeyToml) -> Result<TokenKey, ConfigError> {
    let alg = alg_id(file, &format!("{key}.alg"), &t.alg)?;
    if alg != 1 && alg != 10 {
        return Err(err(
            file,
            format!("{key}.alg"),
            "tokens are encrypted with A128GCM or AES-CCM-16-64-128",
        ));
    }
    let k = hex_bytes(file, &format!("{key}.key"), &t.key, Some(16))?;
    let alg = ace_core::cwt::ContentAlg::from_id(alg)
        .ok_or_else(|| err(file, format!("{key}.alg"), "unsupported token algorithm"))?;
    TokenKey::new(t.kid.as_bytes().to_vec(), alg, &k).map_err(|e| err(file, key, e.to_string()))
}

// ---------------------------------------------------------------- AS

/// An EDHOC static key pair (draft Appendix B, RFC 9528 method 3): P-256
/// private scalar and `kid`, both hex.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdhocKeyToml {
    /// Hex, 32 bytes: the P-256 private key.
    pub private_key: String,
    /// Hex, 1–16 bytes: the key's `kid` (ID_CRED_x by reference).
    pub kid: String,
}

fn edhoc_static_key(
    file: &Path,
    key: &str,
    t: &EdhocKeyToml,
) -> Result<ace_core::edhoc::StaticKey, ConfigError> {
    let mut d = hex_bytes(
        file,
        &format!("{key}.private_key"),
        &t.private_key,
        Some(32),
    )?;
    let kid = hex_bytes(file, &format!("{key}.kid"), &t.kid, None)?;
    let k = ace_core::edhoc::StaticKey::from_private(&d, kid);
    d.iter_mut().for_each(|b| *b = 0);
    k.map_err(|e| err(file, key, e.to_string()))
}

/// A P-256 public key as the AS registers it (`<prefix>_public_key`,
/// `<prefix>_kid`): SEC1 hex (65 bytes uncompressed or 33 compressed) and
/// `kid` hex.
fn p256_public_key(
    file: &Path,
    key: &str,
    prefix: &str,
    public: &Option<String>,
    kid: &Option<String>,
) -> Result<Option<ace_core::edhoc::PublicKey>, ConfigError> {
    match (public, kid) {
        (None, None) => Ok(None),
        (Some(p), Some(k)) => {
            let bytes = hex_bytes(file, &format!("{key}.{prefix}_public_key"), p, None)?;
            let kid = hex_bytes(file, &format!("{key}.{prefix}_kid"), k, None)?;
            ace_core::edhoc::PublicKey::from_sec1(&bytes, kid)
                .map(Some)
                .map_err(|e| err(file, format!("{key}.{prefix}_public_key"), e.to_string()))
        }
        _ => Err(err(
            file,
            key,
            format!("{prefix}_public_key and {prefix}_kid go together"),
        )),
    }
}

/// A P-256 signature key for IKEv2 raw public keys: private scalar and
/// `kid`, both hex.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IkeKeyToml {
    /// Hex, 32 bytes: the P-256 private key.
    pub private_key: String,
    /// Hex, 1–64 bytes: the key's `kid` (ID_KEY_ID in IKE_AUTH).
    pub kid: String,
}

/// A validated IKEv2 signature key with its `kid`.
pub type IkeSigningKey = (Vec<u8>, std::sync::Arc<ikev2::crypto::P256SigningKey>);

fn ike_signing_key(file: &Path, key: &str, t: &IkeKeyToml) -> Result<IkeSigningKey, ConfigError> {
    let d = ipsec_gw::Zeroizing::new(hex_bytes(
        file,
        &format!("{key}.private_key"),
        &t.private_key,
        Some(32),
    )?);
    let mut scalar = ipsec_gw::Zeroizing::new([0u8; 32]);
    scalar.copy_from_slice(&d);
    let kid = hex_bytes(file, &format!("{key}.kid"), &t.kid, None)?;
    if kid.is_empty() || kid.len() > 64 {
        return Err(err(file, format!("{key}.kid"), "1 to 64 bytes"));
    }
    let k = ikev2::crypto::P256SigningKey::from_private_scalar(&scalar)
        .map_err(|e| err(file, format!("{key}.private_key"), e.to_string()))?;
    Ok((kid, std::sync::Arc::new(k)))
}

/// An IKEv2 PSK one client holds for one audience (draft §3.2.2), `kid`
/// and `k` hex: registered at the AS (`[[ike_psk]]` with `client`) and
/// held by the client (`[[ike.psk]]`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IkePskToml {
    /// The client (AS side only).
    pub client: Option<String>,
    pub audience: String,
    /// Hex, 1–64 bytes.
    pub kid: String,
    /// Hex, 32 bytes.
    pub k: String,
}

/// An IKEv2 PSK registered at the AS: (client, audience, kid, k).
pub type RegisteredPsk = (String, String, Vec<u8>, Seed);

/// A validated [`IkePskToml`]: (client, audience, kid, k).
pub type IkePsk = (Option<String>, String, Vec<u8>, Seed);

fn ike_psk(file: &Path, key: &str, t: &IkePskToml) -> Result<IkePsk, ConfigError> {
    let kid = hex_bytes(file, &format!("{key}.kid"), &t.kid, None)?;
    if kid.is_empty() || kid.len() > 64 {
        return Err(err(file, format!("{key}.kid"), "1 to 64 bytes"));
    }
    let k = seed(file, &format!("{key}.k"), &t.k)?;
    Ok((t.client.clone(), t.audience.clone(), kid, k))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsToml {
    pub issuer: String,
    /// Plain CoAP socket; its port is also the AS's CoAP port inside ESP.
    pub listen: SocketAddr,
    /// ESP-in-UDP socket (RFC 3948).
    pub esp_listen: SocketAddr,
    #[serde(default = "default_lifetime")]
    pub token_lifetime: u64,
    /// Where the registration SA pairs' counters are kept (default: beside
    /// the configuration file, `<name>.state/`).
    pub state_dir: Option<PathBuf>,
    #[serde(default)]
    pub rs: Vec<RsRegToml>,
    #[serde(default)]
    pub client: Vec<ClientRegToml>,
    #[serde(default)]
    pub policy: Vec<PolicyToml>,
    /// IKEv2 PSKs clients hold (provisioned with the device): a client
    /// names one by `kid` in `req_cnf` (draft §3.2.2).
    #[serde(default)]
    pub ike_psk: Vec<IkePskToml>,
}

fn default_lifetime() -> u64 {
    3600
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RsRegToml {
    pub audience: String,
    pub token_key: TokenKeyToml,
    /// ESP transform for SA pairs with this RS.
    pub esp_alg: String,
    #[serde(default = "default_sa_life")]
    pub sa_life: u32,
    /// Hex SEC1 P-256 public key of the RS's EDHOC key: the RS supports
    /// EDHOC (draft Appendix B) and the AS returns this key in `rs_cnf`.
    pub edhoc_public_key: Option<String>,
    /// Hex `kid` of that key.
    pub edhoc_kid: Option<String>,
    /// Hex SEC1 P-256 public key of the RS's IKEv2 signature key: the AS
    /// issues raw-public-key IKEv2 tokens (draft §3.2.3) for this audience
    /// and returns the key in `rs_cnf`.
    pub ike_public_key: Option<String>,
    /// Hex `kid` of that key (the RS's IDr).
    pub ike_kid: Option<String>,
}

fn default_sa_life() -> u32 {
    3600
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientRegToml {
    pub id: String,
    /// SPI of the client→AS SA.
    pub spi_c: u32,
    /// SPI of the AS→client SA.
    pub spi_as: u32,
    /// Hex, 32 bytes: the registration seed of the C↔AS SA pair.
    pub seed: String,
    pub alg: String,
    pub esp_addr: Option<SocketAddr>,
    /// Hex SEC1 P-256 public key of the client's EDHOC key (put in the
    /// token's `cnf` when the client asks for EDHOC by its `kid`).
    pub edhoc_public_key: Option<String>,
    /// Hex `kid` of that key.
    pub edhoc_kid: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct PolicyToml {
    pub client: String,
    pub audience: String,
    #[serde(default)]
    pub scope: Vec<String>,
    #[serde(default)]
    pub aif: Vec<AifToml>,
}

impl AsToml {
    pub fn load(file: &Path) -> Result<(Self, AsValid), ConfigError> {
        let t: AsToml = load(file)?;
        let v = t.validate(file)?;
        Ok((t, v))
    }

    pub fn validate(&self, file: &Path) -> Result<AsValid, ConfigError> {
        if self.token_lifetime == 0 {
            return Err(err(file, "token_lifetime", "must be > 0 seconds"));
        }
        let mut rs = Vec::new();
        let mut audiences = HashMap::new();
        for (i, r) in self.rs.iter().enumerate() {
            let k = format!("rs[{i}]");
            if audiences.insert(r.audience.clone(), i).is_some() {
                return Err(err(file, format!("{k}.audience"), "duplicate audience"));
            }
            let esp_alg = alg_id(file, &format!("{k}.esp_alg"), &r.esp_alg)?;
            if r.sa_life == 0 {
                return Err(err(file, format!("{k}.sa_life"), "must be > 0 seconds"));
            }
            rs.push(ace_as::RsRegistration {
                audience: r.audience.clone(),
                token_key: token_key(file, &format!("{k}.token_key"), &r.token_key)?,
                esp_alg,
                sa_life: r.sa_life,
            });
        }
        let mut clients = Vec::new();
        let mut ids = HashMap::new();
        for (i, c) in self.client.iter().enumerate() {
            let k = format!("client[{i}]");
            if ids.insert(c.id.clone(), i).is_some() {
                return Err(err(file, format!("{k}.id"), "duplicate client id"));
            }
            let spi_c = spi(file, &format!("{k}.spi_c"), c.spi_c)?;
            let spi_as = spi(file, &format!("{k}.spi_as"), c.spi_as)?;
            if spi_c == spi_as {
                return Err(err(file, format!("{k}.spi_as"), "must differ from spi_c"));
            }
            clients.push(ace_as::ClientRegistration {
                id: c.id.clone(),
                spi_c,
                spi_as,
                seed: seed(file, &format!("{k}.seed"), &c.seed)?,
                alg: alg_id(file, &format!("{k}.alg"), &c.alg)?,
                esp_addr: c.esp_addr,
            });
        }
        let mut policies = Vec::new();
        for (i, p) in self.policy.iter().enumerate() {
            let k = format!("policy[{i}]");
            if !ids.contains_key(&p.client) {
                return Err(err(
                    file,
                    format!("{k}.client"),
                    format!("no client {:?} is registered", p.client),
                ));
            }
            if !audiences.contains_key(&p.audience) {
                return Err(err(
                    file,
                    format!("{k}.audience"),
                    format!("no rs with audience {:?}", p.audience),
                ));
            }
            if p.scope.is_empty() && p.aif.is_empty() {
                return Err(err(file, k, "grants nothing: set scope or aif"));
            }
            policies.push(ace_as::Policy {
                client: p.client.clone(),
                audience: p.audience.clone(),
                text: p.scope.clone(),
                aif: aif(file, &format!("{k}.aif"), &p.aif)?,
            });
        }
        let mut edhoc_rs = Vec::new();
        let mut ike_rs = Vec::new();
        for (i, r) in self.rs.iter().enumerate() {
            let k = format!("rs[{i}]");
            if let Some(key) =
                p256_public_key(file, &k, "edhoc", &r.edhoc_public_key, &r.edhoc_kid)?
            {
                edhoc_rs.push((r.audience.clone(), key));
            }
            if let Some(key) = p256_public_key(file, &k, "ike", &r.ike_public_key, &r.ike_kid)? {
                ike_rs.push((r.audience.clone(), key));
            }
        }
        let mut edhoc_clients = Vec::new();
        for (i, c) in self.client.iter().enumerate() {
            if let Some(k) = p256_public_key(
                file,
                &format!("client[{i}]"),
                "edhoc",
                &c.edhoc_public_key,
                &c.edhoc_kid,
            )? {
                edhoc_clients.push((c.id.clone(), k));
            }
        }
        let mut ike_psks = Vec::new();
        for (i, t) in self.ike_psk.iter().enumerate() {
            let k = format!("ike_psk[{i}]");
            let (client, audience, kid, psk) = ike_psk(file, &k, t)?;
            let Some(client) = client else {
                return Err(err(file, format!("{k}.client"), "required at the AS"));
            };
            if !ids.contains_key(&client) {
                return Err(err(
                    file,
                    format!("{k}.client"),
                    format!("no client {client:?} is registered"),
                ));
            }
            if !audiences.contains_key(&audience) {
                return Err(err(
                    file,
                    format!("{k}.audience"),
                    format!("no rs with audience {audience:?}"),
                ));
            }
            ike_psks.push((client, audience, kid, psk));
        }
        Ok(AsValid {
            rs,
            clients,
            policies,
            edhoc_rs,
            edhoc_clients,
            ike_rs,
            ike_psks,
        })
    }
}

/// The parts of an AS configuration that need validation.
pub struct AsValid {
    pub rs: Vec<ace_as::RsRegistration>,
    pub clients: Vec<ace_as::ClientRegistration>,
    pub policies: Vec<ace_as::Policy>,
    /// EDHOC public keys of RSs, by audience.
    pub edhoc_rs: Vec<(String, ace_core::edhoc::PublicKey)>,
    /// EDHOC public keys of clients, by id (also the keys a client may
    /// name by `kid` for IKEv2 raw public keys).
    pub edhoc_clients: Vec<(String, ace_core::edhoc::PublicKey)>,
    /// IKEv2 signature keys of RSs, by audience.
    pub ike_rs: Vec<(String, ace_core::edhoc::PublicKey)>,
    /// IKEv2 PSKs clients hold: (client, audience, kid, k).
    pub ike_psks: Vec<RegisteredPsk>,
}

// ---------------------------------------------------------------- RS

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RsToml {
    pub audience: String,
    pub issuer: Option<String>,
    /// The AS token endpoint, sent in the 4.01's AS Request Creation Hints.
    pub as_uri: String,
    pub listen: SocketAddr,
    pub esp_listen: SocketAddr,
    #[serde(default = "default_max_tokens")]
    pub max_tokens: usize,
    pub token_key: Vec<TokenKeyToml>,
    /// Text scope name → the resources and methods it grants.
    #[serde(default)]
    pub scopes: HashMap<String, Vec<AifToml>>,
    #[serde(default)]
    pub resource: Vec<ResourceToml>,
    /// The RS's EDHOC key: with it the RS accepts EDHOC tokens (draft Appendix B).
    pub edhoc: Option<EdhocKeyToml>,
    /// IKEv2 (draft §3.2.2, §3.2.3): the RS accepts `kmp` = ikev2 tokens
    /// and runs IKEv2 on its ESP-in-UDP port.
    pub ike: Option<RsIkeToml>,
    /// Transparent mode: token pairs protect an unmodified CoAP server
    /// through this TUN device (`crate::tun`).
    pub tun: Option<crate::tun::TunToml>,
}

/// `[ike]` of an RS. An empty table accepts PSK tokens (IDr =
/// ID_FQDN(audience)); `key` adds raw public keys.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RsIkeToml {
    /// The RS's P-256 signature key (IDr = ID_KEY_ID(kid)); the AS has its
    /// public half as this audience's `ike_public_key`.
    pub key: Option<IkeKeyToml>,
}

fn default_max_tokens() -> usize {
    10_000
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct ResourceToml {
    pub path: String,
    #[serde(default)]
    pub value: String,
    pub methods: Vec<String>,
    /// CoAP Content-Format of the value (0 = text/plain).
    pub content_format: Option<u16>,
}

impl RsToml {
    /// The configured IKEv2 responder, validated.
    pub fn ike_config(
        &self,
        file: &Path,
    ) -> Result<Option<ace_rs::IkeResponderConfig>, ConfigError> {
        let Some(t) = &self.ike else { return Ok(None) };
        if self.tun.is_some() {
            return Err(err(
                file,
                "ike",
                "IKEv2 tokens are not supported with [tun] yet: use Direct Provisioning or EDHOC there",
            ));
        }
        Ok(Some(ace_rs::IkeResponderConfig {
            config: ikev2::Config::default(),
            psk_id: ikev2::payload::IdRepr {
                id_type: ikev2::IdType::ID_FQDN,
                data: self.audience.as_bytes().to_vec(),
            },
            signing_key: t
                .key
                .as_ref()
                .map(|k| ike_signing_key(file, "ike.key", k))
                .transpose()?,
        }))
    }

    /// The configured EDHOC key, validated.
    pub fn edhoc_key(
        &self,
        file: &Path,
    ) -> Result<Option<ace_core::edhoc::StaticKey>, ConfigError> {
        self.edhoc
            .as_ref()
            .map(|t| edhoc_static_key(file, "edhoc", t))
            .transpose()
    }

    pub fn load(file: &Path) -> Result<(Self, ace_rs::RsConfig), ConfigError> {
        let t: RsToml = load(file)?;
        let v = t.validate(file)?;
        Ok((t, v))
    }

    pub fn validate(&self, file: &Path) -> Result<ace_rs::RsConfig, ConfigError> {
        if self.token_key.is_empty() {
            return Err(err(
                file,
                "token_key",
                "at least one key shared with the AS",
            ));
        }
        let token_keys = self
            .token_key
            .iter()
            .enumerate()
            .map(|(i, k)| token_key(file, &format!("token_key[{i}]"), k))
            .collect::<Result<Vec<_>, _>>()?;
        if !self.as_uri.starts_with("coap://") && !self.as_uri.starts_with("coaps://") {
            return Err(err(file, "as_uri", "must be a coap:// URI"));
        }
        let mut text_scopes = HashMap::new();
        for (name, list) in &self.scopes {
            let entries = aif(file, &format!("scopes.{name}"), list)?;
            text_scopes.insert(
                name.clone(),
                entries.into_iter().map(|e| (e.path, e.methods)).collect(),
            );
        }
        let mut resources = Vec::new();
        for (i, r) in self.resource.iter().enumerate() {
            let k = format!("resource[{i}]");
            if !r.path.starts_with('/') || r.path == ace_rs::AUTHZ_INFO {
                return Err(err(
                    file,
                    format!("{k}.path"),
                    "must start with / and not be /authz-info",
                ));
            }
            resources.push(ace_rs::ResourceSpec {
                path: r.path.clone(),
                value: r.value.as_bytes().to_vec(),
                content_format: r.content_format.or(Some(0)),
                methods: methods(file, &format!("{k}.methods"), &r.methods)?,
            });
        }
        if self.max_tokens == 0 {
            return Err(err(file, "max_tokens", "must be > 0"));
        }
        Ok(ace_rs::RsConfig {
            audience: self.audience.clone(),
            issuer: self.issuer.clone(),
            as_uri: self.as_uri.clone(),
            token_keys,
            text_scopes,
            resources,
            max_tokens: self.max_tokens,
        })
    }
}

// ---------------------------------------------------------------- Client

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientToml {
    pub id: String,
    #[serde(default = "any_local")]
    pub listen: SocketAddr,
    #[serde(default = "any_local")]
    pub esp_listen: SocketAddr,
    /// Where the registration SA pair's counters are kept (default: beside
    /// the configuration file, `<name>.state/`).
    pub state_dir: Option<PathBuf>,
    #[serde(rename = "as")]
    pub as_: AsRegToml,
    /// The client's EDHOC key: with it the client asks for EDHOC tokens.
    pub edhoc: Option<EdhocKeyToml>,
    /// IKEv2: the client asks for `kmp` = ikev2 tokens (draft §3.2.2,
    /// §3.2.3) and runs IKEv2 on its ESP-in-UDP port.
    pub ike: Option<ClientIkeToml>,
    /// Transparent mode: the token's pair protects unmodified CoAP programs
    /// through this TUN device (`crate::tun`); the client keeps running.
    pub tun: Option<crate::tun::TunToml>,
}

/// `[ike]` of a client.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ClientIkeToml {
    /// With a key: raw public keys (its COSE_Key goes in `req_cnf`);
    /// without: a PSK (drawn by the AS, or one of `psk`).
    pub key: Option<IkeKeyToml>,
    /// The RS starts IKE_SA_INIT towards this client's `esp_listen` as the
    /// token's acknowledgement (the client must be reachable there); by
    /// default the client starts after the RS's 2.01.
    #[serde(default)]
    pub rs_initiates: bool,
    /// PSKs this client holds, by audience (also registered at the AS).
    #[serde(default)]
    pub psk: Vec<IkePskToml>,
}

/// A validated [`ClientIkeToml`].
pub struct ClientIke {
    pub key: ace_client::IkeKey,
    pub rs_initiates: bool,
    /// (audience, kid, k).
    pub psks: Vec<(String, Vec<u8>, Seed)>,
}

fn any_local() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsRegToml {
    /// The AS token endpoint URI, as RSs name it in their hints.
    pub uri: Option<String>,
    /// The AS's ESP-in-UDP address.
    pub esp_addr: SocketAddr,
    /// The AS's CoAP port inside ESP.
    pub coap_port: u16,
    pub spi_c: u32,
    pub spi_as: u32,
    pub seed: String,
    pub alg: String,
}

impl ClientToml {
    /// The configured IKEv2 key, validated.
    pub fn ike(&self, file: &Path) -> Result<Option<ClientIke>, ConfigError> {
        let Some(t) = &self.ike else { return Ok(None) };
        if self.edhoc.is_some() {
            return Err(err(
                file,
                "ike",
                "choose one key-management method: [edhoc] or [ike]",
            ));
        }
        if self.tun.is_some() {
            return Err(err(
                file,
                "ike",
                "IKEv2 tokens are not supported with [tun] yet: use Direct Provisioning or EDHOC there",
            ));
        }
        let key = match &t.key {
            None => ace_client::IkeKey::Psk,
            Some(k) => {
                if !t.psk.is_empty() {
                    return Err(err(
                        file,
                        "ike.psk",
                        "a PSK is for clients without [ike.key]",
                    ));
                }
                let (kid, key) = ike_signing_key(file, "ike.key", k)?;
                ace_client::IkeKey::Rpk { kid, key }
            }
        };
        let mut psks = Vec::new();
        for (i, p) in t.psk.iter().enumerate() {
            let k = format!("ike.psk[{i}]");
            if p.client.is_some() {
                return Err(err(file, format!("{k}.client"), "only at the AS"));
            }
            let (_, audience, kid, psk) = ike_psk(file, &k, p)?;
            psks.push((audience, kid, psk));
        }
        Ok(Some(ClientIke {
            key,
            rs_initiates: t.rs_initiates,
            psks,
        }))
    }

    /// The configured EDHOC key, validated.
    pub fn edhoc_key(
        &self,
        file: &Path,
    ) -> Result<Option<ace_core::edhoc::StaticKey>, ConfigError> {
        self.edhoc
            .as_ref()
            .map(|t| edhoc_static_key(file, "edhoc", t))
            .transpose()
    }

    pub fn load(file: &Path) -> Result<(Self, ace_client::AsRegistration), ConfigError> {
        let t: ClientToml = load(file)?;
        let v = t.validate(file)?;
        Ok((t, v))
    }

    pub fn validate(&self, file: &Path) -> Result<ace_client::AsRegistration, ConfigError> {
        let a = &self.as_;
        let spi_c = spi(file, "as.spi_c", a.spi_c)?;
        let spi_as = spi(file, "as.spi_as", a.spi_as)?;
        if spi_c == spi_as {
            return Err(err(file, "as.spi_as", "must differ from spi_c"));
        }
        Ok(ace_client::AsRegistration {
            esp_addr: a.esp_addr,
            coap_port: a.coap_port,
            spi_c,
            spi_as,
            seed: seed(file, "as.seed", &a.seed)?,
            alg: alg_id(file, "as.alg", &a.alg)?,
            uri: a.uri.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_key_length_names_file_and_key() {
        let f = Path::new("rs.toml");
        let text = r#"
audience = "a"
as_uri = "coap://127.0.0.1/token"
listen = "127.0.0.1:5683"
esp_listen = "127.0.0.1:4500"
[[token_key]]
kid = "k"
key = "0011"
alg = "A128GCM"
"#;
        let t: RsToml = parse(f, text).unwrap();
        let e = t.validate(f).err().unwrap().to_string();
        assert!(
            e.starts_with("rs.toml: token_key[0].key: expected 32 hex digits"),
            "{e}"
        );
    }

    #[test]
    fn type_errors_name_the_table_and_key() {
        let f = Path::new("c.toml");
        let text =
            "id = \"c\"\n[as]\nesp_addr = \"127.0.0.1:4500\"\ncoap_port = 5683\nspi_c = \"x\"\n";
        let e = parse::<ClientToml>(f, text).err().unwrap().to_string();
        assert!(
            e.starts_with("c.toml: as.spi_c (line 5): invalid type"),
            "{e}"
        );
    }

    #[test]
    fn unknown_key_is_refused() {
        let f = Path::new("c.toml");
        let e = parse::<ClientToml>(f, "id = \"c\"\nbogus = 1\n")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("c.toml") && e.contains("bogus"), "{e}");
    }

    #[test]
    fn reserved_spi_is_refused() {
        let f = Path::new("c.toml");
        let text = r#"
id = "c"
[as]
esp_addr = "127.0.0.1:4500"
coap_port = 5683
spi_c = 7
spi_as = 4098
seed = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
alg = "A128GCM"
"#;
        let t: ClientToml = parse(f, text).unwrap();
        let e = t.validate(f).err().unwrap().to_string();
        assert_eq!(
            e,
            "c.toml: as.spi_c: SPI 7 is reserved (RFC 4303 §2.1: 0–255)"
        );
    }

    #[test]
    fn examples_are_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        AsToml::load(&dir.join("as.toml")).map(|_| ()).unwrap();
        RsToml::load(&dir.join("rs.toml")).map(|_| ()).unwrap();
        ClientToml::load(&dir.join("client.toml"))
            .map(|_| ())
            .unwrap();
        ClientToml::load(&dir.join("client-edhoc.toml"))
            .map(|_| ())
            .unwrap();
        let ci = dir.join("client-ike.toml");
        let (t, _) = ClientToml::load(&ci).unwrap();
        let ike = t.ike(&ci).unwrap().expect("[ike]");
        assert!(matches!(ike.key, ace_client::IkeKey::Psk));
        assert_eq!(ike.psks.len(), 1);
        let (_, v) = AsToml::load(&dir.join("as.toml")).unwrap();
        assert_eq!(v.ike_rs.len(), 1);
        assert_eq!(v.ike_psks.len(), 1);
        let rs = dir.join("rs.toml");
        let (t, _) = RsToml::load(&rs).unwrap();
        let ike = t.ike_config(&rs).unwrap().expect("[ike]");
        // The RS's key is the one the AS registers for it.
        let (kid, key) = ike.signing_key.expect("ike.key");
        assert_eq!(v.ike_rs[0].1.kid, kid);
        let xy = key.public_key().to_xy();
        assert_eq!(v.ike_rs[0].1.x[..], xy[..32]);
        AsToml::load(&dir.join("as-tun.toml")).map(|_| ()).unwrap();
        let rs = dir.join("rs-tun.toml");
        let (t, _) = RsToml::load(&rs).unwrap();
        let tun = t.tun.as_ref().expect("[tun]");
        tun.validate(&rs, ace_node::DpRole::Server, t.listen, t.esp_listen)
            .unwrap();
        let c = dir.join("client-tun.toml");
        let (t, _) = ClientToml::load(&c).unwrap();
        let tun = t.tun.as_ref().expect("[tun]");
        tun.validate(&c, ace_node::DpRole::Client, t.listen, t.esp_listen)
            .unwrap();
    }

    #[test]
    fn tun_options_that_cannot_work_are_refused() {
        let f = Path::new("rs.toml");
        let tun = |server: &str, mode: &str| crate::tun::TunToml {
            device: "ace0".into(),
            mode: Some(mode.into()),
            server: server.parse().unwrap(),
            offload: None,
            txqueuelen: None,
            udp_gso: None,
            udp_gro: None,
        };
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        let rs = ace_node::DpRole::Server;
        let (listen, esp) = (a("10.0.0.2:5689"), a("10.0.0.2:4500"));
        let e = |t: crate::tun::TunToml, role, l, e| t.validate(f, role, l, e).unwrap_err().key;
        assert_eq!(
            e(tun("10.0.0.2:5683", "bogus"), rs, listen, esp),
            "tun.mode"
        );
        assert_eq!(
            e(
                tun("10.0.0.2:5683", "transport"),
                rs,
                listen,
                a("0.0.0.0:4500")
            ),
            "esp_listen"
        );
        assert_eq!(
            e(
                tun("10.0.0.2:5683", "transport"),
                rs,
                a("10.0.0.3:5689"),
                esp
            ),
            "listen"
        );
        // Transport mode rebuilds for the ESP address; tunnel mode may protect another.
        assert_eq!(
            e(tun("10.9.0.1:5683", "transport"), rs, listen, esp),
            "tun.server"
        );
        assert!(tun("10.9.0.1:5683", "tunnel")
            .validate(f, rs, listen, esp)
            .is_ok());
        assert_eq!(
            e(tun("10.0.0.2:5689", "transport"), rs, listen, esp),
            "tun.server"
        );
        assert_eq!(
            e(tun("[::1]:5683", "transport"), rs, listen, esp),
            "tun.server"
        );
        let c = ace_node::DpRole::Client;
        let (cl, ce) = (a("10.0.0.1:0"), a("10.0.0.1:4500"));
        assert!(tun("10.0.0.2:5683", "tunnel")
            .validate(f, c, cl, ce)
            .is_ok());
    }
}
