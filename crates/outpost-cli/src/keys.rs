//! `outpost keys`: manage the authorization server's signing keys in the store (sealed at rest
//! when OUTPOST_KEY_ENCRYPTION_KEY is set, see [`crate::key_encryption`]), and make a
//! key-encryption key.

use anyhow::Context;
use clap::Subcommand;
use outpost::auth::{
    access_token::CLOCK_LEEWAY,
    server::{AuthorizationServer, Clock, DEFAULT_ACCESS_TOKEN_LIFETIME, SystemClock},
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
    /// Publish a new signing key, which replaces the signing one two minutes later (every
    /// instance on the store loads it first); the old key keeps verifying until its tokens
    /// have expired. Prints the new key id.
    Rotate,
    /// List the signing keys: id, state, created, retired (`retires` for a time still ahead).
    /// The state is `signing`, `published` (signs once its two-minute lead has passed),
    /// `verifying` (retired, its tokens not yet expired) or `expired`.
    List,
    /// Print a new key-encryption key (the base64 of 32 random bytes) for
    /// OUTPOST_KEY_ENCRYPTION_KEY, which encrypts the signing and request-state keys at rest.
    /// Keep it apart from the store (a secret manager): without it the store's keys are lost.
    GenerateEncryptionKey,
}

/// Runs one `outpost keys` command.
pub async fn run(args: KeysArgs) -> anyhow::Result<()> {
    match args.command {
        KeysCommand::GenerateEncryptionKey => {
            println!("{}", crate::key_encryption::generate()?);
            Ok(())
        }
        KeysCommand::Rotate => {
            let store = args.store.open_existing_with_keys().await?;
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
            let store = args.store.open_existing_with_keys().await?;
            let now = SystemClock.now();
            let records = store.keys.list().await?;
            let signer =
                AuthorizationServer::stored_keyring(&store, DEFAULT_ACCESS_TOKEN_LIFETIME, now)
                    .await
                    .context("cannot load the signing keys")?
                    .map(|keyring| keyring.signing_key(now).kid().to_owned());
            let window = i64::try_from(DEFAULT_ACCESS_TOKEN_LIFETIME.as_secs())
                .unwrap_or(i64::MAX)
                .saturating_add(i64::try_from(CLOCK_LEEWAY.as_secs()).unwrap_or(0));
            for key in records {
                let state = match key.retired_at {
                    _ if Some(&key.kid) == signer.as_ref() => "signing",
                    Some(retired) if retired <= now => {
                        if retired.saturating_add(window) > now {
                            "verifying"
                        } else {
                            "expired"
                        }
                    }
                    _ => "published",
                };
                // A key the next one replaces retires at the time the store holds, which may
                // still be ahead.
                let retired = match key.retired_at {
                    None => "retired -".to_owned(),
                    Some(at) if at > now => format!("retires {}", rfc3339(at)),
                    Some(at) => format!("retired {}", rfc3339(at)),
                };
                println!(
                    "{}\t{state}\tcreated {}\t{retired}",
                    key.kid,
                    rfc3339(key.created_at)
                );
            }
            Ok(())
        }
    }
}
