//! `eip-log`: how every kube-eip binary logs.
//!
//! In: the binary's `--log-format` ([`LogFormat`], a clap value), whether stderr is a
//! terminal, `NO_COLOR` and `RUST_LOG`. Out: one tracing subscriber writing to stderr,
//! human-readable text (coloured only on a terminal and never with `NO_COLOR`) or one JSON
//! object per line ([`init`]); [`chain`], an error with its causes as one line
//! (`a: b: c`), for log fields and for messages printed on exit; and [`exit_code`], which
//! logs the error a binary's run ended with and turns it into the exit code.

use std::error::Error;
use std::ffi::OsStr;
use std::fmt;
use std::io::IsTerminal as _;
use std::sync::{Arc, Mutex, PoisonError};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::{SubscriberInitExt as _, TryInitError};

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Lines for people: time, level, target, message and fields.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Whether to write colour: only to a terminal, and never when `NO_COLOR` is set to
/// anything but the empty string (<https://no-color.org>).
pub fn colour(is_terminal: bool, no_color: Option<&OsStr>) -> bool {
    is_terminal && no_color.is_none_or(OsStr::is_empty)
}

/// A subscriber writing `format` to `writer`, keeping what `filter` (`RUST_LOG` syntax)
/// lets through; `colour` applies to text only (JSON is never coloured).
pub fn subscriber<W>(
    format: LogFormat,
    colour: bool,
    filter: EnvFilter,
    writer: W,
) -> Box<dyn tracing::Subscriber + Send + Sync + 'static>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let layer = tracing_subscriber::fmt::layer().with_writer(writer);
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Text => Box::new(registry.with(layer.with_ansi(colour))),
        LogFormat::Json => Box::new(registry.with(layer.json().with_ansi(false))),
    }
}

