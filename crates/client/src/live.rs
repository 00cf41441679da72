//! The live WebSocket: typed frames both ways.

use futures_util::{SinkExt, StreamExt};
use marauder_protocol::{ClientMessage, LocationInput, ServerMessage, Subscribe, Unsubscribe};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::{Error, Result, api_error};

pub struct Live {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// What arrives on the socket.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    Message(ServerMessage),
    /// The server closed the connection, with this close code if it sent one.
    Closed(Option<u16>),
}

fn transport(err: impl std::fmt::Display) -> Error {
    Error::Transport(err.to_string())
}

/// A refused upgrade carries the contract's error body.
fn handshake_error(err: tungstenite::Error) -> Error {
    match err {
        tungstenite::Error::Http(response) => {
            let body = response.body().clone().unwrap_or_default();
            api_error(response.status().as_u16(), &body)
        }
        err => transport(err),
    }
}

impl Live {
    pub(crate) async fn connect(base: &str, token: Option<&str>, in_query: bool) -> Result<Live> {
        let request = Live::request(base, token, in_query)?;
        match tokio_tungstenite::connect_async(request).await {
            Ok((ws, _)) => Ok(Live { ws }),
            Err(err) => Err(handshake_error(err)),
        }
    }

    /// Connects with the socket's receive buffer set to `bytes` before the handshake, which
    /// turns the kernel's autotuning off: a test of a slow reader then needs to outpace
    /// kilobytes, not the tens of megabytes an autotuned buffer may take.
    pub(crate) async fn connect_with_receive_buffer(
        base: &str,
        token: Option<&str>,
        bytes: u32,
    ) -> Result<Live> {
        let request = Live::request(base, token, false)?;
        let host = request.uri().authority().map(|a| a.as_str().to_owned()).unwrap_or_default();
        let addr = tokio::net::lookup_host(&host)
            .await
            .map_err(transport)?
            .next()
            .ok_or_else(|| transport(format!("{host} resolves to no address")))?;
        let socket =
            if addr.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() }.map_err(transport)?;
        socket.set_recv_buffer_size(bytes).map_err(transport)?;
        let stream = socket.connect(addr).await.map_err(transport)?;
        match tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream)).await {
            Ok((ws, _)) => Ok(Live { ws }),
            Err(err) => Err(handshake_error(err)),
        }
    }

    fn request(
        base: &str,
        token: Option<&str>,
        in_query: bool,
    ) -> Result<tungstenite::handshake::client::Request> {
        let ws_base = base.replacen("http", "ws", 1);
        let url = match (token, in_query) {
            (Some(token), true) => format!("{ws_base}/api/v1/ws?access_token={token}"),
            _ => format!("{ws_base}/api/v1/ws"),
        };
        let mut request = url.into_client_request().map_err(transport)?;
        if let (Some(token), false) = (token, in_query) {
            let value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(transport)?;
            request.headers_mut().insert("authorization", value);
        }
        Ok(request)
    }

    pub async fn send(&mut self, message: &ClientMessage) -> Result<()> {
        let text = serde_json::to_string(message).map_err(transport)?;
        self.ws.send(Message::text(text)).await.map_err(transport)
    }

    /// Sends any frame as given (for tests of malformed input).
    pub async fn send_raw(&mut self, message: Message) -> Result<()> {
        self.ws.send(message).await.map_err(transport)
    }

    pub async fn subscribe(&mut self, map: &str, since: Option<u64>) -> Result<()> {
        self.send(&ClientMessage::Subscribe(Subscribe { map: map.into(), since })).await
    }

    pub async fn unsubscribe(&mut self, map: &str) -> Result<()> {
        self.send(&ClientMessage::Unsubscribe(Unsubscribe { map: map.into() })).await
    }

    pub async fn push_location(&mut self, location: &LocationInput) -> Result<()> {
        self.send(&ClientMessage::Location(location.clone())).await
    }

    /// The next message or the close; pings and pongs are handled underneath.
    pub async fn next(&mut self) -> Result<Incoming> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    let message = serde_json::from_str(text.as_str())
                        .map_err(|e| Error::Unexpected(format!("{e}: {}", text.as_str())))?;
                    return Ok(Incoming::Message(message));
                }
                Some(Ok(Message::Close(frame))) => {
                    return Ok(Incoming::Closed(frame.map(|f| f.code.into())));
                }
                Some(Ok(Message::Binary(_))) => {
                    return Err(Error::Unexpected("a binary frame".into()));
                }
                Some(Ok(_)) => continue,
                Some(Err(tungstenite::Error::ConnectionClosed)) | None => {
                    return Ok(Incoming::Closed(None));
                }
                Some(Err(err)) => return Err(transport(err)),
            }
        }
    }

    /// Closes the connection politely.
    pub async fn close(mut self) -> Result<()> {
        self.ws.close(None).await.map_err(transport)
    }
}
