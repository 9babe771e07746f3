//! Module `mode`: see the crate documentation.
