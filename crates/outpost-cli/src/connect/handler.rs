//! The client side of the MCP conversation: who `outpost connect` says it is.

use rmcp::{
    ClientHandler,
    model::{ClientCapabilities, ClientConfig, Implementation},
};

/// `outpost connect`'s rmcp client handler.
pub struct ConnectClient {
    info: ClientConfig,
}

impl ConnectClient {
    /// A client named `outpost-connect` with this binary's version.
    pub fn new() -> Self {
        Self {
            info: ClientConfig::new(
                ClientCapabilities::default(),
                Implementation::new("outpost-connect", env!("CARGO_PKG_VERSION")),
            ),
        }
    }
}

impl ClientHandler for ConnectClient {
    fn get_info(&self) -> ClientConfig {
        self.info.clone()
    }
}
