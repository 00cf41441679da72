//! One WebSocket connection: reads the client's frames in order, writes what the hub queues
//! on its [`Outbox`] (everything queued, then one flush), and closes with 1001 on shutdown,
//! 1008 when its player is deleted and 4001 when the session (token) that opened it is revoked.
//! It answers the client's close frame with its own (RFC 6455's closing handshake), closes
//! with 1002 on a protocol error and 1007 on text that is not UTF-8, and pings the client on
//! an interval: a client that has sent nothing, not even a pong, since the previous ping is
//! dead and its connection is dropped.
//!
//! Per subscribed map it remembers the last seq it delivered, so every map's events reach
//! the client exactly once and in order: frames already covered by a snapshot are skipped,
//! a frame that overlaps is cut, and a gap (never expected, but possible with a remote
//! broker) is filled from the feed or answered with a `reset` snapshot. An event that ends
//! the subscription (its player's own `left`, the map's `map_deleted`) is the last one sent
//! of that map, followed by `unsubscribed` with the reason (`cut`).
//!
//! The `location` events it publishes carry the player's current name: the one the
//! registry's cell holds (a rename on this handler), or the one its own `renamed` event gave.

use std::collections::HashMap;
use std::pin::{Pin, pin};
use std::time::Duration;

use bytes::Bytes;

use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use futures_util::stream::{Peekable, SplitSink, SplitStream};
use futures_util::{FutureExt, SinkExt, StreamExt};
use marauder_core::protocol::{
    ClientMessage, LocationInput, ServerMessage, Subscribe, Unsubscribe, UnsubscribeReason, encode,
    encode_events,
};
use marauder_core::{CoreError, Listening, MapId, Player, Replay, Snapshot};

use tokio_util::sync::CancellationToken;
use tokio_util::task::task_tracker::TaskTrackerToken;
use tracing::Instrument;

use crate::connections::Registration;
use crate::error::ApiError;
use crate::extract::from_value;
use crate::hub::{self, Batch};
use crate::outbox::{Outbox, Outgoing, Stop};
use crate::session::cut::cut;
use crate::session::liveness::Liveness;
use crate::state::AppState;

