//! Operations: the health endpoint, and the background maintenance every served router gets.

pub mod health;
pub(crate) mod maintenance;
