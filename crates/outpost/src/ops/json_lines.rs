//! Request lines in JSON, written straight into the log writer's batches.
//!
//! Every request logs one line (`ops/request_log.rs`, target `outpost::request`): the bulk of
//! a busy server's log. Through `tracing` that line costs an event dispatch, a visitor call per
//! field and a formatter that checks, escapes and copies each field name and value on its own:
//! about 5,700 instructions of a stateless `tools/call` (callgrind) with the leanest formatter
//! we could write, against ~2,400 written here. Once [`write_request_lines_to`] names a
//! [`BatchedLogWriter`], the request log writes its typed line here instead: the field names
//! are literals, each value is escaped only when it needs it, and the line is appended to the
//! writer's batch in one copy. Every other event still goes through `tracing` to whatever
//! subscriber the application installed.
//!
//! The object is the one tracing-subscriber's JSON formatter writes for the same event outside
//! spans: `{"timestamp":…,"level":"INFO","fields":{"message":"request",…},"target":…}`, the
//! timestamp as tracing-subscriber's own `SystemTime` writes it, strings escaped as serde_json
//! escapes them, numbers as JSON numbers, absent fields left out. The tests hold both to the
//! same objects. The `OUTPOST_LOG`-style filter the subscriber applies still decides:
//! a line is written only while `tracing` would log an INFO event of its target. What the
//! direct line leaves out is the span the request may run in (`outpost serve` enters none on
//! the request path; an application that wraps the router in spans of its own and wants them
//! on its request lines leaves this off).

use std::{
    cell::{Cell, RefCell},
    fmt::{self, Write},
    sync::OnceLock,
    time::{SystemTime, UNIX_EPOCH},
};

use tracing_subscriber::fmt::{format::Writer, time::FormatTime};

use super::{
    log_writer::BatchedLogWriter,
    request_log::{REQUEST_LOG_TARGET, RequestLine},
};

/// A line buffer kept by a thread longer than this is given back rather than reused.
const KEPT_LINE_CAPACITY: usize = 4096;

/// Where request lines go, once [`write_request_lines_to`] has named it.
static DESTINATION: OnceLock<BatchedLogWriter> = OnceLock::new();

