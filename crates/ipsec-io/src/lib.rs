//! `ipsec-io`: the operating-system side of the userspace data plane, kept
//! apart from the sans-IO cores.
//!
//! * [`tun::Tun`]: a Linux TUN device (`/dev/net/tun`, `IFF_TUN | IFF_NO_PI`):
//!   unmodified programs' IP packets are routed into it, the gateway protects
//!   them, and writes the peer's unprotected packets back.
//! * [`raw::RawIp`]: a raw IP socket for one protocol (50 ESP, 51 AH), for
//!   IPsec without UDP encapsulation; needs `CAP_NET_RAW`.
//!
//! This is the only crate of the workspace with `unsafe` code: the ioctl
//! that attaches the TUN device and the raw-socket calls, each with its
//! SAFETY argument.

pub mod raw;
pub mod tun;
