//! The token endpoint's messages (RFC 9200 §5.8): the access token request
//! (§5.8.1), the Access Information response (§5.8.2) and the error response
//! (§5.8.3), as CBOR maps with the integer keys of RFC 9200 Table 5
//! (`application/ace+cbor`, Content-Format 19).

use ciborium::value::Value;
use coset::CoseKey;

use crate::cbor::{self, int, uint, MapReader, MapWriter};
use crate::cnf::{rs_cnf_from_value, rs_cnf_to_value, Cnf};
use crate::error::{CoapCode, DecodeError};
use crate::labels::{error_code as e, grant_type, param as p};
use crate::scope::Scope;

/// Access token request, C → AS `POST /token` (RFC 9200 §5.8.1).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRequest {
    /// `grant_type` (33); [`crate::labels::grant_type::CLIENT_CREDENTIALS`]
    /// when absent on the wire (RFC 9200 §5.8.1).
    pub grant_type: u64,
    /// `audience` (5): the RS the token is for (RFC 8693 §2.1).
    pub audience: Option<String>,
    /// `scope` (9).
    pub scope: Option<Scope>,
    /// `req_cnf` (4): the proof-of-possession key C wants (RFC 9201 §3.1),
    /// or, for a token update, the `ipsec` map with SPI_SA_RS only
    /// (draft-aragon-ace-ipsec-profile-01 §2.1).
    pub req_cnf: Option<Cnf>,
    /// `client_id` (24).
    pub client_id: Option<String>,
    /// `cnonce` (39), copied from the AS Request Creation Hints (RFC 9200
    /// §5.8.4.4).
    pub cnonce: Option<Vec<u8>>,
    /// Send `ace_profile` (38) as null: C asks the AS to name the profile in
    /// the response (RFC 9200 §5.8.4.3).
    pub request_ace_profile: bool,
}

impl TokenRequest {
    /// A client-credentials request with nothing else set.
    pub fn new() -> Self {
        TokenRequest {
            grant_type: grant_type::CLIENT_CREDENTIALS,
            audience: None,
            scope: None,
            req_cnf: None,
            client_id: None,
            cnonce: None,
            request_ace_profile: false,
        }
    }

    /// The CBOR map.
    pub fn to_value(&self) -> Value {
        let mut m = MapWriter::new();
        m.put(p::GRANT_TYPE, uint(self.grant_type))
            .put_opt(p::AUDIENCE, self.audience.clone().map(Value::Text))
            .put_opt(p::SCOPE, self.scope.as_ref().map(Scope::to_value))
            .put_opt(p::REQ_CNF, self.req_cnf.as_ref().map(Cnf::to_value))
            .put_opt(p::CLIENT_ID, self.client_id.clone().map(Value::Text))
            .put_opt(p::CNONCE, self.cnonce.clone().map(Value::Bytes))
            .put_opt(
                p::ACE_PROFILE,
                self.request_ace_profile.then_some(Value::Null),
            );
        m.finish()
    }

    /// Encoded payload.
    pub fn to_cbor(&self) -> Vec<u8> {
        cbor::encode(&self.to_value())
    }

    /// Decode from a borrowed CBOR value; [`Self::from_owned_value`] avoids the copy.
    pub fn from_value(value: &Value) -> Result<Self, DecodeError> {
        Self::from_owned_value(value.clone())
    }

    /// Decode a CBOR map; unknown parameters are ignored.
    pub fn from_owned_value(value: Value) -> Result<Self, DecodeError> {
        let mut m = MapReader::new(value, "token request")?;
        let grant_type = m
            .uint(p::GRANT_TYPE, "grant_type")?
            .unwrap_or(grant_type::CLIENT_CREDENTIALS);
        let audience = m.text(p::AUDIENCE, "audience")?;
        let scope = m.take(p::SCOPE).map(Scope::from_owned_value).transpose()?;
        let req_cnf = m.take(p::REQ_CNF).map(Cnf::from_owned_value).transpose()?;
        let client_id = m.text(p::CLIENT_ID, "client_id")?;
        let cnonce = m.bytes(p::CNONCE, "cnonce")?;
        let request_ace_profile = match m.take(p::ACE_PROFILE) {
            None => false,
            Some(Value::Null) => true,
            Some(_) => {
                return Err(DecodeError::invalid(
                    "ace_profile",
                    "must be null in a token request",
                ))
            }
        };
        Ok(TokenRequest {
            grant_type,
            audience,
            scope,
            req_cnf,
            client_id,
            cnonce,
            request_ace_profile,
        })
    }

    /// Decode a payload.
    pub fn from_cbor(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_owned_value(cbor::decode(bytes)?)
    }
}

impl Default for TokenRequest {
    fn default() -> Self {
        Self::new()
    }
}

