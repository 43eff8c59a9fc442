//! `outpost serve --config FILE` (or `OUTPOST_CONFIG`): the flags of `serve` from a TOML file.
//!
//! A key is a flag's long name without its dashes (`public-url = "https://mcp.example.com"`):
//! a boolean for a switch (`demo = true`), a string or number for a flag taking a value
//! (`max-body-bytes = 1048576`, `session-idle-timeout = "10m"`), an array for a repeatable
//! flag (`allow-origin = ["https://app.example"]`). Each key becomes its flag's default value
//! before the command line is parsed, so clap's own order decides: a flag beats its
//! environment variable, which beats the file, which beats the built-in default. Nothing here
//! names a flag: a flag added to `serve` is a setting of the file with no code of its own.
//!
//! Every key is checked before the server starts, with the flag's own value parser: an
//! unknown key, a wrong type or a bad value is an error naming the file, its line and the
//! setting. Two settings that cannot go together (`no-auth` and `demo`) are refused as they
//! are on the command line, whichever of the file, the environment and the flags gave them.
//! A file that sets a secret (a flag whose environment value `--help` hides, such as
//! `introspection-client-secret`) while other users may read it is warned about once the log
//! is up: the server still starts, as a secret in a `0644` file may be what a deployment
//! tool writes, but the operator hears of it.

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
};

use anyhow::{Context, anyhow, bail};
use clap::{
    Arg, ArgAction, ArgMatches, Command, CommandFactory, FromArgMatches,
    error::{ContextKind, ContextValue},
    parser::ValueSource,
};
use toml_span::value::ValueInner;

/// The subcommand whose flags the file sets.
const SUBCOMMAND: &str = "serve";
/// The id (and long name) of the flag naming the file.
const CONFIG_ARG: &str = "config";

/// The config file a command line used, for the log.
#[derive(Debug)]
pub struct LoadedFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// What the operator should hear about once logging is up.
    pub warnings: Vec<String>,
}

/// The command line of the process parsed as `P`, with the settings of `serve --config FILE`
/// applied below the flags and the environment. Clap's own errors (and `--help`) exit the
/// process as clap does; a bad file is an error naming it.
pub fn parse<P: FromArgMatches + CommandFactory>() -> anyhow::Result<(P, Option<LoadedFile>)> {
    parse_from::<P>(std::env::args_os().collect())
}

fn parse_from<P: FromArgMatches + CommandFactory>(
    argv: Vec<OsString>,
) -> anyhow::Result<(P, Option<LoadedFile>)> {
    let mut command = P::command().mut_subcommand(SUBCOMMAND, |serve| serve.arg(config_arg()));
    let mut loaded = None;
    let mut settings = Vec::new();
    if let Some(path) = config_path(&command, &argv) {
        let serve = command
            .find_subcommand(SUBCOMMAND)
            .context("no serve subcommand")?;
        let file = read_settings(&path, serve, &command)?;
        for setting in &file.settings {
            command = setting.apply(command);
        }
        settings = file.settings;
        loaded = Some(LoadedFile {
            path,
            warnings: file.warnings,
        });
    }
    let matches = command.clone().get_matches_from(argv);
    if let (Some(file), Some((SUBCOMMAND, serve_matches))) = (&loaded, matches.subcommand()) {
        let serve = command
            .find_subcommand(SUBCOMMAND)
            .context("no serve subcommand")?;
        check_conflicts(serve, serve_matches, &settings, &file.path)?;
    }
    let parsed = P::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    Ok((parsed, loaded))
}

/// `--config FILE` of `serve`.
fn config_arg() -> Arg {
    Arg::new(CONFIG_ARG)
        .long(CONFIG_ARG)
        .env("OUTPOST_CONFIG")
        .value_name("FILE")
        .value_parser(clap::value_parser!(PathBuf))
        .help(
            "Read settings from this TOML file: the flags' names without dashes \
             (public-url = \"https://…\", demo = true, allow-origin = [\"…\"]). A flag beats \
             its environment variable, which beats the file.",
        )
}

/// The file `--config` / `OUTPOST_CONFIG` names for `serve`, found by a lenient first parse
/// (the strict one comes after the file's settings are in place).
fn config_path(command: &Command, argv: &[OsString]) -> Option<PathBuf> {
    let matches = command
        .clone()
        .ignore_errors(true)
        .try_get_matches_from(argv)
        .ok()?;
    matches
        .subcommand_matches(SUBCOMMAND)?
        .get_one::<PathBuf>(CONFIG_ARG)
        .cloned()
}

