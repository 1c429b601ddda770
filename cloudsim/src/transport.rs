//! The connection in front of actix-http's HTTP/1 parser. actix answers a request head it
//! will not take (too large, malformed, never finished) with a status and an empty body,
//! written before any application code runs; every error of the real gateway carries the
//! Alibaba body instead. So each request head is read here first and checked as actix would
//! check it ([`Framer`], pure), then either passed on byte for byte or replaced by a small
//! request to [`REFUSAL_PATH`], which the app answers with the real body through
//! [`crate::api::error_response`] before the connection closes ([`Guarded`]).
//!
//! Bodies pass through unread, framed by `Content-Length` or chunked encoding so that the
//! next head on a kept-alive connection is found and checked too.

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::http::{Method, Uri};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::apierror::ApiError;

/// The largest request head (request line and header fields) taken, half actix-http's own
/// hard limit so that actix never reaches it.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// At most this many header fields (actix-http's limit).
pub const MAX_HEADERS: usize = 96;
/// How long a client may take to send a whole request head (actix-web's default), counted
/// from the connection for the first request and from its first byte for later ones.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// After a refusal, how long the client's remaining input is read and dropped before the
/// connection closes, so that closing does not reset it before it reads the answer.
const LINGER: Duration = Duration::from_millis(500);
/// ... and at most this much of it.
const LINGER_BYTES: usize = 8 << 20;

/// The path the replacement request asks for; reachable from outside too, where it finds no
/// refusal and answers `InvalidApi.NotFound` like any unknown path.
pub const REFUSAL_PATH: &str = "/.cloudsim/refused-request";

const REPLACEMENT: &[u8] =
    b"GET /.cloudsim/refused-request HTTP/1.1\r\nHost: cloudsim\r\nConnection: close\r\n\r\n";

/// Why a request head was refused before it reached the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The request line alone is longer than [`MAX_HEAD_BYTES`] (414).
    UriTooLong,
    /// The head is longer than [`MAX_HEAD_BYTES`], or has more than [`MAX_HEADERS`] fields (431).
    HeadersTooLarge,
    /// HTTP/1.1 that the parser refuses (400); says what is wrong.
    Malformed(&'static str),
    /// The head did not arrive within [`HEAD_TIMEOUT`] (408).
    Timeout,
}

impl Refusal {
    /// The error the client is answered with. No source gives the real gateway's codes for
    /// these, so they are the emulator's, named like its `RequestEntityTooLarge`.
    pub fn api_error(self) -> ApiError {
        let limit = MAX_HEAD_BYTES / 1024;
        match self {
            Self::UriTooLong => ApiError::new(
                414,
                "RequestURITooLong",
                format!(
                    "The request line exceeds {limit} KiB; send the parameters in a form body."
                ),
            ),
            Self::HeadersTooLarge => ApiError::new(
                431,
                "RequestHeaderFieldsTooLarge",
                format!("The request head exceeds {limit} KiB or {MAX_HEADERS} header fields."),
            ),
            Self::Malformed(why) => ApiError::new(
                400,
                "MalformedRequest",
                format!("The request is not valid HTTP/1.1: {why}."),
            ),
            Self::Timeout => ApiError::new(
                408,
                "RequestTimeout",
                format!(
                    "The request head did not arrive within {} seconds.",
                    HEAD_TIMEOUT.as_secs()
                ),
            ),
        }
    }
}

/// Where the byte stream of a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Reading a request head (buffered until it is complete).
    Head,
    /// Passing on this many more body bytes.
    Body(u64),
    /// Passing on a chunked body.
    Chunked(Chunk),
    /// Passing on everything (an upgrade or CONNECT: the rest is not HTTP/1).
    Raw,
}

/// Where a chunked body is (RFC 9112 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// The hex size; `digits` once at least one was seen.
    Size { size: u64, digits: bool },
    /// Extensions after the size, up to the line's end.
    SizeLine { size: u64 },
    /// Chunk data still to pass.
    Data(u64),
    /// The CRLF after the data.
    DataEnd,
    /// Trailer fields after the last chunk; `blank` at the start of a line.
    Trailer { blank: bool },
}

