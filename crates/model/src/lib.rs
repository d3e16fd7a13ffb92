//! The evidence archive's vocabulary: plain serde types shared by the collector, the parsers,
//! the analysis and the renderers.
//!
//! Nothing here does I/O or interprets anything; a type says what one row of a table means.
//! Everything that came from the target is kept exact: bytes that are not UTF-8 stay bytes
//! ([`ByteString`]), and a value that could not be read is an [`ErrorKind`], never a guess.

#![forbid(unsafe_code)]

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

pub mod json;
mod time;
pub use time::{format_rfc3339_ns, format_rfc3339_signed_ns, parse_rfc3339_ns, write_rfc3339_ns, MAX_TIME_NS};

pub mod register;
pub mod term;
pub use term::{term, TermSafe};

/// Version of the archive layout described in docs/ARCHIVE.md: 2 since repeated raw files are
/// tar hard links (a reader of version 1 refuses them).
pub const FORMAT_VERSION: u32 = 2;

/// Bytes read from the target, kept byte-exact.
///
/// Serialised as a plain JSON string when the bytes are UTF-8, and otherwise as
/// `{"lossy": "...", "hex": "..."}` so that a reader sees something legible and the exact bytes.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteString(pub Vec<u8>);

impl ByteString {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    /// A lossy, legible rendering (U+FFFD for bytes that are not UTF-8).
    pub fn to_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }
    pub fn is_utf8(&self) -> bool {
        std::str::from_utf8(&self.0).is_ok()
    }
}

impl From<&[u8]> for ByteString {
    fn from(b: &[u8]) -> Self {
        ByteString(b.to_vec())
    }
}
impl From<Vec<u8>> for ByteString {
    fn from(b: Vec<u8>) -> Self {
        ByteString(b)
    }
}
impl From<&str> for ByteString {
    fn from(s: &str) -> Self {
        ByteString(s.as_bytes().to_vec())
    }
}

impl fmt::Debug for ByteString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_lossy())
    }
}
impl fmt::Display for ByteString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_lossy())
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Lower-case hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// Bytes of a hex string, `None` if it is not hex.
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    fn nib(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks(2).map(|p| Some(nib(p[0])? << 4 | nib(p[1])?)).collect()
}

impl Serialize for ByteString {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(text) => s.serialize_str(text),
            Err(_) => {
                use serde::ser::SerializeStruct;
                let mut st = s.serialize_struct("ByteString", 2)?;
                st.serialize_field("lossy", &self.to_lossy())?;
                st.serialize_field("hex", &to_hex(&self.0))?;
                st.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for ByteString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Text(String),
            Raw { hex: String },
        }
        match Repr::deserialize(d)? {
            Repr::Text(t) => Ok(ByteString(t.into_bytes())),
            Repr::Raw { hex } => {
                from_hex(&hex).map(ByteString).ok_or_else(|| serde::de::Error::custom("bad hex in byte string"))
            }
        }
    }
}

