//! Socket tables through netlink sock_diag, inside a process's network namespace.
//!
//! Reading /proc/PID/net/tcp makes the kernel walk every socket of the host and format text; a
//! sock_diag dump sends binary records, and one dump covers TCP over IPv4 and IPv6. The collector
//! enters the target namespace only long enough to open the netlink socket (which stays bound to
//! that namespace), then returns to its own. Written by hand: the requests are two fixed C
//! structs, and a netlink crate would add more code than this file to the static collector.

use curtain_model::Proto;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketType};
use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_DONE: u16 = 3;
const NLMSG_ERROR: u16 = 2;
const UDIAG_SHOW_NAME: u32 = 0x1;

/// The tables sock_diag serves here (raw sockets stay on /proc).
pub const DIAG_TABLES: [Proto; 5] = [Proto::Tcp, Proto::Tcp6, Proto::Udp, Proto::Udp6, Proto::Unix];

/// Opens a NETLINK_SOCK_DIAG socket in the network namespace of `netns_file` (an open
/// /proc/PID/ns/net), then moves back to `home`. Fails (EPERM) without CAP_SYS_ADMIN.
pub fn socket_in(netns_file: BorrowedFd<'_>, home: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    move_into_link_name_space(netns_file, Some(LinkNameSpaceType::Network))?;
    let s = socket_here();
    // Back home before anything else; the socket keeps the namespace it was made in.
    move_into_link_name_space(home, Some(LinkNameSpaceType::Network))?;
    s
}

/// A NETLINK_SOCK_DIAG socket in the collector's own network namespace: no privilege needed (a
/// container's collector without CAP_SYS_ADMIN still dumps its own namespace, as `ss` does).
pub fn socket_here() -> Result<OwnedFd, Errno> {
    rustix::net::socket(AddressFamily::NETLINK, SocketType::DGRAM, Some(rustix::net::netlink::SOCK_DIAG))
}

/// The request for one table; `None`: TCP over both families, through the older TCPDIAG_GETSOCK,
/// which walks the kernel's TCP hash once where a SOCK_DIAG_BY_FAMILY dump per family walks it
/// twice (the hash is the host's, shared by every namespace: a walk costs as much in a namespace
/// with two sockets as in one with thousands).
fn request(table: Option<Proto>, seq: u32) -> Vec<u8> {
    let mut body = Vec::with_capacity(60);
    let kind = match table {
        None => {
            // struct inet_diag_req: family (any), src_len, dst_len, ext, the socket id (any),
            // every state, dbs.
            body.extend_from_slice(&[0, 0, 0, 0]);
            body.extend_from_slice(&[0; 48]);
            body.extend_from_slice(&u32::MAX.to_ne_bytes());
            body.extend_from_slice(&0u32.to_ne_bytes());
            curtain_parse::diag::TCPDIAG_GETSOCK
        }
        Some(Proto::Unix) => {
            // struct unix_diag_req
            body.extend_from_slice(&[1, 0, 0, 0]); // AF_UNIX, protocol, pad
            body.extend_from_slice(&u32::MAX.to_ne_bytes()); // every state
            body.extend_from_slice(&0u32.to_ne_bytes()); // ino
            body.extend_from_slice(&UDIAG_SHOW_NAME.to_ne_bytes());
            body.extend_from_slice(&[0xff; 8]); // cookie: none
            curtain_parse::diag::SOCK_DIAG_BY_FAMILY
        }
        Some(proto) => {
            // struct inet_diag_req_v2
            let family = if matches!(proto, Proto::Tcp | Proto::Udp) { 2 } else { 10 };
            let protocol = if matches!(proto, Proto::Tcp | Proto::Tcp6) { 6 } else { 17 };
            body.extend_from_slice(&[family, protocol, 0, 0]);
            body.extend_from_slice(&u32::MAX.to_ne_bytes()); // every state
            body.extend_from_slice(&[0; 48]); // struct inet_diag_sockid: any
            curtain_parse::diag::SOCK_DIAG_BY_FAMILY
        }
    };
    let mut m = Vec::with_capacity(16 + body.len());
    m.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
    m.extend_from_slice(&kind.to_ne_bytes());
    m.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&body);
    m
}

/// Dumps one table (see [`request`]) onto the end of `out`: every reply datagram, as received,
/// up to and with NLMSG_DONE. On an error `out` may hold part of the replies.
pub fn dump(sock: &OwnedFd, table: Option<Proto>, seq: u32, out: &mut Vec<u8>) -> Result<(), Errno> {
    let kernel = rustix::net::netlink::SocketAddrNetlink::new(0, 0);
    rustix::net::sendto(sock.as_fd(), &request(table, seq), rustix::net::SendFlags::empty(), &kernel)?;
    loop {
        // A dump datagram is at most 32 KiB; twice that, so that none is ever cut.
        out.reserve(64 << 10);
        let start = out.len();
        let (n, _) =
            rustix::net::recv(sock.as_fd(), rustix::buffer::spare_capacity(out), rustix::net::RecvFlags::empty())?;
        if n == 0 {
            return Ok(());
        }
        let chunk = &out[start..];
        let at = |o: usize| -> Option<(usize, u16, u32)> {
            let len = u32::from_ne_bytes(chunk.get(o..o + 4)?.try_into().ok()?) as usize;
            let ty = u16::from_ne_bytes(chunk.get(o + 4..o + 6)?.try_into().ok()?);
            let sq = u32::from_ne_bytes(chunk.get(o + 8..o + 12)?.try_into().ok()?);
            Some((len, ty, sq))
        };
        if at(0).is_some_and(|(_, _, sq)| sq != seq) {
            // Left over from an earlier dump of this socket that ended in an error: not this
            // table's, not kept.
            out.truncate(start);
            continue;
        }
        // Done when this datagram holds NLMSG_DONE (or an error) for our sequence number.
        let mut o = 0;
        while let Some((len, ty, _)) = at(o) {
            let code = chunk.get(o + 16..o + 20).map(|b| i32::from_ne_bytes(b.try_into().expect("4 bytes")));
            if ty == NLMSG_ERROR {
                // The kernel refused the dump (no udp_diag here, say): the /proc table stands in.
                return match code {
                    Some(0) => Ok(()),
                    Some(c) => Err(Errno::from_raw_os_error(c.saturating_neg())),
                    None => Err(Errno::PROTO),
                };
            }
            if ty == NLMSG_DONE {
                // Its payload is the dump's outcome: below 0, it stopped short (EINTR when the
                // tables changed under it, say).
                return match code {
                    Some(c) if c < 0 => Err(Errno::from_raw_os_error(c.saturating_neg())),
                    _ => Ok(()),
                };
            }
            if len < 16 {
                return Ok(());
            }
            o += (len + 3) & !3;
        }
    }
}