/// Finds request heads in a connection's byte stream and checks them as actix-http would.
#[derive(Debug)]
pub struct Framer {
    stage: Stage,
    head: Vec<u8>,
}

impl Default for Framer {
    fn default() -> Self {
        Self::new()
    }
}

impl Framer {
    /// At the start of a connection.
    pub fn new() -> Self {
        Self {
            stage: Stage::Head,
            head: Vec::new(),
        }
    }

    /// True while part of a head has arrived and not all of it.
    pub fn head_started(&self) -> bool {
        self.stage == Stage::Head && !self.head.is_empty()
    }

    /// Takes bytes the client sent and appends to `out` what may go on to the HTTP parser:
    /// bodies at once, heads once complete and checked. A refused head is dropped, with
    /// everything after it.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), Refusal> {
        let mut carry;
        let mut input = input;
        // Each completed head hands back what followed it, to be fed in the new stage.
        while let Some(rest) = self.step(input, out)? {
            carry = rest;
            input = &carry;
        }
        Ok(())
    }

    /// Feeds `input` until it is used up (`None`) or a head completes (what followed it).
    fn step(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<Option<Vec<u8>>, Refusal> {
        while !input.is_empty() {
            match self.stage {
                Stage::Raw => {
                    out.extend_from_slice(input);
                    return Ok(None);
                }
                Stage::Body(left) => {
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(input.len());
                    out.extend_from_slice(&input[..n]);
                    input = &input[n..];
                    let left = left - n as u64;
                    self.stage = if left == 0 {
                        Stage::Head
                    } else {
                        Stage::Body(left)
                    };
                }
                Stage::Chunked(chunk) => {
                    let used = self.chunked(chunk, input);
                    out.extend_from_slice(&input[..used]);
                    input = &input[used..];
                }
                Stage::Head => {
                    self.head.extend_from_slice(input);
                    // Without a new line end the head cannot have completed.
                    if !input.contains(&b'\n') && self.head.len() <= MAX_HEAD_BYTES {
                        return Ok(None);
                    }
                    let Some((len, stage)) = self.parse_head()? else {
                        return Ok(None);
                    };
                    out.extend_from_slice(&self.head[..len]);
                    let rest = self.head.split_off(len);
                    self.head.clear();
                    self.stage = stage;
                    return Ok(Some(rest));
                }
            }
        }
        Ok(None)
    }

    /// A complete, acceptable head: its length and what follows it. `None` while incomplete.
    fn parse_head(&self) -> Result<Option<(usize, Stage)>, Refusal> {
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut fields);
        match req.parse(&self.head) {
            Ok(httparse::Status::Complete(len)) => Ok(Some((len, check(&req)?))),
            Ok(httparse::Status::Partial) if self.head.len() > MAX_HEAD_BYTES => {
                let start = self
                    .head
                    .iter()
                    .position(|b| *b != b'\r' && *b != b'\n')
                    .unwrap_or(0);
                let line = self.head[start..]
                    .iter()
                    .position(|b| *b == b'\n')
                    .unwrap_or(self.head.len() - start);
                // The request line alone is over the limit: the URI is what is too long.
                if start + line > MAX_HEAD_BYTES {
                    Err(Refusal::UriTooLong)
                } else {
                    Err(Refusal::HeadersTooLarge)
                }
            }
            Ok(httparse::Status::Partial) => Ok(None),
            Err(httparse::Error::TooManyHeaders) => Err(Refusal::HeadersTooLarge),
            Err(e) => Err(Refusal::Malformed(match e {
                httparse::Error::HeaderName => "a header field name is not a token",
                httparse::Error::HeaderValue => "a header field value has a forbidden byte",
                httparse::Error::NewLine | httparse::Error::Token => "a line is malformed",
                httparse::Error::Status | httparse::Error::Version => {
                    "the request line is malformed"
                }
                _ => "the head is malformed",
            })),
        }
    }

    /// Advances through a chunked body; returns how many bytes of `input` belong to it.
    fn chunked(&mut self, mut chunk: Chunk, input: &[u8]) -> usize {
        let mut used = 0;
        while used < input.len() {
            if let Chunk::Data(left) = chunk {
                let n = usize::try_from(left)
                    .unwrap_or(usize::MAX)
                    .min(input.len() - used);
                used += n;
                let left = left - n as u64;
                chunk = if left == 0 {
                    Chunk::DataEnd
                } else {
                    Chunk::Data(left)
                };
                continue;
            }
            let b = input[used];
            used += 1;
            chunk = match chunk {
                Chunk::Size { size, digits } => match (b as char).to_digit(16) {
                    Some(d) => match size.checked_mul(16).and_then(|s| s.checked_add(d.into())) {
                        Some(size) => Chunk::Size { size, digits: true },
                        None => return self.give_up(used),
                    },
                    None if !digits => return self.give_up(used),
                    None if b == b'\n' => Self::after_size(size),
                    None => Chunk::SizeLine { size },
                },
                Chunk::SizeLine { size } if b == b'\n' => Self::after_size(size),
                Chunk::SizeLine { size } => Chunk::SizeLine { size },
                Chunk::DataEnd if b == b'\n' => Chunk::Size {
                    size: 0,
                    digits: false,
                },
                Chunk::DataEnd if b == b'\r' => Chunk::DataEnd,
                Chunk::DataEnd => return self.give_up(used),
                Chunk::Trailer { blank: true } if b == b'\n' => {
                    self.stage = Stage::Head;
                    return used;
                }
                Chunk::Trailer { .. } if b == b'\n' => Chunk::Trailer { blank: true },
                Chunk::Trailer { blank } if b == b'\r' => Chunk::Trailer { blank },
                Chunk::Trailer { .. } => Chunk::Trailer { blank: false },
                Chunk::Data(_) => unreachable!("handled above"),
            };
        }
        self.stage = Stage::Chunked(chunk);
        used
    }

    fn after_size(size: u64) -> Chunk {
        if size == 0 {
            Chunk::Trailer { blank: true }
        } else {
            Chunk::Data(size)
        }
    }

    /// A body actix will refuse itself (after it has started on the request, so no
    /// replacement is possible): pass everything on and stop framing.
    fn give_up(&mut self, used: usize) -> usize {
        self.stage = Stage::Raw;
        used
    }
}

