//! A UDP socket moving datagrams in batches: `recvmmsg(2)` with UDP GRO
//! (`UDP_GRO`: several equal-sized datagrams from one peer arrive as one
//! buffer with their stride), `sendmmsg(2)` with UDP GSO (`UDP_SEGMENT`:
//! one buffer of equal-sized datagrams to one peer, the last one may be
//! shorter). Blocking, for a data-path thread.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};

use crate::sockaddr::{from_storage, to_storage, zeroed_storage};

/// linux/udp.h socket options (level `SOL_UDP`).
const SOL_UDP: libc::c_int = 17;
const UDP_SEGMENT: libc::c_int = 103;
const UDP_GRO: libc::c_int = 104;

/// Most messages one call moves.
pub const MAX_BATCH: usize = 64;
/// Most segments the kernel accepts in one GSO send (`UDP_MAX_SEGMENTS`).
pub const MAX_GSO_SEGMENTS: usize = 64;
/// Largest GSO buffer: an IPv4 datagram's 65535 octets less the IP and UDP headers.
pub const MAX_GSO_BYTES: usize = 65_535 - 20 - 8;

/// Control-message space for one `int` (UDP_SEGMENT / UDP_GRO).
const CMSG_SPACE_INT: usize = 24;

#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct CmsgBuf([u8; CMSG_SPACE_INT]);

/// What arrived in one receive buffer.
#[derive(Clone, Copy, Debug)]
pub struct RecvMeta {
    /// Octets in the buffer.
    pub len: usize,
    /// Sender.
    pub src: SocketAddr,
    /// With GRO: the buffer holds datagrams of this size, the last one
    /// possibly shorter; else `len`.
    pub stride: usize,
}

impl Default for RecvMeta {
    fn default() -> Self {
        RecvMeta {
            len: 0,
            src: SocketAddr::from(([0, 0, 0, 0], 0)),
            stride: 0,
        }
    }
}

/// One message to send.
#[derive(Clone, Copy, Debug)]
pub struct Transmit<'a> {
    pub to: SocketAddr,
    pub data: &'a [u8],
    /// GSO: `data` is datagrams of this size (the last one may be shorter).
    pub segment: Option<u16>,
}

/// Whether a send failed because the path cannot do UDP GSO (`EIO`: no
/// checksum offload on the egress device).
pub fn gso_refused(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EIO)
}

/// A bound UDP socket with batched I/O.
pub struct UdpBatch {
    sock: UdpSocket,
    gro: bool,
}

