//! Parsers for the socket tables of one network namespace: /proc/PID/net/{tcp,tcp6,udp,udp6,
//! raw,raw6,unix}.
//!
//! Written by hand rather than with procfs-core's `TcpNetEntries` and friends: those fail the whole
//! table on one line they do not expect (a unix socket path that is not UTF-8, which any process
//! can bind; a raw socket state other than 1 or 7; a TCP state newer than the crate), and a
//! responder must never lose every socket of a namespace to one hostile name. Here a bad line is
//! one error and the rest of the table stands.

use crate::proc::{parse_hex, parse_int, ParseError};
use curtain_model::{ByteString, Endpoint, Proto, Socket};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Name of a TCP state number (include/net/tcp_states.h).
pub fn tcp_state_name(st: u8) -> Option<&'static str> {
    Some(match st {
        1 => "ESTABLISHED",
        2 => "SYN_SENT",
        3 => "SYN_RECV",
        4 => "FIN_WAIT1",
        5 => "FIN_WAIT2",
        6 => "TIME_WAIT",
        7 => "CLOSE",
        8 => "CLOSE_WAIT",
        9 => "LAST_ACK",
        10 => "LISTEN",
        11 => "CLOSING",
        12 => "NEW_SYN_RECV",
        13 => "BOUND_INACTIVE",
        _ => return None,
    })
}

/// The name of an inet socket's state: TCP states by name; datagram and raw sockets use only 1
/// (connected) and 7 (not connected), named as ss names them; anything else as its number.
pub fn inet_state(proto: Proto, st: u8) -> String {
    match proto {
        Proto::Tcp | Proto::Tcp6 => tcp_state_name(st),
        _ => match st {
            1 => Some("ESTABLISHED"),
            7 => Some("UNCONN"),
            _ => None,
        },
    }
    .map(str::to_string)
    .unwrap_or_else(|| format!("0x{st:02X}"))
}

/// Parses a tcp/udp/raw table (v4 or v6), handing each socket to `emit` (a host has tens of
/// thousands: none is held here). Returns one error per line that could not be read;
/// `little_endian` is the byte order of the host that produced the table.
pub fn parse_inet_table(
    proto: Proto,
    netns: u64,
    b: &[u8],
    little_endian: bool,
    emit: &mut dyn FnMut(Socket),
) -> Vec<ParseError> {
    let mut errors = Vec::new();
    for (i, line) in b.split(|&c| c == b'\n').enumerate() {
        if i == 0 || line.iter().all(|c| c.is_ascii_whitespace()) {
            continue; // header
        }
        match parse_inet_line(proto, netns, line, little_endian) {
            Some(s) => emit(s),
            None => errors.push(ParseError(format!(
                "{}: line {}: {:?}",
                proto.table(),
                i + 1,
                String::from_utf8_lossy(line)
            ))),
        }
    }
    errors
}

fn parse_inet_line(proto: Proto, netns: u64, line: &[u8], le: bool) -> Option<Socket> {
    let mut f = line.split(|c| c.is_ascii_whitespace()).filter(|f| !f.is_empty());
    let _slot = f.next()?.strip_suffix(b":")?;
    let local = parse_endpoint(f.next()?, le)?;
    let remote = parse_endpoint(f.next()?, le)?;
    let st = parse_hex(f.next()?)? as u8;
    let queues = f.next()?;
    let colon = queues.iter().position(|&c| c == b':')?;
    let tx_queue = parse_hex(&queues[..colon])? as u32;
    let rx_queue = parse_hex(&queues[colon + 1..])? as u32;
    let _timer = f.next()?;
    let _retransmits = f.next()?;
    let uid = parse_int::<u32>(f.next()?)?;
    let _timeout = f.next()?;
    let inode = parse_int::<u64>(f.next()?)?;
    let state = inet_state(proto, st);
    Some(Socket {
        netns,
        proto,
        local: Some(local),
        remote: Some(remote),
        state,
        uid: Some(uid),
        inode,
        tx_queue: Some(tx_queue),
        rx_queue: Some(rx_queue),
        path: None,
        socket_type: None,
        owners: Vec::new(),
        owner_visible: false,
    })
}

