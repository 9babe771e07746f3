//! What the store holds, as plain Rust values. Byte fields are opaque to the
//! store: COSE_Keys, CBOR scopes (AIF) or text scopes as bytes.

use std::fmt;

use crate::error::{Result, StoreError};

/// A registered client (a row of `clients`).
#[derive(Clone, PartialEq, Eq)]
pub struct Client {
    /// The client's identifier at the AS.
    pub id: String,
    /// A human-readable name.
    pub name: String,
    /// The client's own key (a COSE_Key, RFC 9052 §7), if it has one.
    pub cose_key: Option<Vec<u8>>,
    /// SPI of the client's inbound SA of the Client-AS pair.
    pub spi_c: Option<u32>,
    /// SPI of the AS's inbound SA of the Client-AS pair; it names the client,
    /// so no two clients share one (UNIQUE).
    pub spi_as: Option<u32>,
    /// The rest of the registration (seed, suite of the Client-AS pair, ...)
    /// as opaque CBOR. It may hold key material: `Debug` prints its length only.
    pub registration: Vec<u8>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("cose_key", &self.cose_key.as_ref().map(Vec::len))
            .field("spi_c", &self.spi_c)
            .field("spi_as", &self.spi_as)
            .field("registration_len", &self.registration.len())
            .finish()
    }
}

/// A registered resource server (a row of `resource_servers`).
#[derive(Clone, PartialEq, Eq)]
pub struct ResourceServer {
    /// The audience that names the RS in token requests.
    pub audience: String,
    /// The key the AS encrypts tokens for this RS with (COSE_Key bytes).
    /// Secret: `Debug` never prints it.
    pub token_key: Vec<u8>,
    /// The ESP algorithm for SA pairs with this RS (the profile's name).
    pub esp_alg: String,
    /// Lifetime of an SA pair, seconds.
    pub sa_life: u64,
    /// The RS's EDHOC public key (COSE_Key), if it does EDHOC.
    pub edhoc_public_key: Option<Vec<u8>>,
    /// The RS's IKEv2 public key (COSE_Key), if it does IKEv2 with raw keys.
    pub ike_public_key: Option<Vec<u8>>,
}

impl fmt::Debug for ResourceServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceServer")
            .field("audience", &self.audience)
            .field("token_key", &"<secret>")
            .field("esp_alg", &self.esp_alg)
            .field("sa_life", &self.sa_life)
            .field("edhoc_public_key", &self.edhoc_public_key.is_some())
            .field("ike_public_key", &self.ike_public_key.is_some())
            .finish()
    }
}

/// One access policy entry: `client_id` may get `scope` at `audience`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Policy {
    pub client_id: String,
    pub audience: String,
    /// A scope entry: text (RFC 9200 §5.8.1) or CBOR (AIF, RFC 9237) bytes.
    pub scope: Vec<u8>,
}

/// An inclusive range `[lo, hi]` of SPI values the AS may hand out as
/// SPI_SA_C for one RS. `lo >= 256`: SPIs 1–255 are reserved (RFC 4303 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpiRange {
    lo: u32,
    hi: u32,
}

impl SpiRange {
    /// Lowest SPI a pool may hold.
    pub const MIN_SPI: u32 = 256;
    /// Every SPI that is not reserved.
    pub const ALL: SpiRange = SpiRange {
        lo: Self::MIN_SPI,
        hi: u32::MAX,
    };

    /// `[lo, hi]`, or `InvalidRange` when empty or below 256.
    pub fn new(lo: u32, hi: u32) -> Result<Self> {
        if lo < Self::MIN_SPI || lo > hi {
            return Err(StoreError::InvalidRange { lo, hi });
        }
        Ok(SpiRange { lo, hi })
    }
    pub fn lo(&self) -> u32 {
        self.lo
    }
    pub fn hi(&self) -> u32 {
        self.hi
    }
    /// How many SPIs the range holds (at least 1).
    pub fn size(&self) -> u64 {
        u64::from(self.hi) - u64::from(self.lo) + 1
    }
    pub fn contains(&self, spi: u32) -> bool {
        (self.lo..=self.hi).contains(&spi)
    }
}

