//! A Linux TUN device with blocking reads, for a data-path thread.
//!
//! Optionally with `IFF_VNET_HDR` and TUN offloads (`TUNSETOFFLOAD`
//! `TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6`): the kernel then hands over TCP
//! "super-packets" of up to 64 KiB with a [`VirtioNetHdr`] in front, which
//! the reader splits itself ([`crate::offload`]), and every write carries
//! such a header too.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const TUN_PATH: &[u8] = b"/dev/net/tun\0";
/// `_IOW('T', 202, int)` from linux/if_tun.h.
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
/// `_IOW('T', 208, unsigned int)`.
const TUNSETOFFLOAD: libc::c_ulong = 0x4004_54d0;
const IFF_TUN: libc::c_short = 0x0001;
const IFF_NO_PI: libc::c_short = 0x1000;
const IFF_VNET_HDR: libc::c_short = 0x4000;
/// linux/if_tun.h offload flags.
const TUN_F_CSUM: libc::c_uint = 0x01;
const TUN_F_TSO4: libc::c_uint = 0x02;
const TUN_F_TSO6: libc::c_uint = 0x04;

/// `struct virtio_net_hdr` (linux/virtio_net.h), little-endian on the wire
/// for TUN (the legacy native-endian layout on x86/ARM).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VirtioNetHdr {
    pub flags: u8,
    pub gso_type: u8,
    pub hdr_len: u16,
    pub gso_size: u16,
    pub csum_start: u16,
    pub csum_offset: u16,
}

impl VirtioNetHdr {
    /// Octets the header takes in front of each packet.
    pub const LEN: usize = 10;
    /// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the checksum at `csum_start +
    /// csum_offset` holds only the pseudo-header sum.
    pub const F_NEEDS_CSUM: u8 = 1;
    pub const GSO_NONE: u8 = 0;
    pub const GSO_TCPV4: u8 = 1;
    pub const GSO_UDP: u8 = 3;
    pub const GSO_TCPV6: u8 = 4;
    pub const GSO_UDP_L4: u8 = 5;
    pub const GSO_ECN: u8 = 0x80;

    pub fn parse(b: &[u8]) -> Option<Self> {
        let b = b.get(..Self::LEN)?;
        let u = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        Some(VirtioNetHdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u(2),
            gso_size: u(4),
            csum_start: u(6),
            csum_offset: u(8),
        })
    }

    pub fn emit(&self, b: &mut [u8]) {
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_le_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_le_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_le_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_le_bytes());
    }
}

/// Whether a read error means the device is gone for good (`EBADF`,
/// `EBADFD`: the interface was deleted), not worth retrying.
pub fn is_detached(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EBADF) | Some(libc::EBADFD))
}

/// `struct ifreq` as TUNSETIFF reads it: the name and the flags.
#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// `struct ifreq` with an int in the union (`ifr_qlen`).
#[repr(C)]
struct IfReqInt {
    name: [u8; libc::IFNAMSIZ],
    value: libc::c_int,
    _pad: [u8; 20],
}

/// An attached TUN device. Addresses, MTU and routes are the system's
/// business (`ip addr`, `ip route`); this only moves packets. Reads block;
/// [`Tun::read_nowait`] does not. Shared between a reader and a writer
/// thread by reference.
pub struct Tun {
    fd: OwnedFd,
    name: String,
    vnet_hdr: bool,
}

impl Tun {
    /// Creates (or attaches to) the TUN device `name`, without packet
    /// information headers: each read is one IP packet.
    pub fn open(name: &str) -> io::Result<Self> {
        Self::open_with(name, false)
    }

    /// As [`Tun::open`], with `IFF_VNET_HDR` and the TCP segmentation and
    /// checksum offloads: each read and write starts with a
    /// [`VirtioNetHdr`], and reads may be TCP super-packets.
    pub fn open_offload(name: &str) -> io::Result<Self> {
        Self::open_with(name, true)
    }