/// Install the process's subscriber: `format` on stderr, filtered by `RUST_LOG` (or
/// `default_filter` when it is unset or invalid), coloured as [`colour`] decides for
/// stderr. Records of the `log` crate (actix) are included. Once per process: a second
/// call leaves the first subscriber in place.
pub fn init(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let colour = colour(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    // the only failure is a subscriber already installed, which then stays
    let _already: Result<(), TryInitError> =
        subscriber(format, colour, filter, std::io::stderr).try_init();
}

/// What a binary's `main` returns after its run (a `Result<(), E>` with `E: Error`):
/// success, or failure once the error has been logged with its causes, at error level, as
/// `error` = [`chain`] with the message `{binary} stopped`. A macro, so that the line's
/// target is the binary's own (`RUST_LOG=eip_agent=info` still shows it):
/// `eip_log::exit_code!("eip-agent", eip_agent::cli::run(args).await)`.
#[macro_export]
macro_rules! exit_code {
    ($binary:literal, $result:expr) => {
        match $result {
            ::std::result::Result::Ok(()) => ::std::process::ExitCode::SUCCESS,
            ::std::result::Result::Err(e) => {
                $crate::__tracing::error!(
                    error = %$crate::chain(&e),
                    ::std::concat!($binary, " stopped")
                );
                ::std::process::ExitCode::FAILURE
            }
        }
    };
}

#[doc(hidden)]
pub use tracing as __tracing;

/// An error and its causes as one line, `a: b: c`: see [`chain`].
#[derive(Debug, Clone, Copy)]
pub struct Chain<'a>(&'a (dyn Error + 'a));

/// `err` and each of its [`source`](Error::source)s, joined by `": "`. A cause whose text
/// the message before it already contains as whole words (an error that prints its cause
/// itself) is not repeated, and an empty one is skipped. Log it as `error = %eip_log::chain(&e)`.
pub fn chain<'a>(err: &'a (dyn Error + 'a)) -> Chain<'a> {
    Chain(err)
}

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut before = self.0.to_string();
        f.write_str(&before)?;
        let mut next = self.0.source();
        while let Some(cause) = next {
            let text = cause.to_string();
            if !mentions(&before, &text) {
                write!(f, ": {text}")?;
            }
            before = text;
            next = cause.source();
        }
        Ok(())
    }
}

/// Whether `text` is empty or appears in `message` not as part of a longer word.
fn mentions(message: &str, text: &str) -> bool {
    let word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    text.is_empty()
        || message.match_indices(text).any(|(at, _)| {
            let (head, tail) = message.split_at(at);
            !word(head.chars().next_back()) && !word(tail[text.len()..].chars().next())
        })
}

/// Log lines kept in memory, for tests: the writer half of [`capture`].
#[derive(Debug, Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }

    /// Forget everything written so far.
    pub fn clear(&self) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// For tests: until the guard is dropped, what this thread logs through `filter`
/// (`RUST_LOG` syntax) is written, uncoloured, in `format` to the returned buffer.
pub fn capture(format: LogFormat, filter: &str) -> (Captured, tracing::subscriber::DefaultGuard) {
    let out = Captured::default();
    let writer = out.clone();
    let sub = subscriber(format, false, EnvFilter::new(filter), move || {
        writer.clone()
    });
    (out, tracing::subscriber::set_default(sub))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct E(&'static str, Option<Box<E>>);

    impl fmt::Display for E {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for E {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|e| e as &(dyn Error + 'static))
        }
    }

    fn e(msg: &'static str, cause: Option<E>) -> E {
        E(msg, cause.map(Box::new))
    }

    #[test]
    fn chain_joins_each_cause_once() {
        for (err, want) in [
            (e("a", None), "a"),
            (e("a", Some(e("b", Some(e("c", None))))), "a: b: c"),
            // an error that prints its cause itself: the cause is not repeated
            (
                e("failed to call X: timed out", Some(e("timed out", None))),
                "failed to call X: timed out",
            ),
            (e("a: b: c", Some(e("b: c", Some(e("c", None))))), "a: b: c"),
            (
                e(
                    "failed (timed out) twice",
                    Some(e("timed out", Some(e("c", None)))),
                ),
                "failed (timed out) twice: c",
            ),
            // ... as whole words only
            (e("bad request", Some(e("a", None))), "bad request: a"),
            // an empty cause adds nothing
            (e("a", Some(e("", Some(e("c", None))))), "a: c"),
        ] {
            assert_eq!(chain(&err).to_string(), want);
        }
        let io = std::io::Error::other(e("outer", Some(e("inner", None))));
        assert_eq!(chain(&io).to_string(), "outer: inner");
    }

    #[test]
    fn a_failed_run_exits_1_after_logging_its_chain() {
        use std::process::ExitCode;
        // the line's target is the caller's module, as RUST_LOG names it
        let (out, _guard) = capture(LogFormat::Text, "eip_log::tests=error");
        let ok: Result<(), E> = Ok(());
        assert_eq!(exit_code!("eip-test", ok), ExitCode::SUCCESS);
        assert_eq!(out.text(), "");
        let failed = exit_code!("eip-test", Err(e("a", Some(e("b", None)))));
        assert_eq!(failed, ExitCode::FAILURE);
        let text = out.text();
        assert!(text.contains("ERROR eip_log::tests:"), "{text}");
        assert!(text.contains("eip-test stopped error=a: b"), "{text}");
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        let set = |v: &'static str| Some(OsStr::new(v));
        for (terminal, no_color, want) in [
            (true, None, true),
            (true, set(""), true),
            (true, set("1"), false),
            (true, set("false"), false),
            (false, None, false),
            (false, set(""), false),
            (false, set("1"), false),
        ] {
            assert_eq!(colour(terminal, no_color), want, "{terminal} {no_color:?}");
        }
    }

    #[test]
    fn json_lines_parse_and_carry_the_chain() {
        let (out, _guard) = capture(LogFormat::Json, "info");
        let err = e("a", Some(e("b", None)));
        tracing::info!(error = %chain(&err), pod = "ns/p", "step failed");
        tracing::debug!("filtered out");
        let text = out.text();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
        // no JSON parser among this crate's dependencies: check the fields as written
        assert!(
            text.starts_with('{') && text.trim_end().ends_with('}'),
            "{text}"
        );
        assert!(text.contains(r#""level":"INFO""#), "{text}");
        assert!(text.contains(r#""error":"a: b""#), "{text}");
        assert!(text.contains(r#""message":"step failed""#), "{text}");
    }

    #[test]
    fn text_is_coloured_only_when_asked() {
        for (colour, escapes) in [(false, false), (true, true)] {
            let out = Captured::default();
            let writer = out.clone();
            let sub = subscriber(LogFormat::Text, colour, EnvFilter::new("info"), move || {
                writer.clone()
            });
            tracing::subscriber::with_default(sub, || tracing::warn!(n = 1, "hello"));
            let text = out.text();
            assert!(text.contains("hello"), "{text}");
            assert_eq!(text.contains('\u{1b}'), escapes, "{text:?}");
        }
    }
}
