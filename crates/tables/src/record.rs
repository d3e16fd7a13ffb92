//! One access to a process's part of the proc tree, borrowing what it read: the form in which the
//! collector hands its reads to the tables (and writes them to `raw/reads.jsonl`), and into
//! which `reparse` turns each line of that log. Both sides then take the same path
//! ([`crate::replay::Pending`]), so a table is the same function of the evidence live and later.

use curtain_model::{json, ErrorKind, ExeStat, RawOp, RawRecord};

/// Why a read failed: the kind, and the errno when the system gave one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    pub kind: ErrorKind,
    pub errno: Option<i32>,
}

impl Failure {
    pub fn new(kind: ErrorKind, errno: i32) -> Self {
        Failure { kind, errno: Some(errno) }
    }
}

/// What one read gave: the bytes, or why there are none.
pub type Got<'a> = Result<&'a [u8], Failure>;

/// The name of a link read: `exe`, `ns/net`..., or an fd number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkName<'a> {
    Named(&'a str),
    Fd(u32),
}

/// One link read and its target.
#[derive(Clone, Copy, Debug)]
pub struct LinkRef<'a> {
    pub name: LinkName<'a>,
    pub got: Got<'a>,
}

/// One access within process `pid`, as `raw/reads.jsonl` records it.
#[derive(Clone, Copy, Debug)]
pub enum RecordRef<'a> {
    /// `/proc/PID` opened; a failure means the process was gone before any read.
    Opendir(Option<Failure>),
    /// A file under `/proc/PID/` (`stat`, `net/raw`, `mountinfo`...) read whole; `netns` or
    /// `mntns` when it was read for that namespace's tables.
    Read { name: &'a str, got: Got<'a>, truncated: bool, netns: Option<u64>, mntns: Option<u64> },
    /// A socket table (`net/tcp`, `net/tcp46`...) dumped through sock_diag in `netns`.
    Netlink { name: &'a str, netns: u64, got: Got<'a> },
    /// exe, cwd, root and the ns/* links.
    Links(&'a [LinkRef<'a>]),
    /// Every fd's link, or why the fds could not be read.
    Fds(Result<&'a [LinkRef<'a>], Failure>),
    /// The file behind `/proc/PID/exe`.
    Exe(Result<&'a ExeStat, Failure>),
    /// A path of a copied tree that is a symbolic link where a file or a directory was
    /// expected: its target, read in place of following it (`name` empty: `PID` itself).
    Readlink { name: &'a str, got: Got<'a> },
}

