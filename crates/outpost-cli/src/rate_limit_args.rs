//! The flags of `outpost serve` that limit requests on `/mcp` per user and per client.

use outpost::{
    auth::resource::{Rate, RequestLimits, ResourceServerConfig},
    store::Store,
};

/// Request-limit flags of `outpost serve`.
#[derive(Debug, clap::Args)]
pub struct RateLimitArgs {
    /// At most RATE requests on /mcp per user (the token's subject), across every instance
    /// sharing the store: 50/s (each clock second), 3000/m (any 60 s), 100000/h. Over it:
    /// 429 with Retry-After. Streams count once, not per event. Off by default.
    #[arg(
        long,
        value_name = "RATE",
        env = "OUTPOST_RATE_LIMIT",
        conflicts_with = "no_auth"
    )]
    rate_limit: Option<Rate>,
    /// At most RATE requests on /mcp per OAuth client (the token's client_id, all its users
    /// together), as --rate-limit. Off by default.
    #[arg(
        long,
        value_name = "RATE",
        env = "OUTPOST_RATE_LIMIT_CLIENT",
        conflicts_with = "no_auth"
    )]
    rate_limit_client: Option<Rate>,
}

impl RateLimitArgs {
    /// Sets `resource`'s request limits, counted in `store`, if any flag gives one.
    pub fn apply(&self, resource: &mut ResourceServerConfig, store: &Store) {
        if self.rate_limit.is_none() && self.rate_limit_client.is_none() {
            return;
        }
        let mut limits = RequestLimits::new(store.throttles.clone());
        limits.per_subject = self.rate_limit;
        limits.per_client = self.rate_limit_client;
        tracing::info!(
            per_user = %self.rate_limit.map_or("none".to_owned(), |rate| rate.to_string()),
            per_client = %self.rate_limit_client.map_or("none".to_owned(), |rate| rate.to_string()),
            "request limits on /mcp"
        );
        resource.request_limits = Some(limits);
    }
}
