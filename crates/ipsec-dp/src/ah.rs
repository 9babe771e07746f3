//! Module `ah`: see the crate documentation.