/// Access Information, AS → C `2.01 Created` (RFC 9200 §5.8.2).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenResponse {
    /// `access_token` (1): the token, opaque to C (a CWT here).
    pub access_token: Vec<u8>,
    /// `expires_in` (2), seconds.
    pub expires_in: Option<u64>,
    /// `ace_profile` (38); [`crate::labels::ace_profile::COAP_IPSEC`] for
    /// this profile (draft §3.2).
    pub ace_profile: Option<i64>,
    /// `cnf` (8): the PoP key and/or the `ipsec` structure for C.
    pub cnf: Option<Cnf>,
    /// `rs_cnf` (41): RS's public key (draft §3.2.3), encoded as
    /// `{ 1 => COSE_Key }` (RFC 9201 §3.2).
    pub rs_cnf: Option<CoseKey>,
    /// `scope` (9): the granted scope, when it differs from the requested
    /// one (RFC 6749 §5.1).
    pub scope: Option<Scope>,
}

impl TokenResponse {
    /// A response carrying only the token.
    pub fn new(access_token: Vec<u8>) -> Self {
        TokenResponse {
            access_token,
            expires_in: None,
            ace_profile: None,
            cnf: None,
            rs_cnf: None,
            scope: None,
        }
    }

    /// The CBOR map.
    pub fn to_value(&self) -> Value {
        let mut m = MapWriter::new();
        m.put(p::ACCESS_TOKEN, Value::Bytes(self.access_token.clone()))
            .put_opt(p::EXPIRES_IN, self.expires_in.map(uint))
            .put_opt(p::CNF, self.cnf.as_ref().map(Cnf::to_value))
            .put_opt(p::SCOPE, self.scope.as_ref().map(Scope::to_value))
            .put_opt(p::ACE_PROFILE, self.ace_profile.map(int))
            .put_opt(p::RS_CNF, self.rs_cnf.as_ref().map(rs_cnf_to_value));
        m.finish()
    }

    /// Encoded payload.
    pub fn to_cbor(&self) -> Vec<u8> {
        cbor::encode(&self.to_value())
    }

    /// Decode from a borrowed CBOR value; [`Self::from_owned_value`] avoids the copy.
    pub fn from_value(value: &Value) -> Result<Self, DecodeError> {
        Self::from_owned_value(value.clone())
    }

    /// Decode; `access_token` is required, unknown parameters are ignored.
    pub fn from_owned_value(value: Value) -> Result<Self, DecodeError> {
        let mut m = MapReader::new(value, "token response")?;
        let access_token = m
            .bytes(p::ACCESS_TOKEN, "access_token")?
            .ok_or(DecodeError::MissingField("access_token"))?;
        let expires_in = m.uint(p::EXPIRES_IN, "expires_in")?;
        let cnf = m.take(p::CNF).map(Cnf::from_owned_value).transpose()?;
        let scope = m.take(p::SCOPE).map(Scope::from_owned_value).transpose()?;
        let ace_profile = m.int(p::ACE_PROFILE, "ace_profile")?;
        let rs_cnf = m.take(p::RS_CNF).map(rs_cnf_from_value).transpose()?;
        Ok(TokenResponse {
            access_token,
            expires_in,
            ace_profile,
            cnf,
            rs_cnf,
            scope,
        })
    }

    /// Decode a payload.
    pub fn from_cbor(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_owned_value(cbor::decode(bytes)?)
    }
}

/// Error codes of the token endpoint (RFC 9200 §5.8.3 Table 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AceErrorCode {
    /// `invalid_request` (1).
    InvalidRequest,
    /// `invalid_client` (2).
    InvalidClient,
    /// `invalid_grant` (3).
    InvalidGrant,
    /// `unauthorized_client` (4).
    UnauthorizedClient,
    /// `unsupported_grant_type` (5).
    UnsupportedGrantType,
    /// `invalid_scope` (6).
    InvalidScope,
    /// `unsupported_pop_key` (7).
    UnsupportedPopKey,
    /// `incompatible_ace_profiles` (8).
    IncompatibleAceProfiles,
    /// A code this crate does not know (the registry is open).
    Other(i64),
}

impl AceErrorCode {
    /// CBOR abbreviation.
    pub fn to_i64(self) -> i64 {
        match self {
            AceErrorCode::InvalidRequest => e::INVALID_REQUEST,
            AceErrorCode::InvalidClient => e::INVALID_CLIENT,
            AceErrorCode::InvalidGrant => e::INVALID_GRANT,
            AceErrorCode::UnauthorizedClient => e::UNAUTHORIZED_CLIENT,
            AceErrorCode::UnsupportedGrantType => e::UNSUPPORTED_GRANT_TYPE,
            AceErrorCode::InvalidScope => e::INVALID_SCOPE,
            AceErrorCode::UnsupportedPopKey => e::UNSUPPORTED_POP_KEY,
            AceErrorCode::IncompatibleAceProfiles => e::INCOMPATIBLE_ACE_PROFILES,
            AceErrorCode::Other(v) => v,
        }
    }