/// Why a value is missing. Errors are data: each one names what could not be read and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file does not exist (often: the process exited, or a kernel without that file).
    ENOENT,
    /// Permission denied: the collector lacks the privilege (not root, no CAP_SYS_PTRACE...).
    EACCES,
    /// Operation not permitted.
    EPERM,
    /// The process exited while it was being read.
    ESRCH,
    /// The process exited while it was being read (a read through its directory fd failed with
    /// ESRCH), or before its first read.
    #[serde(rename = "vanished")]
    Vanished,
    /// The bytes were read but are not in the format the kernel writes.
    #[serde(rename = "parse")]
    Parse,
    /// The content was larger than the collector keeps; what was kept is a prefix.
    #[serde(rename = "truncated")]
    Truncated,
    /// Any other errno, named in the error's detail.
    #[serde(rename = "other")]
    Other,
    /// A symbolic link of a copied proc tree where a file or a directory was expected: its
    /// target is recorded, never followed (what it names is on the examiner's machine).
    #[serde(rename = "not_followed")]
    NotFollowed,
    /// A file of a copied proc tree that is not a regular file (a FIFO, a device, a socket):
    /// refused before any read, which could block or act on a device.
    #[serde(rename = "not_regular")]
    NotRegular,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::ENOENT => "ENOENT",
            ErrorKind::EACCES => "EACCES",
            ErrorKind::EPERM => "EPERM",
            ErrorKind::ESRCH => "ESRCH",
            ErrorKind::Vanished => "vanished",
            ErrorKind::Parse => "parse",
            ErrorKind::Truncated => "truncated",
            ErrorKind::Other => "other",
            ErrorKind::NotFollowed => "not_followed",
            ErrorKind::NotRegular => "not_regular",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing that could not be read or understood (a row of `tables/errors.jsonl`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectError {
    /// The process it belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// The /proc path (relative to the proc root, e.g. `1234/environ`, `net/tcp`).
    pub path: String,
    pub kind: ErrorKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Namespace inodes, as read from the `ns/*` links.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespaces {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mnt: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uts: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipc: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<u64>,
}

/// The names of the namespace links read for each process, in reading order.
pub const NAMESPACE_NAMES: [&str; 8] = ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"];

impl Namespaces {
    pub fn set(&mut self, name: &str, inode: u64) {
        let slot = match name {
            "mnt" => &mut self.mnt,
            "net" => &mut self.net,
            "pid" => &mut self.pid,
            "uts" => &mut self.uts,
            "ipc" => &mut self.ipc,
            "user" => &mut self.user,
            "cgroup" => &mut self.cgroup,
            "time" => &mut self.time,
            _ => return,
        };
        *slot = Some(inode);
    }
}

/// One line of `/proc/PID/cgroup`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupEntry {
    /// Hierarchy id: 0 for the cgroup v2 unified hierarchy.
    pub hierarchy: u32,
    /// Controllers bound to the hierarchy (`cpu,cpuacct`, `name=systemd`, empty for v2).
    pub controllers: String,
    pub path: ByteString,
}

/// The executable a process runs, seen through `/proc/PID/exe`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exe {
    /// The link target as the kernel gives it (with " (deleted)" when the kernel adds it).
    pub path: ByteString,
    /// True when the file's link count is 0: it was unlinked while running. Decided from the
    /// link count, not from the " (deleted)" suffix, which a file name can carry. `None` when
    /// the file could not be opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<bool>,
    /// True for an anonymous memory file (`memfd_create`), the fileless-execution case.
    pub memfd: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nlink: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inode: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime: Option<i64>,
    /// Archive member holding the executable's bytes (with `--carve-exe`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carved: Option<String>,
}

/// Why the collector marked a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Label {
    /// The collector itself.
    #[serde(rename = "self")]
    SelfCollector,
    /// The responder's session that started the collector (its ancestors in its session).
    Responder,
    /// The ECS Exec / SSM agent (bind-mounted under /managed-agents/execute-command/).
    SsmAgent,
}

impl Process {
    /// The command name's bytes; empty when `stat` could not be read.
    pub fn comm_bytes(&self) -> &[u8] {
        self.comm.as_ref().map_or(&[][..], |c| c.as_bytes())
    }
    /// The command name for display (lossy); empty when `stat` could not be read.
    pub fn comm_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(self.comm_bytes())
    }
}

