//! Loopback checks: which ports are free before anything starts, and probes of what runs
//! (an HTTP GET for `/health/readyz`, a Redis PING, a TCP connect).

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use crate::layout::PortUse;

/// A port the run needs that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unusable {
    pub port: u16,
    pub purpose: String,
    pub reason: String,
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "port {} (for {}) {}", self.port, self.purpose, self.reason)
    }
}

/// Tries to bind each port on 127.0.0.1 (where everything of the run listens) and reports
/// every one that cannot be bound, with what it was for.
pub fn unusable_ports(ports: &[PortUse]) -> Vec<Unusable> {
    ports
        .iter()
        .filter_map(|p| {
            let reason = match TcpListener::bind((Ipv4Addr::LOCALHOST, p.port)) {
                Ok(_) => return None,
                Err(e) if e.kind() == ErrorKind::AddrInUse => "is already in use".to_owned(),
                Err(e) => format!("cannot be bound: {e}"),
            };
            Some(Unusable { port: p.port, purpose: p.purpose.clone(), reason })
        })
        .collect()
}

/// True if something accepts TCP connections on 127.0.0.1:`port`.
pub fn accepts(port: u16, timeout: Duration) -> bool {
    TcpStream::connect_timeout(&loopback(port), timeout).is_ok()
}

/// True if a Redis server on 127.0.0.1:`port` answers PING.
pub fn redis_ping(port: u16, timeout: Duration) -> bool {
    let answer = || -> std::io::Result<Vec<u8>> {
        let mut stream = TcpStream::connect_timeout(&loopback(port), timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.write_all(b"PING\r\n")?;
        let mut buf = [0u8; 16];
        let n = stream.read(&mut buf)?;
        Ok(buf[..n].to_vec())
    };
    answer().is_ok_and(|a| a.starts_with(b"+PONG"))
}

/// An HTTP/1.1 GET on 127.0.0.1:`port`: the status code and the body (at most 4 KiB), or
/// None if nothing answered with HTTP.
pub fn http_get(port: u16, path: &str, timeout: Duration) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&loopback(port), timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut buf = Vec::new();
    // A body longer than the limit, or a server that keeps the connection open, still gives
    // what was read so far.
    let _ = stream.take(4096 + 1024).read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let mut status_line = text.lines().next()?.split_whitespace();
    if !status_line.next()?.starts_with("HTTP/") {
        return None;
    }
    let code = status_line.next()?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.trim().to_owned()).unwrap_or_default();
    Some((code, body))
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_is_reported_with_its_purpose() {
        let held = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let taken = held.local_addr().unwrap().port();
        let free = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port();
        let ports =
            [PortUse { port: taken, purpose: "router gRPC".into() }, PortUse { port: free, purpose: "Redis".into() }];
        let unusable = unusable_ports(&ports);
        assert_eq!(unusable.len(), 1, "{unusable:?}");
        assert_eq!(unusable[0].to_string(), format!("port {taken} (for router gRPC) is already in use"));
    }

    #[test]
    fn http_get_reads_status_and_body() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = conn.read(&mut buf).unwrap();
            conn.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 9\r\n\r\nnot ready").unwrap();
        });
        let (code, body) = http_get(port, "/health/readyz", Duration::from_secs(5)).unwrap();
        server.join().unwrap();
        assert_eq!((code, body.as_str()), (503, "not ready"));
        assert_eq!(http_get(port, "/", Duration::from_millis(500)), None, "nothing listens any more");
    }
}
