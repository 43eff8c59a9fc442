//! `outpost keys`: manage the authorization server's signing keys in the store.

use anyhow::Context;
use clap::Subcommand;
use outpost::auth::server::{Clock, SystemClock};

use crate::store_arg::StoreArg;

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
    /// have expired); prints the new key id. A running `outpost serve` picks the new key up
    /// on its next restart: there is no cross-process reload.
    Rotate,
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
    }
}
