//! `outpost connect URL [COMMAND [ARGS…]]`: an MCP client in the same binary, signing in with
//! OAuth as an MCP host does, for trying a server from a terminal.
//!
//! `command.rs` reads the command line, `http.rs` is the HTTP client (rustls on ring) under
//! rmcp's client (`session.rs`, `handler.rs`), `oauth/` signs in, `credentials.rs` keeps the
//! tokens per server, `arguments.rs` types `key=value` by the tool's schema and `output.rs`
//! prints results. Exit status: 0 done, 1 the tool answered `isError`, 2 a usage, connection
//! or authorization failure, named in a one-line message on stderr.
//!
//! A request refused `403 insufficient_scope` (a tool that needs more than the sign-in was
//! granted) is stepped up as the MCP authorization spec has clients do: one new sign-in asking
//! for the scope the challenge names, then the command once more. Refused again (the user may
//! not be granted that scope), it fails with exit status 2 and a message naming the scope.

mod arguments;
mod command;
mod credentials;
mod handler;
mod http;
mod legacy_sse;
mod oauth;
mod output;
mod session;

use std::{
    path::PathBuf,
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::anyhow;
use rmcp::{
    ServiceError,
    model::{
        CallToolRequestParams, GetPromptRequestParams, ProtocolVersion, ReadResourceRequestParams,
    },
    service::ClientInitializeError,
    transport::{DynamicTransportError, streamable_http_client::StreamableHttpError},
};
use url::Url;

use self::{
    command::{Command, Invocation},
    credentials::CredentialsFile,
    http::{HttpClient, HttpError},
    oauth::{Browser, Refreshed, SignIn, challenge::Challenge, endpoints::RegisteredClient},
    output::{Output, say},
    session::Connection,
};

/// `outpost connect`'s options; the URL, the command and options after them are in `words`.
#[derive(Debug, clap::Args)]
pub struct ConnectArgs {
    /// Do not open a browser to sign in: print the authorization URL alone on one line of
    /// stderr and wait for the callback.
    #[arg(long)]
    no_browser: bool,
    /// The credentials file [default: $XDG_CONFIG_HOME/outpost/credentials.json].
    #[arg(long, value_name = "FILE")]
    credentials: Option<PathBuf>,
    /// Sign in as this client, registered at the authorization server beforehand, instead of
    /// registering one (for servers without Dynamic Client Registration). Its redirect URI
    /// must be http://127.0.0.1/callback, with any port (RFC 8252 §7.3).
    #[arg(long, value_name = "ID")]
    client_id: Option<String>,
    /// The file holding the `--client-id` client's secret (a confidential client; sent as
    /// `client_secret_post`).
    #[arg(long, value_name = "FILE", requires = "client_id")]
    client_secret_file: Option<PathBuf>,
    /// How long the server may stay silent: to answer a request, or during a call until its
    /// next progress notification [default: 60].
    #[arg(long, value_name = "SECONDS", value_parser = command::timeout)]
    timeout: Option<Duration>,
    /// The MCP endpoint, then a command: tools | call TOOL [key=value…] [--json JSON] |
    /// resources | read URI | prompts | prompt NAME [key=value…] | logout. No command signs
    /// in and prints the server's name and tools.
    #[arg(
        value_name = "URL [COMMAND [ARGS…]]",
        trailing_var_arg = true,
        allow_hyphen_values = true,
        required = true
    )]
    words: Vec<String>,
}

/// How long the server may stay silent by default (as the TypeScript SDK's request timeout):
/// to answer a request, or during a call until its next progress notification. MCP's
/// lifecycle has clients time requests out; a long call that reports progress is not cut.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// How long closing the connection may take (a session's `DELETE`) before it is given up.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a command failed: each is exit status 2, with a message saying which.
enum Failure {
    Usage(String),
    Connection(anyhow::Error),
    Authorization(anyhow::Error),
    /// `403 insufficient_scope`: the `WWW-Authenticate` challenge, and the scope it names.
    InsufficientScope {
        challenge: String,
        scope: String,
    },
    Refused(anyhow::Error),
}

impl Failure {
    fn from_service(error: ServiceError) -> Self {
        if let ServiceError::McpError(error) = &error {
            return Self::Refused(anyhow!("{}", error.message));
        }
        let Some(header) = error.auth_challenge().map(str::to_owned) else {
            return Self::Connection(anyhow!("{}", describe_service(&error)));
        };
        let challenge = Challenge::parse(&header);
        if challenge.error.as_deref() == Some("insufficient_scope") {
            return Self::InsufficientScope {
                challenge: header,
                scope: challenge.scope.unwrap_or_default(),
            };
        }
        Self::Authorization(error.into())
    }