/// One key of the file: the flag it sets and the default it gives it.
#[derive(Debug)]
struct Setting {
    /// The flag's id.
    id: String,
    /// Whether it is a flag of the top-level command (`log-format`) rather than of `serve`.
    top_level: bool,
    /// Its values, as they would be written on the command line.
    values: Vec<String>,
}

impl Setting {
    /// `command` with this setting as its flag's default value.
    fn apply(&self, command: Command) -> Command {
        let values = self.values.clone();
        let set = move |arg: Arg| match values.as_slice() {
            [one] => arg.default_value(one.clone()),
            many => arg.default_values(many.to_vec()),
        };
        if self.top_level {
            command.mut_arg(&self.id, set)
        } else {
            command.mut_subcommand(SUBCOMMAND, |serve| serve.mut_arg(&self.id, set))
        }
    }
}

/// The settings of one file, checked.
struct SettingsFile {
    settings: Vec<Setting>,
    warnings: Vec<String>,
}

/// Reads and checks the file at `path` against the flags of `serve` (and the global flags of
/// `root`).
fn read_settings(path: &Path, serve: &Command, root: &Command) -> anyhow::Result<SettingsFile> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {shown}"))?;
    let document = toml_span::parse(&text).map_err(|error| {
        anyhow!(
            "{shown}:{}: not TOML: {error}",
            line_of(&text, error.span.start)
        )
    })?;
    let Some(table) = document.as_table() else {
        bail!("{shown}: not a TOML table of settings");
    };
    let mut settings = Vec::new();
    let mut secrets = Vec::new();
    for (key, value) in table {
        let name = key.name.as_ref();
        let at = format!("{shown}:{}", line_of(&text, key.span.start));
        let (arg, top_level) = find_flag(serve, root, name).ok_or_else(|| {
            anyhow!(
                "{at}: unknown setting `{name}` (the settings are the flags of `outpost serve \
                 --help`, without their dashes)"
            )
        })?;
        let values = values_of(arg, value.as_ref())
            .and_then(|values| {
                check_values(arg, &values)
                    .map(|()| values)
                    // A secret's value is not repeated in an error message.
                    .map_err(|why| {
                        if arg.is_hide_env_values_set() {
                            "not a valid value".to_owned()
                        } else {
                            why
                        }
                    })
            })
            .map_err(|why| anyhow!("{at}: bad value for the setting `{name}`: {why}"))?;
        if arg.is_hide_env_values_set() {
            secrets.push(name.to_owned());
        }
        settings.push(Setting {
            id: arg.get_id().as_str().to_owned(),
            top_level,
            values,
        });
    }
    let mut warnings = Vec::new();
    if !secrets.is_empty() && readable_by_others(path)? {
        warnings.push(format!(
            "the config file {shown} holds a secret ({}) and other users may read it: make it \
             readable by its owner only (chmod 600), or give the secret in the environment",
            secrets.join(", ")
        ));
    }
    Ok(SettingsFile { settings, warnings })
}

/// The flag of `serve` named `name` (its long name), else a global flag of `root`; whether it
/// is `root`'s.
fn find_flag<'a>(serve: &'a Command, root: &'a Command, name: &str) -> Option<(&'a Arg, bool)> {
    let named = |arg: &&Arg| arg.get_long() == Some(name) && arg.get_id() != CONFIG_ARG;
    let settable = |arg: &Arg| {
        matches!(
            arg.get_action(),
            ArgAction::Set | ArgAction::Append | ArgAction::SetTrue
        )
    };
    serve
        .get_arguments()
        .find(named)
        .filter(|arg| settable(arg))
        .map(|arg| (arg, false))
        .or_else(|| {
            root.get_arguments()
                .filter(|arg| arg.is_global_set())
                .find(named)
                .filter(|arg| settable(arg))
                .map(|arg| (arg, true))
        })
}

/// The command-line values a TOML value stands for, given the flag's kind.
fn values_of(arg: &Arg, value: &ValueInner<'_>) -> Result<Vec<String>, String> {
    match (arg.get_action(), value) {
        (ArgAction::SetTrue, ValueInner::Boolean(on)) => Ok(vec![on.to_string()]),
        (ArgAction::SetTrue, other) => Err(format!("expected a boolean, found {}", kind(other))),
        (ArgAction::Append, ValueInner::Array(items)) if !items.is_empty() => {
            items.iter().map(|item| scalar(item.as_ref())).collect()
        }
        (ArgAction::Append, ValueInner::Array(_)) => Err("expected at least one value".into()),
        (_, ValueInner::Array(_)) => Err("expected one value, found an array".into()),
        (_, other) => scalar(other).map(|text| vec![text]),
    }
}