type Sink = SplitSink<WebSocket, Message>;
/// The client's frames, the next one looked at before it is taken (a run of `location`s).
type Incoming = Peekable<SplitStream<WebSocket>>;
type WriteResult = Result<(), axum::Error>;
/// Why the loop ends: the close frame to send, if any.
type Close = Option<(u16, &'static str)>;

/// Maps one connection may follow at once: each is a hub entry and a feed listener, which a
/// client must not be able to multiply without bound.
pub const MAX_SUBSCRIPTIONS: usize = 256;

/// The close code of a socket whose session was revoked (the contract's).
pub const CLOSE_REVOKED: u16 = 4001;

/// How long a closing handshake may take before the connection is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// `location` frames taken together at most, when the client sent them back to back (the
/// frames already read): one write to the backend stores and publishes all of them.
const LOCATION_RUN: usize = 64;

pub struct Session {
    state: AppState,
    player: Player,
    /// The token that opened the socket, checked again at every ping (never logged).
    token: String,
    /// Its place in the registry, and its outbox: the frames the hub queues and why it must end.
    registration: Registration,
    /// The version of the registry's name cell that `player.name` reflects.
    name_seen: u64,
    subs: HashMap<MapId, Sub>,
    /// Keeps a shutdown waiting for this session's close.
    _tracked: TaskTrackerToken,
}

struct Sub {
    /// Also holds the seq of the last event of this map the client has been sent, which the
    /// hub moves too when it writes a batch directly.
    hub: hub::Subscription,
    /// Keeps the map's events coming to this handler from whichever handler publishes them.
    _listening: Listening,
}

impl Session {
    pub fn new(
        state: AppState,
        player: Player,
        token: String,
        registration: Registration,
        tracked: TaskTrackerToken,
    ) -> Session {
        // Just authenticated, the name is the freshest there is: the player's other sockets
        // here take it too.
        registration.name.set(&player.name);
        let name_seen = registration.name.version();
        Session { state, player, token, registration, name_seen, subs: HashMap::new(), _tracked: tracked }
    }

    /// Serves the socket until the connection ends.
    ///
    /// Every idle connection holds this future, so it is kept small (bounded by
    /// `tests::an_idle_sessions_future_stays_small`): the session waits on the heap, and
    /// whatever is not the wait or the hot write (a client's frame, a ping, the close) runs
    /// boxed while it lasts.
    pub fn run(self: Box<Self>, socket: WebSocket) -> impl Future<Output = ()> + Send + 'static {
        let span = tracing::info_span!("ws", player = %self.player.id);
        let (sink, stream) = socket.split();
        self.serve(sink, stream.peekable()).instrument(span)
    }

    async fn serve(mut self: Box<Self>, mut sink: Sink, mut stream: Incoming) {
        let shutdown = self.state.shutdown.clone();
        let outbox = self.registration.outbox.clone();
        let mut alive = Liveness::new(self.state.config.ws_ping_interval);
        tracing::debug!("connected");
        let close: Close = loop {
            tokio::select! {
                biased;
                // First, and the hot path: a wake-up for queued frames polls nothing else. The
                // reasons to end (shutdown, deletion, revocation) come the same way, checked
                // before any frame. The outbox cannot starve the client's frames: it is ready
                // only while frames are queued, and a session that stays behind is cut with
                // `slow`.
                _ = outbox.ready() => {
                    if let Some(stop) = outbox.stopped() {
                        break Some(closing(stop));
                    }
                    let written = unless_shutdown(pin!(self.write_queued(&mut sink)), &shutdown).await;
                    if release(&outbox, written).is_err() {
                        break None;
                    }
                }
                incoming = stream.next() => {
                    alive.heard = true;
                    match incoming {
                        Some(Ok(Message::Close(_))) => {
                            outbox.close();
                            // tungstenite has queued the echo of the client's close frame.
                            let _ = Box::pin(tokio::time::timeout(CLOSE_TIMEOUT, sink.close())).await;
                            break None;
                        }
                        None => break None,
                        Some(Ok(message)) => {
                            // A subscription holds the outbox (`Outbox::hold`) until this
                            // flush; a location's store round trip does not.
                            let mut handled = Box::pin(async {
                                self.handle(message, &mut stream, &mut sink).await?;
                                sink.flush().await
                            });
                            if release(&outbox, unless_shutdown(handled.as_mut(), &shutdown).await).is_err() {
                                break None;
                            }
                        }
                        Some(Err(err)) => break close_for(&err),
                    }
                }
                // After the frames: one that is ready counts before the tick looks.
                _ = alive.ticker.tick() => {
                    if !alive.tick() {
                        tracing::debug!("no answer to the last ping");
                        break None;
                    }
                    match Box::pin(self.ping(&mut sink, &shutdown)).await {
                        Ok(None) => {}
                        Ok(close) => break close,
                        Err(_) => break None,
                    }
                }
            }
        };
        // The close frame, if any, is the last frame: the hub writes nothing directly now.
        outbox.close();
        if let Some((code, reason)) = close {
            let frame = CloseFrame { code, reason: reason.into() };
            let _ =
                Box::pin(tokio::time::timeout(CLOSE_TIMEOUT, sink.send(Message::Close(Some(frame))))).await;
        }
        tracing::debug!("disconnected");
    }

    /// The ping tick of a live client: the close to send if its session was revoked.
    async fn ping(&self, sink: &mut Sink, shutdown: &CancellationToken) -> Result<Close, axum::Error> {
        // A revocation whose notice never came (the broker was down) closes the socket here;
        // a store that cannot answer now closes nothing.
        if let Ok(false) = self.state.app.still_signed_in(&self.token).await {
            return Ok(Some((CLOSE_REVOKED, "session revoked")));
        }
        unless_shutdown(pin!(sink.send(Message::Ping(Bytes::new()))), shutdown).await?;
        Ok(None)
    }

    async fn handle(&mut self, message: Message, stream: &mut Incoming, sink: &mut Sink) -> WriteResult {
        let text = match message {
            Message::Text(text) => text,
            Message::Binary(_) => {
                return self.send_error(sink, ApiError::bad_request("frames must be JSON text"), None).await;
            }
            _ => return Ok(()), // Pings are answered by the WebSocket layer.
        };
        let (parsed, map_hint) = parse_frame(text.as_str());
        let message = match parsed {
            Ok(message) => message,
            Err(err) => return self.send_error(sink, err, map_hint).await,
        };
        match message {
            ClientMessage::Subscribe(Subscribe { map, since }) => self.subscribe(map, since, sink).await,
            ClientMessage::Unsubscribe(Unsubscribe { map }) => {
                if let Some(map) = MapId::parse(&map) {
                    // Held first: a direct write of the map under way ends before, and none
                    // starts after, so whatever the session writes next comes after the
                    // map's last frame.
                    self.registration.outbox.hold();
                    self.subs.remove(&map);
                }
                Ok(())
            }
            ClientMessage::Location(input) => {
                let run = next_locations(input, stream);
                if next_is_close(stream) {
                    // Read ahead, the client's close is answered by this step's flush: no
                    // live frame may follow that answer.
                    self.registration.outbox.close();
                }
                if let Some(name) = self.registration.name.changed(&mut self.name_seen) {
                    self.player.name = name;
                }
                for err in self.state.app.post_location_frames(&self.player, &run).await.into_iter().flatten()
                {
                    self.send_error(sink, err.into(), None).await?;
                }
                Ok(())
            }
        }
    }

    async fn subscribe(&mut self, map: String, since: Option<u64>, sink: &mut Sink) -> WriteResult {
        // The map's state and the subscription's start are written before any live batch.
        self.registration.outbox.hold();
        let app = self.state.app.clone();
        let record = match app.member_map(&self.player, &map).await {
            Ok(record) => record,
            Err(err) => return self.send_error(sink, err.into(), Some(map)).await,
        };
        let id = record.id;
        if self.subs.remove(&id).is_none() && self.subs.len() >= MAX_SUBSCRIPTIONS {
            let message =
                format!("a connection follows at most {MAX_SUBSCRIPTIONS} maps: unsubscribe one first");
            return self.send_error(sink, ApiError::bad_request(message), Some(map)).await;
        }
        // Subscribe first, then read the state: every event is then either in what is read
        // or in a frame queued after this point (the seq filter drops the overlap).
        let hub = self.state.hub.subscribe(&id, self.registration.outbox.clone());
        let listening = match app.listen(&id).await {
            Ok(listening) => listening,
            Err(err) => return self.send_error(sink, err.into(), Some(map)).await,
        };
        let start = match since {
            None => app.snapshot(&id).await.map(|s| snapshot_message(&id, s, false)),
            Some(since) => app.replay(&id, since).await.map(|replay| match replay {
                Replay::Reset(s) => snapshot_message(&id, s, true),
                Replay::Events(events) => match events.last() {
                    Some(last) => (Some(encode_events(id.as_str(), events.iter().map(|e| &**e))), last.seq),
                    None => (None, since),
                },
            }),
        };
        // A leave that slipped in before the state was read left no event for us to see.
        let still_member = app.is_member(&id, &self.player.id).await;
        let (frame, delivered) = match (start, still_member) {
            (Ok(start), Ok(true)) => start,
            (_, Ok(false)) => {
                // Deleted meanwhile (404), or left (403).
                let err = match app.member_map(&self.player, &map).await {
                    Err(err) => err,
                    Ok(_) => CoreError::Forbidden(format!("not a member of map {map}")),
                };
                return self.send_error(sink, err.into(), Some(map)).await;
            }
            (Err(err), _) | (_, Err(err)) => {
                return self.send_error(sink, err.into(), Some(map)).await;
            }
        };
        if let Some(text) = frame {
            sink.feed(Message::Text(text.into())).await?;
        }
        // Live once this step's writes are flushed (`Outbox::settle`).
        hub.set_delivered(delivered);
        self.subs.insert(id, Sub { hub, _listening: listening });
        Ok(())
    }

    /// Writes everything queued, then flushes once.
    async fn write_queued(&mut self, sink: &mut Sink) -> WriteResult {
        for item in self.registration.outbox.drain() {
            match item {
                Outgoing::Batch(batch) => self.write_batch(&batch, sink).await?,
                Outgoing::Slow { map, sub } => {
                    if self.subs.get(&map).is_some_and(|s| s.hub.id == sub) {
                        self.subs.remove(&map);
                        self.send_unsubscribed(sink, &map, UnsubscribeReason::Slow).await?;
                    }
                }
            }
        }
        sink.flush().await
    }

    async fn write_batch(&mut self, batch: &Batch, sink: &mut Sink) -> WriteResult {
        let Some(delivered) = self.subs.get(&batch.map).map(|s| s.hub.delivered()) else {
            return Ok(()); // Not subscribed (any more).
        };
        if batch.first_seq() > delivered + 1 {
            // Boxed: rare, and its replay would otherwise sit in every session's future.
            Box::pin(self.fill_gap(batch, delivered, sink)).await?;
        }
        self.write_contiguous(batch, sink).await
    }

    /// Brings the client from `delivered` up to `batch`'s first event, which came after a
    /// gap (never expected, but possible with a remote broker): from the feed, or with a
    /// `reset` snapshot; when neither can be had, the subscription ends.
    async fn fill_gap(&mut self, batch: &Batch, delivered: u64, sink: &mut Sink) -> WriteResult {
        tracing::warn!(map = %batch.map, delivered, first = batch.first_seq(), "gap in live events; filling it");
        match self.state.app.replay(&batch.map, delivered).await {
            Ok(Replay::Events(events)) => {
                self.write_contiguous(&Batch::new(batch.map.clone(), events), sink).await?
            }
            Ok(Replay::Reset(snapshot)) => {
                let (text, seq) = snapshot_message(&batch.map, snapshot, true);
                sink.feed(Message::Text(text.unwrap_or_default().into())).await?;
                if let Some(sub) = self.subs.get(&batch.map) {
                    sub.hub.set_delivered(seq);
                }
            }
            Err(err) => {
                // Never forward past a gap: the client resumes with `since` instead.
                tracing::warn!(map = %batch.map, error = %err, "cannot fill a gap; ending the subscription");
                self.subs.remove(&batch.map);
                return self.send_unsubscribed(sink, &batch.map, UnsubscribeReason::Slow).await;
            }
        }
        Ok(())
    }

    /// Writes the part of `batch` after what was delivered, up to the event that ends this
    /// subscription, if any: then the subscription ends, with the reason.
    async fn write_contiguous(&mut self, batch: &Batch, sink: &mut Sink) -> WriteResult {
        let Some(sub) = self.subs.get(&batch.map) else {
            return Ok(());
        };
        let Some(cut) = cut(batch, sub.hub.delivered(), self.player.id.as_str()) else {
            return Ok(());
        };
        let frame = if cut.whole {
            batch.frame.clone() // The common case: the shared bytes, no copy.
        } else {
            encode_events(batch.map.as_str(), cut.events.iter().map(|e| &**e)).into()
        };
        let last = cut.last_seq();
        sink.feed(Message::Text(frame)).await?;
        // Moved once the frame is in the sink: a write cut off by a shutdown delivered nothing.
        sub.hub.set_delivered(last);
        if let Some(name) = cut.renamed {
            // Renamed on another handler: this one's sockets take the name from the event.
            self.registration.name.set(name);
        }
        if let Some(reason) = cut.ends {
            self.subs.remove(&batch.map);
            self.send_unsubscribed(sink, &batch.map, reason).await?;
        }
        Ok(())
    }

    async fn send_unsubscribed(
        &self,
        sink: &mut Sink,
        map: &MapId,
        reason: UnsubscribeReason,
    ) -> WriteResult {
        let message = ServerMessage::Unsubscribed { map: map.to_string(), reason };
        sink.feed(Message::Text(encode(&message).into())).await
    }

    async fn send_error(&self, sink: &mut Sink, err: ApiError, map: Option<String>) -> WriteResult {
        let message = ServerMessage::Error { code: err.code, message: err.message, map };
        sink.feed(Message::Text(encode(&message).into())).await
    }
}