/// One process (a row of `tables/processes.jsonl`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    pub pid: u32,
    /// The parent, `ppid`, `starttime_ticks`, `comm` and `state` come from `stat`: when it could
    /// not be read they are absent (the reason is in `errors`), never zeros that a tree or a
    /// detector would believe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ppid: Option<u32>,
    /// Start time in clock ticks after boot (field 22 of stat): with `pid`, the identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starttime_ticks: Option<u64>,
    /// Wall-clock start, RFC 3339 UTC, derived from the clocks in the manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// The command name, byte-exact (it may hold `)`, spaces, newlines, non-UTF-8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comm: Option<ByteString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pgrp: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tty_nr: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub euid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egid: Option<u32>,
    /// Effective capabilities, as the 16 hex digits of status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap_eff: Option<String>,
    /// PF_KTHREAD set in the stat flags.
    pub kernel_thread: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exe: Option<Exe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmdline: Option<Vec<ByteString>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environ: Option<Vec<ByteString>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<ByteString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<ByteString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<Vec<CgroupEntry>>,
    pub ns: Namespaces,
    /// The pid in each nested pid namespace, outermost first (NSpid of status).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nspid: Vec<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracer_pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<Label>,
    /// How many file descriptors were listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fd_count: Option<u32>,
    /// It exited while it was being read (a read failed with ESRCH): what was read is kept.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub vanished: bool,
    /// Per field, why it is missing.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub errors: BTreeMap<String, ErrorKind>,
}

/// What an open file descriptor points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FdKind {
    File,
    Socket,
    Pipe,
    /// `anon_inode:` (eventfd, epoll, timerfd, bpf...).
    Anon,
    Memfd,
    /// A file that was unlinked while open.
    Deleted,
    Other,
}

/// One open file descriptor (a row of `tables/fds.jsonl`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fd {
    pub pid: u32,
    pub fd: u32,
    pub target: ByteString,
    pub kind: FdKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket_inode: Option<u64>,
}

/// Socket families and protocols, as the /proc/net table they come from names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Tcp6,
    Udp,
    Udp6,
    Raw,
    Raw6,
    Unix,
}

impl Proto {
    pub const ALL: [Proto; 7] =
        [Proto::Tcp, Proto::Tcp6, Proto::Udp, Proto::Udp6, Proto::Raw, Proto::Raw6, Proto::Unix];
    /// The file name under /proc/PID/net/.
    pub fn table(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Tcp6 => "tcp6",
            Proto::Udp => "udp",
            Proto::Udp6 => "udp6",
            Proto::Raw => "raw",
            Proto::Raw6 => "raw6",
            Proto::Unix => "unix",
        }
    }
    pub fn from_table(name: &str) -> Option<Proto> {
        Proto::ALL.into_iter().find(|p| p.table() == name)
    }
}

/// An IP endpoint. IPv6 in its canonical text form; v4-mapped shows as `::ffff:a.b.c.d`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Endpoint {
    pub ip: String,
    pub port: u16,
}

impl fmt::Display for Endpoint {
    /// `ip:port`, with brackets around an IPv6 address.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ip.contains(':') {
            write!(f, "[{}]:{}", self.ip, self.port)
        } else {
            write!(f, "{}:{}", self.ip, self.port)
        }
    }
}

/// A process and descriptor that hold a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Owner {
    pub pid: u32,
    pub fd: u32,
}

/// One socket of one network namespace (a row of `tables/sockets.jsonl`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Socket {
    /// Inode of the network namespace whose table listed it.
    pub netns: u64,
    pub proto: Proto,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<Endpoint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<Endpoint>,
    /// TCP state name (`LISTEN`, `ESTABLISHED`...), the unix state, or the raw number.
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    pub inode: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_queue: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rx_queue: Option<u32>,
    /// Unix sockets: bound path (`@name` for the abstract namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<ByteString>,
    /// Unix sockets: `stream`, `dgram` or `seqpacket`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket_type: Option<String>,
    /// Every (pid, fd) that holds it.
    pub owners: Vec<Owner>,
    /// False when no visible process holds it: a process of another pid namespace sharing
    /// this network namespace (the Fargate sidecar case), or a socket in TIME_WAIT.
    pub owner_visible: bool,
}

