//! Raw IP sockets for one IP protocol (ESP 50, AH 51), IPv4 and IPv6.
//!
//! Receiving: on IPv4 the kernel hands over the whole packet with its IP
//! header; on IPv6 only the payload (the source address comes with it).
//! Sending: on IPv4 the socket has `IP_HDRINCL`, so callers pass the whole
//! packet (header included); on IPv6 they pass the payload and the kernel
//! builds the header.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use tokio::io::unix::AsyncFd;

/// A raw socket bound to one protocol and address family.
pub struct RawIp {
    fd: AsyncFd<OwnedFd>,
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
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
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
        let (sa, len) = sockaddr(SocketAddr::new(local, 0));
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
        // SAFETY: as for the TUN device: the OwnedFd stays open as long as the AsyncFd.
        let fd = unsafe { AsyncFd::register(fd) }.map_err(|e| e.into_parts().1)?;
        Ok(RawIp { fd, v6 })
    }

    /// Receives one packet: (length, source address). On IPv4 `buf` starts
    /// with the IP header; on IPv6 with the ESP/AH header.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<(usize, IpAddr)> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|inner| recv_from(inner.get_ref().as_raw_fd(), buf)) {
                Ok(r) => return r,
                Err(_would_block) => continue,
            }
        }
    }

    /// Sends to `dst`: a whole IPv4 packet, or an IPv6 payload (see the module doc).
    pub async fn send(&self, payload: &[u8], dst: IpAddr) -> io::Result<usize> {
        if dst.is_ipv6() != self.v6 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "address family mismatch",
            ));
        }
        loop {
            let mut guard = self.fd.writable().await?;
            match guard.try_io(|inner| send_to(inner.get_ref().as_raw_fd(), payload, dst)) {
                Ok(r) => return r,
                Err(_would_block) => continue,
            }
        }
    }
}

fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    let mut ss: libc::sockaddr_storage = unsafe { zeroed() };
    match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: 0,
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than sockaddr_in and suitably aligned.
            unsafe { std::ptr::write((&mut ss as *mut libc::sockaddr_storage).cast(), sin) };
            (ss, size_of::<libc::sockaddr_in>() as libc::socklen_t)
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: 0,
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above, for sockaddr_in6.
            unsafe { std::ptr::write((&mut ss as *mut libc::sockaddr_storage).cast(), sin6) };
            (ss, size_of::<libc::sockaddr_in6>() as libc::socklen_t)
        }
    }
}

fn recv_from(fd: i32, buf: &mut [u8]) -> io::Result<(usize, IpAddr)> {
    // SAFETY: zeroed sockaddr_storage is valid; buf and ss are valid for the call.
    let mut ss: libc::sockaddr_storage = unsafe { zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let n = unsafe {
        libc::recvfrom(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            0,
            (&mut ss as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let ip = match i32::from(ss.ss_family) {
        libc::AF_INET => {
            // SAFETY: the kernel wrote a sockaddr_in (family AF_INET).
            let sin: libc::sockaddr_in =
                unsafe { std::ptr::read((&ss as *const libc::sockaddr_storage).cast()) };
            IpAddr::V4(Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes()))
        }
        libc::AF_INET6 => {
            // SAFETY: the kernel wrote a sockaddr_in6 (family AF_INET6).
            let sin6: libc::sockaddr_in6 =
                unsafe { std::ptr::read((&ss as *const libc::sockaddr_storage).cast()) };
            IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr))
        }
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "unexpected address family",
            ))
        }
    };
    Ok((n as usize, ip))
}

fn send_to(fd: i32, payload: &[u8], dst: IpAddr) -> io::Result<usize> {
    let (ss, len) = sockaddr(SocketAddr::new(dst, 0));
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
