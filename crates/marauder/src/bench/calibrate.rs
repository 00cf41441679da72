//! The floor under the server's CPU per frame (`--calibrate`, issue #15).
//!
//! However lean the server, sending an `events` frame to a receiver costs at least the
//! `write` system call that hands it to the kernel, and on loopback that call also runs the
//! TCP stack of both ends and wakes the reader. The floor is that cost alone: in the bench
//! process, after the run, with nothing else running, one dedicated OS thread writes the
//! same number of WebSocket frames, of the run's mean payload size, round robin to as many
//! loopback sockets as the run had receivers, one `write` per frame, on blocking sockets
//! with `TCP_NODELAY` (as the server's are). The writer thread's own CPU time
//! (`getrusage(RUSAGE_THREAD)`: user and system) divided by the frames is the floor per
//! frame; the server's CPU per frame divided by it says how far above the floor it is.
//!
//! The readers must not slow the writer (a full socket buffer would add blocking and
//! wake-ups the server, with healthy clients, does not pay): they are tasks of their own
//! single-threaded tokio runtime, one per client end, each reading whatever is ready, so a
//! reader that falls behind catches up with larger reads. The writer gives up after
//! [`WRITE_TIMEOUT`] blocked on one write rather than hang if the readers stop.
//!
//! The cost of a `write` depends on how often and how close together it happens (batching
//! in the kernel, idle states, cache warmth), so the paced measure writes the way the
//! server's fan-out does, at the run's rate: whole rounds, a frame to every socket back to
//! back (a flush of a map's window goes to every subscriber at once), a round whenever the
//! run's rate of frames per second has made one due. The unpaced measure writes every frame
//! back to back.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::io::AsyncReadExt;

/// How long the writer waits on one blocked `write` before giving up.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// What to write: like the run's `events` frames.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub frames: u64,
    /// Payload bytes of each frame.
    pub payload: usize,
    /// Loopback connections, written round robin.
    pub sockets: usize,
    /// Frames per second; `None` writes them back to back.
    pub rate: Option<f64>,
}

/// What writing it cost.
#[derive(Debug, Clone, Copy)]
pub struct Floor {
    pub frames: u64,
    /// The writer thread's CPU (user and system), seconds.
    pub cpu_s: f64,
    /// From the first write to the last, seconds.
    pub wall_s: f64,
    /// Bytes the client ends read (headers and payloads).
    pub bytes_read: u64,
    /// `write` calls that took only part of a frame (the rest needed more calls).
    pub short_writes: u64,
}

impl Floor {
    /// The writer's CPU per frame, in microseconds.
    pub fn cpu_per_frame_us(&self) -> Option<f64> {
        (self.frames > 0).then(|| self.cpu_s / self.frames as f64 * 1e6)
    }
}

/// Measures the floor for `load` (blocking: call it off the async runtime).
pub fn measure(load: Load) -> anyhow::Result<Floor> {
    anyhow::ensure!(load.sockets > 0, "calibrating needs at least one socket");
    let (servers, clients) = connect_pairs(load.sockets)?;
    let frame = frame(load.payload);
    let expected = load.frames * frame.len() as u64;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let readers = std::thread::Builder::new()
        .name("calibrate-read".into())
        .spawn(move || read_all(clients, ready_tx))
        .context("starting the calibration readers")?;
    // The readers are registered and polling before the first frame.
    ready_rx.recv().context("the calibration readers failed to start")?;
    let writer = std::thread::Builder::new()
        .name("calibrate-write".into())
        .spawn(move || write_all(&servers, &frame, load))
        .context("starting the calibration writer")?;
    let written = writer.join().map_err(|_| anyhow::anyhow!("the calibration writer panicked"))?;
    // The writer dropped its ends: every reader sees the end of its stream.
    let read = readers.join().map_err(|_| anyhow::anyhow!("the calibration readers panicked"))?;
    let mut floor = written?;
    floor.bytes_read = read?;
    anyhow::ensure!(
        floor.bytes_read == expected,
        "the calibration readers got {} bytes of {expected}",
        floor.bytes_read
    );
    Ok(floor)
}

/// A WebSocket frame as a server sends it (RFC 6455 §5.2): FIN and opcode text, no mask,
/// the payload length in 7 bits, or 126 and 16 bits, or 127 and 64 bits.
pub fn frame_header(payload: usize) -> Vec<u8> {
    let mut header = vec![0x81];
    match payload {
        0..=125 => header.push(payload as u8),
        126..=0xffff => {
            header.push(126);
            header.extend_from_slice(&(payload as u16).to_be_bytes());
        }
        _ => {
            header.push(127);
            header.extend_from_slice(&(payload as u64).to_be_bytes());
        }
    }
    header
}

