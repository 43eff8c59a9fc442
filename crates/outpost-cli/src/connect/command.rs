//! The words after `outpost connect`: the server URL, the command and its arguments, with
//! `--no-browser`, `--credentials FILE`, `--client-id ID`, `--client-secret-file FILE`,
//! `--timeout SECONDS` and `--json JSON` taken from anywhere among them (clap reads the
//! options that stand before the URL; this reads the rest).

use std::{path::PathBuf, time::Duration};

use url::Url;

/// What `outpost connect` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// No command: sign in, print the server's name and its tools.
    Summary,
    /// `tools`: list the tools.
    Tools,
    /// `call TOOL [key=value…] [--json JSON]`.
    Call {
        /// The tool's name.
        tool: String,
        /// `key=value` arguments, typed later by the tool's input schema.
        arguments: Vec<(String, String)>,
        /// `--json`: a JSON object of arguments, under the `key=value` ones.
        json: Option<String>,
    },
    /// `resources`: list the resources.
    Resources,
    /// `read URI`.
    Read {
        /// The resource's URI.
        uri: String,
    },
    /// `prompts`: list the prompts.
    Prompts,
    /// `prompt NAME [key=value…]`.
    Prompt {
        /// The prompt's name.
        name: String,
        /// Its arguments (prompt arguments are strings).
        arguments: Vec<(String, String)>,
    },
    /// `logout`: revoke and forget the stored sign-in.
    Logout,
}

/// The options of a command line, wherever they stood.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Print the authorization URL instead of opening a browser.
    pub no_browser: bool,
    /// The credentials file named by `--credentials`.
    pub credentials: Option<PathBuf>,
    /// `--client-id`: sign in as this client, registered beforehand, instead of registering.
    pub client_id: Option<String>,
    /// `--client-secret-file`: the file holding that client's secret.
    pub client_secret_file: Option<PathBuf>,
    /// `--timeout`: how long the server may stay silent.
    pub timeout: Option<Duration>,
}

/// The options that take a value (`--json` belongs to `call`).
const VALUED: [&str; 5] = [
    "--json",
    "--credentials",
    "--client-id",
    "--client-secret-file",
    "--timeout",
];

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The MCP endpoint.
    pub url: Url,
    /// The options.
    pub options: Options,
    /// What to do.
    pub command: Command,
}

/// Whether `words` ask for help: `--help` or `-h` where an option may stand (not as the value
/// of an option), before or after the URL.
pub fn asks_for_help(words: &[String]) -> bool {
    let mut words = words.iter();
    while let Some(word) = words.next() {
        match word.as_str() {
            "--help" | "-h" => return true,
            valued if VALUED.contains(&valued) => {
                words.next();
            }
            _ => {}
        }
    }
    false
}

/// Parses `words` (everything clap did not take), starting from the `options` clap read.
pub fn parse(words: Vec<String>, mut options: Options) -> Result<Invocation, String> {
    let mut json = None;
    let mut positional = Vec::new();
    let mut words = words.into_iter();
    while let Some(word) = words.next() {
        let (name, inline) = match word.split_once('=') {
            Some((name, value)) if name.starts_with("--") => {
                (name.to_owned(), Some(value.to_owned()))
            }
            _ => (word.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| words.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match name.as_str() {
            "--no-browser" if inline.is_none() => options.no_browser = true,
            "--credentials" => options.credentials = Some(PathBuf::from(value("--credentials")?)),
            "--client-id" => options.client_id = Some(value("--client-id")?),
            "--client-secret-file" => {
                options.client_secret_file = Some(PathBuf::from(value("--client-secret-file")?));
            }
            "--timeout" => options.timeout = Some(timeout(&value("--timeout")?)?),
            "--json" => json = Some(value("--json")?),
            _ if word.starts_with("--") => return Err(format!("unknown option {word}")),
            _ => positional.push(word),
        }
    }
    let mut positional = positional.into_iter();
    let url = positional
        .next()
        .ok_or("the MCP server's URL is missing (e.g. http://127.0.0.1:8080/mcp)")?;
    let url = Url::parse(&url).map_err(|e| format!("{url} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{url} is not an http or https URL"));
    }
    if options.client_secret_file.is_some() && options.client_id.is_none() {
        return Err("--client-secret-file needs --client-id: the secret is that client's".into());
    }
    let rest: Vec<String> = positional.collect();
    let command = command(rest, json)?;
    Ok(Invocation {
        url,
        options,
        command,
    })
}

/// `--timeout`'s value: whole seconds, at least one.
pub fn timeout(text: &str) -> Result<Duration, String> {
    match text.parse::<u64>() {
        Ok(seconds) if seconds > 0 => Ok(Duration::from_secs(seconds)),
        _ => Err(format!(
            "--timeout {text}: give a whole number of seconds, at least 1"
        )),
    }
}

fn command(words: Vec<String>, json: Option<String>) -> Result<Command, String> {
    let mut words = words.into_iter();
    let Some(name) = words.next() else {
        return none_after(json, "--json", "call").map(|()| Command::Summary);
    };
    let rest: Vec<String> = words.collect();
    let command = match name.as_str() {
        "tools" => no_arguments(&rest, "tools", Command::Tools)?,
        "resources" => no_arguments(&rest, "resources", Command::Resources)?,
        "prompts" => no_arguments(&rest, "prompts", Command::Prompts)?,
        "logout" => no_arguments(&rest, "logout", Command::Logout)?,
        "read" => match rest.as_slice() {
            [uri] => Command::Read { uri: uri.clone() },
            _ => return Err("read URI".into()),
        },
        "call" => {
            let (tool, arguments) = name_and_pairs(rest, "call TOOL [key=value…] [--json JSON]")?;
            return Ok(Command::Call {
                tool,
                arguments,
                json,
            });
        }
        "prompt" => {
            let (name, arguments) = name_and_pairs(rest, "prompt NAME [key=value…]")?;
            Command::Prompt { name, arguments }
        }
        other => {
            return Err(format!(
                "unknown command {other}: use tools, call, resources, read, prompts, prompt or logout"
            ));
        }
    };
    none_after(json, "--json", "call").map(|()| command)
}

fn none_after(json: Option<String>, option: &str, command: &str) -> Result<(), String> {
    match json {
        Some(_) => Err(format!("{option} belongs to {command}")),
        None => Ok(()),
    }
}

fn no_arguments(rest: &[String], name: &str, command: Command) -> Result<Command, String> {
    if rest.is_empty() {
        Ok(command)
    } else {
        Err(format!(
            "{name} takes no arguments (got {})",
            rest.join(" ")
        ))
    }
}

fn name_and_pairs(
    rest: Vec<String>,
    usage: &str,
) -> Result<(String, Vec<(String, String)>), String> {
    let mut rest = rest.into_iter();
    let name = rest.next().ok_or_else(|| usage.to_owned())?;
    let pairs = rest
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
            _ => Err(format!("{pair} is not key=value (usage: {usage})")),
        })
        .collect::<Result<_, _>>()?;
    Ok((name, pairs))
}