/// A snapshot frame and the seq it brings the client to.
fn snapshot_message(map: &MapId, snapshot: Snapshot, reset: bool) -> (Option<String>, u64) {
    let seq = snapshot.seq;
    let message = ServerMessage::Snapshot {
        map: map.to_string(),
        seq,
        locations: snapshot.locations,
        reset: reset.then_some(true),
    };
    (Some(encode(&message)), seq)
}

/// `first` and the `location` frames that follow it already read, in order, up to
/// [`LOCATION_RUN`]; the first frame of another kind stays for its turn.
fn next_locations(first: LocationInput, stream: &mut Incoming) -> Vec<LocationInput> {
    let mut run = vec![first];
    while run.len() < LOCATION_RUN {
        let next = match Pin::new(&mut *stream).peek().now_or_never() {
            Some(Some(Ok(Message::Text(text)))) => match parse_frame(text.as_str()).0 {
                Ok(ClientMessage::Location(input)) => input,
                _ => break,
            },
            _ => break,
        };
        let _taken = stream.next().now_or_never();
        run.push(next);
    }
    run
}

/// Whether the client's next frame, already read, is its close.
fn next_is_close(stream: &mut Incoming) -> bool {
    matches!(Pin::new(stream).peek().now_or_never(), Some(Some(Ok(Message::Close(_)))))
}

