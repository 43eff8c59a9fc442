//! The reference server's tools, one module per family.

pub mod demo;