thread_local! {
    /// This thread's line buffer: a line is built in it with plain pushes, then appended to
    /// the writer's batch in one call.
    static LINE: Cell<String> = const { Cell::new(String::new()) };
    /// The second this thread last wrote a timestamp in, and its `YYYY-MM-DDTHH:MM:SS`.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// Request lines already go to a log writer: they can be sent to one only, once per process.
#[derive(Debug, thiserror::Error)]
#[error("request lines are already written to a log writer")]
pub struct RequestLinesAlreadyDirected;

/// Writes every request line from now on as JSON into `writer`'s batches, not through
/// `tracing` (see the [module docs](self)); call it beside installing the subscriber that
/// writes everything else to the same writer, once per process.
///
/// ```
/// let (writer, _flush_on_exit) = outpost::log_writer::BatchedLogWriter::new(std::io::stderr());
/// outpost::json_lines::write_request_lines_to(writer.clone())?;
/// tracing_subscriber::fmt().json().with_writer(writer).init();
/// # Ok::<(), outpost::json_lines::RequestLinesAlreadyDirected>(())
/// ```
///
/// # Errors
/// [`RequestLinesAlreadyDirected`] if an earlier call named a writer (which keeps them).
pub fn write_request_lines_to(writer: BatchedLogWriter) -> Result<(), RequestLinesAlreadyDirected> {
    DESTINATION
        .set(writer)
        .map_err(|_| RequestLinesAlreadyDirected)
}

/// Writes `line` to the writer [`write_request_lines_to`] named, if `tracing`'s subscriber
/// would log it; `false` when no writer was named (the caller logs it through `tracing`).
pub(crate) fn write(line: &RequestLine<'_>) -> bool {
    let Some(destination) = DESTINATION.get() else {
        return false;
    };
    if tracing::enabled!(target: REQUEST_LOG_TARGET, tracing::Level::INFO) {
        let mut text = LINE.take();
        text.clear();
        push_line(&mut text, line, SystemTime::now());
        destination.append_request_line(text.as_bytes());
        if text.capacity() <= KEPT_LINE_CAPACITY {
            LINE.set(text);
        }
    }
    true
}

/// Pushes `line`, logged at `now`, as one JSON object and a newline.
fn push_line(out: &mut String, line: &RequestLine<'_>, now: SystemTime) {
    out.push_str("{\"timestamp\":\"");
    push_timestamp(out, now);
    out.push_str("\",\"level\":\"INFO\",\"fields\":{\"message\":\"request\",\"request_id\":");
    push_string(out, line.request_id);
    out.push_str(",\"method\":");
    push_string(out, line.method);
    out.push_str(",\"route\":");
    push_string(out, line.route);
    for (name, value) in [
        (",\"mcp_method\":", line.mcp_method),
        (",\"tool\":", line.tool),
        (",\"subject\":", line.subject),
        (",\"client_id\":", line.client_id),
    ] {
        if let Some(value) = value {
            out.push_str(name);
            push_string(out, value);
        }
    }
    out.push_str(",\"status\":");
    push_u64(out, u64::from(line.status));
    out.push_str(",\"latency_ms\":");
    push_f64(out, line.latency_ms);
    out.push_str("},\"target\":\"");
    out.push_str(REQUEST_LOG_TARGET);
    out.push_str("\"}\n");
}

/// Pushes `now` as tracing-subscriber's `SystemTime` writes it (RFC 3339, UTC, microseconds:
/// `2026-12-06T13:22:01.123456Z`), formatting the date and time of day once per second.
fn push_timestamp(line: &mut String, now: SystemTime) {
    let Ok(since_epoch) = now.duration_since(UNIX_EPOCH) else {
        // Before 1970: rare enough for the general formatter (which cannot fail on a String).
        let _ = tracing_subscriber::fmt::time::SystemTime.format_time(&mut Writer::new(line));
        return;
    };
    let seconds = since_epoch.as_secs();
    SECOND.with_borrow_mut(|(cached, text)| {
        if *cached != seconds {
            text.clear();
            write_date_time(text, seconds);
            *cached = seconds;
        }
        line.push_str(text);
    });
    line.push('.');
    push_padded(line, since_epoch.subsec_micros(), 6);
    line.push('Z');
}

/// `YYYY-MM-DDTHH:MM:SS` of `seconds` since the Unix epoch, in UTC (the proleptic Gregorian
/// calendar, as tracing-subscriber writes it; a year past 9999 gets a `+`).
fn write_date_time(out: &mut String, seconds: u64) {
    let days = seconds / 86_400;
    let of_day = seconds % 86_400;
    // Days to a civil date (Howard Hinnant's `civil_from_days`), from 0000-03-01 eras.
    let days = days + 719_468;
    let era = days / 146_097;
    let of_era = days % 146_097;
    let year_of_era = (of_era - of_era / 1460 + of_era / 36_524 - of_era / 146_096) / 365;
    let day_of_year = of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    // Writing to a String cannot fail.
    let _ = if year > 9999 {
        write!(out, "+{year}")
    } else {
        write!(out, "{year:04}")
    };
    let _ = write!(
        out,
        "-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    );
}

/// `value` in decimal, left-padded with zeros to `width` digits.
fn push_padded(out: &mut String, value: u32, width: usize) {
    let mut digits = [0; 20];
    let written = decimal(u64::from(value), &mut digits);
    for _ in written.len()..width {
        out.push('0');
    }
    out.push_str(written);
}

/// `value` in decimal.
fn push_u64(out: &mut String, value: u64) {
    let mut digits = [0; 20];
    out.push_str(decimal(value, &mut digits));
}

/// `value`'s decimal digits, written at the end of `digits` (20 hold any `u64`).
fn decimal(value: u64, digits: &mut [u8; 20]) -> &str {
    let mut at = digits.len();
    let mut rest = value;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    std::str::from_utf8(&digits[at..]).unwrap_or_default()
}

/// The largest number of thousandths [`push_f64`] writes itself.
const MAX_THOUSANDTHS: f64 = 1e12;

/// Pushes `value` as serde_json writes an `f64`: the shortest decimal that reads back as
/// the same number, with a fraction or an exponent; `null` for NaN and the infinities, which
/// JSON lacks. Whole thousandths (a request's latency in milliseconds is microseconds / 1000)
/// are written digit by digit: for them the shortest decimal is the thousandths themselves.
fn push_f64(out: &mut String, value: f64) {
    if !value.is_finite() {
        out.push_str("null");
        return;
    }
    let thousandths = (value * 1000.0).round();
    if value.is_sign_positive() && thousandths < MAX_THOUSANDTHS && thousandths / 1000.0 == value {
        // Exact below 2^53: `thousandths` is a whole number under 10^12.
        let thousandths = thousandths as u64;
        push_u64(out, thousandths / 1000);
        out.push('.');
        let fraction = (thousandths % 1000) as u32;
        match fraction {
            0 => out.push('0'),
            _ if fraction.is_multiple_of(100) => push_padded(out, fraction / 100, 1),
            _ if fraction.is_multiple_of(10) => push_padded(out, fraction / 10, 2),
            _ => push_padded(out, fraction, 3),
        }
    } else {
        let _ = write!(out, "{}", serde_json::Value::from(value));
    }
}

/// Pushes `text` as a JSON string.
fn push_string(out: &mut String, text: &str) {
    out.push('"');
    // Plain text (the common case) is pushed whole by the escaper itself.
    let _ = Escaped(&mut *out).write_str(text);
    out.push('"');
}

/// Whether `text` holds nothing serde_json escapes inside a string: eight bytes at a time,
/// as serde_json's own reader looks for escapes.
fn is_plain(text: &str) -> bool {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH_BITS: u64 = u64::from_ne_bytes([0x80; 8]);
    /// Whether a byte of `word` is zero (exact for the word as a whole).
    fn has_zero_byte(word: u64) -> bool {
        word.wrapping_sub(ONES) & !word & HIGH_BITS != 0
    }
    let mut chunks = text.as_bytes().chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_ne_bytes(word);
        // A byte below 0x20 borrows into its high bit; a quote or backslash XORs to zero.
        let control = word.wrapping_sub(ONES * 0x20) & !word & HIGH_BITS != 0;
        if control
            || has_zero_byte(word ^ (ONES * u64::from(b'"')))
            || has_zero_byte(word ^ (ONES * u64::from(b'\\')))
        {
            return false;
        }
    }
    !chunks.remainder().iter().copied().any(needs_escape)
}

/// Whether serde_json escapes `byte` inside a string.
fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// Escapes what is written through it as serde_json escapes string contents: `"`, `\` and the
/// control characters below U+0020 (`\b \t \n \f \r` by name, the rest as `\u00xx`); text
/// with none of them ([`is_plain`]) is written in one call.
struct Escaped<'a, W: ?Sized>(&'a mut W);

