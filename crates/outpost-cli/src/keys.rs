//! `outpost keys`: manage the authorization server's signing keys in the store.

use anyhow::Context;
use clap::Subcommand;
use outpost::auth::{
    access_token::CLOCK_LEEWAY,
    server::{Clock, DEFAULT_ACCESS_TOKEN_LIFETIME, SystemClock},
};

use crate::{store_arg::StoreArg, time_format::rfc3339};

/// Flags of `outpost keys`.
#[derive(Debug, clap::Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    command: KeysCommand,
    #[command(flatten)]
    store: StoreArg,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Add a new signing key and retire the active one (it keeps verifying until its tokens
    /// have expired); prints the new key id. A running `outpost serve` on the same store
    /// signs with the new key within a minute.
    Rotate,
    /// List the signing keys: id, created, retired, and whether the key signs, still
    /// verifies, or has expired (its tokens all have).
    List,
}

/// Runs one `outpost keys` command.
pub async fn run(args: KeysArgs) -> anyhow::Result<()> {
    let store = args.store.open().await?;
    match args.command {
        KeysCommand::Rotate => {
            // The issuer does not matter for rotation: only the store and the keyring do.
            let server = crate::serve::authorization_server(&store, "http://localhost").await?;
            let kid = server
                .rotate_keys(SystemClock.now())
                .await
                .context("cannot rotate the signing key")?;
            println!("{kid}");
            Ok(())
        }
        KeysCommand::List => {
            let now = SystemClock.now();
            let window = i64::try_from(DEFAULT_ACCESS_TOKEN_LIFETIME.as_secs())
                .unwrap_or(i64::MAX)
                .saturating_add(i64::try_from(CLOCK_LEEWAY.as_secs()).unwrap_or(0));
            for key in store.keys.list().await? {
                let state = match key.retired_at {
                    None => "active",
                    Some(retired) if retired.saturating_add(window) > now => "verifying",
                    Some(_) => "expired",
                };
                let retired = key.retired_at.map_or_else(|| "-".to_owned(), rfc3339);
                println!(
                    "{}\t{state}\tcreated {}\tretired {retired}",
                    key.kid,
                    rfc3339(key.created_at)
                );
            }
            Ok(())
        }
    }
}