/// What follows an acceptable head; the refusals actix-http's decoder makes (its
/// `MessageType::set_headers` and `Request::decode`), in words.
fn check(req: &httparse::Request<'_, '_>) -> Result<Stage, Refusal> {
    let method = req.method.unwrap_or_default();
    Method::from_bytes(method.as_bytes())
        .map_err(|_| Refusal::Malformed("the method is not valid"))?;
    Uri::try_from(req.path.unwrap_or_default())
        .map_err(|_| Refusal::Malformed("the request target is not a valid URI"))?;
    let http11 = req.version == Some(1);
    let (mut length, mut encoding, mut host, mut websocket) = (None, None, false, false);
    for field in req.headers.iter() {
        let value = std::str::from_utf8(field.value).map(str::trim);
        if field.name.eq_ignore_ascii_case("content-length") {
            if length.is_some() {
                return Err(Refusal::Malformed("Content-Length is given more than once"));
            }
            length = Some(
                value
                    .ok()
                    .filter(|v| !v.starts_with('+'))
                    .and_then(|v| v.parse::<u64>().ok())
                    .ok_or(Refusal::Malformed("Content-Length is not a number"))?,
            );
        } else if field.name.eq_ignore_ascii_case("transfer-encoding") {
            if encoding.is_some() {
                return Err(Refusal::Malformed(
                    "Transfer-Encoding is given more than once",
                ));
            }
            encoding = Some(value.unwrap_or_default());
        } else if field.name.eq_ignore_ascii_case("host") {
            if host {
                return Err(Refusal::Malformed("Host is given more than once"));
            }
            host = true;
        } else if field.name.eq_ignore_ascii_case("upgrade") {
            websocket |= value.is_ok_and(|v| v.eq_ignore_ascii_case("websocket"));
        }
    }
    if http11 && !host {
        return Err(Refusal::Malformed(
            "an HTTP/1.1 request needs a Host header",
        ));
    }
    if let Some(encoding) = encoding {
        if !http11 {
            return Err(Refusal::Malformed(
                "Transfer-Encoding is not allowed in HTTP/1.0",
            ));
        }
        if !encoding.eq_ignore_ascii_case("chunked") {
            return Err(Refusal::Malformed("Transfer-Encoding must be chunked"));
        }
        if length.is_some() {
            return Err(Refusal::Malformed(
                "Content-Length and Transfer-Encoding are both given",
            ));
        }
        return Ok(Stage::Chunked(Chunk::Size {
            size: 0,
            digits: false,
        }));
    }
    if !http11 && method == "POST" && length.is_none() {
        return Err(Refusal::Malformed(
            "an HTTP/1.0 POST needs a Content-Length",
        ));
    }
    if websocket {
        return Ok(Stage::Raw);
    }
    Ok(match length {
        Some(n) if n > 0 => Stage::Body(n),
        _ if method == "CONNECT" => Stage::Raw,
        _ => Stage::Head,
    })
}