/// Which mappings `maps.jsonl` keeps (the ones that matter to a responder).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MapKind {
    /// Executable mapping of a file on disk.
    ExecFile,
    /// Mapping of a file that has been unlinked.
    Deleted,
    /// Mapping of an anonymous memory file.
    Memfd,
    /// Anonymous memory that is executable: injected or JIT code.
    AnonExec,
}

/// One memory mapping (a row of `tables/maps.jsonl`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mapping {
    pub pid: u32,
    pub start: String,
    pub end: String,
    pub perms: String,
    pub offset: u64,
    pub dev: String,
    pub inode: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<ByteString>,
    pub kind: MapKind,
}

/// One mount of one mount namespace (a row of `tables/mounts.jsonl`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    pub mnt_ns: u64,
    /// The process whose mountinfo was read for that namespace.
    pub pid: u32,
    pub mount_id: u32,
    pub parent_id: u32,
    pub major_minor: String,
    pub root: ByteString,
    pub mount_point: ByteString,
    pub options: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub optional: Vec<String>,
    pub fs_type: String,
    pub source: ByteString,
    pub super_options: String,
}

/// The clocks and host constants recorded at collection, from which times are derived.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clock {
    /// CLOCK_REALTIME at start, ns since the epoch.
    pub realtime_start_ns: u64,
    /// CLOCK_BOOTTIME at start, ns since boot.
    pub boottime_start_ns: u64,
    pub realtime_end_ns: u64,
    pub boottime_end_ns: u64,
    /// Boot time from /proc/stat (whole seconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub btime: Option<u64>,
    pub clk_tck: u64,
    pub page_size: u64,
    /// Byte order of the collecting host: /proc/net addresses are printed as host-order words.
    #[serde(default = "yes")]
    pub little_endian: bool,
    /// What process start times count from; absent: [`StartBasis::Clocks`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_basis: Option<StartBasis>,
}

fn yes() -> bool {
    true
}

/// The boot time that process start times (ticks after boot) are added to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum StartBasis {
    /// The collecting machine's clocks read back to back (realtime - boottime): exact to the
    /// nanosecond, and right only when the tree read is that machine's own live procfs.
    #[default]
    #[serde(rename = "clocks")]
    Clocks,
    /// The `btime` of the tree's own `stat` (whole seconds): a copied tree was booted on another
    /// machine, at another time, and the collecting machine's clocks say nothing of it.
    #[serde(rename = "btime")]
    Btime,
}

impl Clock {
    /// Wall-clock ns since the epoch at boot, by [`Self::start_basis`]; with `btime` as the basis
    /// and none read, 0 (unknown).
    pub fn boot_wall_ns(&self) -> u64 {
        self.boot_ns().unwrap_or(0)
    }
    fn boot_ns(&self) -> Option<u64> {
        match self.start_basis.unwrap_or_default() {
            StartBasis::Clocks => Some(self.realtime_start_ns.saturating_sub(self.boottime_start_ns)),
            StartBasis::Btime => self.btime.and_then(|b| b.checked_mul(1_000_000_000)),
        }
    }
    /// Wall-clock ns of a process start given in ticks after boot; `None` when the boot time
    /// it counts from is unknown (a copied tree without `btime`), rather than a guess, and past
    /// the last instant kept ([`MAX_TIME_NS`]: a hostile or corrupt tick count or btime is
    /// refused, never wrapped or clamped to a plausible time).
    pub fn ticks_to_wall_ns(&self, ticks: u64) -> Option<u64> {
        let tck = self.clk_tck.max(1) as u128;
        let after_boot = (ticks as u128 * 1_000_000_000) / tck;
        let ns = self.boot_ns()? as u128 + after_boot;
        (ns <= MAX_TIME_NS as u128).then_some(ns as u64)
    }
}

/// Who ran the collector, and where.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Collector {
    pub pid: u32,
    pub uid: u32,
    pub euid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap_eff: Option<String>,
    pub ns: Namespaces,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<Vec<CgroupEntry>>,
}