/// `0100007F:1F90` or 32 hex digits `:port`. The address is printed as 32-bit words in host byte
/// order, each as `%08X`, so each word's bytes are reversed on a little-endian host.
fn parse_endpoint(b: &[u8], le: bool) -> Option<Endpoint> {
    let colon = b.iter().position(|&c| c == b':')?;
    let (addr, port) = (&b[..colon], &b[colon + 1..]);
    let port = u16::try_from(parse_hex(port)?).ok()?;
    let word = |w: &[u8]| -> Option<[u8; 4]> {
        let v = u32::from_str_radix(std::str::from_utf8(w).ok()?, 16).ok()?;
        Some(if le { v.to_le_bytes() } else { v.to_be_bytes() })
    };
    let ip = match addr.len() {
        8 => Ipv4Addr::from(word(addr)?).to_string(),
        32 => {
            let mut o = [0u8; 16];
            for i in 0..4 {
                o[i * 4..i * 4 + 4].copy_from_slice(&word(&addr[i * 8..i * 8 + 8])?);
            }
            Ipv6Addr::from(o).to_string()
        }
        _ => return None,
    };
    Some(Endpoint { ip, port })
}

/// Parses /proc/net/unix, handing each socket to `emit`. A path may hold any byte, even a
/// newline: a line that does not start like an entry continues the path of the entry before it,
/// so an entry is handed on when the next one starts.
pub fn parse_unix_table(netns: u64, b: &[u8], emit: &mut dyn FnMut(Socket)) -> Vec<ParseError> {
    let mut last: Option<Socket> = None;
    let mut errors = Vec::new();
    let body = b.strip_suffix(b"\n").unwrap_or(b);
    for (i, line) in body.split(|&c| c == b'\n').enumerate() {
        if i == 0 {
            continue;
        }
        match parse_unix_line(netns, line) {
            Some(s) => {
                if let Some(done) = last.replace(s) {
                    emit(done);
                }
            }
            None => match last.as_mut().and_then(|s| s.path.as_mut()) {
                Some(path) => {
                    path.0.push(b'\n');
                    path.0.extend_from_slice(line);
                }
                None => errors.push(ParseError(format!("unix: line {}: {:?}", i + 1, String::from_utf8_lossy(line)))),
            },
        }
    }
    if let Some(done) = last {
        emit(done);
    }
    errors
}

const SO_ACCEPTCON: u64 = 0x0001_0000;

/// The next single-space-separated field of `rest`, advancing past it and its separator.
fn take_field<'a>(rest: &mut &'a [u8]) -> &'a [u8] {
    let r: &'a [u8] = rest;
    let end = r.iter().position(|&c| c == b' ').unwrap_or(r.len());
    let (f, tail) = r.split_at(end);
    *rest = tail.strip_prefix(b" ").unwrap_or(tail);
    f
}