/// Parses a client frame; on error also answers the `map` it named, if it named one.
fn parse_frame(text: &str) -> (Result<ClientMessage, ApiError>, Option<String>) {
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(err) => return (Err(ApiError::bad_request(format!("malformed JSON: {err}"))), None),
    };
    let serde_json::Value::Object(mut fields) = value else {
        return (Err(ApiError::bad_request("a frame must be a JSON object")), None);
    };
    let map = fields.get("map").and_then(|m| m.as_str()).map(str::to_owned);
    // Dispatch on `type` by hand: inside serde's tagged enum the path of a bad field is lost.
    let kind = fields.remove("type");
    let rest = serde_json::Value::Object(fields);
    let parsed = match kind.as_ref().map(|k| k.as_str().ok_or(k)) {
        Some(Ok("subscribe")) => from_value(rest).map(ClientMessage::Subscribe),
        Some(Ok("unsubscribe")) => from_value(rest).map(ClientMessage::Unsubscribe),
        Some(Ok("location")) => from_value(rest).map(ClientMessage::Location),
        Some(Ok(other)) => Err(ApiError::bad_request(format!(
            "type: unknown frame type `{other}`, expected subscribe, unsubscribe or location"
        ))),
        Some(Err(_)) => Err(ApiError::bad_request("type: must be a string")),
        None => Err(ApiError::bad_request("type: missing field `type`")),
    };
    (parsed, map)
}

