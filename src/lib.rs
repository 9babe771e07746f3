//! The `ace-ipsec` application: configuration, the services built from it,
//! and the demo. The protocol logic lives in the workspace crates
//! (`ace-core`, `ipsec-dp`, `ace-coap`, `ace-node`, `ace-as`, `ace-rs`, `ace-client`).

pub mod bench;
pub mod config;
pub mod demo;
pub mod gateway;
pub mod services;
pub mod tun;
