//! `ipsec-io`: the operating-system side of the userspace data plane, kept
//! apart from the sans-IO cores. Everything here blocks: the gateway runs
//! one thread per direction on it.
//!
//! * [`tun::Tun`]: a Linux TUN device (`/dev/net/tun`, `IFF_TUN | IFF_NO_PI`,
//!   optionally `IFF_VNET_HDR` with TCP segmentation offload): unmodified
//!   programs' IP packets are routed into it, the gateway protects them, and
//!   writes the peer's unprotected packets back.
//! * [`offload`]: splitting the TCP super-packets such a device hands over.
//! * [`udp::UdpBatch`]: the ESP-in-UDP socket with `recvmmsg`/`sendmmsg`,
//!   UDP GSO and GRO.
//! * [`raw::RawIp`]: a raw IP socket for one protocol (50 ESP, 51 AH), for
//!   IPsec without UDP encapsulation; needs `CAP_NET_RAW`.
//! * [`poll::wait_readable`]: waiting on several of them.
//!
//! This is the only crate of the workspace with `unsafe` code: the ioctls
//! that attach the TUN device and the socket calls, each with its SAFETY
//! argument.

pub mod offload;
pub mod poll;
pub mod raw;
mod sockaddr;
pub mod tun;
pub mod udp;
