//! Connection hygiene, as a careless or hostile client meets it: stalled connections closed
//! within the configured timeouts, heads and bodies bounded, the connection cap answered,
//! every error the HTTP layer writes in the contract's body, the WebSocket's closing
//! handshake, close codes and pings, the `Origin` check, and the security headers.
//!
//! Raw TCP where a client library would refuse to misbehave. Every wait is bounded by
//! [`PATIENCE`]; none asserts how fast the server was.

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{Frame, Utf8Bytes};

use crate::helpers::*;

/// The short timeouts of these tests, in ms.
const SHORT: u64 = 1000;

async fn short_timeouts() -> TestApp {
    TestApp::spawn_with(|c| {
        c.header_timeout_ms = SHORT;
        c.body_timeout_ms = SHORT;
    })
    .await
}

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

/// Writes `request`, then reads until the server closes the connection; fails the test if
/// it is still open after [`PATIENCE`].
async fn exchange(app: &TestApp, request: &[u8]) -> String {
    let mut tcp = TcpStream::connect(addr(app)).await.unwrap();
    tcp.write_all(request).await.unwrap();
    read_to_close(&mut tcp).await
}

async fn read_to_close(tcp: &mut TcpStream) -> String {
    String::from_utf8_lossy(&read_bytes_to_close(tcp).await).into_owned()
}

async fn read_bytes_to_close(tcp: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    match tokio::time::timeout(PATIENCE, tcp.read_to_end(&mut received)).await {
        // A reset after the answer still closed the connection.
        Ok(_) => received,
        Err(_) => panic!("the connection is still open after {PATIENCE:?}; received {received:?}"),
    }
}

/// The status, the lowercase headers and the body of a raw response.
fn parse(response: &str) -> (u16, Vec<(String, String)>, String) {
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no head: {response:?}"));
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

/// Asserts the exact status and the contract's body with `code`.
fn assert_error(response: &str, status: u16, code: &str) {
    let (got, headers, body) = parse(response);
    assert_eq!(got, status, "{response}");
    let content_type = headers.iter().find(|(n, _)| n == "content-type").map(|(_, v)| v.as_str());
    assert_eq!(content_type, Some("application/json"), "{response}");
    let json: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    assert_eq!(json["error"]["code"], code, "{body}");
    assert!(!json["error"]["message"].as_str().unwrap().is_empty(), "{body}");
}

#[tokio::test]
async fn connections_that_stall_before_a_whole_head_are_closed() {
    let app = short_timeouts().await;
    let stalls: [&[u8]; 3] = [
        b"",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Half",
        b"GET /api/v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
    ];
    for stall in stalls {
        // Closed without an answer: there is no request to answer.
        assert_eq!(exchange(&app, stall).await, "", "{}", String::from_utf8_lossy(stall));
    }
    // After a whole exchange, an idle keep-alive connection is closed too.
    let answered = exchange(&app, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(parse(&answered).0, 200, "{answered}");
    app.stop().await;
}

#[tokio::test]
async fn a_body_that_stops_halfway_is_answered_408_and_closed() {
    let app = short_timeouts().await;
    let half = b"POST /api/v1/players HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"na";
    assert_error(&exchange(&app, half).await, 408, "request_timeout");
    app.stop().await;
}

#[tokio::test]
async fn oversize_and_malformed_heads_get_the_error_body() {
    let app = TestApp::spawn().await;
    let big_header = format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(20 * 1024));
    assert_error(&exchange(&app, big_header.as_bytes()).await, 431, "header_fields_too_large");
    // A long target fills the 16 KiB head first: 431, not 414.
    let long_path = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(100 * 1024));
    assert_error(&exchange(&app, long_path.as_bytes()).await, 431, "header_fields_too_large");
    let malformed: [&[u8]; 4] = [
        b"POST /api/v1/players HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        b"POST /api/v1/players HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n",
        b"NOT HTTP AT ALL\r\n\r\n",
    ];
    for request in malformed {
        assert_error(&exchange(&app, request).await, 400, "bad_request");
    }
    app.stop().await;
}