#[cfg(test)]
mod tests {
    use super::{Command, Options, asks_for_help, parse};

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn options_may_follow_the_url_and_the_command() {
        let invocation = parse(
            words(
                "http://127.0.0.1:1/mcp --no-browser call add a=1 b=2 --credentials c.json \
                 --client-id cli --client-secret-file=s.txt --timeout 300",
            ),
            Options::default(),
        )
        .unwrap();
        assert!(invocation.options.no_browser);
        assert_eq!(
            invocation.options.credentials.unwrap().to_str(),
            Some("c.json")
        );
        assert_eq!(invocation.options.client_id.as_deref(), Some("cli"));
        assert_eq!(
            invocation.options.timeout,
            Some(std::time::Duration::from_secs(300))
        );
        assert_eq!(
            invocation.options.client_secret_file.unwrap().to_str(),
            Some("s.txt")
        );
        assert_eq!(
            invocation.command,
            Command::Call {
                tool: "add".into(),
                arguments: vec![("a".into(), "1".into()), ("b".into(), "2".into())],
                json: None,
            }
        );
    }

    #[test]
    fn no_command_is_the_summary_and_json_belongs_to_call() {
        let invocation = parse(words("https://example.com/mcp"), Options::default()).unwrap();
        assert_eq!(invocation.command, Command::Summary);
        assert!(
            parse(
                words("https://example.com/mcp tools --json {}"),
                Options::default()
            )
            .is_err()
        );
        let call = parse(
            words("https://example.com/mcp call echo --json={\"a\":1}"),
            Options::default(),
        );
        assert!(matches!(
            call.unwrap().command,
            Command::Call { json: Some(_), .. }
        ));
    }

    #[test]
    fn help_may_follow_the_url_but_is_no_option_value() {
        assert!(asks_for_help(&words("http://x/mcp --help")));
        assert!(asks_for_help(&words("http://x/mcp call add -h")));
        assert!(!asks_for_help(&words(
            "http://x/mcp call add --json --help"
        )));
        assert!(!asks_for_help(&words("http://x/mcp call add a=--help")));
        assert!(!asks_for_help(&words("http://x/mcp --client-id --help")));
    }

    #[test]
    fn bad_input_says_what_is_wrong() {
        let error = |line: &str| parse(words(line), Options::default()).unwrap_err();
        assert!(error("").contains("URL is missing"));
        for bad in ["0", "-1", "1.5", "soon"] {
            assert!(
                error(&format!("http://x/mcp --timeout {bad}")).contains("whole number of seconds"),
                "{bad}"
            );
        }
        assert!(error("ftp://x/mcp").contains("not an http"));
        assert!(error("http://x/mcp frobnicate").contains("unknown command frobnicate"));
        assert!(error("http://x/mcp call add a").contains("not key=value"));
        assert!(error("http://x/mcp --client-secret-file s.txt").contains("needs --client-id"));
        assert_eq!(error("http://x/mcp read"), "read URI");
        assert_eq!(
            error("http://x/mcp call"),
            "call TOOL [key=value…] [--json JSON]"
        );
        assert!(error("http://x/mcp --bogus").contains("unknown option --bogus"));
    }
}
