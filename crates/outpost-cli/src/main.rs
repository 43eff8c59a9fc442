//! The `outpost` binary: wiring and flags only. Everything it runs lives in the `outpost` and
//! `outpost-reference` libraries.

mod client_args;
mod clients;
mod config_file;
mod connect;
mod key_encryption;
mod keys;
mod otlp_args;
mod page_args;
mod rate_limit_args;
mod serve;
mod store_arg;
mod time_format;
mod users;

use std::{io::IsTerminal, process::ExitCode};

use clap::{Parser, Subcommand};

use crate::config_file::LoadedFile;

/// Outpost: a production remote MCP server.
#[derive(Debug, Parser)]
#[command(name = "outpost", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log format on stderr: `auto` is `text` on a terminal and `json` otherwise (a service
    /// manager, a container, a pipe: what log pipelines parse).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Auto, env = "OUTPOST_LOG_FORMAT")]
    log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the reference MCP server (Streamable HTTP at /mcp, legacy SSE at /sse) with its
    /// embedded OAuth 2.1 authorization server (or, for loopback development, --no-auth).
    Serve(Box<serve::ServeArgs>),
    /// Manage local users (add, list, remove, passwd) in the store.
    Users(users::UsersArgs),
    /// Manage the authorization server's signing keys (rotate, list) in the store, and make
    /// a key-encryption key (generate-encryption-key).
    Keys(keys::KeysArgs),
    /// Helpers for pre-registered clients (hash-secret).
    Clients(clients::ClientsArgs),
    /// An MCP client: sign in to an MCP server (OAuth, as an MCP host does) and list or call
    /// its tools, resources and prompts. Exit status 0 ok, 1 the tool answered isError, 2 a
    /// usage, connection or authorization failure.
    Connect(connect::ConnectArgs),
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    /// `text` when stderr is a terminal, `json` otherwise.
    Auto,
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Logs to stderr in `format` (filtered by `OUTPOST_LOG`, else by `default_filter`) until the
/// returned guard is dropped (which writes what is pending). Lines go through
/// [`outpost::log_writer`]: a request appends its line to a batch that a thread of its own
/// writes every 50 ms, so a line costs no system call, and a slow stderr (a pipe, a full disk
/// behind it) never stalls a request: beyond 8 MiB pending, lines are dropped and counted.
fn init_logging(format: LogFormat, default_filter: &str) -> outpost::log_writer::FlushGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_env("OUTPOST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let (writer, guard) = outpost::log_writer::BatchedLogWriter::new(std::io::stderr());
    let terminal = std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer.clone())
        .with_ansi(terminal);
    match format {
        LogFormat::Auto if terminal => builder.init(),
        LogFormat::Text => builder.init(),
        LogFormat::Auto | LogFormat::Json => {
            // The per-request lines (the bulk of a busy server's log) straight from Outpost's
            // request log, everything else through tracing-subscriber's formatter: the same
            // objects, at a fraction of the cost. The only call in this process: it cannot fail.
            let _ = outpost::json_lines::write_request_lines_to(writer);
            builder.json().init();
        }
    }
    guard
}

/// Runs the command; a failure is printed as one line — what failed and why, causes joined by
/// `: ` (e.g. `error: cannot open the store …: store unavailable: connection refused`) — with
/// a non-zero exit status, so an orchestrator restarting `serve` (or a script running `users`)
/// sees the reason in one log line.
fn main() -> ExitCode {
    let (cli, config_file) = match config_file::parse::<Cli>() {
        Ok(parsed) => parsed,
        Err(error) => {
            eprintln!("error: {}", one_line(&error));
            // A usage error, as clap's own.
            return ExitCode::from(2);
        }
    };
    let default_filter = match cli.command {
        // A client's stderr is for the user: its own messages, no library logs unless asked.
        Command::Connect(_) => "error,rmcp=off",
        // rmcp logs every stateless request at INFO: keep its target at WARN unless asked.
        _ => "info,rmcp=warn",
    };
    let _flush_on_exit = init_logging(cli.log_format, default_filter);
    if let Some(LoadedFile { path, warnings }) = config_file {
        tracing::info!(file = %path.display(), "settings read from the config file");
        for warning in warnings {
            tracing::warn!("{warning}");
        }
    }
    match run(cli.command) {
        Ok(status) => status,
        Err(error) => {
            eprintln!("error: {}", one_line(&error));
            ExitCode::FAILURE
        }
    }
}

/// `error` and its causes joined by `: `, leaving out a cause the text so far ends with (an
/// error whose message ends with its source's would otherwise say it twice).
fn one_line(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let cause = cause.to_string();
        if !text.is_empty() && text.ends_with(&cause) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause);
    }
    text
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match command {
        Command::Serve(args) => runtime.block_on(serve::run(*args))?,
        Command::Users(args) => runtime.block_on(users::run(args))?,
        Command::Keys(args) => runtime.block_on(keys::run(args))?,
        Command::Clients(args) => clients::run(args)?,
        // connect reports its own failures, with its own exit statuses (0, 1, 2).
        Command::Connect(args) => return Ok(runtime.block_on(connect::run(args))),
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[derive(Debug, thiserror::Error)]
    #[error("the discovery document names another issuer")]
    struct Mismatch;

    #[derive(Debug, thiserror::Error)]
    #[error("external_issuer: {0}")]
    struct Quoting(#[from] Mismatch);

    #[test]
    fn a_cause_the_message_quotes_is_said_once() {
        let error = anyhow::Error::new(Quoting(Mismatch)).context("cannot start");
        assert_eq!(
            one_line(&error),
            "cannot start: external_issuer: the discovery document names another issuer"
        );
    }
}
