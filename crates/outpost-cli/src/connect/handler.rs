//! The client side of the MCP conversation: who `outpost connect` says it is, and the progress
//! notifications of a call, drawn as a progress bar on stderr (indicatif draws nothing when
//! stderr is not a terminal, so piped output stays clean) and remembered, for the timeout that
//! each one restarts.

use std::{sync::Mutex, time::Instant};

use indicatif::{ProgressBar, ProgressStyle};
use rmcp::{
    ClientHandler, RoleClient,
    model::{
        ClientCapabilities, ClientConfig, Implementation, ProgressNotificationParam,
        ProtocolVersion,
    },
    service::NotificationContext,
};

/// `outpost connect`'s rmcp client handler.
pub struct ConnectClient {
    info: ClientConfig,
    progress: Mutex<Option<ProgressBar>>,
    /// When the last progress notification came.
    progressed_at: Mutex<Option<Instant>>,
}

impl ConnectClient {
    /// A client named `outpost-connect` with this binary's version, whose `initialize` (when
    /// the server needs one) names `protocol_version`.
    pub fn new(protocol_version: ProtocolVersion) -> Self {
        Self {
            info: ClientConfig::new(
                ClientCapabilities::default(),
                Implementation::new("outpost-connect", env!("CARGO_PKG_VERSION")),
            )
            .with_protocol_version(protocol_version),
            progress: Mutex::new(None),
            progressed_at: Mutex::new(None),
        }
    }

    /// When the server last sent a progress notification, if it did.
    pub fn progressed_at(&self) -> Option<Instant> {
        *self
            .progressed_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Removes the progress bar, if a notification drew one.
    pub fn finish_progress(&self) {
        if let Some(bar) = self.bar().take() {
            bar.finish_and_clear();
        }
    }

    fn bar(&self) -> std::sync::MutexGuard<'_, Option<ProgressBar>> {
        self.progress
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn show(&self, params: &ProgressNotificationParam) {
        let mut bar = self.bar();
        let bar = bar.get_or_insert_with(|| new_bar(params.total));
        if let Some(total) = params.total {
            bar.set_length(total.max(0.0) as u64);
        }
        bar.set_position(params.progress.max(0.0) as u64);
        if let Some(message) = &params.message {
            bar.set_message(super::output::one_line(message).into_owned());
        }
    }
}

/// A bar when the total is known, a spinner when it is not.
fn new_bar(total: Option<f64>) -> ProgressBar {
    match total {
        Some(total) => {
            let bar = ProgressBar::new(total.max(0.0) as u64);
            if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}") {
                bar.set_style(style);
            }
            bar
        }
        None => {
            let spinner = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {pos} {msg}") {
                spinner.set_style(style);
            }
            spinner
        }
    }
}

impl ClientHandler for ConnectClient {
    fn get_info(&self) -> ClientConfig {
        self.info.clone()
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        // One call at a time: rmcp gives each request its own progress token.
        *self
            .progressed_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
        self.show(&params);
    }
}