    /// Prints the one-line message on stderr; text the server chose in it cannot drive the
    /// terminal ([`output::one_line`]).
    fn report(&self) {
        let message = match self {
            Self::Usage(message) => format!("error: usage: {message}"),
            Self::Connection(error) => {
                format!("error: connection failed: {}", crate::one_line(error))
            }
            Self::Authorization(error) => {
                format!("error: authorization failed: {}", crate::one_line(error))
            }
            Self::InsufficientScope { scope, .. } => format!(
                "error: authorization failed: the request needs the scope \"{scope}\", which \
                 the sign-in was not granted"
            ),
            Self::Refused(error) => format!(
                "error: the server refused the request: {}",
                crate::one_line(error)
            ),
        };
        eprintln!("{}", output::one_line(&message));
    }
}

/// What a command that ran found.
enum Outcome {
    Done,
    ToolError,
}

/// Runs `outpost connect`; returns its exit status, having reported a failure on stderr.
pub async fn run(args: ConnectArgs) -> ExitCode {
    if command::asks_for_help(&args.words) {
        return print_help();
    }
    let options = command::Options {
        no_browser: args.no_browser,
        credentials: args.credentials,
        client_id: args.client_id,
        client_secret_file: args.client_secret_file,
        timeout: args.timeout,
    };
    let outcome = match command::parse(args.words, options) {
        Ok(invocation) => execute_invocation(invocation).await,
        Err(usage) => Err(Failure::Usage(usage)),
    };
    match outcome {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::ToolError) => ExitCode::from(1),
        Err(failure) => {
            failure.report();
            ExitCode::from(2)
        }
    }
}

/// Prints what `outpost connect --help` prints (options may follow the URL, `--help` too).
fn print_help() -> ExitCode {
    use clap::CommandFactory;
    match crate::Cli::command().try_get_matches_from(["outpost", "connect", "--help"]) {
        Err(help) => {
            let _ = help.print();
            ExitCode::SUCCESS
        }
        Ok(_) => ExitCode::SUCCESS,
    }
}

async fn execute_invocation(invocation: Invocation) -> Result<Outcome, Failure> {
    let http = HttpClient::new().map_err(|e| Failure::Connection(e.into()))?;
    let options = invocation.options;
    let path = match options.credentials {
        Some(path) => path,
        None => CredentialsFile::default_path().map_err(|e| Failure::Usage(format!("{e:#}")))?,
    };
    let mut credentials =
        CredentialsFile::load(path).map_err(|e| Failure::Usage(format!("{e:#}")))?;
    let sign_in = SignIn {
        browser: if options.no_browser {
            Browser::PrintOnly
        } else {
            Browser::Open
        },
        client: preregistered_client(options.client_id, options.client_secret_file.as_deref())
            .map_err(Failure::Usage)?,
    };
    if invocation.command == Command::Logout {
        return logout(&http, &invocation.url, &mut credentials).await;
    }
    let timeout = options.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let connection = signed_in(&http, &invocation.url, &mut credentials, &sign_in, timeout).await?;
    let outcome = within(
        &connection,
        timeout,
        execute(&connection, invocation.command.clone()),
    )
    .await;
    close(connection).await;
    let Err(Failure::InsufficientScope { challenge, scope }) = outcome else {
        return outcome;
    };
    // Step-up: a new sign-in asking for the scope the challenge names (Outpost names the
    // scope held and the one missing), then the command once more. The 403 came before the
    // tool ran, so running it again does not repeat it.
    eprintln!(
        "The server asks for the scope \"{}\": signing in again.",
        output::one_line(&scope)
    );
    let previous = credentials.get(invocation.url.as_str()).cloned();
    let fresh = oauth::sign_in(
        &http,
        &invocation.url,
        Some(&challenge),
        &sign_in,
        previous.as_ref(),
    )
    .await
    .map_err(|error| {
        forget_registration(&mut credentials, invocation.url.as_str());
        Failure::Authorization(error)
    })?;
    credentials
        .store(invocation.url.as_str(), fresh)
        .map_err(Failure::Authorization)?;
    let connection = signed_in(&http, &invocation.url, &mut credentials, &sign_in, timeout).await?;
    let outcome = within(
        &connection,
        timeout,
        execute(&connection, invocation.command),
    )
    .await;
    close(connection).await;
    outcome
}