/// A whole frame: the header and `payload` bytes of JSON-like ASCII.
fn frame(payload: usize) -> Vec<u8> {
    const EVENT: &[u8] =
        br#"{"seq":1234,"kind":"location","player":"p-0123456789abcdef","lat":48.856613,"lon":2.352222,"ts":1767225600000},"#;
    let mut frame = frame_header(payload);
    let start = frame.len();
    frame.extend(br#"{"type":"events","events":["#.iter().chain(EVENT.iter().cycle()).take(payload));
    if payload >= 2 {
        let end = frame.len();
        frame[end - 2..].copy_from_slice(b"]}");
    }
    debug_assert_eq!(frame.len() - start, payload);
    frame
}

/// `count` loopback connections: (accepted "server" ends, blocking with `TCP_NODELAY` and a
/// write timeout; "client" ends, nonblocking for the readers' runtime).
fn connect_pairs(count: usize) -> anyhow::Result<(Vec<TcpStream>, Vec<TcpStream>)> {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
    let addr = listener.local_addr()?;
    let (mut servers, mut clients) = (Vec::with_capacity(count), Vec::with_capacity(count));
    for _ in 0..count {
        // One at a time, so the backlog never fills and each accept answers its connect.
        let client = TcpStream::connect(addr).context("connecting a calibration socket")?;
        let (server, _) = listener.accept()?;
        server.set_nodelay(true)?;
        server.set_write_timeout(Some(WRITE_TIMEOUT))?;
        client.set_nonblocking(true)?;
        servers.push(server);
        clients.push(client);
    }
    Ok((servers, clients))
}

/// The writer thread: `load.frames` copies of `frame`, round robin over `servers`, paced
/// to `load.rate`, one `write` each; answers its CPU and wall time.
fn write_all(servers: &[TcpStream], frame: &[u8], load: Load) -> anyhow::Result<Floor> {
    let cpu_before = thread_cpu_seconds()?;
    let start = Instant::now();
    let mut short_writes = 0;
    let mut written = 0u64;
    let mut wake = start;
    let round = servers.len().max(1) as u64;
    while written < load.frames {
        let due = match load.rate {
            Some(rate) => {
                // Whole rounds, as the server's flushes write them.
                let now_due = (start.elapsed().as_secs_f64() * rate) as u64;
                let due = (now_due.max(written + 1).div_ceil(round) * round).min(load.frames);
                wake = start + Duration::from_secs_f64(due as f64 / rate);
                due
            }
            None => load.frames,
        };
        while written < due {
            let socket = &servers[(written % servers.len() as u64) as usize];
            short_writes += write_frame(socket, frame)?;
            written += 1;
        }
        if load.rate.is_some() && written < load.frames {
            std::thread::sleep(wake.saturating_duration_since(Instant::now()));
        }
    }
    let wall_s = start.elapsed().as_secs_f64();
    let cpu_s = thread_cpu_seconds()? - cpu_before;
    Ok(Floor { frames: written, cpu_s, wall_s, bytes_read: 0, short_writes })
}

/// One `write` of the frame (and more only if the kernel took part of it): answers 1 when
/// it took more than one.
fn write_frame(mut socket: &TcpStream, frame: &[u8]) -> anyhow::Result<u64> {
    let n = socket.write(frame).context("writing a calibration frame")?;
    if n == frame.len() {
        return Ok(0);
    }
    socket.write_all(&frame[n..]).context("writing a calibration frame")?;
    Ok(1)
}

/// The readers' thread: a task per client end reading and discarding until the end of its
/// stream; answers the bytes read by all.
fn read_all(clients: Vec<TcpStream>, ready: std::sync::mpsc::Sender<()>) -> anyhow::Result<u64> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
    runtime.block_on(async move {
        let mut tasks = Vec::with_capacity(clients.len());
        for client in clients {
            let mut stream = tokio::net::TcpStream::from_std(client)?;
            tasks.push(tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut total = 0u64;
                loop {
                    match stream.read(&mut buf).await? {
                        0 => return Ok::<_, std::io::Error>(total),
                        n => total += n as u64,
                    }
                }
            }));
        }
        let _ = ready.send(());
        let mut total = 0;
        for task in tasks {
            total += task.await?.context("reading calibration frames")?;
        }
        Ok::<u64, anyhow::Error>(total)
    })
}

/// This thread's CPU time (user and system), seconds.
fn thread_cpu_seconds() -> anyhow::Result<f64> {
    use nix::sys::resource::{UsageWho, getrusage};
    let usage = getrusage(UsageWho::RUSAGE_THREAD).context("getrusage(RUSAGE_THREAD)")?;
    let seconds = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    Ok(seconds(usage.user_time()) + seconds(usage.system_time()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_follow_rfc_6455() {
        assert_eq!(frame_header(100), [0x81, 0x64]);
        assert_eq!(frame_header(125), [0x81, 125]);
        assert_eq!(frame_header(126), [0x81, 0x7e, 0x00, 0x7e]);
        assert_eq!(frame_header(300), [0x81, 0x7e, 0x01, 0x2c]);
        assert_eq!(frame_header(70_000), [0x81, 0x7f, 0, 0, 0, 0, 0, 0x01, 0x11, 0x70]);
    }

    #[test]
    fn frames_hold_their_payload() {
        for payload in [0, 1, 2, 100, 300, 5000] {
            let frame = frame(payload);
            let header = frame_header(payload).len();
            assert_eq!(frame.len(), header + payload);
            assert!(frame[header..].is_ascii());
        }
    }

    #[test]
    fn every_frame_is_written_and_read() {
        for rate in [None, Some(20_000.0)] {
            let floor = measure(Load { frames: 1000, payload: 100, sockets: 4, rate }).unwrap();
            assert_eq!(floor.frames, 1000);
            assert_eq!(floor.bytes_read, 1000 * (100 + 2));
            // A thousand small writes can take less than the kernel's CPU accounting shows
            // (a tick), so the measure may be zero, never missing or negative.
            assert!(floor.cpu_per_frame_us().is_some_and(|us| us >= 0.0 && us.is_finite()), "{floor:?}");
        }
    }
}
