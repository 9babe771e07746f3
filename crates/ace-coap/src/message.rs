//! RFC 7252 §3: the CoAP message, parsed (`Message::parse`) and emitted
//! (`Message::emit`) through the `coap-lite` codec, with the format checks
//! `coap-lite` leaves out (version, reserved TKL, empty payload after the
//! marker, Empty messages with content, reserved code classes).

use coap_lite::{CoapOption, MessageClass, Packet};

use crate::consts::{MAX_TOKEN_LEN, VERSION};
use crate::error::CoapError;

/// RFC 7252 §3: the message type (T) field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// CON (0)
    Confirmable,
    /// NON (1)
    NonConfirmable,
    /// ACK (2)
    Acknowledgement,
    /// RST (3)
    Reset,
}

impl MessageType {
    const fn bits(self) -> u8 {
        match self {
            MessageType::Confirmable => 0,
            MessageType::NonConfirmable => 1,
            MessageType::Acknowledgement => 2,
            MessageType::Reset => 3,
        }
    }

    const fn from_bits(bits: u8) -> Self {
        match bits & 3 {
            0 => MessageType::Confirmable,
            1 => MessageType::NonConfirmable,
            2 => MessageType::Acknowledgement,
            _ => MessageType::Reset,
        }
    }

    fn to_lite(self) -> coap_lite::MessageType {
        match self {
            MessageType::Confirmable => coap_lite::MessageType::Confirmable,
            MessageType::NonConfirmable => coap_lite::MessageType::NonConfirmable,
            MessageType::Acknowledgement => coap_lite::MessageType::Acknowledgement,
            MessageType::Reset => coap_lite::MessageType::Reset,
        }
    }
}

/// Why a datagram is not a CoAP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Shorter than the 4-byte header: nothing to answer.
    TooShort,
    /// RFC 7252 §3: unknown version, "MUST be silently ignored".
    BadVersion,
    /// RFC 7252 §3, §4.2: message format error. The header was readable, so a
    /// CON can be rejected with a Reset carrying `message_id`.
    Format {
        /// Type from the header.
        mtype: MessageType,
        /// Message ID from the header.
        message_id: u16,
    },
}

/// RFC 7252 §3: one CoAP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Type (T).
    pub mtype: MessageType,
    /// Code byte, `class << 5 | detail` (0 = Empty).
    pub code: u8,
    /// Message ID.
    pub message_id: u16,
    /// Token (0 to 8 bytes).
    pub token: Vec<u8>,
    /// Options in ascending number order (repeated options keep their order).
    pub options: Vec<(u16, Vec<u8>)>,
    /// Payload (empty if no payload marker).
    pub payload: Vec<u8>,
}

impl Message {
    /// An Empty message (code 0.00) of the given type: RFC 7252 §4.1.
    pub fn empty(mtype: MessageType, message_id: u16) -> Self {
        Message {
            mtype,
            code: 0,
            message_id,
            token: Vec::new(),
            options: Vec::new(),
            payload: Vec::new(),
        }
    }

    /// The code class (0 request/empty, 2/4/5 response).
    pub const fn class(&self) -> u8 {
        self.code >> 5
    }

    /// RFC 7252 §4.1: Empty message.
    pub const fn is_empty_message(&self) -> bool {
        self.code == 0
    }

    /// Request: class 0 with a non-zero detail.
    pub const fn is_request(&self) -> bool {
        self.code != 0 && self.class() == 0
    }

    /// Response: class 2, 4 or 5.
    pub const fn is_response(&self) -> bool {
        matches!(self.class(), 2 | 4 | 5)
    }

    /// First value of an option.
    pub fn option(&self, number: u16) -> Option<&[u8]> {
        self.options
            .iter()
            .find(|(n, _)| *n == number)
            .map(|(_, v)| v.as_slice())
    }

    /// All values of an option, in order.
    pub fn options_of(&self, number: u16) -> impl Iterator<Item = &[u8]> {
        self.options
            .iter()
            .filter(move |(n, _)| *n == number)
            .map(|(_, v)| v.as_slice())
    }

