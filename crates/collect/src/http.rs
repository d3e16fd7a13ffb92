//! A minimal HTTP/1.0 GET for the ECS task metadata endpoint.
//!
//! The endpoint is plain HTTP on a link-local address (169.254.170.2 on Fargate, or the agent on
//! EC2), so a dozen lines over `TcpStream` do the job and keep the static collector free of an
//! HTTP stack and its TLS. Short timeouts, no retries: the snapshot must not wait on it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Largest response kept (a task document with many containers is a few tens of KiB).
const MAX_BODY: u64 = 4 << 20;

/// GETs `url` (`http://host[:port]/path`) and returns the body of a 200 response.
pub fn get(url: &str, timeout: Duration) -> Result<Vec<u8>, String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("not an http:// URL: {url}"))?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let with_port = if hostport.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
        hostport.to_string()
    } else {
        format!("{hostport}:80")
    };
    // The endpoint is always an IP literal (169.254.170.2, or the agent's address on EC2).
    // Names are refused rather than resolved: a static binary has no NSS to resolve them with,
    // and linking the resolver in would add a dynamic loader's worth of code to the collector.
    let addr: std::net::SocketAddr =
        with_port.parse().map_err(|_| format!("{hostport}: not an IP address (names are not resolved)"))?;
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(timeout)).ok();
    s.set_write_timeout(Some(timeout)).ok();
    // One write: a request in pieces may reach a simple server as several reads.
    let req =
        format!("GET {path} HTTP/1.0\r\nHost: {hostport}\r\nUser-Agent: curtain\r\nAccept: application/json\r\n\r\n");
    s.write_all(req.as_bytes()).map_err(|e| format!("send: {e}"))?;
    let mut resp = Vec::new();
    s.take(MAX_BODY).read_to_end(&mut resp).map_err(|e| format!("read: {e}"))?;
    parse_response(&resp)
}

fn parse_response(resp: &[u8]) -> Result<Vec<u8>, String> {
    let split = resp.windows(4).position(|w| w == b"\r\n\r\n").ok_or("no end of headers")?;
    let head = String::from_utf8_lossy(&resp[..split]);
    let body = &resp[split + 4..];
    let status = head.lines().next().and_then(|l| l.split_whitespace().nth(1)).unwrap_or("");
    if status != "200" {
        return Err(format!("HTTP status {status:?}"));
    }
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    if chunked {
        dechunk(body)
    } else {
        Ok(body.to_vec())
    }
}

fn dechunk(mut b: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n").ok_or("bad chunk")?;
        let size_text = String::from_utf8_lossy(&b[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| "bad chunk size")?;
        b = &b[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = b.get(..size).ok_or("short chunk")?;
        out.extend_from_slice(chunk);
        b = b.get(size + 2..).ok_or("short chunk")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses() {
        assert_eq!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{}").unwrap(), b"{}");
        assert!(parse_response(b"HTTP/1.1 404 Not Found\r\n\r\nnope").is_err());
        assert!(parse_response(b"garbage").is_err());
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n3\r\n\":1\r\n1\r\n}\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked).unwrap(), b"{\"a\":1}");
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffff\r\nab").is_err());
    }

    #[test]
    fn get_from_a_local_server() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            let mut req = [0u8; 1024];
            let n = c.read(&mut req).unwrap();
            assert!(req[..n].starts_with(b"GET /v4/abc/task HTTP/1.0\r\n"));
            c.write_all(b"HTTP/1.0 200 OK\r\n\r\n{\"TaskARN\":\"t\"}").unwrap();
        });
        let body = get(&format!("http://127.0.0.1:{port}/v4/abc/task"), Duration::from_secs(2)).unwrap();
        assert_eq!(body, b"{\"TaskARN\":\"t\"}");
        t.join().unwrap();
        assert!(get("https://127.0.0.1/", Duration::from_millis(10)).is_err());
    }
}