/// A string, number or boolean as written on the command line.
fn scalar(value: &ValueInner<'_>) -> Result<String, String> {
    match value {
        ValueInner::String(text) => Ok(text.to_string()),
        ValueInner::Integer(number) => Ok(number.to_string()),
        ValueInner::Float(number) => Ok(number.to_string()),
        ValueInner::Boolean(on) => Ok(on.to_string()),
        other => Err(format!(
            "expected a string or a number, found {}",
            kind(other)
        )),
    }
}

/// A TOML value's kind, with its article.
fn kind(value: &ValueInner<'_>) -> &'static str {
    match value {
        ValueInner::String(_) => "a string",
        ValueInner::Integer(_) => "an integer",
        ValueInner::Float(_) => "a float",
        ValueInner::Boolean(_) => "a boolean",
        ValueInner::Array(_) => "an array",
        ValueInner::Table(_) => "a table",
    }
}

/// Runs `arg`'s own value parser on each value, as the command line would.
fn check_values(arg: &Arg, values: &[String]) -> Result<(), String> {
    if matches!(arg.get_action(), ArgAction::SetTrue) {
        return Ok(());
    }
    let long = arg.get_long().unwrap_or(CONFIG_ARG);
    let mut probe = Command::new("config")
        .no_binary_name(true)
        .disable_help_flag(true)
        .arg(
            Arg::new("value")
                .long(long.to_owned())
                .action(ArgAction::Append)
                .allow_hyphen_values(true)
                .value_parser(arg.get_value_parser().clone()),
        );
    for value in values {
        probe
            .try_get_matches_from_mut([format!("--{long}={value}")])
            .map_err(|error| format!("{value:?}: {}", reason(&error)))?;
    }
    Ok(())
}

/// Why a value parser refused a value, without clap's usage lines.
fn reason(error: &clap::Error) -> String {
    if let Some(source) = std::error::Error::source(error) {
        return source.to_string();
    }
    if let Some(ContextValue::Strings(valid)) = error.get(ContextKind::ValidValue) {
        return format!("expected one of {}", valid.join(", "));
    }
    error.kind().to_string()
}

/// Refuses a setting of the file at `path` that conflicts with another flag in effect (from
/// the file, the environment or the command line), as clap refuses two such flags.
fn check_conflicts(
    serve: &Command,
    matches: &ArgMatches,
    settings: &[Setting],
    path: &Path,
) -> anyhow::Result<()> {
    let from_file = |arg: &Arg| {
        matches.value_source(arg.get_id().as_str()) == Some(ValueSource::DefaultValue)
            && settings.iter().any(|s| s.id == arg.get_id().as_str())
    };
    let in_effect = |arg: &Arg| {
        let given = match matches.value_source(arg.get_id().as_str()) {
            Some(ValueSource::CommandLine | ValueSource::EnvVariable) => true,
            Some(ValueSource::DefaultValue) => from_file(arg),
            _ => false,
        };
        given
            && (!matches!(arg.get_action(), ArgAction::SetTrue)
                || matches.get_flag(arg.get_id().as_str()))
    };
    for setting in serve
        .get_arguments()
        .filter(|a| from_file(a) && in_effect(a))
    {
        for other in serve.get_arguments().filter(|a| in_effect(a)) {
            let names = |of: &Arg, wanted: &Arg| {
                serve
                    .get_arg_conflicts_with(of)
                    .iter()
                    .any(|a| a.get_id() == wanted.get_id())
            };
            let conflict = other.get_id() != setting.get_id()
                && (names(setting, other) || names(other, setting));
            if conflict {
                let name = setting.get_long().unwrap_or_default();
                let other_name = other.get_long().unwrap_or_default();
                bail!(
                    "{}: the setting `{name}` cannot be used with `{other_name}` (given {})",
                    path.display(),
                    match matches.value_source(other.get_id().as_str()) {
                        Some(ValueSource::CommandLine) => "on the command line",
                        Some(ValueSource::EnvVariable) => "in the environment",
                        _ => "in the same file",
                    }
                );
            }
        }
    }
    Ok(())
}

/// Whether users other than the file's owner may read it.
#[cfg(unix)]
fn readable_by_others(path: &Path) -> anyhow::Result<bool> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?
        .permissions()
        .mode();
    Ok(mode & 0o044 != 0)
}

/// Whether users other than the file's owner may read it (not known here: no warning).
#[cfg(not(unix))]
fn readable_by_others(_path: &Path) -> anyhow::Result<bool> {
    Ok(false)
}

/// The 1-based line of the byte `offset` of `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()
        .iter()
        .take(offset)
        .filter(|byte| **byte == b'\n')
        .count()
        + 1
}