    /// From the CBOR abbreviation.
    pub fn from_i64(v: i64) -> Self {
        match v {
            e::INVALID_REQUEST => AceErrorCode::InvalidRequest,
            e::INVALID_CLIENT => AceErrorCode::InvalidClient,
            e::INVALID_GRANT => AceErrorCode::InvalidGrant,
            e::UNAUTHORIZED_CLIENT => AceErrorCode::UnauthorizedClient,
            e::UNSUPPORTED_GRANT_TYPE => AceErrorCode::UnsupportedGrantType,
            e::INVALID_SCOPE => AceErrorCode::InvalidScope,
            e::UNSUPPORTED_POP_KEY => AceErrorCode::UnsupportedPopKey,
            e::INCOMPATIBLE_ACE_PROFILES => AceErrorCode::IncompatibleAceProfiles,
            other => AceErrorCode::Other(other),
        }
    }

    /// The CoAP response code (RFC 9200 §5.8.3): 4.00 (Bad Request) for all,
    /// except `invalid_client`, for which RFC 9200 allows 4.01
    /// (Unauthorized) "under the same conditions as specified in Section 5.2
    /// of RFC 6749" (client authentication failed): this crate uses 4.01.
    pub fn coap_code(self) -> CoapCode {
        match self {
            AceErrorCode::InvalidClient => CoapCode::UNAUTHORIZED,
            _ => CoapCode::BAD_REQUEST,
        }
    }

    /// The RFC 6749 name (`"invalid_scope"`, …).
    pub fn name(self) -> &'static str {
        match self {
            AceErrorCode::InvalidRequest => "invalid_request",
            AceErrorCode::InvalidClient => "invalid_client",
            AceErrorCode::InvalidGrant => "invalid_grant",
            AceErrorCode::UnauthorizedClient => "unauthorized_client",
            AceErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            AceErrorCode::InvalidScope => "invalid_scope",
            AceErrorCode::UnsupportedPopKey => "unsupported_pop_key",
            AceErrorCode::IncompatibleAceProfiles => "incompatible_ace_profiles",
            AceErrorCode::Other(_) => "unknown",
        }
    }
}

/// Error response of the token endpoint (RFC 9200 §5.8.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AceErrorResponse {
    /// `error` (30).
    pub error: AceErrorCode,
    /// `error_description` (31).
    pub error_description: Option<String>,
    /// `error_uri` (32).
    pub error_uri: Option<String>,
}

impl AceErrorResponse {
    /// A response with the code only.
    pub fn new(error: AceErrorCode) -> Self {
        AceErrorResponse {
            error,
            error_description: None,
            error_uri: None,
        }
    }

    /// With a human-readable description.
    pub fn with_description(error: AceErrorCode, description: impl Into<String>) -> Self {
        AceErrorResponse {
            error_description: Some(description.into()),
            ..AceErrorResponse::new(error)
        }
    }

    /// The CoAP code to send it with.
    pub fn coap_code(&self) -> CoapCode {
        self.error.coap_code()
    }

    /// The CBOR map.
    pub fn to_value(&self) -> Value {
        let mut m = MapWriter::new();
        m.put(p::ERROR, int(self.error.to_i64()))
            .put_opt(
                p::ERROR_DESCRIPTION,
                self.error_description.clone().map(Value::Text),
            )
            .put_opt(p::ERROR_URI, self.error_uri.clone().map(Value::Text));
        m.finish()
    }

    /// Encoded payload.
    pub fn to_cbor(&self) -> Vec<u8> {
        cbor::encode(&self.to_value())
    }

    /// Decode from a borrowed CBOR value; [`Self::from_owned_value`] avoids the copy.
    pub fn from_value(value: &Value) -> Result<Self, DecodeError> {
        Self::from_owned_value(value.clone())
    }

    /// Decode; `error` is required.
    pub fn from_owned_value(value: Value) -> Result<Self, DecodeError> {
        let mut m = MapReader::new(value, "error response")?;
        let error = m
            .int(p::ERROR, "error")?
            .ok_or(DecodeError::MissingField("error"))?;
        Ok(AceErrorResponse {
            error: AceErrorCode::from_i64(error),
            error_description: m.text(p::ERROR_DESCRIPTION, "error_description")?,
            error_uri: m.text(p::ERROR_URI, "error_uri")?,
        })
    }

    /// Decode a payload.
    pub fn from_cbor(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_owned_value(cbor::decode(bytes)?)
    }
}
