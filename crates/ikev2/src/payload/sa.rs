//! RFC 7296 §3.3: the Security Association payload, its Proposal (§3.3.1)
//! and Transform (§3.3.2) substructures and Transform Attributes (§3.3.5).
//!
//! ```text
//! Proposal:
//! | Last Substruc |   RESERVED    |         Proposal Length       |
//! | Proposal Num  |  Protocol ID  |    SPI Size   |Num  Transforms|
//! ~                        SPI (variable)                         ~
//! ~                        <Transforms>                           ~
//!
//! Transform:
//! | Last Substruc |   RESERVED    |        Transform Length       |
//! |Transform Type |   RESERVED    |          Transform ID         |
//! ~                      Transform Attributes                     ~
//!
//! Attribute:
//! |A|       Attribute Type        |    AF=0  Attribute Length     |
//! |F|                             |    AF=1  Attribute Value      |
//! ~                   AF=0  Attribute Value                       ~
//! ```

use crate::consts::{
    AttributeType, DhGroup, EncrId, EsnId, IntegId, PrfId, ProtocolId, TransformType,
    ATTRIBUTE_FORMAT_TV, CHILD_SPI_LEN, IKE_SPI_LEN, LAST_PROPOSAL, LAST_TRANSFORM, MORE_PROPOSALS,
    MORE_TRANSFORMS, PROPOSAL_HEADER_LEN, TRANSFORM_HEADER_LEN,
};
use crate::error::{EmitError, ParseError};
use crate::wire::{len_u16, len_u8, Reader};

/// RFC 7296 §3.3.5: one Transform Attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute {
    /// Type/Value format (AF = 1): a 2-octet value in place of the length.
    Tv {
        /// Attribute Type (15 bits).
        attr_type: AttributeType,
        /// Attribute Value.
        value: u16,
    },
    /// Type/Length/Value format (AF = 0).
    Tlv {
        /// Attribute Type (15 bits).
        attr_type: AttributeType,
        /// Attribute Value.
        value: Vec<u8>,
    },
}

impl Attribute {
    /// The Key Length attribute (RFC 7296 §3.3.5, always TV), in bits.
    pub fn key_length(bits: u16) -> Self {
        Attribute::Tv {
            attr_type: AttributeType::KEY_LENGTH,
            value: bits,
        }
    }

    /// The attribute type.
    pub fn attr_type(&self) -> AttributeType {
        match self {
            Attribute::Tv { attr_type, .. } | Attribute::Tlv { attr_type, .. } => *attr_type,
        }
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, ParseError> {
        let t = r.u16()?;
        let attr_type = AttributeType(t & !ATTRIBUTE_FORMAT_TV);
        let v = r.u16()?;
        if t & ATTRIBUTE_FORMAT_TV != 0 {
            Ok(Attribute::Tv {
                attr_type,
                value: v,
            })
        } else if attr_type == AttributeType::KEY_LENGTH {
            Err(ParseError::KeyLengthNotTv)
        } else {
            Ok(Attribute::Tlv {
                attr_type,
                value: r.bytes(usize::from(v))?.to_vec(),
            })
        }
    }

    fn buffer_len(&self) -> usize {
        match self {
            Attribute::Tv { .. } => 4,
            Attribute::Tlv { value, .. } => 4 + value.len(),
        }
    }

    fn emit(&self, out: &mut Vec<u8>) -> Result<(), EmitError> {
        let t = self.attr_type().0;
        if t & ATTRIBUTE_FORMAT_TV != 0 {
            return Err(EmitError::Invalid("attribute type above 15 bits"));
        }
        match self {
            Attribute::Tv { value, .. } => {
                out.extend_from_slice(&(t | ATTRIBUTE_FORMAT_TV).to_be_bytes());
                out.extend_from_slice(&value.to_be_bytes());
            }
            Attribute::Tlv { value, .. } => {
                if AttributeType(t) == AttributeType::KEY_LENGTH {
                    return Err(EmitError::Invalid("Key Length attribute must be TV"));
                }
                out.extend_from_slice(&t.to_be_bytes());
                out.extend_from_slice(&len_u16(value.len(), "attribute length")?.to_be_bytes());
                out.extend_from_slice(value);
            }
        }
        Ok(())
    }
}

/// RFC 7296 §3.3.2: one Transform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transform {
    /// Transform Type (ENCR, PRF, INTEG, DH, ESN).
    pub transform_type: TransformType,
    /// Transform ID, interpreted according to `transform_type`.
    pub id: u16,
    /// Transform Attributes.
    pub attributes: Vec<Attribute>,
}

