//! Socket tables from netlink sock_diag replies: the same sockets as /proc/net/{tcp,tcp6,udp,
//! udp6,unix}, at a fraction of the kernel's cost (the kernel does not format text, and walks only
//! the asked-for namespace's sockets). The input is every reply datagram of one dump, as read.

use crate::net::inet_state;
use crate::proc::ParseError;
use curtain_model::{ByteString, Endpoint, Proto, Socket};
use std::net::{Ipv4Addr, Ipv6Addr};

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
/// SOCK_DIAG_BY_FAMILY.
pub const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// TCPDIAG_GETSOCK: the older request, which dumps TCP over IPv4 and IPv6 in one walk of the
/// kernel's TCP hash (where two SOCK_DIAG_BY_FAMILY dumps walk it twice); replies carry its type.
pub const TCPDIAG_GETSOCK: u16 = 18;
const UNIX_DIAG_NAME: u16 = 0;

fn u16_at(b: &[u8], o: usize, le: bool) -> Option<u16> {
    let a: [u8; 2] = b.get(o..o + 2)?.try_into().ok()?;
    Some(if le { u16::from_le_bytes(a) } else { u16::from_be_bytes(a) })
}

fn u32_at(b: &[u8], o: usize, le: bool) -> Option<u32> {
    let a: [u8; 4] = b.get(o..o + 4)?.try_into().ok()?;
    Some(if le { u32::from_le_bytes(a) } else { u32::from_be_bytes(a) })
}

/// The payloads of the SOCK_DIAG_BY_FAMILY messages, in order. Netlink headers are in host byte
/// order (`le`).
fn messages(b: &[u8], le: bool) -> (Vec<&[u8]>, Vec<ParseError>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let mut o = 0;
    while o + 16 <= b.len() {
        let (Some(len), Some(ty)) = (u32_at(b, o, le), u16_at(b, o + 4, le)) else { break };
        let len = len as usize;
        if len < 16 || o + len > b.len() {
            errors.push(ParseError(format!("netlink: message at {o} claims {len} bytes")));
            break;
        }
        match ty {
            SOCK_DIAG_BY_FAMILY | TCPDIAG_GETSOCK => out.push(&b[o + 16..o + len]),
            NLMSG_ERROR => {
                let code = b.get(o + 16..o + 20).and_then(|_| u32_at(b, o + 16, le)).map(|c| c as i32).unwrap_or(0);
                if code != 0 {
                    errors.push(ParseError(format!("netlink: error {code}")));
                }
            }
            NLMSG_DONE => {}
            other => errors.push(ParseError(format!("netlink: message type {other}"))),
        }
        o += (len + 3) & !3;
    }
    (out, errors)
}

fn socket(netns: u64, proto: Proto) -> Socket {
    Socket {
        netns,
        proto,
        local: None,
        remote: None,
        state: String::new(),
        uid: None,
        inode: 0,
        tx_queue: None,
        rx_queue: None,
        path: None,
        socket_type: None,
        owners: Vec::new(),
        owner_visible: false,
    }
}

/// Parses an inet_diag dump (struct inet_diag_msg per message) of TCP or UDP (`proto` names
/// the protocol; each socket's family, and so tcp or tcp6, is its message's).
pub fn parse_inet_diag(proto: Proto, netns: u64, b: &[u8], le: bool, emit: &mut dyn FnMut(Socket)) -> Vec<ParseError> {
    let tcp = matches!(proto, Proto::Tcp | Proto::Tcp6);
    let (msgs, mut errors) = messages(b, le);
    for m in msgs {
        if m.len() < 72 {
            errors.push(ParseError(format!("inet_diag: message of {} bytes", m.len())));
            continue;
        }
        let (family, st) = (m[0], m[1]);
        let proto = match (tcp, family) {
            (true, 2) => Proto::Tcp,
            (true, 10) => Proto::Tcp6,
            (false, 2) => Proto::Udp,
            (false, 10) => Proto::Udp6,
            _ => {
                errors.push(ParseError(format!("inet_diag: family {family}")));
                continue;
            }
        };
        // inet_diag_sockid: ports and addresses in network byte order.
        let sport = u16::from_be_bytes([m[4], m[5]]);
        let dport = u16::from_be_bytes([m[6], m[7]]);
        let addr = |o: usize| -> String {
            if family == 2 {
                Ipv4Addr::new(m[o], m[o + 1], m[o + 2], m[o + 3]).to_string()
            } else {
                let mut a = [0u8; 16];
                a.copy_from_slice(&m[o..o + 16]);
                Ipv6Addr::from(a).to_string()
            }
        };
        let mut s = socket(netns, proto);
        s.local = Some(Endpoint { ip: addr(8), port: sport });
        s.remote = Some(Endpoint { ip: addr(24), port: dport });
        s.rx_queue = u32_at(m, 56, le);
        s.tx_queue = u32_at(m, 60, le);
        s.uid = u32_at(m, 64, le);
        s.inode = u32_at(m, 68, le).unwrap_or(0) as u64;
        s.state = inet_state(proto, st);
        emit(s);
    }
    errors
}