/// The refusal of one connection, shared between its [`Guarded`] stream and the handler of
/// [`REFUSAL_PATH`] (through the connection's data).
#[derive(Debug, Clone, Default)]
pub struct RefusalSlot(Rc<Cell<Option<Refusal>>>);

impl RefusalSlot {
    /// Takes the refusal, if this connection has one.
    pub fn take(&self) -> Option<Refusal> {
        self.0.take()
    }
}

/// A client connection as the HTTP parser sees it: heads checked by a [`Framer`], a
/// refused one replaced by a request for [`REFUSAL_PATH`].
#[derive(Debug)]
pub struct Guarded<T> {
    io: T,
    framer: Framer,
    ready: Vec<u8>,
    sent: usize,
    slot: RefusalSlot,
    refused: bool,
    first_head: bool,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    linger: Option<(Pin<Box<tokio::time::Sleep>>, usize)>,
}

impl<T> Guarded<T> {
    /// Guards a freshly accepted connection; the first head's timeout starts now.
    pub fn new(io: T) -> Self {
        Self {
            io,
            framer: Framer::new(),
            ready: Vec::new(),
            sent: 0,
            slot: RefusalSlot::default(),
            refused: false,
            first_head: true,
            deadline: Some(Box::pin(tokio::time::sleep(HEAD_TIMEOUT))),
            linger: None,
        }
    }

    /// The slot the application reads the refusal from.
    pub fn slot(&self) -> RefusalSlot {
        self.slot.clone()
    }

    fn refuse(&mut self, why: Refusal) {
        tracing::debug!(?why, "request refused before the application");
        self.slot.0.set(Some(why));
        self.ready.extend_from_slice(REPLACEMENT);
        self.refused = true;
        self.deadline = None;
    }
}