/// The ECS task and container the collector ran in, from the task metadata endpoint v4.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EcsIdentity {
    pub cluster: Option<String>,
    pub task_arn: Option<String>,
    pub family: Option<String>,
    pub revision: Option<String>,
    pub container_name: Option<String>,
    pub docker_id: Option<String>,
    pub image: Option<String>,
    pub image_digest: Option<String>,
    pub ipv4_addresses: Vec<String>,
    pub availability_zone: Option<String>,
    pub launch_type: Option<String>,
    /// Every container of the task: name, docker id, image, digest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<EcsContainer>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EcsContainer {
    pub name: Option<String>,
    pub docker_id: Option<String>,
    pub image: Option<String>,
    pub image_digest: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ipv4_addresses: Vec<String>,
}

/// One container found on the machine (a row of `tables/containers.jsonl`): its id from the
/// cgroups of its processes, and what the host's own files said about it. Every value but `id`,
/// `runtime` and `pids` comes from files an attacker in the container may have shaped (labels,
/// names): text to show, escaped, never to act on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRow {
    /// What the cgroup path says: `docker`, `containerd`, `cri-o`, `ecs-ec2`, `ecs-fargate`,
    /// `kubernetes`.
    pub runtime: String,
    /// The runtime's id (64 hex; an ECS Fargate `<task>-<n>`).
    pub id: String,
    /// Its processes, in the order of collection.
    pub pids: Vec<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Docker's image id: the SHA-256 of the image's configuration (`sha256:...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
    /// The labels of interest (ECS and Kubernetes), as the runtime kept them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecs: Option<ContainerEcs>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<ContainerPod>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    /// Mounts whose source is on the host (binds and volumes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<HostMount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_mode: Option<String>,
    /// The docker data root its files were found under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_root: Option<String>,
    /// Where each field came from: `cgroup`, `docker-config` (config.v2.json),
    /// `docker-hostconfig` (hostconfig.json), `ecs-agent` (the introspection API), `kubelet-logs`
    /// (the /var/log/pods layout).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sources: BTreeMap<String, String>,
}

/// The ECS task a container belongs to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerEcs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_status: Option<String>,
}

/// The Kubernetes pod a container belongs to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerPod {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
}

/// A mount of a host path into a container.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostMount {
    pub source: String,
    pub destination: String,
    pub ro: bool,
    /// `bind`, `volume`...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// Options the collector ran with.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectOptions {
    pub proc_root: String,
    /// Cap per carved executable, when `--carve-exe` was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carve_exe: Option<u64>,
    pub no_environ: bool,
    /// What the proc root was found to be when opened; absent in archives written before it was
    /// recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proc_root_kind: Option<ProcRootKind>,
    /// `--time-budget`, in milliseconds, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_budget_ms: Option<u64>,
}

/// What a proc root is: a tree to read through the kernel, or a copy to read as data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProcRootKind {
    /// A live procfs mount (its filesystem magic is PROC_SUPER_MAGIC): read as the kernel
    /// renders it, links followed where the kernel resolves them.
    #[serde(rename = "procfs")]
    Procfs,
    /// Anything else (another tool's collection, an upload): plain files and symbolic links
    /// that anyone may have made. Links are recorded and never followed, only regular files are
    /// read, and nothing in it is taken as the collector or its clocks.
    #[serde(rename = "copied")]
    Copied,
}

/// A collection stopped before it read every process: what was read, and why it stopped. The
/// archive is complete and verifies; it holds the first `processes_read` of the processes
/// listed, in the order of collection.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partial {
    /// `SIGTERM`, `SIGINT` or `time_budget`.
    pub reason: String,
    pub processes_read: u64,
    pub processes_listed: u64,
}

/// One member of the archive with its digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// What was collected, counted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub processes: u64,
    pub kernel_threads: u64,
    pub fds: u64,
    pub sockets: u64,
    pub sockets_with_owner: u64,
    pub netns: u64,
    pub mntns: u64,
    pub maps: u64,
    pub mounts: u64,
    pub executables_hashed: u64,
    pub errors: u64,
    pub raw_bytes: u64,
}

/// `manifest.json`: the archive's identity card, written last.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub tool: String,
    pub tool_version: String,
    pub argv: Vec<ByteString>,
    pub collector: Collector,
    pub hostname: String,
    pub kernel_release: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
    pub clock: Clock,
    pub started_at: String,
    pub ended_at: String,
    /// Present when the collection was stopped early (a signal, `--time-budget`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial: Option<Partial>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecs: Option<EcsIdentity>,
    pub options: CollectOptions,
    pub counts: Counts,
    pub errors_by_kind: BTreeMap<String, u64>,
    /// Every other member of the archive, in archive order, with size and SHA-256.
    pub members: Vec<Member>,
    /// Set by `reparse -o`: the archive these tables were rebuilt from and whether it verified.
    /// A collection never writes it, so a collection's manifest keeps its bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebuilt_from: Option<Provenance>,
    /// Set when `curtain acquire` took the snapshot: how, through what, of which target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acquisition: Option<Acquisition>,
}

/// How an acquisition reached its target, as `curtain acquire` hands it to the collector (or
/// writes it itself for the shell method): the chain of custody inside the evidence.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acquisition {
    /// `binary` (the collector pushed and run in the target) or `shell` (a POSIX sh script read
    /// /proc in the target; the tables were built off the target from the bytes it sent).
    pub method: String,
    /// `docker`, `docker-tty`, `kubectl`, `kubectl-tty`, `ecs-exec`.
    pub transport: String,
    /// The target's identity as known when acquired.
    pub target: AcquisitionTarget,
    /// The collector pushed into the target (binary method): where and what.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed: Option<Pushed>,
    /// The shell method: the tables were built by `curtain acquire` from the raw bytes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tables_built_off_target: bool,
    /// Who ran it: the caller's AWS identity (ECS), the local user otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
}

/// Every identity of an acquired container that was known; absent ones unknown.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcquisitionTarget {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// The container runtime's id (docker id, ECS `runtimeId`, CRI container id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
    /// Docker's name for the container (without the leading `/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_uid: Option<String>,
}

