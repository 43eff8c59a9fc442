//! Request lines in JSON for a fraction of what the general JSON formatter costs.
//!
//! Every request logs one line (`ops/request_log.rs`, target `outpost::request`). With
//! tracing-subscriber's JSON formatter that line was the largest single cost of a stateless
//! `tools/call`: it serializes through serde and an `io::Write` adaptor that re-checks UTF-8 on
//! every write — about 20,000 instructions per line (callgrind), a fifth of the whole request.
//! [`JsonRequestLines`] writes the same object straight into the line buffer; every other
//! event, and a request line inside a span, goes to the formatter it wraps.
//!
//! The object is the one tracing-subscriber writes by default for an event outside spans:
//! `{"timestamp":…,"level":…,"fields":{"message":…,…},"target":…}`, the timestamp by
//! tracing-subscriber's own `SystemTime`, strings escaped as serde_json escapes them, numbers
//! as JSON numbers. `tests/json_lines.rs` holds both formatters to the same objects.

use std::fmt::{self, Debug, Write};

use tracing::{
    Event, Subscriber,
    field::{Field, Visit},
};
use tracing_subscriber::{
    fmt::{
        FmtContext, FormatEvent, FormatFields,
        format::Writer,
        time::{FormatTime, SystemTime},
    },
    registry::LookupSpan,
};

/// The target of the per-request lines this formatter writes itself.
const REQUEST_TARGET: &str = "outpost::request";

/// A tracing-subscriber event formatter that writes Outpost's request lines as JSON itself
/// and hands every other event to `fallback` (normally `tracing_subscriber::fmt::format().json()`).
///
/// ```no_run
/// use outpost::json_lines::JsonRequestLines;
///
/// tracing_subscriber::fmt()
///     .json()
///     .event_format(JsonRequestLines::new(tracing_subscriber::fmt::format().json()))
///     .init();
/// ```
#[derive(Debug, Clone)]
pub struct JsonRequestLines<F> {
    fallback: F,
}

impl<F> JsonRequestLines<F> {
    /// Request lines written directly, everything else by `fallback`.
    pub fn new(fallback: F) -> Self {
        Self { fallback }
    }
}

impl<S, N, F> FormatEvent<S, N> for JsonRequestLines<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        if meta.target() != REQUEST_TARGET
            || event.parent().is_some()
            || ctx.lookup_current().is_some()
        {
            return self.fallback.format_event(ctx, writer, event);
        }
        writer.write_str("{\"timestamp\":\"")?;
        SystemTime.format_time(&mut writer)?;
        write!(writer, "\",\"level\":\"{}\",\"fields\":{{", meta.level())?;
        let mut fields = FieldsObject {
            out: &mut writer,
            first: true,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_str("},\"target\":")?;
        write_string(&mut writer, meta.target())?;
        writer.write_str("}\n")
    }
}

/// Writes an event's fields as the members of a JSON object.
struct FieldsObject<'a, W> {
    out: &'a mut W,
    first: bool,
    result: fmt::Result,
}

impl<W: Write> FieldsObject<'_, W> {
    /// Writes `"name":` and then the value by `value`.
    fn member(&mut self, field: &Field, value: impl FnOnce(&mut W) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        let separator = if self.first { "" } else { "," };
        self.first = false;
        self.result = self
            .out
            .write_str(separator)
            .and_then(|()| write_string(self.out, field.name()))
            .and_then(|()| self.out.write_char(':'))
            .and_then(|()| value(self.out));
    }
}

impl<W: Write> Visit for FieldsObject<'_, W> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field, |out| write_string(out, value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field, |out| write!(out, "{value}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field, |out| write!(out, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field, |out| write!(out, "{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // `{:?}` keeps a fraction or an exponent, so the number reads back as a float, as
        // serde_json writes it; JSON has no NaN or infinity: serde_json writes null.
        if value.is_finite() {
            self.member(field, |out| write!(out, "{value:?}"));
        } else {
            self.member(field, |out| out.write_str("null"));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.member(field, |out| {
            out.write_char('"')?;
            write!(Escaped(&mut *out), "{value:?}")?;
            out.write_char('"')
        });
    }
}

/// `text` as a JSON string.
fn write_string(out: &mut impl Write, text: &str) -> fmt::Result {
    out.write_char('"')?;
    Escaped(&mut *out).write_str(text)?;
    out.write_char('"')
}

/// Escapes what is written through it as serde_json escapes string contents: `"`, `\` and the
/// control characters below U+0020 (`\b \t \n \f \r` by name, the rest as `\u00xx`).
struct Escaped<'a, W: ?Sized>(&'a mut W);

impl<W: Write + ?Sized> Write for Escaped<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
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
    use tracing_subscriber::fmt::{MakeWriter, format};

    use super::*;

    fn escaped(text: &str) -> String {
        let mut out = String::new();
        write_string(&mut out, text).unwrap();
        out
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

    /// Request lines as `ops/request_log.rs` writes them, with awkward values, and events
    /// that are not request lines.
    fn emit() {
        for (id, path, subject, latency) in [
            ("abc-1", "/mcp", Some("alice"), 0.123),
            ("q\"uote\\back", "/ctl\u{1}\n\t\r", None, 2.0),
            ("unicode-é✓", "/𝄞", Some("b o b"), 1e-7),
            ("big", "/", Some(""), 12345678.5),
        ] {
            tracing::info!(
                target: "outpost::request",
                request_id = id,
                method = "POST",
                route = path,
                mcp_method = Some("tools/call"),
                tool = None::<&str>,
                subject = subject,
                client_id = subject.map(|_| "client"),
                status = 200u16,
                latency_ms = latency,
                "request",
            );
        }
        tracing::warn!(target: "outpost::other", reason = "x", count = 3, "not a \"request\" line");
        let span = tracing::info_span!("inside", id = 7);
        let _entered = span.enter();
        tracing::info!(target: "outpost::request", request_id = "in-span", status = 500u16, "request");
    }

    #[test]
    fn request_lines_are_the_objects_tracing_subscribers_json_formatter_writes() {
        let general = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(general.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, emit);

        let cheap = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .event_format(JsonRequestLines::new(format().json()))
            .with_writer(cheap.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, emit);

        let (general, cheap) = (general.objects(), cheap.objects());
        assert_eq!(general.len(), 6);
        assert_eq!(cheap, general);
        assert_eq!(cheap[1]["fields"]["route"], "/ctl\u{1}\n\t\r");
        assert!(
            cheap[5].get("span").is_some(),
            "a line inside a span keeps its span"
        );
    }
}
