//! `outpost connect` as a user runs it, against the real `outpost serve --no-auth`: listing
//! and calling tools with typed `key=value`, resources, prompts, the output rules (text,
//! structured content, saved files) and each exit status.

mod common;

use std::process::{Command, Output};

use common::{OUTPOST, Server, TempDir};

/// Runs `outpost connect ARGS…` with its config directory in `home`.
fn connect(home: &TempDir, args: &[&str]) -> Output {
    Command::new(OUTPOST)
        .arg("connect")
        .args(args)
        .env("XDG_CONFIG_HOME", &home.0)
        .env("TMPDIR", &home.0)
        .output()
        .expect("run outpost connect")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn no_auth_server() -> (Server, String) {
    let server = common::start(&["--no-auth"]);
    let url = format!("{}/mcp", server.base);
    (server, url)
}

#[test]
fn without_a_command_it_names_the_server_and_lists_its_tools() {
    let (_server, url) = no_auth_server();
    let home = TempDir::new("connect-summary");
    let output = connect(&home, &[&url]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.starts_with("outpost-reference "), "{text}");
    assert!(text.contains("(MCP 2026-07-28)"), "{text}");
    assert!(text.contains("\nadd  Adds two numbers\n"), "{text}");
}

#[test]
fn key_value_arguments_are_typed_by_the_tools_schema() {
    let (_server, url) = no_auth_server();
    let home = TempDir::new("connect-call");
    let output = connect(&home, &[&url, "call", "add", "a=2", "b=3.5"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // The text content, then the structured content as JSON.
    assert!(
        stdout(&output).contains("\"sum\": 5.5"),
        "{}",
        stdout(&output)
    );

    let output = connect(
        &home,
        &[&url, "call", "echo", "--json", r#"{"message":"hi"}"#],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).contains("hi"), "{}", stdout(&output));
}

#[test]
fn resources_and_prompts_are_listed_read_and_rendered() {
    let (_server, url) = no_auth_server();
    let home = TempDir::new("connect-resources");
    let output = connect(&home, &[&url, "resources"]);
    assert!(stdout(&output).contains("test://static-text  Static Text Resource"));
    let output = connect(&home, &[&url, "read", "test://static-text"]);
    assert_eq!(
        stdout(&output),
        "This is the content of the static text resource.\n"
    );
    let output = connect(&home, &[&url, "prompts"]);
    assert!(stdout(&output).contains("test_prompt_with_arguments(arg1, arg2?)"));
    let output = connect(
        &home,
        &[&url, "prompt", "test_prompt_with_arguments", "arg1=hello"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("arg1='hello'"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn images_and_embedded_resources_are_saved_to_files_whose_paths_are_printed() {
    let (_server, url) = no_auth_server();
    let home = TempDir::new("connect-files");
    let output = connect(&home, &[&url, "call", "getTinyImage"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    let path = saved_path(&text, "[image image/png saved to ");
    let png = std::fs::read(path).expect("the saved image");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");

    // An MCP App's HTML, embedded in the tool's result, is saved to open in a browser.
    let output = connect(&home, &[&url, "call", "greeting_card", "message=hello"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    let path = saved_path(&text, "saved to ");
    assert!(path.ends_with(".html"), "{path}");
    let html = std::fs::read_to_string(path).expect("the saved app");
    assert!(html.to_ascii_lowercase().contains("<html"), "{html}");
}

fn saved_path<'a>(text: &'a str, marker: &str) -> &'a str {
    let start = text
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in {text}"))
        + marker.len();
    let end = start + text[start..].find(']').expect("closing bracket");
    &text[start..end]
}

#[test]
fn exit_status_says_what_happened() {
    let (_server, url) = no_auth_server();
    let home = TempDir::new("connect-status");
    // 1: the tool answered isError; its text is still printed.
    let output = connect(&home, &[&url, "call", "test_error_handling"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("intentionally returns an error"));
    // 2: usage — an argument that does not fit the schema, an unknown tool or command.
    let output = connect(&home, &[&url, "call", "add", "a=two", "b=1"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        "error: usage: a=two: the tool's schema wants a number\n"
    );
    let output = connect(&home, &[&url, "call", "no_such_tool"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("no tool no_such_tool"));
    let output = connect(&home, &[&url, "frobnicate"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).starts_with("error: usage: unknown command frobnicate"));
    // 2: connection — nobody listens there.
    let closed = format!("http://127.0.0.1:{}/mcp", common::free_port());
    let output = connect(&home, &[&closed, "tools"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).starts_with(&format!("error: connection failed: {closed}: ")),
        "{}",
        stderr(&output)
    );
    // 2: connection — the server's root, not its MCP endpoint: the message says where it is.
    let root = url.trim_end_matches("/mcp");
    let output = connect(&home, &[root, "tools"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(&format!("is it {root}/mcp?")),
        "{}",
        stderr(&output)
    );
}

#[test]
fn progress_notifications_draw_a_bar_on_a_terminals_stderr() {
    let (_server, url) = no_auth_server();
    let home = TempDir::new("connect-progress");
    // `script` gives the client a terminal, where indicatif draws (it stays quiet on a pipe).
    let command =
        format!("{OUTPOST} connect {url} call longRunningOperation duration=1 steps=2 2>&1");
    let output = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("XDG_CONFIG_HOME", &home.0)
        .env("TMPDIR", &home.0)
        .output()
        .expect("run outpost connect under script");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let terminal = stdout(&output);
    assert!(terminal.contains("2/2 step 2 of 2"), "{terminal}");
    assert!(
        terminal.contains("Long running operation completed"),
        "{terminal}"
    );

    // On a pipe, stderr stays empty.
    let output = connect(
        &home,
        &[
            &url,
            "call",
            "longRunningOperation",
            "duration=1",
            "steps=2",
        ],
    );
    assert_eq!(stderr(&output), "");
}

#[test]
fn an_endpoint_without_streamable_http_is_spoken_to_over_2024_11_05_sse() {
    let (server, _url) = no_auth_server();
    let home = TempDir::new("connect-legacy");
    // POST /sse answers 405: the client falls back to the HTTP+SSE transport there.
    let legacy = format!("{}/sse", server.base);
    let output = connect(&home, &[&legacy]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("(MCP 2024-11-05)"),
        "{}",
        stdout(&output)
    );
    let output = connect(&home, &[&legacy, "call", "add", "a=1", "b=2"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("\"sum\": 3.0"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn a_closed_stdout_ends_the_listing_quietly() {
    let (_server, url) = no_auth_server();
    let home = TempDir::new("connect-pipe");
    let command = format!("{OUTPOST} connect {url} tools | head -n 1");
    let output = Command::new("sh")
        .args(["-c", &command])
        .env("XDG_CONFIG_HOME", &home.0)
        .output()
        .expect("run outpost connect into head");
    assert_eq!(stdout(&output), "add  Adds two numbers\n");
    assert_eq!(stderr(&output), "", "no panic on the closed pipe");
}