    /// Add an option value (kept sorted by number, stable for repeats).
    pub fn push_option(&mut self, number: u16, value: Vec<u8>) {
        let at = self.options.partition_point(|(n, _)| *n <= number);
        self.options.insert(at, (number, value));
    }

    /// Parse a datagram. Never panics on any input.
    pub fn parse(datagram: &[u8]) -> Result<Message, ParseError> {
        let (b0, code, message_id) = match datagram {
            [b0, code, m0, m1, ..] => (*b0, *code, u16::from_be_bytes([*m0, *m1])),
            _ => return Err(ParseError::TooShort),
        };
        if b0 >> 6 != VERSION {
            return Err(ParseError::BadVersion);
        }
        let mtype = MessageType::from_bits(b0 >> 4);
        let format = ParseError::Format { mtype, message_id };
        let tkl = usize::from(b0 & 0x0F);
        if tkl > MAX_TOKEN_LEN {
            return Err(format);
        }
        // RFC 7252 §4.1: an Empty message has TKL 0 and nothing after the
        // Message ID.
        if code == 0 && datagram.len() != 4 {
            return Err(format);
        }
        // RFC 7252 §12.1: classes 1, 3, 6 and 7 are not defined for UDP.
        if !matches!(code >> 5, 0 | 2 | 4 | 5) {
            return Err(format);
        }
        let packet = Packet::from_bytes(datagram).map_err(|_| format)?;
        // The option encoding is canonical, so a well-formed message
        // re-encodes to the same bytes; anything else (notably a payload
        // marker followed by no payload, RFC 7252 §3) is a format error.
        match packet.to_bytes_unlimited() {
            Ok(bytes) if bytes == datagram => {}
            _ => return Err(format),
        }
        let options = packet
            .options()
            .flat_map(|(n, values)| values.iter().map(move |v| (*n, v.clone())))
            .collect();
        Ok(Message {
            mtype,
            code,
            message_id,
            token: packet.get_token().to_vec(),
            options,
            payload: packet.payload,
        })
    }

    /// Encode the message.
    pub fn emit(&self) -> Result<Vec<u8>, CoapError> {
        if self.token.len() > MAX_TOKEN_LEN {
            return Err(CoapError::Encode("token longer than 8 bytes"));
        }
        if self
            .options
            .iter()
            .any(|(_, v)| v.len() > usize::from(u16::MAX) + 269)
        {
            return Err(CoapError::Encode("option value too long"));
        }
        let mut packet = Packet::new();
        packet.header.set_version(VERSION);
        packet.header.set_type(self.mtype.to_lite());
        packet.header.code = MessageClass::from(self.code);
        packet.header.message_id = self.message_id;
        packet.set_token(self.token.clone());
        for (number, value) in &self.options {
            packet.add_option(CoapOption::from(*number), value.clone());
        }
        packet.payload = self.payload.clone();
        let bytes = packet
            .to_bytes_unlimited()
            .map_err(|_| CoapError::Encode("coap-lite rejected the message"))?;
        debug_assert_eq!(bytes.first().map(|b| (b >> 4) & 3), Some(self.mtype.bits()));
        Ok(bytes)
    }
}

/// RFC 7252 §4.2: the Reset message rejecting a message, built from the
/// header alone (so it works for messages that failed to parse).
pub(crate) fn reset_for(message_id: u16) -> Vec<u8> {
    let [m0, m1] = message_id.to_be_bytes();
    vec![(VERSION << 6) | (MessageType::Reset.bits() << 4), 0, m0, m1]
}

/// RFC 7252 §4.2: the Empty Acknowledgement of a CON message.
pub(crate) fn empty_ack_for(message_id: u16) -> Vec<u8> {
    let [m0, m1] = message_id.to_be_bytes();
    vec![
        (VERSION << 6) | (MessageType::Acknowledgement.bits() << 4),
        0,
        m0,
        m1,
    ]
}