fn setsockopt_int(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    v: libc::c_int,
) -> io::Result<()> {
    // SAFETY: setsockopt with a valid int option value and its size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&v as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

impl UdpBatch {
    /// Binds `addr` (blocking socket).
    pub fn bind(addr: SocketAddr) -> io::Result<Self> {
        let sock = UdpSocket::bind(addr)?;
        Ok(UdpBatch { sock, gro: false })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.local_addr()
    }

    /// Asks for UDP GRO on receive; false if the kernel refuses.
    pub fn enable_gro(&mut self) -> bool {
        self.gro = setsockopt_int(self.sock.as_raw_fd(), SOL_UDP, UDP_GRO, 1).is_ok();
        self.gro
    }

    /// Whether the kernel knows UDP GSO (`UDP_SEGMENT`).
    pub fn gso_supported(&self) -> bool {
        let mut v: libc::c_int = 0;
        let mut len = size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt into a valid int and its size.
        let rc = unsafe {
            libc::getsockopt(
                self.sock.as_raw_fd(),
                SOL_UDP,
                UDP_SEGMENT,
                (&mut v as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        rc == 0
    }

    /// Socket buffer sizes; as root beyond `rmem_max`/`wmem_max` (the
    /// `*BUFFORCE` options), else up to them.
    pub fn set_buffers(&self, bytes: usize) {
        let fd = self.sock.as_raw_fd();
        let v = bytes.min(i32::MAX as usize) as libc::c_int;
        for (force, plain) in [
            (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
            (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
        ] {
            if setsockopt_int(fd, libc::SOL_SOCKET, force, v).is_err() {
                let _ = setsockopt_int(fd, libc::SOL_SOCKET, plain, v);
            }
        }
    }

    /// Receives up to `bufs.len()` (at most [`MAX_BATCH`]) buffers; blocks
    /// for the first one unless `nowait`. `meta[i]` describes `bufs[i]`.
    pub fn recv_batch(
        &self,
        bufs: &mut [&mut [u8]],
        meta: &mut [RecvMeta],
        nowait: bool,
    ) -> io::Result<usize> {
        let n = bufs.len().min(meta.len()).min(MAX_BATCH);
        if n == 0 {
            return Ok(0);
        }
        let mut names = [zeroed_storage(); MAX_BATCH];
        let mut ctrl = [CmsgBuf([0; CMSG_SPACE_INT]); MAX_BATCH];
        // SAFETY: iovec and mmsghdr are plain old data; all-zero is valid.
        let mut iovs: [libc::iovec; MAX_BATCH] = unsafe { zeroed() };
        // SAFETY: as above.
        let mut hdrs: [libc::mmsghdr; MAX_BATCH] = unsafe { zeroed() };
        for i in 0..n {
            iovs[i] = libc::iovec {
                iov_base: bufs[i].as_mut_ptr().cast(),
                iov_len: bufs[i].len(),
            };
            let h = &mut hdrs[i].msg_hdr;
            h.msg_name = (&mut names[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &mut iovs[i];
            h.msg_iovlen = 1;
            if self.gro {
                h.msg_control = ctrl[i].0.as_mut_ptr().cast();
                h.msg_controllen = CMSG_SPACE_INT as _;
            }
        }
        let flags = if nowait {
            libc::MSG_DONTWAIT
        } else {
            libc::MSG_WAITFORONE
        };
        // SAFETY: `hdrs[..n]` point at `names`, `iovs` and `ctrl`, which
        // outlive the call, and each iovec at a distinct caller buffer valid
        // for writes of its length.
        let got = unsafe {
            libc::recvmmsg(
                self.sock.as_raw_fd(),
                hdrs.as_mut_ptr(),
                n as libc::c_uint,
                flags,
                std::ptr::null_mut(),
            )
        };
        if got < 0 {
            return Err(io::Error::last_os_error());
        }
        let got = got as usize;
        for i in 0..got {
            let len = hdrs[i].msg_len as usize;
            let mut stride = len;
            if self.gro {
                let h = &hdrs[i].msg_hdr;
                // SAFETY: `h` is a msghdr the kernel filled, its control
                // buffer `ctrl[i]` is alive; CMSG_FIRSTHDR/NXTHDR stay
                // within msg_controllen.
                unsafe {
                    let mut c = libc::CMSG_FIRSTHDR(h);
                    while !c.is_null() {
                        if (*c).cmsg_level == SOL_UDP && (*c).cmsg_type == UDP_GRO {
                            let v: libc::c_int =
                                std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                            if v > 0 {
                                stride = v as usize;
                            }
                        }
                        c = libc::CMSG_NXTHDR(h, c);
                    }
                }
            }
            let src = from_storage(&names[i]).unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
            meta[i] = RecvMeta {
                len,
                src,
                stride: stride.max(1),
            };
        }
        Ok(got)
    }

    /// Sends `msgs` (at most [`MAX_BATCH`]) with one `sendmmsg`; returns how
    /// many the kernel took (the first error if it took none).
    pub fn send_batch(&self, msgs: &[Transmit<'_>]) -> io::Result<usize> {
        let n = msgs.len().min(MAX_BATCH);
        if n == 0 {
            return Ok(0);
        }
        let mut names = [zeroed_storage(); MAX_BATCH];
        let mut ctrl = [CmsgBuf([0; CMSG_SPACE_INT]); MAX_BATCH];
        // SAFETY: iovec and mmsghdr are plain old data; all-zero is valid.
        let mut iovs: [libc::iovec; MAX_BATCH] = unsafe { zeroed() };
        // SAFETY: as above.
        let mut hdrs: [libc::mmsghdr; MAX_BATCH] = unsafe { zeroed() };
        for (i, m) in msgs[..n].iter().enumerate() {
            let (ss, slen) = to_storage(m.to);
            names[i] = ss;
            iovs[i] = libc::iovec {
                iov_base: m.data.as_ptr() as *mut libc::c_void,
                iov_len: m.data.len(),
            };
            let h = &mut hdrs[i].msg_hdr;
            h.msg_name = (&mut names[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = slen;
            h.msg_iov = &mut iovs[i];
            h.msg_iovlen = 1;
            if let Some(seg) = m.segment {
                h.msg_control = ctrl[i].0.as_mut_ptr().cast();
                // SAFETY: CMSG_SPACE/LEN are pure arithmetic.
                h.msg_controllen = unsafe { libc::CMSG_SPACE(size_of::<u16>() as u32) } as _;
                // SAFETY: the control buffer is CMSG_SPACE_INT (24) octets,
                // 8-aligned, enough for one cmsghdr with a u16; FIRSTHDR is
                // non-null because msg_controllen >= sizeof(cmsghdr).
                unsafe {
                    let c = libc::CMSG_FIRSTHDR(h);
                    (*c).cmsg_level = SOL_UDP;
                    (*c).cmsg_type = UDP_SEGMENT;
                    (*c).cmsg_len = libc::CMSG_LEN(size_of::<u16>() as u32) as _;
                    std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<u16>(), seg);
                }
            }
        }
        // SAFETY: `hdrs[..n]` point at `names`, `iovs` and `ctrl`, alive for
        // the call; each iovec at caller data valid for reads of its length
        // (the kernel does not write through it).
        let sent = unsafe {
            libc::sendmmsg(
                self.sock.as_raw_fd(),
                hdrs.as_mut_ptr(),
                n as libc::c_uint,
                0,
            )
        };
        if sent < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(sent as usize)
        }
    }
}

impl AsRawFd for UdpBatch {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}
