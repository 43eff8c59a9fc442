//! `outpost users`: add, list, remove local users, change their passwords and the scopes they
//! may be granted, in the store the server uses (`--store`, the same URL `outpost serve` takes).
//!
//! Every user may be granted the baseline scope (`mcp`); a scope beyond it (`mcp:admin`) only
//! when the user is allowed it: `users add NAME --scope mcp:admin`, or later `users set-scopes
//! NAME mcp:admin` (no scope: the baseline only). Scopes the server does not support are
//! refused. A user's tokens carry a scope taken away from the next refresh on.
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
use outpost::store::{ScopeSet, Store, StoreError, UserId, UserRecord, Username};

use crate::{
    serve::{MCP_SCOPE, SCOPES_SUPPORTED},
    store_arg::StoreArg,
    time_format::rfc3339,
};

/// Shortest accepted password, in characters.
const MIN_PASSWORD_CHARS: usize = 8;
/// Longest accepted password, in characters (NIST SP 800-63B asks for at least 64).
const MAX_PASSWORD_CHARS: usize = 1024;

/// Passwords long enough but among the first that guessing tries (lowercase).
const COMMON_PASSWORDS: [&str; 32] = [
    "password",
    "password1",
    "password12",
    "password123",
    "passw0rd",
    "12345678",
    "123456789",
    "1234567890",
    "87654321",
    "11111111",
    "00000000",
    "qwertyui",
    "qwertyuiop",
    "qwerty12",
    "qwerty123",
    "1q2w3e4r",
    "1qaz2wsx",
    "zaq12wsx",
    "abcd1234",
    "abcdefgh",
    "iloveyou",
    "sunshine",
    "princess",
    "football",
    "baseball",
    "superman",
    "starwars",
    "whatever",
    "trustno1",
    "letmein1",
    "welcome1",
    "admin123",
];

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
    Add {
        #[command(flatten)]
        user: PasswordArgs,
        /// A scope beyond the baseline (`mcp`) this user may be granted, e.g. `mcp:admin`;
        /// repeat it or separate scopes with spaces.
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        #[command(flatten)]
        custom: CustomScopes,
    },
    /// List users, one per line: name, creation time, the scopes beyond the baseline they may
    /// be granted (`-` for none).
    List,
    /// Replace the scopes beyond the baseline a user may be granted (none: the baseline only).
    SetScopes {
        /// The username.
        #[arg(value_parser = parse_username)]
        name: Username,
        /// The scopes, e.g. `mcp:admin` (repeat or separate with spaces).
        #[arg(value_name = "SCOPE")]
        scopes: Vec<String>,
        #[command(flatten)]
        custom: CustomScopes,
    },
    /// Remove a user and everything issued to them.
    Remove {
        /// The username.
        #[arg(value_parser = parse_username)]
        name: Username,
    },
    /// Change a user's password and revoke every grant the old one let clients obtain.
    Passwd(PasswordArgs),
}

/// Whether scopes `outpost serve` does not know may be stored.
#[derive(Debug, clap::Args)]
struct CustomScopes {
    /// Store scopes `outpost serve`'s reference server does not declare: for a server of your
    /// own on this store (built with the `outpost` library), whose tools declare them.
    #[arg(long)]
    custom_scopes: bool,
}

#[derive(Debug, clap::Args)]
struct PasswordArgs {
    /// The username: 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', '-', at least one a
    /// letter or digit, not starting with '-'.
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
    // Adding a user may create the store (before the first `serve`); the other commands
    // manage users a store already holds.
    let store = match args.command {
        UsersCommand::Add { .. } => args.store.open_shared().await?,
        _ => args.store.open_existing().await?,
    };
    match args.command {
        UsersCommand::Add {
            user,
            scopes,
            custom,
        } => add(&store, user, &allowed_scopes(&scopes, &custom)?).await,
        UsersCommand::List => list(&store).await,
        UsersCommand::SetScopes {
            name,
            scopes,
            custom,
        } => set_scopes(&store, &name, allowed_scopes(&scopes, &custom)?).await,
        UsersCommand::Remove { name } => remove(&store, &name).await,
        UsersCommand::Passwd(user) => passwd(&store, user).await,
    }
}

