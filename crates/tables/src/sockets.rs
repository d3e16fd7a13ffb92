//! The socket step: every socket table read (/proc text or a sock_diag dump), once per network
//! namespace, kept until every process is in and then joined to all the (pid, fd) that hold each
//! socket; and the mount tables, once per mount namespace.

use crate::builder::error;
use crate::sink::{RowSink, Table};
use crate::{net, proc, Bytes, Tables};
use curtain_model::{Counts, ErrorKind, Proto, Socket};
use std::sync::Arc;

/// A dump of both TCP families at once, named as a table of its own.
pub const TCP46: &str = "tcp46";

/// The protocol of a socket table named as under `net/` (`tcp46`: TCP, whatever the family).
pub fn table_proto(table: &str) -> Option<Proto> {
    if table == TCP46 {
        return Some(Proto::Tcp);
    }
    Proto::from_table(table)
}

/// One socket table as read: /proc text, or a netlink sock_diag dump.
#[derive(Debug)]
pub(crate) struct NetTable {
    pub(crate) netns: u64,
    pub(crate) pid: u32,
    /// As under `net/`: `tcp`, `tcp6`..., or `tcp46` for one dump of both families.
    pub(crate) table: String,
    pub(crate) proto: Proto,
    pub(crate) bytes: TableBytes,
    pub(crate) little_endian: bool,
    pub(crate) netlink: bool,
}

/// A socket table's bytes: a copy, or a span of a buffer its reader handed over.
#[derive(Debug)]
pub(crate) enum TableBytes {
    Copied(Vec<u8>),
    Shared(Arc<Vec<u8>>, std::ops::Range<usize>),
}

impl TableBytes {
    /// `b` as a span of `buf` when it lies in it, else a copy.
    fn of(b: &[u8], buf: Option<&Arc<Vec<u8>>>) -> Self {
        if let Some(buf) = buf {
            let (base, at) = (buf.as_ptr() as usize, b.as_ptr() as usize);
            if at >= base && at + b.len() <= base + buf.len() {
                return TableBytes::Shared(Arc::clone(buf), at - base..at - base + b.len());
            }
        }
        TableBytes::Copied(b.to_vec())
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            TableBytes::Copied(v) => v,
            TableBytes::Shared(buf, r) => &buf[r.clone()],
        }
    }
}

impl<S: RowSink> Tables<S> {
    /// Adds one /proc/PID/net/* table read for network namespace `netns`; its sockets are
    /// parsed and written by [`Self::finish`].
    pub fn add_net_table(&mut self, netns: u64, pid: u32, proto: Proto, read: Bytes<'_>, little_endian: bool) {
        self.add_table(netns, pid, proto.table(), read, little_endian, false)
    }

    /// Adds one netlink sock_diag dump of a table, read in network namespace `netns`.
    pub fn add_diag_table(&mut self, netns: u64, pid: u32, proto: Proto, read: Bytes<'_>, little_endian: bool) {
        self.add_table(netns, pid, proto.table(), read, little_endian, true)
    }

    /// Adds one socket table (`table` as under `net/`; `tcp46` for a dump of both families),
    /// read from /proc or through netlink.
    pub fn add_table(
        &mut self,
        netns: u64,
        pid: u32,
        table: &str,
        read: Bytes<'_>,
        little_endian: bool,
        netlink: bool,
    ) {
        self.netns.insert(netns);
        let Some(proto) = table_proto(table) else { return };
        match read {
            Ok(b) => self.net_tables.push(NetTable {
                netns,
                pid,
                table: table.to_string(),
                proto,
                bytes: TableBytes::of(b, self.shared.as_ref()),
                little_endian,
                netlink,
            }),
            // No IPv6 in that namespace's kernel, for instance.
            Err(k) => self.push_error(error(Some(pid), table_path(pid, table, netlink), k, None)),
        }
    }

    /// Socket tables added from now on that lie in `buf` are kept as spans of it; `None`: copied.
    pub fn share(&mut self, buf: Option<Arc<Vec<u8>>>) {
        self.shared = buf;
    }

    /// Adds the mounts of one mount namespace, from the mountinfo of one of its processes.
    pub fn add_mountinfo(&mut self, mntns: u64, pid: u32, read: Bytes<'_>) {
        self.mntns.insert(mntns);
        let path = format!("{pid}/mountinfo");
        match read {
            Ok(b) => match proc::parse_mountinfo(mntns, pid, b) {
                Ok(m) => {
                    self.counts.mounts += m.len() as u64;
                    for row in &m {
                        self.emit(Table::Mounts, row);
                    }
                }
                Err(e) => self.push_error(error(Some(pid), path, ErrorKind::Parse, Some(e.0))),
            },
            Err(k) => self.push_error(error(Some(pid), path, k, None)),
        }
    }

    /// Joins every socket to all the (pid, fd) that hold it and writes the sockets table.
    /// Returns the counts.
    pub fn finish(&mut self) -> Counts {
        self.finish_with(|_| {})
    }

    /// [`Self::finish`], calling `each` with the sink after every socket row, so that a sink
    /// writing parts writes them as they fill: no table is held whole.
    pub fn finish_with(&mut self, mut each: impl FnMut(&mut S)) -> Counts {
        self.write_containers();
        each(&mut self.sink);
        // Stable: the owners of one socket stay in reading order.
        self.owners.sort_by_key(|(inode, _)| *inode);
        for t in std::mem::take(&mut self.net_tables) {
            let (netns, pid, proto) = (t.netns, t.pid, t.proto);
            let mut emit = |mut s: Socket| {
                let from = self.owners.partition_point(|(inode, _)| *inode < s.inode);
                let to = from + self.owners[from..].partition_point(|(inode, _)| *inode == s.inode);
                s.owners = self.owners[from..to].iter().map(|(_, o)| *o).collect();
                s.owner_visible = !s.owners.is_empty();
                self.counts.sockets += 1;
                self.counts.sockets_with_owner += s.owner_visible as u64;
                self.scratch.clear();
                // Serialising plain data into a Vec cannot fail.
                serde_json::to_writer(&mut self.scratch, &s).expect("serialise row");
                self.sink.row(Table::Sockets, &self.scratch);
                each(&mut self.sink);
            };
            let errors = match (proto, t.netlink) {
                (Proto::Unix, false) => net::parse_unix_table(netns, t.bytes.as_slice(), &mut emit),
                (_, false) => net::parse_inet_table(proto, netns, t.bytes.as_slice(), t.little_endian, &mut emit),
                (Proto::Unix, true) => {
                    curtain_parse::diag::parse_unix_diag(netns, t.bytes.as_slice(), t.little_endian, &mut emit)
                }
                (_, true) => {
                    curtain_parse::diag::parse_inet_diag(proto, netns, t.bytes.as_slice(), t.little_endian, &mut emit)
                }
            };
            drop(t.bytes);
            for e in errors {
                self.push_error(error(Some(pid), table_path(pid, &t.table, t.netlink), ErrorKind::Parse, Some(e.0)));
            }
        }
        self.counts()
    }
}

/// The path an error about a socket table names.
fn table_path(pid: u32, table: &str, netlink: bool) -> String {
    if netlink {
        format!("{pid}/netlink/{table}")
    } else {
        format!("{pid}/net/{table}")
    }
}
