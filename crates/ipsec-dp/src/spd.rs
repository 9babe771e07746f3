//! Module `spd`: see the crate documentation.