/// The scopes named on the command line, each one the reference server supports unless
/// `custom` allows others; the baseline, which every user has, is left out with a note.
fn allowed_scopes(args: &[String], custom: &CustomScopes) -> anyhow::Result<ScopeSet> {
    let named: Vec<&str> = args.iter().flat_map(|arg| arg.split_whitespace()).collect();
    if named.contains(&MCP_SCOPE) {
        eprintln!("note: every user may be granted the baseline scope {MCP_SCOPE}: not stored");
    }
    let scopes = ScopeSet::from_tokens(named.into_iter().filter(|scope| *scope != MCP_SCOPE))?;
    if let Some(unknown) = scopes.iter().find(|s| !SCOPES_SUPPORTED.contains(s))
        && !custom.custom_scopes
    {
        bail!(
            "unknown scope {unknown:?}: `outpost serve` supports {} (for a server of your own \
             whose tools declare other scopes, add --custom-scopes)",
            SCOPES_SUPPORTED.join(", ")
        );
    }
    Ok(scopes)
}

/// How a user's allowed scopes print: space-separated, `-` for none.
fn shown(scopes: &ScopeSet) -> String {
    if scopes.is_empty() {
        "-".into()
    } else {
        scopes.to_string()
    }
}

async fn add(store: &Store, args: PasswordArgs, scopes: &ScopeSet) -> anyhow::Result<()> {
    let name = &Username::parse_new(args.name.as_str())?;
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
        allowed_scopes: scopes.clone(),
        created_at: now(),
    };
    match store.users.create(user).await {
        Err(StoreError::Conflict(_)) => bail!("user {name} already exists"),
        other => other?,
    }
    if scopes.is_empty() {
        println!("added user {name}");
    } else {
        println!("added user {name}, who may be granted {scopes}");
    }
    Ok(())
}

async fn list(store: &Store) -> anyhow::Result<()> {
    for user in store.users.list().await? {
        println!(
            "{}\t{}\t{}",
            user.username,
            rfc3339(user.created_at),
            shown(&user.allowed_scopes)
        );
    }
    Ok(())
}

async fn set_scopes(store: &Store, name: &Username, scopes: ScopeSet) -> anyhow::Result<()> {
    let Some(user) = store.users.get_by_username(name).await? else {
        bail!("no user named {name} in this store (add one with `outpost users add {name}`)");
    };
    store
        .users
        .set_allowed_scopes(user.id, scopes.clone())
        .await?;
    println!(
        "{} may be granted the baseline scope and: {}",
        user.username,
        shown(&scopes)
    );
    Ok(())
}

async fn remove(store: &Store, name: &Username) -> anyhow::Result<()> {
    // Names match case-insensitively: say the name as stored.
    let stored = store
        .users
        .get_by_username(name)
        .await?
        .map_or_else(|| name.clone(), |user| user.username);
    match store.users.delete(name).await {
        Err(StoreError::NotFound(_)) => bail!("no user named {name} in this store"),
        other => other?,
    }
    println!("removed user {stored}");
    Ok(())
}

async fn passwd(store: &Store, args: PasswordArgs) -> anyhow::Result<()> {
    let name = &args.name;
    let Some(user) = store.users.get_by_username(name).await? else {
        bail!("no user named {name} in this store (add one with `outpost users add {name}`)");
    };
    let hash = hash_password(&read_password(args.password_stdin)?)?;
    store.users.set_password_hash(user.id, hash).await?;
    // A password is changed when it may be known to someone else: what it let clients
    // obtain goes with it (their tokens stop working on /mcp within seconds), and so do the
    // sign-ins waiting for consent and the codes it let them obtain that were not exchanged
    // yet — ended first, so that a code exchanged meanwhile made a grant the revocation sees.
    let now = now();
    store
        .pending_authorizations
        .remove_signed_in_of_user(user.id)
        .await?;
    store.codes.expire_codes_of_user(user.id, now).await?;
    let revoked = store.grants.revoke_grants_of_user(user.id, now).await?;
    println!(
        "changed the password of {}; revoked {revoked} grant(s): every client signs in again",
        user.username
    );
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
    check_password(&password)?;
    Ok(password)
}

/// Refuses a password too short, too long, or among the first any guesser tries: one
/// repeated character (spaces included) or a common password (NIST SP 800-63B §5.1.1.2).
fn check_password(password: &str) -> anyhow::Result<()> {
    let length = password.chars().count();
    if length < MIN_PASSWORD_CHARS {
        bail!("the password is too short: use at least {MIN_PASSWORD_CHARS} characters");
    }
    if length > MAX_PASSWORD_CHARS {
        bail!("the password is too long: use at most {MAX_PASSWORD_CHARS} characters");
    }
    let mut chars = password.chars();
    let first = chars.next();
    if chars.all(|c| Some(c) == first)
        || COMMON_PASSWORDS.contains(&password.to_lowercase().as_str())
    {
        bail!("the password is too easy to guess: choose a less common one");
    }
    Ok(())
}

fn now() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX)
}