/// Parses a unix_diag dump (struct unix_diag_msg and its UNIX_DIAG_NAME attribute).
pub fn parse_unix_diag(netns: u64, b: &[u8], le: bool, emit: &mut dyn FnMut(Socket)) -> Vec<ParseError> {
    let (msgs, mut errors) = messages(b, le);
    for m in msgs {
        if m.len() < 16 {
            errors.push(ParseError(format!("unix_diag: message of {} bytes", m.len())));
            continue;
        }
        let (ty, st) = (m[1], m[2]);
        let mut s = socket(netns, Proto::Unix);
        s.inode = u32_at(m, 4, le).unwrap_or(0) as u64;
        s.socket_type = Some(match ty {
            1 => "stream".to_string(),
            2 => "dgram".to_string(),
            5 => "seqpacket".to_string(),
            n => format!("{n}"),
        });
        s.state = match st {
            10 => "LISTEN",
            1 => "CONNECTED",
            2 => "CONNECTING",
            7 => "UNCONNECTED",
            _ => "",
        }
        .to_string();
        if s.state.is_empty() {
            s.state = format!("0x{st:02X}");
        }
        // Attributes follow the 16-byte header: {len u16, type u16, data}, 4-aligned.
        let mut o = 16;
        while o + 4 <= m.len() {
            let (Some(len), Some(kind)) = (u16_at(m, o, le), u16_at(m, o + 2, le)) else { break };
            let len = len as usize;
            if len < 4 || o + len > m.len() {
                break;
            }
            if kind == UNIX_DIAG_NAME {
                let name = &m[o + 4..o + len];
                // The abstract namespace starts with NUL; /proc/net/unix shows it as '@'.
                let mut path = name.to_vec();
                if path.first() == Some(&0) {
                    path[0] = b'@';
                }
                while path.last() == Some(&0) && path.len() > 1 && name.first() != Some(&0) {
                    path.pop();
                }
                s.path = Some(ByteString(path));
            }
            o += (len + 3) & !3;
        }
        emit(s);
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One netlink message of SOCK_DIAG_BY_FAMILY with `payload`, little-endian headers.
    fn msg(payload: &[u8]) -> Vec<u8> {
        let len = 16 + payload.len();
        let mut v = Vec::new();
        v.extend_from_slice(&(len as u32).to_le_bytes());
        v.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_le_bytes());
        v.extend_from_slice(&[2, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
        v.extend_from_slice(payload);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    fn done() -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&20u32.to_le_bytes());
        v.extend_from_slice(&NLMSG_DONE.to_le_bytes());
        v.extend_from_slice(&[2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        v
    }

    /// struct inet_diag_msg in the kernel's layout (include/uapi/linux/inet_diag.h).
    #[allow(clippy::too_many_arguments)]
    fn inet(family: u8, state: u8, sport: u16, dport: u16, src: &[u8], dst: &[u8], uid: u32, inode: u32) -> Vec<u8> {
        let mut m = vec![family, state, 0, 0];
        m.extend_from_slice(&sport.to_be_bytes());
        m.extend_from_slice(&dport.to_be_bytes());
        let mut a = [0u8; 16];
        a[..src.len()].copy_from_slice(src);
        m.extend_from_slice(&a);
        let mut a = [0u8; 16];
        a[..dst.len()].copy_from_slice(dst);
        m.extend_from_slice(&a);
        m.extend_from_slice(&[0; 4]); // if
        m.extend_from_slice(&[0; 8]); // cookie
        m.extend_from_slice(&0u32.to_le_bytes()); // expires
        m.extend_from_slice(&3u32.to_le_bytes()); // rqueue
        m.extend_from_slice(&5u32.to_le_bytes()); // wqueue
        m.extend_from_slice(&uid.to_le_bytes());
        m.extend_from_slice(&inode.to_le_bytes());
        m
    }

    #[test]
    fn tcp_v4_and_v6() {
        let mut b = msg(&inet(2, 10, 8080, 0, &[127, 0, 0, 1], &[0, 0, 0, 0], 0, 4242));
        let v6 = "::ffff:127.0.0.1".parse::<Ipv6Addr>().unwrap().octets();
        b.extend(msg(&inet(10, 1, 9000, 40000, &v6, &v6, 1000, 4343)));
        b.extend(done());
        let (s, e) = crate::sockets_of(|e| parse_inet_diag(Proto::Tcp, 7, &b, true, e));
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].local.clone().unwrap().ip.as_str(), s[0].local.as_ref().unwrap().port), ("127.0.0.1", 8080));
        assert_eq!((s[0].state.as_str(), s[0].inode, s[0].rx_queue, s[0].tx_queue), ("LISTEN", 4242, Some(3), Some(5)));
        assert_eq!(s[1].local.as_ref().unwrap().ip, "::ffff:127.0.0.1");
        assert_eq!((s[1].state.as_str(), s[1].uid), ("ESTABLISHED", Some(1000)));
    }

    #[test]
    fn one_dump_of_both_families() {
        // TCPDIAG_GETSOCK replies: the same messages under the older type.
        let mut b = msg(&inet(2, 1, 80, 5000, &[10, 0, 0, 1], &[10, 0, 0, 2], 0, 11));
        b.extend(msg(&inet(10, 10, 443, 0, &[0; 16], &[0; 16], 0, 12)));
        b.extend(msg(&inet(7, 10, 1, 0, &[0; 16], &[0; 16], 0, 13)));
        for at in [4, 4 + 88, 4 + 176] {
            b[at..at + 2].copy_from_slice(&TCPDIAG_GETSOCK.to_le_bytes());
        }
        b.extend(done());
        let (s, e) = crate::sockets_of(|e| parse_inet_diag(Proto::Tcp, 7, &b, true, e));
        assert_eq!(s.iter().map(|s| (s.proto, s.inode)).collect::<Vec<_>>(), [(Proto::Tcp, 11), (Proto::Tcp6, 12)]);
        assert_eq!(s[1].local.as_ref().unwrap().ip, "::");
        assert_eq!(e.len(), 1, "the unknown family is an error, not a socket: {e:?}");
    }

    #[test]
    fn unix_with_names() {
        let mut m = vec![1, 1, 10, 0];
        m.extend_from_slice(&555u32.to_le_bytes());
        m.extend_from_slice(&[0; 8]);
        let name = b"/run/x.sock";
        m.extend_from_slice(&((4 + name.len()) as u16).to_le_bytes());
        m.extend_from_slice(&UNIX_DIAG_NAME.to_le_bytes());
        m.extend_from_slice(name);
        let mut abs = vec![1, 2, 7, 0];
        abs.extend_from_slice(&556u32.to_le_bytes());
        abs.extend_from_slice(&[0; 8]);
        abs.extend_from_slice(&8u16.to_le_bytes());
        abs.extend_from_slice(&UNIX_DIAG_NAME.to_le_bytes());
        abs.extend_from_slice(b"\0abc");
        let mut b = msg(&m);
        b.extend(msg(&abs));
        let (s, e) = crate::sockets_of(|e| parse_unix_diag(3, &b, true, e));
        assert!(e.is_empty());
        assert_eq!((s[0].inode, s[0].state.as_str(), s[0].socket_type.as_deref()), (555, "LISTEN", Some("stream")));
        assert_eq!(s[0].path, Some(ByteString::from("/run/x.sock")));
        assert_eq!(s[1].path, Some(ByteString::from("@abc")));
        assert_eq!((s[1].state.as_str(), s[1].socket_type.as_deref()), ("UNCONNECTED", Some("dgram")));
    }

    #[test]
    fn truncated_and_hostile_input() {
        let mut b = msg(&inet(2, 1, 1, 2, &[1, 2, 3, 4], &[5, 6, 7, 8], 0, 1));
        b.truncate(b.len() - 10);
        let (s, e) = crate::sockets_of(|e| parse_inet_diag(Proto::Tcp, 1, &b, true, e));
        assert!(s.is_empty() && !e.is_empty());
        for junk in [&b""[..], b"\xff\xff\xff\xff", &[0u8; 40]] {
            let _ = crate::sockets_of(|e| parse_inet_diag(Proto::Udp, 1, junk, true, e));
            let _ = crate::sockets_of(|e| parse_unix_diag(1, junk, true, e));
        }
    }
}
