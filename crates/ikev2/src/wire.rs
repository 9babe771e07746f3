//! Bounds-checked reading of peer input: every read returns a
//! [`ParseError::Truncated`] naming the structure instead of panicking.

use crate::error::{EmitError, ParseError};

/// A cursor over a byte slice.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// A cursor over `buf`, reporting errors against `what`.
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, what }
    }

    /// Octets not yet read.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Whether everything has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The next `n` octets.
    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], ParseError> {
        if n > self.buf.len() {
            return Err(ParseError::Truncated {
                what: self.what,
                need: n,
                have: self.buf.len(),
            });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// The next `N` octets as an array.
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], ParseError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    /// One octet.
    pub(crate) fn u8(&mut self) -> Result<u8, ParseError> {
        Ok(self.array::<1>()?[0])
    }

    /// A big-endian 16-bit field.
    pub(crate) fn u16(&mut self) -> Result<u16, ParseError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// Everything not yet read.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let r = self.buf;
        self.buf = &[];
        r
    }
}

/// A length as a 16-bit field, or [`EmitError::TooLong`].
pub(crate) fn len_u16(len: usize, what: &'static str) -> Result<u16, EmitError> {
    u16::try_from(len).map_err(|_| EmitError::TooLong { what, len })
}

/// A count as an 8-bit field, or [`EmitError::TooLong`].
pub(crate) fn len_u8(len: usize, what: &'static str) -> Result<u8, EmitError> {
    u8::try_from(len).map_err(|_| EmitError::TooLong { what, len })
}