impl<T: AsyncRead + Unpin> Guarded<T> {
    /// Reads and drops input; `Ready` at the client's end of input.
    fn drain(&mut self, cx: &mut Context<'_>, budget: &mut usize) -> Poll<io::Result<()>> {
        let mut scratch = [0u8; 16 * 1024];
        loop {
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut self.io).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => {
                    *budget = budget.saturating_sub(buf.filled().len());
                    if *budget == 0 {
                        return Poll::Ready(Ok(()));
                    }
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Guarded<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.sent < this.ready.len() {
                let n = buf.remaining().min(this.ready.len() - this.sent);
                buf.put_slice(&this.ready[this.sent..this.sent + n]);
                this.sent += n;
                if this.sent == this.ready.len() {
                    this.ready.clear();
                    this.sent = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if this.refused {
                // The replacement is delivered; what the client still sends is dropped.
                let mut budget = usize::MAX;
                return this.drain(cx, &mut budget);
            }
            let mut scratch = [0u8; 16 * 1024];
            let mut read = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.io).poll_read(cx, &mut read) {
                Poll::Ready(Ok(())) if read.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => {
                    let mut out = std::mem::take(&mut this.ready);
                    let fed = this.framer.feed(read.filled(), &mut out);
                    let passed = !out.is_empty();
                    this.ready = out;
                    if let Err(why) = fed {
                        this.refuse(why);
                        continue;
                    }
                    if passed {
                        // A head went through (or body bytes did): no head is overdue.
                        this.first_head = false;
                        this.deadline = None;
                    }
                    if this.framer.head_started() && this.deadline.is_none() {
                        this.deadline = Some(Box::pin(tokio::time::sleep(HEAD_TIMEOUT)));
                    }
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    let Some(deadline) = this.deadline.as_mut() else {
                        return Poll::Pending;
                    };
                    if deadline.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    if this.framer.head_started() {
                        this.refuse(Refusal::Timeout);
                    } else if this.first_head {
                        // Connected and said nothing: close without an answer.
                        this.deadline = None;
                        return Poll::Ready(Ok(()));
                    } else {
                        this.deadline = None;
                        return Poll::Pending;
                    }
                }
            }
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Guarded<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.refused {
            return Pin::new(&mut this.io).poll_shutdown(cx);
        }
        // After a refusal the client may still be sending what was refused: end our side,
        // then read and drop its input for a while, so that closing does not reset the
        // connection before the client has read the answer.
        if this.linger.is_none() {
            std::task::ready!(Pin::new(&mut this.io).poll_shutdown(cx))?;
            this.linger = Some((Box::pin(tokio::time::sleep(LINGER)), LINGER_BYTES));
        }
        let Some((timer, budget)) = this.linger.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Ok(()));
        }
        let mut left = *budget;
        let drained = this.drain(cx, &mut left);
        if let Some((_, budget)) = this.linger.as_mut() {
            *budget = left;
        }
        match drained {
            Poll::Ready(_) => Poll::Ready(Ok(())),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `chunks` one after another; what was passed on, or the refusal.
    fn run(chunks: &[&[u8]]) -> Result<Vec<u8>, Refusal> {
        let mut framer = Framer::new();
        let mut out = Vec::new();
        for chunk in chunks {
            framer.feed(chunk, &mut out)?;
        }
        Ok(out)
    }

    #[test]
    fn heads_pass_once_complete_and_bodies_pass_as_they_come() {
        let mut framer = Framer::new();
        let mut out = Vec::new();
        framer
            .feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Le", &mut out)
            .unwrap();
        assert!(out.is_empty(), "an incomplete head is held back");
        assert!(framer.head_started());
        framer.feed(b"ngth: 4\r\n\r\nab", &mut out).unwrap();
        assert_eq!(
            out,
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nab"
        );
        assert!(!framer.head_started());
        framer.feed(b"cdGET / HTTP/1.1\r\n", &mut out).unwrap();
        assert!(
            out.ends_with(b"abcd"),
            "the body's end passes, the next head waits"
        );
        assert!(framer.head_started());
    }

    #[test]
    fn chunked_bodies_are_followed_to_the_next_head() {
        let body: &[u8] = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
            5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n";
        let huge = format!("GET /?{} HTTP/1.1\r\n", "x".repeat(MAX_HEAD_BYTES));
        // Byte by byte, so that every state boundary is crossed.
        let mut framer = Framer::new();
        let mut out = Vec::new();
        for b in body {
            framer.feed(&[*b], &mut out).unwrap();
        }
        assert_eq!(out, body);
        assert!(!framer.head_started());
        assert_eq!(
            framer.feed(huge.as_bytes(), &mut out),
            Err(Refusal::UriTooLong),
            "the head after a chunked body is checked too"
        );
    }

    #[test]
    fn the_refusals_actix_would_make_come_first_in_words() {
        let long_line = format!("GET /?{} HTTP/1.1\r\n", "x".repeat(MAX_HEAD_BYTES));
        let long_head = format!("GET / HTTP/1.1\r\nX: {}\r\n", "y".repeat(MAX_HEAD_BYTES));
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: 1\r\n")).collect();
        let many = format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n");
        let table: &[(&[u8], Refusal)] = &[
            (long_line.as_bytes(), Refusal::UriTooLong),
            (long_head.as_bytes(), Refusal::HeadersTooLarge),
            (many.as_bytes(), Refusal::HeadersTooLarge),
            (
                b"GET / HTTP/1.1\r\nContent-Length: 1\r\n\r\n",
                Refusal::Malformed("an HTTP/1.1 request needs a Host header"),
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n",
                Refusal::Malformed("Content-Length is not a number"),
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
                Refusal::Malformed("Content-Length is given more than once"),
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
                Refusal::Malformed("Host is given more than once"),
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
                Refusal::Malformed("Transfer-Encoding must be chunked"),
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n",
                Refusal::Malformed("Content-Length and Transfer-Encoding are both given"),
            ),
            (
                b"POST / HTTP/1.0\r\n\r\n",
                Refusal::Malformed("an HTTP/1.0 POST needs a Content-Length"),
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n",
                Refusal::Malformed("a header field name is not a token"),
            ),
            (
                b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
                Refusal::Malformed("the request line is malformed"),
            ),
        ];
        for (input, want) in table {
            assert_eq!(
                run(&[input]),
                Err(*want),
                "{}",
                String::from_utf8_lossy(&input[..input.len().min(60)])
            );
        }
        for ok in [
            &b"GET / HTTP/1.0\r\n\r\n"[..],
            b"\r\nGET /?a=b HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
        ] {
            assert_eq!(run(&[ok]).unwrap(), ok);
        }
    }

    #[test]
    fn the_replacement_asks_for_the_refusal_path() {
        let line = format!("GET {REFUSAL_PATH} HTTP/1.1\r\n");
        assert!(REPLACEMENT.starts_with(line.as_bytes()));
        assert_eq!(run(&[REPLACEMENT]).unwrap(), REPLACEMENT);
    }

    #[test]
    fn every_refusal_is_an_alibaba_error_with_a_status() {
        for (why, status, code) in [
            (Refusal::UriTooLong, 414, "RequestURITooLong"),
            (Refusal::HeadersTooLarge, 431, "RequestHeaderFieldsTooLarge"),
            (Refusal::Malformed("x"), 400, "MalformedRequest"),
            (Refusal::Timeout, 408, "RequestTimeout"),
        ] {
            let e = why.api_error();
            assert_eq!((e.status, e.code.as_str()), (status, code));
            assert!(e.message.ends_with('.'), "{}", e.message);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_that_stops_halfway_is_refused_after_the_timeout() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let (mut client, server) = tokio::io::duplex(1024);
        let mut guarded = Guarded::new(server);
        let slot = guarded.slot();
        client.write_all(b"GET / HTTP/1.1\r\nHo").await.unwrap();
        let mut got = vec![0u8; REPLACEMENT.len()];
        guarded.read_exact(&mut got).await.unwrap();
        assert_eq!(got, REPLACEMENT, "the parser gets the replacement request");
        assert_eq!(slot.take(), Some(Refusal::Timeout));
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_never_speaks_is_closed_without_an_answer() {
        use tokio::io::AsyncReadExt as _;
        let (_client, server) = tokio::io::duplex(1024);
        let mut guarded = Guarded::new(server);
        let mut got = Vec::new();
        guarded.read_to_end(&mut got).await.unwrap();
        assert!(got.is_empty());
        assert_eq!(guarded.slot().take(), None);
    }
}
