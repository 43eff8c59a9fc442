//! `outpost clients`: helpers for pre-registered clients (`outpost serve --clients FILE`).
//!
//! `hash-secret` reads a client secret from standard input and prints its argon2id PHC string,
//! the `client_secret_hash` of the clients file: the file never holds a secret in plain text,
//! and the secret never appears on a command line.

use std::io::{IsTerminal, Read};

use anyhow::{Context, bail};
use clap::Subcommand;
use outpost::auth::server::password::hash_password;

/// Shortest accepted client secret, in characters: a shared secret must not be guessable.
const MIN_SECRET_CHARS: usize = 16;

/// Flags of `outpost clients`.
#[derive(Debug, clap::Args)]
pub struct ClientsArgs {
    #[command(subcommand)]
    command: ClientsCommand,
}

#[derive(Debug, Subcommand)]
enum ClientsCommand {
    /// Read a client secret from standard input (one line) and print its argon2id hash for
    /// the clients file's client_secret_hash.
    HashSecret,
}

/// Runs one `outpost clients` command.
pub fn run(args: ClientsArgs) -> anyhow::Result<()> {
    match args.command {
        ClientsCommand::HashSecret => hash_secret(),
    }
}

fn hash_secret() -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("Type the client secret, then Enter and Ctrl-D:");
    }
    let mut text = String::new();
    stdin
        .lock()
        .read_to_string(&mut text)
        .context("cannot read the secret from standard input")?;
    let secret = text.strip_suffix('\n').unwrap_or(&text);
    let secret = secret.strip_suffix('\r').unwrap_or(secret);
    if secret.contains('\n') {
        bail!("the secret must be one line");
    }
    if secret.chars().count() < MIN_SECRET_CHARS {
        bail!(
            "the secret is shorter than {MIN_SECRET_CHARS} characters; use a random one, \
             e.g. `openssl rand -base64 32`"
        );
    }
    let hash = hash_password(secret)?;
    println!("{}", hash.as_str());
    Ok(())
}