/// The collector as pushed into a target.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pushed {
    /// Where it was written in the target.
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

/// Where a rebuilt archive came from. Rebuilding writes a new manifest over the old raw bytes, so
/// an archive that failed verification would otherwise come out verifying: this keeps the failure
/// on record, through every later rebuild.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// SHA-256 of the source archive file.
    pub sha256: String,
    /// Whether the source passed `verify`.
    pub verified: bool,
    /// What `verify` found wrong with it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// The source's own `rebuilt_from`, when it was itself rebuilt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebuilt_from: Option<Box<Provenance>>,
}

impl Provenance {
    /// True when this archive and every archive it was rebuilt from verified.
    pub fn all_verified(&self) -> bool {
        self.verified && self.rebuilt_from.as_ref().is_none_or(|p| p.all_verified())
    }
}

/// What one access to the proc tree gave: a row of `raw/reads.jsonl`.
///
/// Together with the bytes under `raw/proc/`, these rows are the whole raw evidence: every table
/// is rebuilt from them (`curtain reparse`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawRecord {
    pub op: RawOp,
    /// Path relative to the proc root (`1234/stat`, `1234/fd/3`, `stat`).
    pub path: String,
    /// `read`: bytes kept in the member `raw/proc/<path>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// `read`: the file was larger than the cap; the member holds a prefix.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// `readlink`: the link target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<ByteString>,
    /// `links` (exe, cwd, root, ns/*) and `fds` (each fd/N): every link read, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<Vec<LinkRead>>,
    /// `listdir`: the names listed (fd numbers, pids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<Vec<String>>,
    /// `exe`: what opening /proc/PID/exe and hashing it gave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exe: Option<ExeStat>,
    /// Network namespace a `net/*` table was read for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<u64>,
    /// Mount namespace a `mountinfo` was read for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mntns: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno: Option<i32>,
    /// What went wrong, in words, where an errno does not say it (an HTTP status).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl RawRecord {
    pub fn new(op: RawOp, path: String) -> Self {
        RawRecord {
            op,
            path,
            size: None,
            truncated: false,
            target: None,
            links: None,
            entries: None,
            exe: None,
            netns: None,
            mntns: None,
            error: None,
            errno: None,
            detail: None,
        }
    }
}