impl Transform {
    /// An ENCR transform, with a Key Length attribute when `key_bits` is given
    /// (required for AES-CBC/CCM/GCM, forbidden for ChaCha20-Poly1305).
    pub fn encr(id: EncrId, key_bits: Option<u16>) -> Self {
        Transform {
            transform_type: TransformType::ENCR,
            id: id.0,
            attributes: key_bits.map(Attribute::key_length).into_iter().collect(),
        }
    }
    /// A PRF transform.
    pub fn prf(id: PrfId) -> Self {
        Self::plain(TransformType::PRF, id.0)
    }
    /// An INTEG transform.
    pub fn integ(id: IntegId) -> Self {
        Self::plain(TransformType::INTEG, id.0)
    }
    /// A D-H transform.
    pub fn dh(id: DhGroup) -> Self {
        Self::plain(TransformType::DH, id.0)
    }
    /// An ESN transform.
    pub fn esn(id: EsnId) -> Self {
        Self::plain(TransformType::ESN, id.0)
    }
    fn plain(transform_type: TransformType, id: u16) -> Self {
        Transform {
            transform_type,
            id,
            attributes: Vec::new(),
        }
    }

    /// The Key Length attribute in bits, if present.
    pub fn key_length(&self) -> Option<u16> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Tv { attr_type, value } if *attr_type == AttributeType::KEY_LENGTH => {
                Some(*value)
            }
            _ => None,
        })
    }

    /// RFC 7296 §3.3.6: a transform carrying an attribute this crate does
    /// not know must make the whole proposal unacceptable.
    pub fn has_unknown_attributes(&self) -> bool {
        self.attributes
            .iter()
            .any(|a| a.attr_type() != AttributeType::KEY_LENGTH)
    }

    fn parse(body: &[u8]) -> Result<Self, ParseError> {
        let mut r = Reader::new(body, "Transform");
        let transform_type = TransformType(r.u8()?);
        let _reserved = r.u8()?;
        let id = r.u16()?;
        let mut attributes = Vec::new();
        let mut ar = Reader::new(r.rest(), "Transform Attribute");
        while !ar.is_empty() {
            attributes.push(Attribute::parse(&mut ar)?);
        }
        Ok(Transform {
            transform_type,
            id,
            attributes,
        })
    }

    fn buffer_len(&self) -> usize {
        TRANSFORM_HEADER_LEN
            + self
                .attributes
                .iter()
                .map(Attribute::buffer_len)
                .sum::<usize>()
    }

    fn emit(&self, last: bool, out: &mut Vec<u8>) -> Result<(), EmitError> {
        out.push(if last {
            LAST_TRANSFORM
        } else {
            MORE_TRANSFORMS
        });
        out.push(0);
        out.extend_from_slice(&len_u16(self.buffer_len(), "Transform Length")?.to_be_bytes());
        out.push(self.transform_type.0);
        out.push(0);
        out.extend_from_slice(&self.id.to_be_bytes());
        for a in &self.attributes {
            a.emit(out)?;
        }
        Ok(())
    }
}

/// RFC 7296 §3.3.1: one Proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// Proposal Num (the responder echoes the number of the one it accepts).
    pub number: u8,
    /// Protocol ID (IKE, AH, ESP).
    pub protocol: ProtocolId,
    /// The sending entity's SPI: empty in IKE_SA_INIT, 8 octets in an IKE SA
    /// rekey, 4 octets for AH and ESP.
    pub spi: Vec<u8>,
    /// The transforms offered (or, in a response, accepted).
    pub transforms: Vec<Transform>,
}

impl Proposal {
    /// The transforms of one type, in order of preference.
    pub fn transforms_of(&self, t: TransformType) -> impl Iterator<Item = &Transform> {
        self.transforms
            .iter()
            .filter(move |tr| tr.transform_type == t)
    }

    /// The SPI as a 4-octet ESP/AH SPI, if it is one.
    pub fn child_spi(&self) -> Option<u32> {
        <[u8; CHILD_SPI_LEN]>::try_from(self.spi.as_slice())
            .ok()
            .map(u32::from_be_bytes)
    }

    fn check_spi_size(protocol: ProtocolId, size: usize) -> bool {
        match protocol {
            ProtocolId::IKE => size == 0 || size == IKE_SPI_LEN,
            ProtocolId::AH | ProtocolId::ESP => size == CHILD_SPI_LEN,
            // Unknown protocols are kept so that the state machine can skip
            // the proposal (RFC 7296 §3.3.6) rather than reject the message.
            _ => true,
        }
    }

