//! RFC 7959 §2.2: the Block1/Block2 option value, and RFC 7252 §3.2 `uint`
//! option values.

use crate::consts::{BLOCK_NUM_MAX, SZX_MAX, SZX_RESERVED};

/// RFC 7252 §3.2: encode a `uint` option value in the fewest bytes
/// (zero is the empty string).
pub fn encode_uint(value: u32) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    bytes[skip..].to_vec()
}

/// RFC 7252 §3.2: decode a `uint` option value of at most `max_len` bytes
/// (leading zero bytes are tolerated on reception).
pub fn decode_uint(value: &[u8], max_len: usize) -> Option<u32> {
    if value.len() > max_len || value.len() > 4 {
        return None;
    }
    Some(value.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
}

/// Why a Block option value is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockOptionError {
    /// Longer than 3 bytes: RFC 7252 §5.4.3, treated as an unrecognized
    /// (critical) option, i.e. 4.02 Bad Option.
    TooLong,
    /// SZX 7: RFC 7959 §2.2, "MUST lead to a 4.00 Bad Request".
    ReservedSzx,
}

/// RFC 7959 §2.2: NUM (block number), M (more flag) and SZX (size exponent,
/// block size = 2^(SZX + 4)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlockOption {
    /// Block number, 0..=2^20-1.
    pub num: u32,
    /// More flag: further blocks follow (descriptive use), or in a Block1
    /// response, the response is not the final one (RFC 7959 §2.3).
    pub more: bool,
    /// Size exponent, 0..=6.
    pub szx: u8,
}

impl BlockOption {
    /// A Block option value.
    pub const fn new(num: u32, more: bool, szx: u8) -> Self {
        BlockOption { num, more, szx }
    }

    /// RFC 7959 §2.2: block size in bytes, 2^(SZX + 4).
    pub const fn size(self) -> usize {
        size_of_szx(self.szx)
    }

    /// Byte offset of this block in the body.
    pub const fn offset(self) -> usize {
        self.num as usize * self.size()
    }

    /// Parse an option value (0 to 3 bytes).
    pub fn decode(value: &[u8]) -> Result<Self, BlockOptionError> {
        let v = decode_uint(value, 3).ok_or(BlockOptionError::TooLong)?;
        let szx = (v & 0x7) as u8;
        if szx == SZX_RESERVED {
            return Err(BlockOptionError::ReservedSzx);
        }
        Ok(BlockOption {
            num: v >> 4,
            more: v & 0x8 != 0,
            szx,
        })
    }

    /// Encode as a minimal `uint` (the block number is truncated to 20 bits).
    pub fn encode(self) -> Vec<u8> {
        let v = ((self.num & BLOCK_NUM_MAX) << 4)
            | (u32::from(self.more) << 3)
            | u32::from(self.szx.min(SZX_MAX));
        encode_uint(v)
    }
}

/// RFC 7959 §2.2: block size for a size exponent (clamped to 1024).
pub const fn size_of_szx(szx: u8) -> usize {
    let szx = if szx > SZX_MAX { SZX_MAX } else { szx };
    1 << (szx as usize + 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7959_block_values() {
        // RFC 7959 §2.2 "2:1/0/128" → NUM 1, M 0, SZX 3 → 0x13.
        assert_eq!(BlockOption::new(1, false, 3).encode(), vec![0x13]);
        // "1:0/1/128" → 0x0B.
        assert_eq!(BlockOption::new(0, true, 3).encode(), vec![0x0B]);
        // NUM 0, M 0, SZX 0 is the empty value.
        assert_eq!(BlockOption::new(0, false, 0).encode(), Vec::<u8>::new());
        assert_eq!(BlockOption::decode(&[]), Ok(BlockOption::new(0, false, 0)));
        // Two- and three-byte forms.
        assert_eq!(BlockOption::new(16, true, 6).encode(), vec![0x01, 0x0E]);
        assert_eq!(
            BlockOption::decode(&[0x01, 0x0E]),
            Ok(BlockOption::new(16, true, 6))
        );
        assert_eq!(
            BlockOption::decode(&[0x0F, 0xFF, 0xF6]).map(|b| b.num),
            Ok(0xFFFF)
        );
        assert_eq!(
            BlockOption::decode(&[0x07]),
            Err(BlockOptionError::ReservedSzx)
        );
        assert_eq!(
            BlockOption::decode(&[0, 0, 0, 1]),
            Err(BlockOptionError::TooLong)
        );
        assert_eq!(BlockOption::new(2, false, 6).offset(), 2048);
    }

    #[test]
    fn uint_round_trip() {
        for v in [0u32, 1, 255, 256, 65535, 65536, u32::MAX] {
            assert_eq!(decode_uint(&encode_uint(v), 4), Some(v));
        }
        assert_eq!(encode_uint(60), vec![60]);
        assert_eq!(decode_uint(&[0, 19], 2), Some(19));
        assert_eq!(decode_uint(&[1, 2, 3], 2), None);
    }
}
