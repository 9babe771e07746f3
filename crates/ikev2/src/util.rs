//! Randomness and the NAT detection hash.

use std::net::SocketAddr;

use aws_lc_rs::digest;

use crate::error::IkeError;
use crate::header::IkeSpi;

/// Nonce Data length we send (RFC 7296 §2.10: at least half the PRF key
/// size, at least 128 bits; 32 octets for PRF_HMAC_SHA2_256).
pub const NONCE_LEN: usize = 32;

fn fill(buf: &mut [u8]) -> Result<(), IkeError> {
    aws_lc_rs::rand::fill(buf).map_err(|_| IkeError::Random)
}

/// A fresh nonce.
pub fn random_nonce() -> Result<Vec<u8>, IkeError> {
    let mut n = vec![0u8; NONCE_LEN];
    fill(&mut n)?;
    Ok(n)
}

/// A fresh, non-zero IKE SPI (RFC 7296 §3.1: zero means "not yet known").
pub fn random_ike_spi() -> Result<IkeSpi, IkeError> {
    loop {
        let mut s = [0u8; 8];
        fill(&mut s)?;
        if s != [0; 8] {
            return Ok(s);
        }
    }
}

/// A fresh ESP/AH SPI outside 0-255 (RFC 4303 §2.1: reserved by IANA).
pub fn random_spi_u32() -> Result<u32, IkeError> {
    loop {
        let mut s = [0u8; 4];
        fill(&mut s)?;
        let v = u32::from_be_bytes(s);
        if v > 255 {
            return Ok(v);
        }
    }
}

/// Random octets.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), IkeError> {
    fill(buf)
}

/// RFC 7296 §2.23: `SHA-1(SPIi | SPIr | IP | Port)`, the data of the
/// NAT_DETECTION_*_IP notifications (SPIr zero in the IKE_SA_INIT
/// request).
pub fn nat_hash(spi_i: &IkeSpi, spi_r: &IkeSpi, addr: SocketAddr) -> Vec<u8> {
    let mut ctx = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(spi_i);
    ctx.update(spi_r);
    match addr {
        SocketAddr::V4(a) => ctx.update(&a.ip().octets()),
        SocketAddr::V6(a) => ctx.update(&a.ip().octets()),
    }
    ctx.update(&addr.port().to_be_bytes());
    ctx.finish().as_ref().to_vec()
}