#[tokio::test]
async fn expect_continue_with_a_large_body_gets_413_and_no_continue() {
    let app = TestApp::spawn().await;
    let request = b"POST /api/v1/players HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\nExpect: 100-continue\r\n\r\n";
    let response = exchange(&app, request).await;
    assert!(!response.contains("100 Continue"), "{response}");
    assert_error(&response, 413, "payload_too_large");
    // A small one is still told to continue, and served.
    let mut tcp = TcpStream::connect(addr(&app)).await.unwrap();
    let body = br#"{"name":"Neville"}"#;
    let head = format!(
        "POST /api/v1/players HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        body.len()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut interim = [0u8; 25];
    tcp.read_exact(&mut interim).await.unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    tcp.write_all(body).await.unwrap();
    assert_eq!(parse(&read_to_close(&mut tcp).await).0, 201);
    app.stop().await;
}

#[tokio::test]
async fn past_the_connection_cap_a_connection_gets_503_and_is_closed() {
    const CAP: usize = 3;
    let app = TestApp::spawn_with(|c| c.max_connections = CAP).await;
    // The player is made on a connection that closes, so that it holds no slot after.
    let body = br#"{"name":"Harry"}"#;
    let create = format!(
        "POST /api/v1/players HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{}",
        body.len(),
        String::from_utf8_lossy(body)
    );
    let (status, _, created) = parse(&exchange(&app, create.as_bytes()).await);
    assert_eq!(status, 201, "{created}");
    let token: Value = serde_json::from_str(&created).unwrap();
    // An upgraded WebSocket holds its slot as long as it is open.
    let (mut ws, _) =
        tokio_tungstenite::connect_async(ws_request(&app, token["token"].as_str().unwrap(), None))
            .await
            .unwrap();
    let mut held = Vec::new();
    for _ in 1..CAP {
        let mut tcp = TcpStream::connect(addr(&app)).await.unwrap();
        // A whole exchange proves the connection holds a slot, not just a backlog entry.
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut answer = [0u8; 12];
        tcp.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"HTTP/1.1 200");
        held.push(tcp);
    }
    let refused = exchange(&app, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_error(&refused, 503, "unavailable");
    assert!(parse(&refused).1.contains(&("retry-after".into(), "1".into())), "{refused}");
    // A slot comes back when the WebSocket closes (once the server has seen it close).
    ws.close(None).await.unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let answer = exchange(&app, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
        match parse(&answer).0 {
            200 => break,
            503 if tokio::time::Instant::now() < deadline => tokio::task::yield_now().await,
            _ => panic!("{answer}"),
        }
    }
    drop(held);
    app.stop().await;
}

#[tokio::test]
async fn rejections_of_the_http_layer_have_the_error_body() {
    let app = TestApp::spawn().await;
    let cases = [
        ("GET", "/api/v1/players/%ff%fe", 400, "bad_request"),
        ("PUT", "/api/v1/players", 405, "method_not_allowed"),
    ];
    for (method, path, status, code) in cases {
        let response = app.anon.raw(method, path, None).await.unwrap();
        assert_eq!(
            (response.status, response.json()["error"]["code"].as_str()),
            (status, Some(code)),
            "{path}"
        );
        assert_eq!(response.headers["content-type"], "application/json", "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let app = TestApp::spawn_with(|c| c.tiles = "https://{s}.tiles.example/{z}/{x}/{y}.png".into()).await;
    for path in ["/", "/healthz", "/api/v1/nope"] {
        let response = app.anon.raw("GET", path, None).await.unwrap();
        let csp = response.headers["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'self'",
            "script-src 'self'",
            "img-src 'self' data: https://*.tiles.example",
            "connect-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.split("; ").any(|d| d == directive), "{path}: {directive} not in {csp}");
        }
        assert_eq!(response.headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(response.headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(response.headers["referrer-policy"], "no-referrer", "{path}");
    }
    app.stop().await;
}

/// A WebSocket request for `token`, with `origin` if given.
fn ws_request(
    app: &TestApp,
    token: &str,
    origin: Option<&str>,
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let url = format!("{}/api/v1/ws", app.base.replacen("http", "ws", 1));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    if let Some(origin) = origin {
        request.headers_mut().insert("origin", origin.parse().unwrap());
    }
    request
}

#[tokio::test]
async fn a_websocket_from_another_origin_is_refused() {
    let app = TestApp::spawn_with(|c| c.allowed_origins = vec!["https://map.example".into()]).await;
    let (_, harry) = app.player("Harry").await;
    let own = app.base.clone();
    for origin in [None, Some(own.as_str()), Some("https://map.example")] {
        let connected = tokio_tungstenite::connect_async(ws_request(&app, &harry.token, origin)).await;
        let (_, response) = connected.unwrap_or_else(|e| panic!("{origin:?}: {e}"));
        assert_eq!(response.status(), 101, "{origin:?}");
    }
    for origin in ["https://evil.example", "http://127.0.0.1:1", "null"] {
        match tokio_tungstenite::connect_async(ws_request(&app, &harry.token, Some(origin))).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 403, "{origin}");
                let body: Value = serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
                assert_eq!(body["error"]["code"], "forbidden", "{origin}");
            }
            other => panic!("{origin}: expected a 403, got {other:?}"),
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn the_client_close_frame_is_echoed() {
    let app = TestApp::spawn().await;
    let (_, harry) = app.player("Harry").await;
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_request(&app, &harry.token, None)).await.unwrap();
    let frame = CloseFrame { code: CloseCode::from(4321), reason: "bye".into() };
    ws.send(Message::Close(Some(frame))).await.unwrap();
    let echoed = tokio::time::timeout(PATIENCE, ws.next()).await.expect("an answer");
    match echoed {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 4321),
        other => panic!("expected the close frame echoed, got {other:?}"),
    }
    app.stop().await;
}

/// The close code the server sends after `frame`.
async fn close_code_after(app: &TestApp, token: &str, frame: Frame) -> Option<u16> {
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_request(app, token, None)).await.unwrap();
    ws.send(Message::Frame(frame)).await.unwrap();
    loop {
        match tokio::time::timeout(PATIENCE, ws.next()).await.expect("a close within patience") {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code.into()),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn bad_frames_close_with_1007_or_1002_and_binary_gets_an_error() {
    let app = TestApp::spawn().await;
    let (harry, created) = app.player("Harry").await;
    let not_utf8 = Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
    assert_eq!(close_code_after(&app, &created.token, not_utf8).await, Some(1007));
    let mut reserved_bit = Frame::message(b"{}".to_vec(), OpCode::Data(Data::Text), true);
    reserved_bit.header_mut().rsv1 = true;
    assert_eq!(close_code_after(&app, &created.token, reserved_bit).await, Some(1002));
    // A binary frame is an error message; the connection stays open.
    let map = harry.create_map("Hogwarts", None).await.unwrap();
    let mut live = harry.connect().await.unwrap();
    live.send_raw(Message::Binary(vec![1, 2, 3].into())).await.unwrap();
    match recv(&mut live).await {
        marauder_client::protocol::ServerMessage::Error { code, .. } => {
            assert_eq!(code, marauder_client::protocol::ErrorCode::BadRequest)
        }
        other => panic!("expected an error frame, got {other:?}"),
    }
    subscribe(&mut live, &map.id).await;
    app.stop().await;
}

#[tokio::test]
async fn idle_websockets_are_pinged_and_one_that_stays_silent_is_dropped() {
    let app = TestApp::spawn_with(|c| c.ws_ping_interval_ms = 1000).await;
    let (harry, created) = app.player("Harry").await;
    let map = harry.create_map("Hogwarts", None).await.unwrap();

    // A client that answers (tungstenite pongs as it reads) stays connected past pings.
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_request(&app, &created.token, None)).await.unwrap();
    let mut pings = 0;
    while pings < 3 {
        match tokio::time::timeout(PATIENCE, ws.next()).await.expect("a ping within patience") {
            Some(Ok(Message::Ping(_))) => pings += 1,
            other => panic!("expected a ping, got {other:?}"),
        }
    }
    let subscribe = format!(r#"{{"type":"subscribe","map":"{}"}}"#, map.id);
    ws.send(Message::Text(Utf8Bytes::from(subscribe))).await.unwrap();
    loop {
        match tokio::time::timeout(PATIENCE, ws.next()).await.expect("a snapshot within patience") {
            Some(Ok(Message::Ping(_))) => continue,
            Some(Ok(Message::Text(text))) => {
                assert!(text.as_str().contains(r#""type":"snapshot""#), "{text}");
                break;
            }
            other => panic!("expected the snapshot, got {other:?}"),
        }
    }

    // A client that reads the ping but never answers is dropped after the next interval.
    let mut tcp = TcpStream::connect(addr(&app)).await.unwrap();
    let upgrade = format!(
        "GET /api/v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Authorization: Bearer {}\r\n\r\n",
        created.token
    );
    tcp.write_all(upgrade.as_bytes()).await.unwrap();
    let received = read_bytes_to_close(&mut tcp).await;
    let end = received.windows(4).position(|w| w == b"\r\n\r\n").expect("a head") + 4;
    let head = String::from_utf8_lossy(&received[..end]);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert_eq!(received[end..], [0x89, 0x00], "one empty ping, then the close of the socket");
    app.stop().await;
}

/// A socket whose receive buffer is a few KiB: a client that reads nothing fills it at once.
async fn non_reading_socket(app: &TestApp) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(addr(app).parse().unwrap()).await.unwrap()
}

/// Sends `chunk` again and again, reading nothing, until the server drops the connection
/// (a write fails); fails the test if the server still holds it after [`PATIENCE`].
async fn send_until_dropped(tcp: &mut TcpStream, chunk: &[u8]) {
    let dropped = tokio::time::timeout(PATIENCE, async { while tcp.write_all(chunk).await.is_ok() {} }).await;
    assert!(dropped.is_ok(), "a client that reads nothing still holds its connection after {PATIENCE:?}");
}

#[tokio::test]
async fn a_client_that_pipelines_requests_and_never_reads_is_dropped() {
    let app = TestApp::spawn_with(|c| c.write_timeout_ms = SHORT).await;
    let mut tcp = non_reading_socket(&app).await;
    let requests = b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n".repeat(200);
    send_until_dropped(&mut tcp, &requests).await;
    // Its slot is free again, and shutdown is not held up by it.
    let (status, _, _) =
        parse(&exchange(&app, b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await);
    assert_eq!(status, 200);
    app.stop().await;
}

#[tokio::test]
async fn a_websocket_that_sends_and_never_reads_is_dropped() {
    let app = TestApp::spawn_with(|c| c.write_timeout_ms = SHORT).await;
    let (_, harry) = app.player("Harry").await;
    let tcp = non_reading_socket(&app).await;
    let (ws, _) = tokio_tungstenite::client_async(ws_request(&app, &harry.token, None), tcp).await.unwrap();
    // Each frame is answered with an error frame, which the client never reads.
    let mut tcp = ws.into_inner();
    let mut frame = Frame::message(b"\"not an object\"".to_vec(), OpCode::Data(Data::Text), true);
    frame.header_mut().mask = Some([7, 1, 8, 2]); // A client's frames are masked.
    let mut masked = Vec::new();
    frame.format(&mut masked).unwrap();
    send_until_dropped(&mut tcp, &masked.repeat(500)).await;
    app.stop().await;
}
