//! The reference server's prompts, one module per family. Each contributes a `PromptRouter`;
//! [`crate::ReferenceServer::new`] adds them together once.

pub mod demo;
