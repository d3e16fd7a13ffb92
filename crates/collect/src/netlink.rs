//! Socket tables through netlink sock_diag, inside a process's network namespace.
//!
//! Reading /proc/PID/net/tcp makes the kernel walk every socket of the host and format text; a
//! sock_diag dump walks only the namespace's sockets and sends binary records. The collector
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

fn request(proto: Proto, seq: u32) -> Vec<u8> {
    let mut body = Vec::with_capacity(56);
    match proto {
        Proto::Unix => {
            // struct unix_diag_req
            body.extend_from_slice(&[1, 0, 0, 0]); // AF_UNIX, protocol, pad
            body.extend_from_slice(&u32::MAX.to_ne_bytes()); // every state
            body.extend_from_slice(&0u32.to_ne_bytes()); // ino
            body.extend_from_slice(&UDIAG_SHOW_NAME.to_ne_bytes());
            body.extend_from_slice(&[0xff; 8]); // cookie: none
        }
        _ => {
            // struct inet_diag_req_v2
            let family = if matches!(proto, Proto::Tcp | Proto::Udp) { 2 } else { 10 };
            let protocol = if matches!(proto, Proto::Tcp | Proto::Tcp6) { 6 } else { 17 };
            body.extend_from_slice(&[family, protocol, 0, 0]);
            body.extend_from_slice(&u32::MAX.to_ne_bytes()); // every state
            body.extend_from_slice(&[0; 48]); // struct inet_diag_sockid: any
        }
    }
    let mut m = Vec::with_capacity(16 + body.len());
    m.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
    m.extend_from_slice(&curtain_parse::diag::SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    m.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&body);
    m
}

/// Dumps one table; returns every reply datagram, concatenated, up to and with NLMSG_DONE.
pub fn dump(sock: &OwnedFd, proto: Proto, seq: u32) -> Result<Vec<u8>, Errno> {
    let kernel = rustix::net::netlink::SocketAddrNetlink::new(0, 0);
    rustix::net::sendto(sock.as_fd(), &request(proto, seq), rustix::net::SendFlags::empty(), &kernel)?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let (n, _) = rustix::net::recv(sock.as_fd(), &mut buf[..], rustix::net::RecvFlags::empty())?;
        if n == 0 {
            return Ok(out);
        }
        let chunk = &buf[..n];
        out.extend_from_slice(chunk);
        // Done when this datagram holds NLMSG_DONE (or an error) for our sequence number.
        let mut o = 0;
        while o + 16 <= chunk.len() {
            let len = u32::from_ne_bytes(chunk[o..o + 4].try_into().expect("4 bytes")) as usize;
            let ty = u16::from_ne_bytes(chunk[o + 4..o + 6].try_into().expect("2 bytes"));
            if ty == NLMSG_ERROR {
                // The kernel refused the dump (no udp_diag here, say): the /proc table stands in.
                let code = chunk.get(o + 16..o + 20).map(|b| i32::from_ne_bytes(b.try_into().expect("4 bytes")));
                return match code {
                    Some(0) => Ok(out),
                    Some(c) => Err(Errno::from_raw_os_error(c.saturating_neg())),
                    None => Err(Errno::PROTO),
                };
            }
            if ty == NLMSG_DONE {
                return Ok(out);
            }
            if len < 16 {
                return Ok(out);
            }
            o += (len + 3) & !3;
        }
    }
}
