//! Module `ip`: see the crate documentation.
