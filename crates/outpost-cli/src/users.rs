//! `outpost users`: add, list, remove local users and change their passwords, in the store the
//! server uses (`--store`, the same URL `outpost serve` takes).
//!
//! Passwords never appear on the command line (where `ps` and shell history would see them):
//! they are typed at a terminal without echo, twice, or piped in with `--password-stdin`.

use std::{
    io::{BufRead, IsTerminal},
    time::{SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, bail};
use clap::Subcommand;
use outpost::auth::server::password::hash_password;
use outpost::store::{Store, StoreError, UserId, UserRecord, Username};

use crate::{store_arg::StoreArg, time_format::rfc3339};

/// Shortest accepted password, in characters.
const MIN_PASSWORD_CHARS: usize = 8;

/// Flags of `outpost users`.
#[derive(Debug, clap::Args)]
pub struct UsersArgs {
    #[command(subcommand)]
    command: UsersCommand,
    #[command(flatten)]
    store: StoreArg,
}

#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// Add a user (asks for the password).
    Add(PasswordArgs),
    /// List users, one per line, with their creation time.
    List,
    /// Remove a user and everything issued to them.
    Remove {
        /// The username.
        #[arg(value_parser = parse_username)]
        name: Username,
    },
    /// Change a user's password.
    Passwd(PasswordArgs),
}

#[derive(Debug, clap::Args)]
struct PasswordArgs {
    /// The username: 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', '-'.
    #[arg(value_parser = parse_username)]
    name: Username,
    /// Read the password from the first line of standard input instead of prompting.
    #[arg(long)]
    password_stdin: bool,
}

fn parse_username(text: &str) -> Result<Username, outpost::store::ModelError> {
    Username::parse(text)
}

/// Runs one `outpost users` command.
pub async fn run(args: UsersArgs) -> anyhow::Result<()> {
    let store = args.store.open().await?;
    match args.command {
        UsersCommand::Add(user) => add(&store, user).await,
        UsersCommand::List => list(&store).await,
        UsersCommand::Remove { name } => remove(&store, &name).await,
        UsersCommand::Passwd(user) => passwd(&store, user).await,
    }
}

async fn add(store: &Store, args: PasswordArgs) -> anyhow::Result<()> {
    let name = &args.name;
    if store.users.get_by_username(name).await?.is_some() {
        bail!(
            "user {name} already exists (use `outpost users passwd {name}` to change the password)"
        );
    }
    let password_hash = hash_password(&read_password(args.password_stdin)?)?;
    let user = UserRecord {
        id: UserId::random(),
        username: name.clone(),
        password_hash,
        created_at: now(),
    };
    match store.users.create(user).await {
        Err(StoreError::Conflict(_)) => bail!("user {name} already exists"),
        other => other?,
    }
    println!("added user {name}");
    Ok(())
}

async fn list(store: &Store) -> anyhow::Result<()> {
    for user in store.users.list().await? {
        println!("{}\t{}", user.username, rfc3339(user.created_at));
    }
    Ok(())
}

async fn remove(store: &Store, name: &Username) -> anyhow::Result<()> {
    match store.users.delete(name).await {
        Err(StoreError::NotFound(_)) => bail!("no user named {name} in this store"),
        other => other?,
    }
    println!("removed user {name}");
    Ok(())
}

async fn passwd(store: &Store, args: PasswordArgs) -> anyhow::Result<()> {
    let name = &args.name;
    let Some(user) = store.users.get_by_username(name).await? else {
        bail!("no user named {name} in this store (add one with `outpost users add {name}`)");
    };
    let hash = hash_password(&read_password(args.password_stdin)?)?;
    store.users.set_password_hash(user.id, hash).await?;
    println!("changed the password of {}", user.username);
    Ok(())
}

/// The new password: from stdin's first line, or typed twice at the terminal.
fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from stdin")?;
        let trimmed = line.strip_suffix('\n').unwrap_or(&line);
        trimmed.strip_suffix('\r').unwrap_or(trimmed).to_owned()
    } else {
        if !std::io::stdin().is_terminal() {
            bail!("no terminal to ask for the password: pipe it in with --password-stdin");
        }
        let first = rpassword::prompt_password("Password: ").context("cannot read the password")?;
        let second =
            rpassword::prompt_password("Password again: ").context("cannot read the password")?;
        if first != second {
            bail!("the passwords do not match");
        }
        first
    };
    if password.chars().count() < MIN_PASSWORD_CHARS {
        bail!("the password is too short: use at least {MIN_PASSWORD_CHARS} characters");
    }
    Ok(password)
}

fn now() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX)
}