impl<W: Write + ?Sized> Write for Escaped<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        if is_plain(text) {
            return self.0.write_str(text);
        }
        let mut clean_from = 0;
        for (at, byte) in text.bytes().enumerate() {
            let named = match byte {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                0x08 => "\\b",
                b'\t' => "\\t",
                b'\n' => "\\n",
                0x0c => "\\f",
                b'\r' => "\\r",
                0x00..=0x1f => "",
                _ => continue,
            };
            self.0.write_str(&text[clean_from..at])?;
            if named.is_empty() {
                write!(self.0, "\\u{byte:04x}")?;
            } else {
                self.0.write_str(named)?;
            }
            clean_from = at + 1;
        }
        self.0.write_str(&text[clean_from..])
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use serde_json::Value;
    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    fn escaped(text: &str) -> String {
        let mut out = String::new();
        push_string(&mut out, text);
        out
    }

    #[test]
    fn numbers_are_written_as_serde_json_writes_them() {
        let mut values: Vec<f64> = (0..20_000).map(|micros| micros as f64 / 1000.0).collect();
        values.extend([
            123_456_789.012,
            999_999_999.999,
            1e12,
            1e-7,
            0.1 + 0.2,
            -0.5,
            -0.0,
            12345678.5,
            f64::MAX,
            f64::MIN_POSITIVE,
        ]);
        for value in values {
            let mut out = String::new();
            push_f64(&mut out, value);
            assert_eq!(out, serde_json::to_string(&value).unwrap(), "{value:?}");
        }
        let mut out = String::new();
        push_f64(&mut out, f64::NAN);
        assert_eq!(out, "null");
    }

    #[test]
    fn integers_are_written_in_decimal() {
        for value in [0, 7, 10, 99, 100, 65_535, 1_000_000, u64::MAX] {
            let mut out = String::new();
            push_u64(&mut out, value);
            assert_eq!(out, value.to_string());
        }
        let mut out = String::new();
        push_padded(&mut out, 42, 6);
        assert_eq!(out, "000042");
    }

    #[test]
    fn every_byte_that_needs_escaping_is_found_wherever_it_stands() {
        for byte in 0..=0x7f_u8 {
            for at in 0..20 {
                let mut text = "x".repeat(20);
                text.replace_range(at..=at, char::from(byte).encode_utf8(&mut [0; 4]));
                assert_eq!(is_plain(&text), !needs_escape(byte), "{byte:#x} at {at}");
            }
        }
        assert!(is_plain("é ✓ 𝄞 and more than eight bytes"));
    }

    #[test]
    fn timestamps_are_written_as_tracing_subscriber_writes_them() {
        for (seconds, expected) in [
            (0, "1970-01-01T00:00:00"),
            (951_782_400, "2000-02-29T00:00:00"),
            (1_796_561_934, "2026-12-06T12:58:54"),
            (4_107_542_399, "2100-02-28T23:59:59"),
            (253_402_300_799, "9999-12-31T23:59:59"),
            (253_402_300_800, "+10000-01-01T00:00:00"),
        ] {
            let mut out = String::new();
            write_date_time(&mut out, seconds);
            assert_eq!(out, expected);
        }
        // And now, against tracing-subscriber itself (again if the second turned meanwhile).
        loop {
            let now = SystemTime::now();
            let mut theirs = String::new();
            tracing_subscriber::fmt::time::SystemTime
                .format_time(&mut Writer::new(&mut theirs))
                .unwrap();
            let mut ours = String::new();
            push_timestamp(&mut ours, now);
            if theirs[..19] == ours[..19] {
                assert_eq!(ours.len(), theirs.len(), "{ours} / {theirs}");
                assert!(ours.ends_with('Z') && ours.as_bytes()[19] == b'.');
                break;
            }
        }
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        for text in [
            "plain",
            "quote \" backslash \\ slash /",
            "\u{0}\u{1}\u{8}\t\n\u{b}\u{c}\r\u{1f} \u{7f}",
            "é ✓ 𝄞",
            "",
        ] {
            assert_eq!(
                escaped(text),
                serde_json::to_string(text).unwrap(),
                "{text:?}"
            );
        }
    }

    /// Lines written into a shared buffer.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    impl Captured {
        /// The lines written, each parsed, without their timestamps (which must be there).
        fn objects(&self) -> Vec<Value> {
            let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
            text.lines()
                .map(|line| {
                    let mut object: Value = serde_json::from_str(line)
                        .unwrap_or_else(|error| panic!("{error}: {line}"));
                    let timestamp = object.as_object_mut().unwrap().remove("timestamp");
                    assert!(
                        timestamp.is_some_and(|t| t.as_str().is_some_and(|t| t.ends_with('Z')))
                    );
                    object
                })
                .collect()
        }
    }

    /// Request lines with awkward values.
    fn lines() -> Vec<RequestLine<'static>> {
        [
            ("abc-1", "/mcp", Some("alice"), 0.123),
            ("q\"uote\\back", "/ctl\u{1}\n\t\r", None, 2.0),
            ("unicode-é✓", "/𝄞", Some("b o b"), 1e-7),
            ("big", "/", Some(""), 12345678.5),
        ]
        .into_iter()
        .map(|(request_id, route, subject, latency_ms)| RequestLine {
            request_id,
            method: "POST",
            route,
            mcp_method: Some("tools/call"),
            tool: subject.map(|_| "echo"),
            subject,
            client_id: subject.map(|_| "client"),
            status: 200,
            latency_ms,
        })
        .collect()
    }

    #[test]
    fn request_lines_are_the_objects_tracing_subscribers_json_formatter_writes() {
        let general = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(general.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            for line in lines() {
                line.emit();
            }
        });

        let direct = Captured::default();
        for line in lines() {
            let mut text = String::new();
            push_line(&mut text, &line, SystemTime::now());
            std::io::Write::write_all(&mut direct.clone(), text.as_bytes()).unwrap();
        }

        let (general, direct) = (general.objects(), direct.objects());
        assert_eq!(general.len(), 4);
        assert_eq!(direct, general);
        assert_eq!(direct[1]["fields"]["route"], "/ctl\u{1}\n\t\r");
        assert!(direct[1]["fields"].get("subject").is_none());
    }
}