fn parse_unix_line(netns: u64, line: &[u8]) -> Option<Socket> {
    // "%pK: %08X %08X %08X %04X %02X %5lu" then " path" when bound.
    let mut rest = line;
    let num = take_field(&mut rest).strip_suffix(b":")?;
    if num.is_empty() || !num.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let _refcount = parse_hex(take_field(&mut rest))?;
    let _protocol = parse_hex(take_field(&mut rest))?;
    let flags = parse_hex(take_field(&mut rest))?;
    let ty = parse_hex(take_field(&mut rest))?;
    let st = parse_hex(take_field(&mut rest))?;
    // The inode is printed "%5lu": small inodes are padded with spaces.
    let lead = rest.iter().take_while(|&&c| c == b' ').count();
    rest = &rest[lead..];
    let inode = parse_int::<u64>(take_field(&mut rest))?;
    let path = (!rest.is_empty()).then(|| ByteString::from(rest));
    let socket_type = match ty {
        1 => "stream".to_string(),
        2 => "dgram".to_string(),
        5 => "seqpacket".to_string(),
        n => format!("{n}"),
    };
    let state = match st {
        1 if flags & SO_ACCEPTCON != 0 => "LISTEN".to_string(),
        1 => "UNCONNECTED".to_string(),
        2 => "CONNECTING".to_string(),
        3 => "CONNECTED".to_string(),
        4 => "DISCONNECTING".to_string(),
        n => format!("0x{n:02X}"),
    };
    Some(Socket {
        netns,
        proto: Proto::Unix,
        local: None,
        remote: None,
        state,
        uid: None,
        inode,
        tx_queue: None,
        rx_queue: None,
        path,
        socket_type: Some(socket_type),
        owners: Vec::new(),
        owner_visible: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // In the layout of the kernel's tcp4_seq_show (lines as a Linux 6.x host prints them, trailing
    // padding included): a listener on 127.0.0.1:8080 with an established connection to it, and
    // sshd listening on all addresses.
    const TCP: &[u8] = b"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode                                                     
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 424242 1 0000000000000000 100 0 0 10 0                    
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 17001 1 0000000000000000 100 0 0 10 0                     
   2: 0100007F:9C40 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 424243 1 0000000000000000 20 4 30 10 -1                   
";

    #[test]
    fn tcp4() {
        let (s, e) = crate::sockets_of(|e| parse_inet_table(Proto::Tcp, 7, TCP, true, e));
        assert!(e.is_empty());
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].local, Some(Endpoint { ip: "127.0.0.1".into(), port: 8080 }));
        assert_eq!(s[0].state, "LISTEN");
        assert_eq!(s[0].inode, 424242);
        assert_eq!(s[1].local.as_ref().unwrap().ip, "0.0.0.0");
        assert_eq!(s[2].remote, Some(Endpoint { ip: "127.0.0.1".into(), port: 8080 }));
        assert_eq!((s[2].state.as_str(), s[2].uid), ("ESTABLISHED", Some(1000)));
        assert_eq!(s[2].netns, 7);
    }

    // tcp6 in the layout of tcp6_seq_show: a listener on ::1 port 8443, a connection from ::ffff:127.0.0.1 to a
    // dual-stack listener on [::]:9000, and a global address to check the word order.
    const TCP6: &[u8] = b"  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:20FB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5001 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:2328 0000000000000000FFFF00000100007F:A000 01 00000000:00000000 00:00000000 00000000     0        0 5002 1 0000000000000000 20 4 30 10 -1
   2: B80D0120000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5003 1 0000000000000000 100 0 0 10 0
";

    #[test]
    fn tcp6_word_order_and_v4_mapped() {
        let (s, e) = crate::sockets_of(|e| parse_inet_table(Proto::Tcp6, 7, TCP6, true, e));
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(s[0].local, Some(Endpoint { ip: "::1".into(), port: 8443 }));
        assert_eq!(s[1].local, Some(Endpoint { ip: "::ffff:127.0.0.1".into(), port: 9000 }));
        assert_eq!(s[1].remote.as_ref().unwrap().port, 0xA000);
        assert_eq!(s[2].local.as_ref().unwrap().ip, "2001:db8::1");
    }

    #[test]
    fn every_tcp_state_is_named() {
        let mut table = b"header\n".to_vec();
        for st in 1..=13u8 {
            table.extend_from_slice(
                format!(
                    "{st}: 0100007F:0001 0100007F:0002 {st:02X} 00000000:00000000 00:00000000 00000000 0 0 {st} 1\n"
                )
                .as_bytes(),
            );
        }
        let (s, e) = crate::sockets_of(|e| parse_inet_table(Proto::Tcp, 1, &table, true, e));
        assert!(e.is_empty());
        let names: Vec<_> = s.iter().map(|s| s.state.as_str()).collect();
        assert_eq!(
            names,
            [
                "ESTABLISHED",
                "SYN_SENT",
                "SYN_RECV",
                "FIN_WAIT1",
                "FIN_WAIT2",
                "TIME_WAIT",
                "CLOSE",
                "CLOSE_WAIT",
                "LAST_ACK",
                "LISTEN",
                "CLOSING",
                "NEW_SYN_RECV",
                "BOUND_INACTIVE"
            ]
        );
    }

    #[test]
    fn udp_states_and_bad_lines() {
        let t = b"   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  127: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 16000 2 0000000000000000 0
  oops
  128: 0100007F:A001 0100007F:0035 01 00000000:00000000 00:00000000 00000000     0        0 16001 2 0000000000000000 0
";
        let (s, e) = crate::sockets_of(|e| parse_inet_table(Proto::Udp, 1, t, true, e));
        assert_eq!(s.len(), 2);
        assert_eq!(e.len(), 1);
        assert_eq!(s[0].local, Some(Endpoint { ip: "127.0.0.53".into(), port: 53 }));
        assert_eq!((s[0].state.as_str(), s[1].state.as_str()), ("UNCONN", "ESTABLISHED"));
    }

    #[test]
    fn big_endian_hosts_print_words_the_other_way() {
        let t = b"h\n0: 7F000001:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1\n";
        let (s, _) = crate::sockets_of(|e| parse_inet_table(Proto::Tcp, 1, t, false, e));
        assert_eq!(s[0].local.as_ref().unwrap().ip, "127.0.0.1");
    }

    // /proc/net/unix in the layout of unix_seq_show: a listening stream socket, a connected one without a
    // path, an abstract datagram socket; then a path holding a newline and a 0xff byte.
    const UNIX: &[u8] = b"Num       RefCount Protocol Flags    Type St Inode Path
0000000000000000: 00000002 00000000 00010000 0001 01 21001 /run/dbus/system_bus_socket
0000000000000000: 00000003 00000000 00000000 0001 03 21002
0000000000000000: 00000002 00000000 00000000 0002 01 21003 @/org/example/abstract
0000000000000000: 00000002 00000000 00010000 0005 01 21004 /tmp/odd
name\xff
00000000bcc991ab: 00000003 00000000 00000000 0001 03  1062
";

    #[test]
    fn unix_sockets() {
        let (s, e) = crate::sockets_of(|e| parse_unix_table(3, UNIX, e));
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(s.len(), 5);
        assert_eq!((s[4].inode, s[4].path.is_none()), (1062, true));
        assert_eq!((s[0].state.as_str(), s[0].socket_type.as_deref()), ("LISTEN", Some("stream")));
        assert_eq!(s[0].path, Some(ByteString::from("/run/dbus/system_bus_socket")));
        assert_eq!((s[1].state.as_str(), s[1].path.is_none()), ("CONNECTED", true));
        assert_eq!(s[2].socket_type.as_deref(), Some("dgram"));
        assert_eq!(s[3].path, Some(ByteString(b"/tmp/odd\nname\xff".to_vec())));
        assert_eq!(s[3].socket_type.as_deref(), Some("seqpacket"));
    }

    #[test]
    fn garbage_never_panics() {
        for b in
            [&b""[..], b"\n\n", b"h\n:", b"h\n0: :", b"h\n0: 1:1 2:2 zz", b"h\n0: 0100007F:FFFFF 0:0 01 0:0 0 0 0 0 1"]
        {
            let _ = crate::sockets_of(|e| parse_inet_table(Proto::Tcp6, 0, b, true, e));
            let _ = crate::sockets_of(|e| parse_unix_table(0, b, e));
        }
    }
}