/// The close frame that tells the client why the server ends the connection.
fn closing(stop: Stop) -> (u16, &'static str) {
    match stop {
        Stop::Shutdown => (close_code::AWAY, "server shutting down"),
        Stop::Deleted => (close_code::POLICY, "player deleted"),
        Stop::Revoked => (CLOSE_REVOKED, "session revoked"),
    }
}

/// The close frame owed for an error reading the client's frames: none for a broken socket.
fn close_for(err: &axum::Error) -> Close {
    let inner = std::error::Error::source(err).and_then(|e| e.downcast_ref::<tungstenite::Error>());
    match inner {
        Some(tungstenite::Error::Capacity(_)) => Some((close_code::SIZE, "frame over 64 KiB")),
        Some(tungstenite::Error::Utf8(_)) => Some((close_code::INVALID, "text frame is not UTF-8")),
        Some(tungstenite::Error::Protocol(_)) => Some((close_code::PROTOCOL, "WebSocket protocol error")),
        _ => None,
    }
}

/// Runs a write, unless the server shuts down first (the loop then sends its 1001): whether
/// it finished. A write a client stalls by not reading fails by itself: the socket under it
/// has a write deadline (`parse_errors::Guarded`). The write is polled first: one that
/// completes at once (the usual case) never polls the token, whose future costs nothing
/// until it is polled. The write is pinned by the caller: taken by value, it would sit twice
/// in the caller's future.
async fn unless_shutdown(
    write: Pin<&mut impl Future<Output = WriteResult>>,
    shutdown: &CancellationToken,
) -> Result<bool, axum::Error> {
    tokio::select! {
        biased;
        written = write => written.map(|()| true),
        _ = shutdown.cancelled() => Ok(false),
    }
}

/// After a write the session held its outbox for: let go of it once the write is flushed;
/// after one cut off by the shutdown, nothing more is written directly.
fn release(outbox: &Outbox, written: Result<bool, axum::Error>) -> WriteResult {
    match written? {
        true => outbox.settle(),
        false => outbox.close(),
    }
    Ok(())
}

mod cut;
mod liveness;
#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the future `f` returns, without calling it.
    fn future_size<A, B, F: Future>(_: impl FnOnce(A, B) -> F) -> usize {
        size_of::<F>()
    }

    #[test]
    fn an_idle_sessions_future_stays_small() {
        // Every connection's task holds this future for as long as it is open: 3,488 bytes
        // when the session, the socket and the rare paths (a store call at each ping, a gap's
        // replay, the closing handshake's timer) were in it; 1,024 since.
        let size = future_size(Session::run);
        assert!(size <= 1_280, "the session's future is {size} bytes");
    }
}
