//! Operational endpoints: health.

pub mod health;
