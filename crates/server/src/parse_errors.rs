//! The socket under hyper, [`Guarded`]: it holds the connection's slot under the global cap
//! for as long as the socket lives, and gives the contract's JSON body to the errors hyper
//! answers by itself, before there is a request for the router to see.
//!
//! hyper answers a request head it cannot parse (a malformed request line or header, a
//! negative or conflicting `Content-Length`: 400; a head over the buffer: 431; a target over
//! 64 KiB: 414) with a fixed, empty response written from inside its connection state
//! machine, with no hook to change it (`hyper::proto::h1::role::Server::on_error`). Such a
//! response is recognisable exactly: it is written alone, carries only `content-length: 0`
//! and `date`, and is followed by the connection's close. No response of the router looks
//! like it: every one carries the security headers (`crate::headers`). This wrapper swaps
//! that one write for the same status with the contract's body; every other write passes
//! through after a ten-byte prefix test.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::http::StatusCode;
use marauder_core::protocol::{ErrorBody, ErrorCode, ErrorDetail};
use std::sync::{Arc, Weak};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Sleep;

use crate::headers;
use crate::listener::MAX_HEAD_BYTES;
use crate::wire::Wire;

/// A client's socket, as hyper (and, after an upgrade, the WebSocket) reads and writes it.
pub struct Guarded {
    /// The connection's place under `--max-connections`. Declared first, so dropped first: the
    /// slot is free by the time the client sees the socket close.
    _slot: OwnedSemaphorePermit,
    read: OwnedReadHalf,
    /// The write side, which the hub also writes live frames to (`crate::wire`): a
    /// WebSocket's outbox holds it too, until its session closes.
    wire: Arc<Wire>,
    _open: crate::metrics::HttpConnection,
    replacing: Option<Replacing>,
    /// How long a write (or flush) may wait for a client that reads nothing.
    write_timeout: Duration,
    /// Running while a write waits for room in the socket; any progress clears it.
    stalled: Option<Pin<Box<Sleep>>>,
    /// The wire's bytes sent when `stalled` was started: bytes that went out since, from
    /// waiting ones (a large snapshot's, or the hub's), are progress too.
    progress: u64,
}

/// A rewritten error being written: its bytes, how many are out, and how many of hyper's
/// bytes it stands for (what the write reports once it is all out).
struct Replacing {
    bytes: Vec<u8>,
    written: usize,
    stands_for: usize,
}

impl Guarded {
    pub fn new(tcp: TcpStream, slot: OwnedSemaphorePermit, write_timeout: Duration) -> Guarded {
        let (read, write) = tcp.into_split();
        Guarded {
            read,
            wire: Wire::new(write),
            _slot: slot,
            _open: crate::metrics::HttpConnection::open(),
            replacing: None,
            write_timeout,
            stalled: None,
            progress: 0,
        }
    }

    /// The write side, for the hub's live frames once the connection is a WebSocket.
    pub fn wire(&self) -> Weak<Wire> {
        Arc::downgrade(&self.wire)
    }

