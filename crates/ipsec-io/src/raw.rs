//! Raw IP sockets for one IP protocol (ESP 50, AH 51), IPv4 and IPv6.
//!
//! Receiving: on IPv4 the kernel hands over the whole packet with its IP
//! header; on IPv6 only the payload (the source address comes with it).
//! Sending: on IPv4 the socket has `IP_HDRINCL`, so callers pass the whole
//! packet (header included); on IPv6 they pass the payload and the kernel
//! builds the header.

use std::io;
use std::mem::size_of;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::sockaddr::{from_storage, to_storage, zeroed_storage};

/// A raw socket bound to one protocol and address family.
pub struct RawIp {
    fd: OwnedFd,
    v6: bool,
}

impl RawIp {
    /// Opens a raw socket for `protocol` (e.g. 50) in the family of `local`,
    /// bound to `local`. Needs CAP_NET_RAW.
    pub fn open(protocol: u8, local: IpAddr) -> io::Result<Self> {
        let v6 = local.is_ipv6();
        let domain = if v6 { libc::AF_INET6 } else { libc::AF_INET };
        // SAFETY: plain socket(2) call with constant arguments.
        let raw = unsafe {
            libc::socket(
                domain,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::c_int::from(protocol),
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a descriptor we just created and own exclusively.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        if !v6 {
            // We send whole IPv4 packets (the IPsec cores build the header).
            let one: libc::c_int = 1;
            // SAFETY: setsockopt with a valid int option value and its size.
            let rc = unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::IPPROTO_IP,
                    libc::IP_HDRINCL,
                    (&one as *const libc::c_int).cast(),
                    size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            if rc < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        let (sa, len) = to_storage(SocketAddr::new(local, 0));
        // SAFETY: `sa` is a valid sockaddr of `len` bytes for this family.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sa as *const libc::sockaddr_storage).cast(),
                len,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(RawIp { fd, v6 })
    }

    /// Receives one packet: (length, source address); blocks unless
    /// `nowait` (then `ErrorKind::WouldBlock` when none is queued). On IPv4
    /// `buf` starts with the IP header; on IPv6 with the ESP/AH header.
    pub fn recv(&self, buf: &mut [u8], nowait: bool) -> io::Result<(usize, IpAddr)> {
        recv_from(self.fd.as_raw_fd(), buf, nowait)
    }

    /// Sends to `dst`: a whole IPv4 packet, or an IPv6 payload (see the module doc).
    pub fn send(&self, payload: &[u8], dst: IpAddr) -> io::Result<usize> {
        if dst.is_ipv6() != self.v6 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "address family mismatch",
            ));
        }
        send_to(self.fd.as_raw_fd(), payload, dst)
    }
}

impl AsRawFd for RawIp {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

fn recv_from(fd: RawFd, buf: &mut [u8], nowait: bool) -> io::Result<(usize, IpAddr)> {
    let mut ss = zeroed_storage();
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let flags = if nowait { libc::MSG_DONTWAIT } else { 0 };
    // SAFETY: buf is valid for writes of its length, ss for a sockaddr_storage.
    let n = unsafe {
        libc::recvfrom(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            flags,
            (&mut ss as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let ip = from_storage(&ss)
        .map(|a| a.ip())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unexpected address family"))?;
    Ok((n as usize, ip))
}

fn send_to(fd: RawFd, payload: &[u8], dst: IpAddr) -> io::Result<usize> {
    let (ss, len) = to_storage(SocketAddr::new(dst, 0));
    // SAFETY: payload and ss are valid for the duration of the call.
    let n = unsafe {
        libc::sendto(
            fd,
            payload.as_ptr().cast(),
            payload.len(),
            0,
            (&ss as *const libc::sockaddr_storage).cast(),
            len,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}