impl RecordRef<'_> {
    /// The record's path, as `raw/reads.jsonl` names it.
    pub fn path(&self, pid: u32) -> String {
        match self {
            RecordRef::Opendir(_) | RecordRef::Links(_) | RecordRef::Readlink { name: "", .. } => pid.to_string(),
            RecordRef::Read { name, .. } | RecordRef::Netlink { name, .. } | RecordRef::Readlink { name, .. } => {
                format!("{pid}/{name}")
            }
            RecordRef::Fds(_) => format!("{pid}/fd"),
            RecordRef::Exe(_) => format!("{pid}/exe"),
        }
    }

    /// Writes the name of the archive member holding the bytes it read (`raw/proc/PID/NAME`,
    /// `raw/netlink/NETNS/TABLE`); false when it read none.
    pub fn write_member(&self, pid: u32, out: &mut String) -> bool {
        match self {
            RecordRef::Read { name, got: Ok(_), .. } => {
                out.push_str("raw/proc/");
                out.push_str(itoa::Buffer::new().format(pid));
                out.push('/');
                out.push_str(name);
                true
            }
            RecordRef::Netlink { name, netns, got: Ok(_) } => {
                out.push_str("raw/netlink/");
                out.push_str(itoa::Buffer::new().format(*netns));
                out.push('/');
                out.push_str(name.strip_prefix("net/").unwrap_or(name));
                true
            }
            _ => false,
        }
    }

    /// The record as one line of `raw/reads.jsonl` (without its newline): the JSON of the
    /// equivalent [`RawRecord`], byte for byte.
    pub fn write_json(&self, pid: u32, out: &mut Vec<u8>) {
        let mut o = json::Obj::new(out);
        let op = match self {
            RecordRef::Opendir(_) => "opendir",
            RecordRef::Read { .. } => "read",
            RecordRef::Netlink { .. } => "netlink",
            RecordRef::Links(_) => "links",
            RecordRef::Fds(_) => "fds",
            RecordRef::Exe(_) => "exe",
            RecordRef::Readlink { .. } => "readlink",
        };
        o.raw("op", &[b"\"", op.as_bytes(), b"\""].concat());
        let path = o.key("path");
        path.push(b'"');
        json::int(path, pid);
        match self {
            RecordRef::Opendir(_) | RecordRef::Links(_) | RecordRef::Readlink { name: "", .. } => {}
            RecordRef::Read { name, .. } | RecordRef::Netlink { name, .. } | RecordRef::Readlink { name, .. } => {
                path.push(b'/');
                json::escaped(path, name);
            }
            RecordRef::Fds(_) => path.extend_from_slice(b"/fd"),
            RecordRef::Exe(_) => path.extend_from_slice(b"/exe"),
        }
        path.push(b'"');
        let mut failure = None;
        match *self {
            RecordRef::Opendir(f) => failure = f,
            RecordRef::Read { got, truncated, netns, mntns, .. } => {
                match got {
                    Ok(b) => {
                        o.int("size", b.len());
                        if truncated {
                            o.bool("truncated", true);
                        }
                    }
                    Err(f) => failure = Some(f),
                }
                o.opt_int("netns", netns);
                o.opt_int("mntns", mntns);
            }
            RecordRef::Netlink { netns, got, .. } => {
                match got {
                    Ok(b) => o.int("size", b.len()),
                    Err(f) => failure = Some(f),
                }
                o.int("netns", netns);
            }
            RecordRef::Links(links) => links_json(&mut o, links),
            RecordRef::Fds(Ok(links)) => links_json(&mut o, links),
            RecordRef::Fds(Err(f)) => failure = Some(f),
            RecordRef::Exe(Ok(st)) => exe_json(o.key("exe"), st),
            RecordRef::Exe(Err(f)) => failure = Some(f),
            RecordRef::Readlink { got: Ok(t), .. } => o.bytes("target", t),
            RecordRef::Readlink { got: Err(f), .. } => failure = Some(f),
        }
        if let Some(f) = failure {
            failure_json(&mut o, f);
        }
        o.end();
    }
}

impl<'a> RecordRef<'a> {
    /// The record a line of `raw/reads.jsonl` holds, within process `pid`, borrowing `rec`
    /// (and `links`, its links converted by [`links_of`]) and the member's `bytes`. An error
    /// when the line is not one the collector writes.
    pub fn from_raw(
        rec: &'a RawRecord,
        name: &'a str,
        links: &'a [LinkRef<'a>],
        bytes: Option<&'a [u8]>,
    ) -> Result<RecordRef<'a>, String> {
        let failure = rec.error.map(|kind| Failure { kind, errno: rec.errno });
        let got = || -> Result<Got<'a>, String> {
            match failure {
                Some(f) => Ok(Err(f)),
                None => bytes.map(Ok).ok_or(format!("no bytes for {}", rec.path)),
            }
        };
        Ok(match rec.op {
            RawOp::Opendir if name.is_empty() => RecordRef::Opendir(failure),
            RawOp::Read => {
                RecordRef::Read { name, got: got()?, truncated: rec.truncated, netns: rec.netns, mntns: rec.mntns }
            }
            RawOp::Netlink => {
                let netns = rec.netns.ok_or(format!("netlink record {} without netns", rec.path))?;
                RecordRef::Netlink { name, netns, got: got()? }
            }
            RawOp::Links => RecordRef::Links(links),
            RawOp::Fds => RecordRef::Fds(match failure {
                Some(f) => Err(f),
                None => Ok(links),
            }),
            RawOp::Exe => RecordRef::Exe(match (failure, rec.exe.as_ref()) {
                (Some(f), _) => Err(f),
                (None, Some(e)) => Ok(e),
                (None, None) => return Err(format!("exe record {} without result", rec.path)),
            }),
            RawOp::Readlink => RecordRef::Readlink {
                name,
                got: match (failure, rec.target.as_ref()) {
                    (Some(f), _) => Err(f),
                    (None, Some(t)) => Ok(t.0.as_slice()),
                    (None, None) => return Err(format!("readlink record {} without target", rec.path)),
                },
            },
            op => return Err(format!("unexpected {:?} of {}", op, rec.path)),
        })
    }
}