    fn open_with(name: &str, vnet_hdr: bool) -> io::Result<Self> {
        if name.is_empty()
            || name.len() >= libc::IFNAMSIZ
            || !name.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad interface name {name:?}"),
            ));
        }
        // SAFETY: TUN_PATH is NUL-terminated; open has no other preconditions.
        let raw = unsafe { libc::open(TUN_PATH.as_ptr().cast(), libc::O_RDWR | libc::O_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a file descriptor we just opened and own exclusively.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut flags = IFF_TUN | IFF_NO_PI;
        if vnet_hdr {
            flags |= IFF_VNET_HDR;
        }
        let mut req = IfReq {
            name: [0; libc::IFNAMSIZ],
            flags,
            _pad: [0; 22],
        };
        req.name[..name.len()].copy_from_slice(name.as_bytes());
        // SAFETY: TUNSETIFF reads a `struct ifreq` whose layout IfReq
        // reproduces (16-byte name, then the flags in the union); the pointer
        // is valid for the duration of the call.
        let rc = unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF as _, &mut req as *mut IfReq) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        if vnet_hdr {
            let offloads = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
            // SAFETY: TUNSETOFFLOAD takes its unsigned int argument by value.
            let rc = unsafe {
                libc::ioctl(
                    fd.as_raw_fd(),
                    TUNSETOFFLOAD as _,
                    offloads as libc::c_ulong,
                )
            };
            if rc < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        let end = req
            .name
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(req.name.len());
        let name = String::from_utf8_lossy(&req.name[..end]).into_owned();
        Ok(Tun { fd, name, vnet_hdr })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Raises the device's transmit queue (packets the kernel holds for the
    /// reader; 500 by default) to at least `len`, so that a reader thread
    /// descheduled for a few milliseconds does not cost drops. Returns the
    /// length now in force.
    pub fn raise_txqueuelen(&self, len: u32) -> io::Result<u32> {
        // SAFETY: plain socket(2) call with constant arguments.
        let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a descriptor we just created and own exclusively.
        let sock = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut req = IfReqInt {
            name: [0; libc::IFNAMSIZ],
            value: 0,
            _pad: [0; 20],
        };
        req.name[..self.name.len()].copy_from_slice(self.name.as_bytes());
        // SAFETY: SIOCGIFTXQLEN reads the name and writes ifr_qlen of a
        // `struct ifreq`, whose layout IfReqInt reproduces; the pointer is
        // valid for the call.
        let rc = unsafe {
            libc::ioctl(
                sock.as_raw_fd(),
                libc::SIOCGIFTXQLEN as _,
                &mut req as *mut IfReqInt,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        let current = u32::try_from(req.value).unwrap_or(0);
        if current >= len {
            return Ok(current);
        }
        req.value = libc::c_int::try_from(len).unwrap_or(libc::c_int::MAX);
        // SAFETY: as above; SIOCSIFTXQLEN reads the name and ifr_qlen.
        let rc = unsafe {
            libc::ioctl(
                sock.as_raw_fd(),
                libc::SIOCSIFTXQLEN as _,
                &mut req as *mut IfReqInt,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(len)
    }

    /// Whether reads and writes carry a [`VirtioNetHdr`].
    pub fn vnet_hdr(&self) -> bool {
        self.vnet_hdr
    }

    /// Reads one packet, blocking until there is one.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// Reads one packet if one is queued (`RWF_NOWAIT`), else
    /// `ErrorKind::WouldBlock`.
    pub fn read_nowait(&self, buf: &mut [u8]) -> io::Result<usize> {
        let iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: one iovec describing `buf`, valid for writes of its
        // length; offset -1 means the current position (none for a TUN fd).
        let n = unsafe { libc::preadv2(self.fd.as_raw_fd(), &iov, 1, -1, libc::RWF_NOWAIT) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// Writes one packet.
    pub fn write(&self, packet: &[u8]) -> io::Result<usize> {
        // SAFETY: `packet` is valid for reads of `packet.len()` bytes.
        let n = unsafe { libc::write(self.fd.as_raw_fd(), packet.as_ptr().cast(), packet.len()) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}

impl AsRawFd for Tun {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