/// `work` on `connection`, given up once the server has been silent for `timeout`: no answer,
/// and no progress notification since `work` began or since the last one.
async fn within<T>(
    connection: &Connection,
    timeout: Duration,
    work: impl Future<Output = Result<T, Failure>>,
) -> Result<T, Failure> {
    let started = Instant::now();
    let heard = || {
        connection
            .service()
            .progressed_at()
            .map_or(started, |at| at.max(started))
    };
    tokio::pin!(work);
    loop {
        let last = heard();
        tokio::select! {
            result = &mut work => return result,
            () = tokio::time::sleep_until((last + timeout).into()) => {
                if heard() <= last {
                    return Err(Failure::Connection(silent(timeout)));
                }
            }
        }
    }
}

/// The failure of a server silent for `timeout`.
fn silent(timeout: Duration) -> anyhow::Error {
    anyhow!(
        "the server sent nothing for {} s (--timeout)",
        timeout.as_secs()
    )
}

/// Ends the connection (a session's `DELETE`), not waiting on a server that does not answer.
async fn close(connection: Connection) {
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, connection.cancel()).await;
}

/// The client `--client-id` names, with the secret `--client-secret-file` holds (its first
/// line); `None` without `--client-id`.
fn preregistered_client(
    client_id: Option<String>,
    secret_file: Option<&std::path::Path>,
) -> Result<Option<RegisteredClient>, String> {
    let Some(client_id) = client_id else {
        return Ok(None);
    };
    let client_secret = match secret_file {
        None => None,
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read --client-secret-file {}: {e}", file.display()))?;
            let secret = text.lines().next().unwrap_or_default().trim().to_owned();
            if secret.is_empty() {
                return Err(format!(
                    "--client-secret-file {} holds no secret",
                    file.display()
                ));
            }
            Some(secret)
        }
    };
    Ok(Some(RegisteredClient {
        client_id,
        client_secret,
    }))
}

/// For a URL that answered neither transport and names no MCP endpoint's path (`/mcp`,
/// `/sse`): where the endpoint usually is.
fn endpoint_hint(url: &Url) -> Option<String> {
    let path = url.path().trim_end_matches('/');
    if path.ends_with("/mcp") || path.ends_with("/sse") {
        return None;
    }
    let mut endpoint = url.clone();
    endpoint.set_path(&format!("{path}/mcp"));
    Some(format!(
        " (no MCP endpoint there: is it {endpoint}? MCP servers usually serve it at /mcp)"
    ))
}

/// Connects with the stored access token, refreshing it when it has expired or is refused,
/// and signing in when there is none or the refresh is refused; each attempt to connect is
/// given up after `timeout` without an answer.
async fn signed_in(
    http: &HttpClient,
    url: &Url,
    file: &mut CredentialsFile,
    sign_in: &SignIn,
    timeout: Duration,
) -> Result<Connection, Failure> {
    let key = url.as_str();
    let mut stored = file.get(key).cloned();
    // The sign-in whose client a new sign-in signs in as again; forgotten when the server
    // says it no longer knows the client.
    let mut previous = stored.clone();
    let mut refreshed = false;
    if let Some(current) = stored
        .as_ref()
        .filter(|c| c.access_token_expired(oauth::endpoints::now_unix()))
    {
        refreshed = true;
        match oauth::refresh(http, current)
            .await
            .map_err(Failure::Authorization)?
        {
            Refreshed::Tokens(fresh) => {
                file.store(key, (*fresh).clone())
                    .map_err(Failure::Authorization)?;
                stored = Some(*fresh);
            }
            // Refused: the expired access token is not tried; the server's challenge leads
            // to the new sign-in the refusal announced.
            Refreshed::SignInAgain { client_unknown } => {
                stored = None;
                if client_unknown {
                    previous = None;
                }
            }
        }
    }
    let mut signed_in_now = false;
    loop {
        let token = stored.as_ref().map(|c| c.access_token.as_str());
        let mut fell_back = false;
        let opened = match answered(url, timeout, session::open(http, url, token)).await? {
            Err(error) if session::has_no_streamable_http(&error) => {
                fell_back = true;
                answered(url, timeout, session::open_legacy(http, url, token)).await?
            }
            opened => opened,
        };
        let error = match opened {
            Ok(connection) => return spoken(connection, url).await,
            Err(error) => error,
        };
        let Some(challenge) = error.auth_challenge().map(str::to_owned) else {
            let hint = if fell_back { endpoint_hint(url) } else { None };
            return Err(Failure::Connection(anyhow!(
                "{url}: {}{}",
                describe(&error),
                hint.unwrap_or_default()
            )));
        };
        if signed_in_now {
            return Err(Failure::Authorization(anyhow!(
                "the server refused the token from the new sign-in ({challenge})"
            )));
        }
        if let Some(current) = stored.as_ref().filter(|_| !refreshed) {
            refreshed = true;
            match oauth::refresh(http, current)
                .await
                .map_err(Failure::Authorization)?
            {
                Refreshed::Tokens(fresh) => {
                    file.store(key, (*fresh).clone())
                        .map_err(Failure::Authorization)?;
                    stored = Some(*fresh);
                    continue;
                }
                Refreshed::SignInAgain { client_unknown } => {
                    if client_unknown {
                        previous = None;
                    }
                }
            }
        }
        let fresh = oauth::sign_in(http, url, Some(&challenge), sign_in, previous.as_ref())
            .await
            .map_err(|error| {
                forget_registration(file, key);
                Failure::Authorization(error)
            })?;
        file.store(key, fresh.clone())
            .map_err(Failure::Authorization)?;
        stored = Some(fresh);
        signed_in_now = true;
    }
}