    /// A write that makes no progress for `write_timeout` fails, so a client that sends and
    /// never reads (pipelined requests, WebSocket frames) cannot hold its connection, its
    /// slot under the cap, or the server's shutdown, forever.
    fn within_deadline<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if polled.is_ready() {
            self.stalled = None;
            return polled;
        }
        let sent = self.wire.sent();
        if sent != self.progress {
            self.progress = sent;
            self.stalled = None;
        }
        let timeout = self.write_timeout;
        let stalled = self.stalled.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        ready!(stalled.as_mut().poll(cx));
        self.stalled = None;
        Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "the client has read nothing for too long")))
    }

    fn poll_replacing(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let Some(replacing) = self.replacing.as_mut() else {
            return Poll::Ready(Ok(0));
        };
        while replacing.written < replacing.bytes.len() {
            let n = ready!(self.wire.poll_write(cx, &replacing.bytes[replacing.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            replacing.written += n;
        }
        let stands_for = replacing.stands_for;
        self.replacing = None;
        Poll::Ready(Ok(stands_for))
    }
}

impl AsyncRead for Guarded {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().read).poll_read(cx, buf)
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.replacing.is_none() {
            match rewrite(buf) {
                Some(bytes) => this.replacing = Some(Replacing { bytes, written: 0, stands_for: buf.len() }),
                None => {
                    let polled = this.wire.poll_write(cx, buf);
                    return this.within_deadline(cx, polled);
                }
            }
        }
        let polled = this.poll_replacing(cx);
        this.within_deadline(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.replacing.is_none() {
            // hyper's own error is a head with no body: one buffer.
            let mut filled = bufs.iter().filter(|b| !b.is_empty());
            let rewritten = match (filled.next(), filled.next()) {
                (Some(head), None) => rewrite(head).map(|bytes| (bytes, head.len())),
                _ => None,
            };
            match rewritten {
                Some((bytes, stands_for)) => {
                    this.replacing = Some(Replacing { bytes, written: 0, stands_for })
                }
                None => {
                    let polled = this.wire.poll_write_vectored(cx, bufs);
                    return this.within_deadline(cx, polled);
                }
            }
        }
        let polled = this.poll_replacing(cx);
        this.within_deadline(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.wire.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = this.wire.poll_flush(cx);
        this.within_deadline(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = this.wire.poll_shutdown(cx);
        this.within_deadline(cx, polled)
    }
}

/// The contract's answer for `buf` if it is one of hyper's automatic error responses.
fn rewrite(buf: &[u8]) -> Option<Vec<u8>> {
    let status = buf.strip_prefix(b"HTTP/1.1 ")?.get(..3)?;
    let (code, message) = match status {
        b"400" => (ErrorCode::BadRequest, "malformed HTTP request: bad request line or headers".to_owned()),
        b"414" => (ErrorCode::UriTooLong, "the request target is too long".to_owned()),
        b"431" => (
            ErrorCode::HeaderFieldsTooLarge,
            format!("the request line and headers are over {} KiB", MAX_HEAD_BYTES / 1024),
        ),
        _ => return None,
    };
    let head = std::str::from_utf8(buf.strip_suffix(b"\r\n\r\n")?).ok()?;
    let mut fields = head.split("\r\n").skip(1);
    let hypers_own = fields.all(|field| {
        let field = field.to_ascii_lowercase();
        field == "content-length: 0" || field.starts_with("date: ") || field == "connection: close"
    });
    hypers_own.then(|| response(code, &message, &[]))
}

/// A 503 for a connection past the cap, written before any request is read.
pub fn busy_response() -> Vec<u8> {
    let message = "the server is at its connection limit; retry shortly";
    response(ErrorCode::Unavailable, message, &[("retry-after", "1")])
}

/// A whole response that closes the connection: the status of `code`, the security
/// headers, and the contract's body.
fn response(code: ErrorCode, message: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let body = ErrorBody { error: ErrorDetail { code, message: message.to_owned() } };
    let body = serde_json::to_vec(&body).unwrap_or_default();
    let status = StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        status.as_str(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    );
    let fixed = headers::FIXED.iter().copied().chain([headers::CSP_NONE]);
    for (name, value) in fixed.chain(extra.iter().copied()) {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&body);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_own_empty_errors_are_rewritten() {
        let hyper = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Sun, 29 Nov 2026 15:00:00 GMT\r\n\r\n";
        let rewritten = String::from_utf8(rewrite(hyper).expect("rewritten")).unwrap();
        assert!(rewritten.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "{rewritten}");
        assert!(rewritten.ends_with(r#"{"error":{"code":"header_fields_too_large","message":"the request line and headers are over 16 KiB"}}"#));
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(rewrite(ours), None);
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(rewrite(ok), None);
        let frame = b"\x81\x05hello";
        assert_eq!(rewrite(frame), None);
    }
}
