//! AS Request Creation Hints (RFC 9200 §5.3): the payload of the RS's 4.01
//! (Unauthorized) answer to an unauthorized request, telling C where to get
//! a token (draft-aragon-ace-ipsec-profile-01 §3.1; its §4.1 asks that this
//! unprotected answer carry no more than C needs).

use ciborium::value::Value;

use crate::cbor::{self, MapReader, MapWriter};
use crate::error::DecodeError;
use crate::labels::hints as h;
use crate::scope::Scope;

/// AS Request Creation Hints (RFC 9200 §5.3 Table 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsCreationHints {
    /// `AS` (1): absolute URI of the AS's token endpoint. RFC 9200 makes it
    /// optional; this profile always sends it, since telling C where the AS
    /// is the reason for phase (1) (draft §3.1), and requires it on decode.
    pub as_uri: String,
    /// `kid` (2): key of an existing security association C should reuse.
    pub kid: Option<Vec<u8>>,
    /// `audience` (5): what C should request as audience.
    pub audience: Option<String>,
    /// `scope` (9): what C should request as scope.
    pub scope: Option<Scope>,
    /// `cnonce` (39): a client-nonce for token freshness (RFC 9200 §5.3.1).
    pub cnonce: Option<Vec<u8>>,
}

impl AsCreationHints {
    /// Hints naming only the AS.
    pub fn new(as_uri: impl Into<String>) -> Self {
        AsCreationHints {
            as_uri: as_uri.into(),
            kid: None,
            audience: None,
            scope: None,
            cnonce: None,
        }
    }

    /// The CBOR map.
    pub fn to_value(&self) -> Value {
        let mut m = MapWriter::new();
        m.put(h::AS, Value::Text(self.as_uri.clone()))
            .put_opt(h::KID, self.kid.clone().map(Value::Bytes))
            .put_opt(h::AUDIENCE, self.audience.clone().map(Value::Text))
            .put_opt(h::SCOPE, self.scope.as_ref().map(Scope::to_value))
            .put_opt(h::CNONCE, self.cnonce.clone().map(Value::Bytes));
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

    /// Decode; unknown keys are ignored.
    pub fn from_owned_value(value: Value) -> Result<Self, DecodeError> {
        let mut m = MapReader::new(value, "AS request creation hints")?;
        Ok(AsCreationHints {
            as_uri: m
                .text(h::AS, "AS")?
                .ok_or(DecodeError::MissingField("AS"))?,
            kid: m.bytes(h::KID, "kid")?,
            audience: m.text(h::AUDIENCE, "audience")?,
            scope: m.take(h::SCOPE).map(Scope::from_owned_value).transpose()?,
            cnonce: m.bytes(h::CNONCE, "cnonce")?,
        })
    }

    /// Decode a payload.
    pub fn from_cbor(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::from_owned_value(cbor::decode(bytes)?)
    }
}