/// The kinds of access the collector makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawOp {
    /// A whole file read.
    Read,
    /// A symbolic link read (`self`).
    Readlink,
    /// The links of a process read: exe, cwd, root and ns/*.
    Links,
    /// A process's fd directory listed and each fd's link read.
    Fds,
    /// A directory listed (the proc root).
    Listdir,
    /// The file behind /proc/PID/exe: statx'ed, and hashed the first time it is seen.
    Exe,
    /// A process directory opened: an error means it was gone before its first read. Every
    /// later read of the process goes through that directory and fails with ESRCH once the
    /// process has exited, so each read re-checks it.
    Opendir,
    /// A GET of the ECS task metadata endpoint (`container` or `task`), kept under `raw/ecs/`.
    Http,
    /// A socket table dumped through netlink sock_diag inside the table's network namespace,
    /// instead of reading `/proc/PID/net/<table>`; the replies are kept under
    /// `raw/netlink/<netns>/<table>`.
    Netlink,
    /// A file of the host read from the collector's own root (a container runtime's files:
    /// docker's config.v2.json and hostconfig.json, /etc/docker/daemon.json); `path` is
    /// absolute, the bytes under `raw/host/<path>`.
    Host,
    /// A directory of the host listed (the kubelet's /var/log/pods); `entries` its names.
    Hostlist,
}

/// One link read: its name (`exe`, `ns/net`, or an fd number) and its target, or why not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRead {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<ByteString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno: Option<i32>,
}

/// statx of the file behind /proc/PID/exe, and its digest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExeStat {
    pub dev: u64,
    pub inode: u64,
    pub nlink: u64,
    pub size: u64,
    pub mtime: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Archive member with the bytes, when carved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carved: Option<String>,
    /// The carved member holds only the first `--carve-exe` bytes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub carved_truncated: bool,
}

/// An archive loaded for analysis: its manifest and every table.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Where it was loaded from (a path, for the reader).
    pub source: String,
    /// SHA-256 of the archive file.
    pub archive_sha256: Option<String>,
    pub manifest: Manifest,
    pub processes: Vec<Process>,
    pub fds: Vec<Fd>,
    pub sockets: Vec<Socket>,
    pub maps: Vec<Mapping>,
    pub mounts: Vec<Mount>,
    pub errors: Vec<CollectError>,
    /// `tables/containers.jsonl` (absent from archives written before it).
    pub containers: Vec<ContainerRow>,
}

/// How much a finding matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A table row or raw member a finding rests on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// Archive member: `tables/processes.jsonl`, `raw/proc/1234/environ`...
    pub member: String,
    /// Which row or part: `pid=1234 starttime=5678`, `inode=4242`, `LD_PRELOAD`...
    pub locator: String,
}

/// Something a detector found, with what it rests on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The detector's id (`deleted-exe`).
    pub detector: String,
    pub title: String,
    pub severity: Severity,
    /// MITRE ATT&CK technique ids.
    pub attack: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starttime_ticks: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comm: Option<ByteString>,
    /// One line for a responder. It quotes content from the target: escape it when rendering.
    pub summary: String,
    pub evidence: Vec<Evidence>,
    /// The container the process runs in (`host` for the host's own processes): its runtime,
    /// name or short id, and image or pod, as `curtain report` groups them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// The archive it came from (when several are analysed together).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
}