impl RecordRef<'_> {
    /// The equivalent owned record: what [`Self::write_json`] writes is its JSON.
    pub fn to_raw(&self, pid: u32) -> RawRecord {
        let op = match self {
            RecordRef::Opendir(_) => RawOp::Opendir,
            RecordRef::Read { .. } => RawOp::Read,
            RecordRef::Netlink { .. } => RawOp::Netlink,
            RecordRef::Links(_) => RawOp::Links,
            RecordRef::Fds(_) => RawOp::Fds,
            RecordRef::Exe(_) => RawOp::Exe,
            RecordRef::Readlink { .. } => RawOp::Readlink,
        };
        let mut r = RawRecord::new(op, self.path(pid));
        let fail = |r: &mut RawRecord, f: Failure| {
            r.error = Some(f.kind);
            r.errno = f.errno;
        };
        let links = |links: &[LinkRef<'_>]| -> Vec<curtain_model::LinkRead> {
            links
                .iter()
                .map(|l| curtain_model::LinkRead {
                    name: match l.name {
                        LinkName::Named(n) => n.to_string(),
                        LinkName::Fd(n) => n.to_string(),
                    },
                    target: l.got.ok().map(curtain_model::ByteString::from),
                    error: l.got.err().map(|f| f.kind),
                    errno: l.got.err().and_then(|f| f.errno),
                })
                .collect()
        };
        match *self {
            RecordRef::Opendir(f) => {
                if let Some(f) = f {
                    fail(&mut r, f)
                }
            }
            RecordRef::Read { got, truncated, netns, mntns, .. } => {
                match got {
                    Ok(b) => {
                        r.size = Some(b.len() as u64);
                        r.truncated = truncated;
                    }
                    Err(f) => fail(&mut r, f),
                }
                r.netns = netns;
                r.mntns = mntns;
            }
            RecordRef::Netlink { netns, got, .. } => {
                match got {
                    Ok(b) => r.size = Some(b.len() as u64),
                    Err(f) => fail(&mut r, f),
                }
                r.netns = Some(netns);
            }
            RecordRef::Links(l) => r.links = Some(links(l)),
            RecordRef::Fds(Ok(l)) => r.links = Some(links(l)),
            RecordRef::Fds(Err(f)) => fail(&mut r, f),
            RecordRef::Exe(Ok(st)) => r.exe = Some(st.clone()),
            RecordRef::Exe(Err(f)) => fail(&mut r, f),
            RecordRef::Readlink { got: Ok(t), .. } => r.target = Some(t.into()),
            RecordRef::Readlink { got: Err(f), .. } => fail(&mut r, f),
        }
        r
    }
}

/// The links of a log line, borrowed.
pub fn links_of(rec: &RawRecord) -> Vec<LinkRef<'_>> {
    rec.links
        .iter()
        .flatten()
        .map(|l| {
            let name = LinkName::Named(&l.name);
            let got = match (&l.target, l.error) {
                (Some(t), None) => Ok(t.0.as_slice()),
                (_, Some(kind)) => Err(Failure { kind, errno: l.errno }),
                (None, None) => Err(Failure { kind: ErrorKind::Parse, errno: None }),
            };
            LinkRef { name, got }
        })
        .collect()
}

fn failure_json(o: &mut json::Obj<'_>, f: Failure) {
    o.str("error", f.kind.as_str());
    o.opt_int("errno", f.errno);
}

fn links_json(o: &mut json::Obj<'_>, links: &[LinkRef<'_>]) {
    json::array(o.key("links"), links, |out, l| {
        let mut lo = json::Obj::new(out);
        let key = lo.key("name");
        match l.name {
            LinkName::Named(n) => json::str(key, n),
            LinkName::Fd(n) => {
                key.push(b'"');
                json::int(key, n);
                key.push(b'"');
            }
        }
        match l.got {
            Ok(t) => lo.bytes("target", t),
            Err(f) => failure_json(&mut lo, f),
        }
        lo.end();
    });
}

/// An [`ExeStat`] as serde writes it.
pub fn exe_json(out: &mut Vec<u8>, st: &ExeStat) {
    let mut o = json::Obj::new(out);
    o.int("dev", st.dev);
    o.int("inode", st.inode);
    o.int("nlink", st.nlink);
    o.int("size", st.size);
    o.int("mtime", st.mtime);
    if let Some(h) = &st.sha256 {
        o.str("sha256", h);
    }
    if let Some(c) = &st.carved {
        o.str("carved", c);
    }
    if st.carved_truncated {
        o.bool("carved_truncated", true);
    }
    o.end();
}