    fn parse(body: &[u8]) -> Result<Self, ParseError> {
        let mut r = Reader::new(body, "Proposal");
        let number = r.u8()?;
        let protocol = ProtocolId(r.u8()?);
        let spi_size = r.u8()?;
        let num_transforms = usize::from(r.u8()?);
        if !Self::check_spi_size(protocol, usize::from(spi_size)) {
            return Err(ParseError::BadSpiSize {
                protocol: protocol.0,
                spi_size,
            });
        }
        let spi = r.bytes(usize::from(spi_size))?.to_vec();
        let mut transforms = Vec::with_capacity(num_transforms.min(32));
        let mut rest = r.rest();
        while !rest.is_empty() {
            let mut tr = Reader::new(rest, "Transform");
            let last = tr.u8()?;
            let _reserved = tr.u8()?;
            let length = usize::from(tr.u16()?);
            if length < TRANSFORM_HEADER_LEN || length > rest.len() {
                return Err(ParseError::BadLength {
                    what: "Transform Length",
                    length,
                    available: rest.len(),
                });
            }
            let (this, after) = rest.split_at(length);
            let expected = if after.is_empty() {
                LAST_TRANSFORM
            } else {
                MORE_TRANSFORMS
            };
            if last != expected {
                return Err(ParseError::BadLastSubstruc {
                    what: "Transform",
                    value: last,
                });
            }
            transforms.push(Transform::parse(this.get(4..).unwrap_or(&[]))?);
            rest = after;
        }
        if transforms.len() != num_transforms {
            return Err(ParseError::TransformCountMismatch {
                announced: num_transforms,
                found: transforms.len(),
            });
        }
        if transforms.is_empty() {
            return Err(ParseError::Empty("Proposal"));
        }
        Ok(Proposal {
            number,
            protocol,
            spi,
            transforms,
        })
    }

    fn buffer_len(&self) -> usize {
        PROPOSAL_HEADER_LEN
            + self.spi.len()
            + self
                .transforms
                .iter()
                .map(Transform::buffer_len)
                .sum::<usize>()
    }

    fn emit(&self, last: bool, out: &mut Vec<u8>) -> Result<(), EmitError> {
        if !Self::check_spi_size(self.protocol, self.spi.len()) {
            return Err(EmitError::Invalid("SPI size for the proposal's protocol"));
        }
        if self.transforms.is_empty() {
            return Err(EmitError::Invalid("proposal without transforms"));
        }
        out.push(if last { LAST_PROPOSAL } else { MORE_PROPOSALS });
        out.push(0);
        out.extend_from_slice(&len_u16(self.buffer_len(), "Proposal Length")?.to_be_bytes());
        out.push(self.number);
        out.push(self.protocol.0);
        out.push(len_u8(self.spi.len(), "SPI Size")?);
        out.push(len_u8(self.transforms.len(), "Num Transforms")?);
        out.extend_from_slice(&self.spi);
        let n = self.transforms.len();
        for (i, t) in self.transforms.iter().enumerate() {
            t.emit(i + 1 == n, out)?;
        }
        Ok(())
    }
}

/// RFC 7296 §3.3: the Security Association payload, a list of proposals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaRepr {
    /// The proposals, in order of preference.
    pub proposals: Vec<Proposal>,
}

impl SaRepr {
    /// Parses the payload body: one or more proposals, each with the Last
    /// Substruc value its position requires (2, and 0 for the last), a
    /// Proposal Length inside the payload, an SPI size fitting its protocol
    /// and exactly Num Transforms transforms.
    pub fn parse(body: &[u8]) -> Result<Self, ParseError> {
        let mut proposals = Vec::new();
        let mut rest = body;
        while !rest.is_empty() {
            let mut r = Reader::new(rest, "Proposal");
            let last = r.u8()?;
            let _reserved = r.u8()?;
            let length = usize::from(r.u16()?);
            if length < PROPOSAL_HEADER_LEN || length > rest.len() {
                return Err(ParseError::BadLength {
                    what: "Proposal Length",
                    length,
                    available: rest.len(),
                });
            }
            let (this, after) = rest.split_at(length);
            let expected = if after.is_empty() {
                LAST_PROPOSAL
            } else {
                MORE_PROPOSALS
            };
            if last != expected {
                return Err(ParseError::BadLastSubstruc {
                    what: "Proposal",
                    value: last,
                });
            }
            proposals.push(Proposal::parse(this.get(4..).unwrap_or(&[]))?);
            rest = after;
        }
        if proposals.is_empty() {
            return Err(ParseError::Empty("SA payload"));
        }
        Ok(SaRepr { proposals })
    }

    /// RFC 7296 §3.3.1: in a request, "the first Proposal MUST have a
    /// Proposal Num of one (1)" and each following one is one more than
    /// the previous. (A response carries the number of the accepted
    /// proposal, so this check belongs to the request path.)
    pub fn check_request_numbering(&self) -> Result<(), ParseError> {
        let mut previous = 0u8;
        for p in &self.proposals {
            if Some(p.number) != previous.checked_add(1) {
                return Err(ParseError::BadProposalNumber {
                    previous,
                    found: p.number,
                });
            }
            previous = p.number;
        }
        Ok(())
    }

    /// Length of the body.
    pub fn body_len(&self) -> usize {
        self.proposals.iter().map(Proposal::buffer_len).sum()
    }

    /// Appends the body, computing every length, count and Last Substruc.
    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), EmitError> {
        if self.proposals.is_empty() {
            return Err(EmitError::Invalid("SA payload without proposals"));
        }
        let n = self.proposals.len();
        for (i, p) in self.proposals.iter().enumerate() {
            p.emit(i + 1 == n, out)?;
        }
        Ok(())
    }
}
