//! The reference server's tools, one module per family. Each module contributes a
//! `ToolRouter`; [`crate::ReferenceServer::new`] adds them together once.

pub mod app;
pub mod conformance;
pub mod conformance_input;
pub mod demo;
pub mod identity;
pub mod input;
pub mod interactive;
pub mod media;
pub mod mrtr;