impl fmt::Display for SpiRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {}]", self.lo, self.hi)
    }
}

/// A token to record. With [`SpiSaC::Reserve`] the store reserves SPI_SA_C
/// from the pool in the same durable transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    /// The CWT ID (RFC 8392 §3.1.7); unique over all tokens.
    pub cti: Vec<u8>,
    pub client_id: String,
    pub audience: String,
    /// The granted scope, as bytes (text or AIF CBOR).
    pub scope: Vec<u8>,
    /// Unix seconds.
    pub issued_at: u64,
    /// Unix seconds.
    pub exp: u64,
    /// Key-management method: "dp", "edhoc", "ikev2-psk", "ikev2-rpk", ...
    pub method: String,
    /// SPI_SA_C (Direct Provisioning): none, one to reserve now, or one the
    /// caller reserved before with `reserve_spi`.
    pub spi_sa_c: SpiSaC,
    /// The SPI_SA_RS the AS drew (Direct Provisioning).
    pub spi_sa_rs: Option<u32>,
}

/// Where a token's SPI_SA_C comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpiSaC {
    /// The token has none (EDHOC, IKEv2: the SA pair is not provisioned).
    None,
    /// Reserve one from `audience`'s pool in this range (draft §2.1).
    Reserve(SpiRange),
    /// Already reserved by `reserve_spi` for this token; recorded as is.
    Reserved(u32),
}

/// A recorded token (a row of `tokens`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub cti: Vec<u8>,
    pub client_id: String,
    pub audience: String,
    pub scope: Vec<u8>,
    pub issued_at: u64,
    pub exp: u64,
    pub method: String,
    pub spi_sa_c: Option<u32>,
    pub spi_sa_rs: Option<u32>,
    /// When the token was revoked (Unix seconds); `None` while it is not.
    pub revoked_at: Option<u64>,
}

impl TokenRecord {
    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }

    /// The record `issue` writes for `t` with the SPI the pool gave.
    pub(crate) fn from_new(t: &NewToken, spi_sa_c: Option<u32>) -> Self {
        TokenRecord {
            cti: t.cti.clone(),
            client_id: t.client_id.clone(),
            audience: t.audience.clone(),
            scope: t.scope.clone(),
            issued_at: t.issued_at,
            exp: t.exp,
            method: t.method.clone(),
            spi_sa_c,
            spi_sa_rs: t.spi_sa_rs,
            revoked_at: None,
        }
    }
}

/// What `issue` reports once the token's record is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Issued {
    /// The SPI_SA_C reserved for the token, if it asked for one.
    pub spi_sa_c: Option<u32>,
}

/// Which tokens `list_tokens` returns; every set field must match. The
/// result is ordered by `(issued_at, cti)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenFilter {
    pub client_id: Option<String>,
    pub audience: Option<String>,
    /// `Some(true)`: revoked only; `Some(false)`: not revoked only.
    pub revoked: Option<bool>,
    /// Only tokens revoked at or after this time (Unix seconds).
    pub revoked_since: Option<u64>,
    /// Only tokens with `exp` after this time (Unix seconds).
    pub unexpired_at: Option<u64>,
    /// At most this many.
    pub limit: Option<u32>,
}

impl TokenFilter {
    /// Does `t` pass the filter (the limit aside)?
    pub fn matches(&self, t: &TokenRecord) -> bool {
        self.client_id.as_ref().is_none_or(|c| *c == t.client_id)
            && self.audience.as_ref().is_none_or(|a| *a == t.audience)
            && self.revoked.is_none_or(|r| r == t.is_revoked())
            && self
                .revoked_since
                .is_none_or(|s| t.revoked_at.is_some_and(|at| at >= s))
            && self.unexpired_at.is_none_or(|now| t.exp > now)
    }
}

/// What `revoke` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// The token is now revoked, as of the given time.
    Revoked,
    /// It already was, since this time; nothing changed.
    AlreadyRevoked { at: u64 },
}