/// What `opening` a connection to `url` gave, unless the server stayed silent for `timeout`.
async fn answered<T>(
    url: &Url,
    timeout: Duration,
    opening: impl Future<Output = T>,
) -> Result<T, Failure> {
    tokio::time::timeout(timeout, opening)
        .await
        .map_err(|_| Failure::Connection(anyhow!("{url}: {}", silent(timeout))))
}

/// `connection`, unless the server chose a protocol version this client does not speak: the
/// lifecycle's version negotiation has the client disconnect then.
async fn spoken(connection: Connection, url: &Url) -> Result<Connection, Failure> {
    let Some(version) = connection
        .peer_info()
        .map(|info| info.protocol_version.clone())
    else {
        return Ok(connection);
    };
    if ProtocolVersion::KNOWN_VERSIONS.contains(&version) {
        return Ok(connection);
    }
    close(connection).await;
    Err(Failure::Connection(anyhow!(
        "{url}: the server chose MCP protocol version {version}, which this client does not speak"
    )))
}

/// A sign-in failed: the client `connect` registered for `server` is not signed in as again,
/// so the next sign-in registers a new one. The sign-in may have failed because the server no
/// longer knows that client: its `/authorize` page then says so and never comes back.
fn forget_registration(file: &mut CredentialsFile, server: &str) {
    let Some(mut stored) = file.get(server).cloned() else {
        return;
    };
    if stored.redirect_uri.take().is_some()
        && let Err(error) = file.store(server, stored)
    {
        eprintln!("warning: {error:#}");
    }
}

/// Revokes the stored sign-in where the server allows and forgets it.
async fn logout(
    http: &HttpClient,
    url: &Url,
    file: &mut CredentialsFile,
) -> Result<Outcome, Failure> {
    let Some(removed) = file.remove(url.as_str()).map_err(Failure::Authorization)? else {
        say!("No stored sign-in for {url}.");
        return Ok(Outcome::Done);
    };
    match oauth::revoke(http, &removed).await {
        Ok(true) => say!("Signed out of {url}: the grant is revoked and the tokens forgotten."),
        Ok(false) => {
            say!("Signed out of {url}: the tokens are forgotten (the server offers no revocation).")
        }
        Err(error) => {
            say!("Signed out of {url}: the tokens are forgotten, but revocation failed: {error:#}")
        }
    }
    Ok(Outcome::Done)
}

async fn execute(connection: &Connection, command: Command) -> Result<Outcome, Failure> {
    let peer = connection.peer();
    let mut output = Output::new();
    let printed = |result: anyhow::Result<()>| result.map_err(Failure::Connection);
    match command {
        Command::Summary => {
            if let Some(info) = connection.peer_info() {
                let name = info
                    .server_info
                    .as_ref()
                    .map(|server| format!("{} {}", server.name, server.version))
                    .unwrap_or_else(|| "(the server gives no name)".into());
                say!("{} (MCP {})", output.shown(&name), info.protocol_version);
            }
            let tools = peer.list_all_tools().await.map_err(Failure::from_service)?;
            output::tools(&tools);
        }
        Command::Tools => {
            output::tools(&peer.list_all_tools().await.map_err(Failure::from_service)?)
        }
        Command::Resources => {
            output::resources(
                &peer
                    .list_all_resources()
                    .await
                    .map_err(Failure::from_service)?,
            );
        }
        Command::Prompts => output::prompts(
            &peer
                .list_all_prompts()
                .await
                .map_err(Failure::from_service)?,
        ),
        Command::Read { uri } => {
            let result = connection
                .read_resource(ReadResourceRequestParams::new(uri))
                .await
                .map_err(Failure::from_service)?;
            printed(output.resource_contents(&to_values(&result.contents)))?;
        }
        Command::Prompt { name, arguments } => {
            let params = GetPromptRequestParams::new(name)
                .with_arguments(arguments::prompt_arguments(&arguments));
            let result = connection
                .get_prompt(params)
                .await
                .map_err(Failure::from_service)?;
            for message in &result.messages {
                let role = serde_json::to_value(&message.role).unwrap_or_default();
                say!("[{}]", role.as_str().unwrap_or("?"));
                printed(output.content(&to_values(std::slice::from_ref(&message.content))))?;
            }
        }
        Command::Call {
            tool,
            arguments,
            json,
        } => {
            let tools = peer.list_all_tools().await.map_err(Failure::from_service)?;
            let Some(found) = tools.iter().find(|t| t.name == tool) else {
                return Err(Failure::Usage(format!(
                    "the server has no tool {tool} (see `tools`)"
                )));
            };
            let arguments =
                arguments::tool_arguments(&found.input_schema, &arguments, json.as_deref())
                    .map_err(Failure::Usage)?;
            let params = CallToolRequestParams::new(tool).with_arguments(arguments);
            let result = connection.call_tool(params).await;
            connection.service().finish_progress();
            let result = result.map_err(Failure::from_service)?;
            let mut blocks = to_values(&result.content);
            if let Some(structured) = &result.structured_content {
                // A text block that only repeats the structured content (for older clients)
                // is not printed twice.
                blocks.retain(|block| !repeats(block, structured));
            }
            printed(output.content(&blocks))?;
            if let Some(structured) = &result.structured_content {
                printed(output.structured(structured))?;
            }
            if let Some(uri) = app_resource(found).filter(|uri| !embeds(&blocks, uri)) {
                // An MCP App: its UI is a resource the host reads; saved to open in a browser.
                let app = connection
                    .read_resource(ReadResourceRequestParams::new(uri))
                    .await
                    .map_err(Failure::from_service)?;
                printed(output.resource_contents(&to_values(&app.contents)))?;
            }
            if result.is_error == Some(true) {
                return Ok(Outcome::ToolError);
            }
        }
        Command::Logout => unreachable!("logout needs no connection"),
    }
    Ok(Outcome::Done)
}

/// What went wrong below rmcp, without the Rust type names its transport error shows:
/// `client error (Connect): tcp connect error: Connection refused (os error 111)`.
fn describe(error: &ClientInitializeError) -> String {
    match error {
        ClientInitializeError::TransportError { error, .. } => describe_transport(error),
        ClientInitializeError::LegacyFallbackFailed { fallback, .. } => describe(fallback),
        other => other.to_string(),
    }
}

/// A request's failure, a transport's as [`describe`] gives it.
fn describe_service(error: &ServiceError) -> String {
    match error {
        ServiceError::TransportSend(error) => describe_transport(error),
        other => other.to_string(),
    }
}

/// A transport's error and its causes, without the transport's Rust type name.
fn describe_transport(error: &DynamicTransportError) -> String {
    let inner = error.error.as_ref();
    match inner.downcast_ref::<StreamableHttpError<HttpError>>() {
        Some(StreamableHttpError::Client(http)) => chain(http),
        _ => chain(inner),
    }
}

/// An error and its causes, `: `-joined.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The UI resource of an MCP App tool: `_meta.ui.resourceUri` (or the older flat
/// `_meta["ui/resourceUri"]`).
fn app_resource(tool: &rmcp::model::Tool) -> Option<String> {
    let meta = serde_json::to_value(tool.meta.as_ref()?).ok()?;
    meta.pointer("/ui/resourceUri")
        .or_else(|| meta.get("ui/resourceUri"))
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
}

/// Whether the result already carries the resource `uri` embedded.
fn embeds(blocks: &[serde_json::Value], uri: &str) -> bool {
    blocks.iter().any(|block| {
        block
            .pointer("/resource/uri")
            .and_then(serde_json::Value::as_str)
            == Some(uri)
    })
}

/// Whether `block` is a text block whose text is `structured` serialized.
fn repeats(block: &serde_json::Value, structured: &serde_json::Value) -> bool {
    block
        .get("text")
        .and_then(serde_json::Value::as_str)
        .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
        .is_some_and(|parsed| &parsed == structured)
}

fn to_values<T: serde::Serialize>(items: &[T]) -> Vec<serde_json::Value> {
    items
        .iter()
        .filter_map(|item| serde_json::to_value(item).ok())
        .collect()
}
