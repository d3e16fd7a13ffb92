//! What was read of one process, as the table builder takes it: the per-process files by
//! [`ProcFile`], the links by position in [`LINK_NAMES`], the exe's stat, the fds.

use curtain_model::{ErrorKind, ExeStat};
use std::collections::{BTreeMap, BTreeSet};

/// The files read from each process's directory, in reading order: the one list the collector
/// reads by, the builder parses by and replay finds them by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProcFile {
    Stat,
    Status,
    Cmdline,
    Environ,
    Cgroup,
    Maps,
}

impl ProcFile {
    pub const ALL: [ProcFile; 6] =
        [ProcFile::Stat, ProcFile::Status, ProcFile::Cmdline, ProcFile::Environ, ProcFile::Cgroup, ProcFile::Maps];

    /// Its name under /proc/PID, as the archive's raw part and read log name it.
    pub const fn name(self) -> &'static str {
        match self {
            ProcFile::Stat => "stat",
            ProcFile::Status => "status",
            ProcFile::Cmdline => "cmdline",
            ProcFile::Environ => "environ",
            ProcFile::Cgroup => "cgroup",
            ProcFile::Maps => "maps",
        }
    }

    pub fn from_name(name: &str) -> Option<ProcFile> {
        ProcFile::ALL.into_iter().find(|f| f.name() == name)
    }

    pub const fn index(self) -> usize {
        self as usize
    }
}

/// What one read gave, owned: the bytes, or why there are none.
pub type RawResult = Result<Vec<u8>, ErrorKind>;
/// What one read gave, borrowed.
pub type Bytes<'a> = Result<&'a [u8], ErrorKind>;

/// The links read for each process besides ns/* and fd/*.
pub const PROCESS_LINKS: [&str; 3] = ["exe", "cwd", "root"];
/// Every link of a process's `links` record, in reading order: [`PROCESS_LINKS`], then ns/*.
pub const LINK_NAMES: [&str; 11] =
    ["exe", "cwd", "root", "ns/cgroup", "ns/ipc", "ns/mnt", "ns/net", "ns/pid", "ns/time", "ns/user", "ns/uts"];

/// Everything read of one process, borrowing the bytes: the files of [`ProcFile`] and the
/// links of [`LINK_NAMES`] by position, `None` for one not read (environ with `--no-environ`).
#[derive(Debug, Default, Clone)]
pub struct ProcessRead<'a> {
    pub pid: u32,
    pub files: [Option<Bytes<'a>>; 6],
    /// Files larger than the cap: what is kept is a prefix.
    pub truncated: [bool; 6],
    pub links: [Option<Bytes<'a>>; 11],
    /// The file behind /proc/PID/exe, statx'ed and hashed.
    pub exe: Option<Result<&'a ExeStat, ErrorKind>>,
    /// The fds read, each with its link target.
    pub fds: Option<Result<Vec<(u32, Bytes<'a>)>, ErrorKind>>,
}

impl<'a> ProcessRead<'a> {
    pub fn file(&self, f: ProcFile) -> Option<Bytes<'a>> {
        self.files[f.index()]
    }
    pub fn link(&self, name: &str) -> Option<Bytes<'a>> {
        self.links[LINK_NAMES.iter().position(|n| *n == name)?]
    }

    /// True when a read failed with ESRCH: the process exited while it was being read (reads go
    /// through its directory fd, which fails so once the process is gone, never reaching a
    /// process that reused the pid). A kernel thread's environ answers ESRCH (it has no memory):
    /// that one does not count.
    pub fn vanished(&self, kernel_thread: bool) -> bool {
        let gone = |r: &Option<Bytes<'_>>| matches!(r, Some(Err(ErrorKind::ESRCH)));
        let environ = ProcFile::Environ.index();
        self.files.iter().enumerate().any(|(i, r)| gone(r) && !(kernel_thread && i == environ))
            || self.links.iter().any(gone)
            || matches!(self.exe, Some(Err(ErrorKind::ESRCH)))
            || match &self.fds {
                Some(Err(ErrorKind::ESRCH)) => true,
                Some(Ok(v)) => v.iter().any(|(_, r)| matches!(r, Err(ErrorKind::ESRCH))),
                _ => false,
            }
    }
}

/// Everything read of one process, owned and by name (tests, fuzzing); [`Self::view`] lends it
/// as a [`ProcessRead`]. Names outside [`ProcFile`] and [`LINK_NAMES`] are left out.
#[derive(Debug, Default, Clone)]
pub struct RawProcess {
    pub pid: u32,
    pub files: BTreeMap<String, RawResult>,
    pub links: BTreeMap<String, RawResult>,
    pub exe: Option<Result<ExeStat, ErrorKind>>,
    pub fds: Option<Result<Vec<(u32, RawResult)>, ErrorKind>>,
    pub truncated: BTreeSet<String>,
}

impl RawProcess {
    pub fn view(&self) -> ProcessRead<'_> {
        fn lend(r: &RawResult) -> Bytes<'_> {
            r.as_deref().map_err(|k| *k)
        }
        let mut v = ProcessRead { pid: self.pid, ..Default::default() };
        for f in ProcFile::ALL {
            v.files[f.index()] = self.files.get(f.name()).map(lend);
            v.truncated[f.index()] = self.truncated.contains(f.name());
        }
        for (i, name) in LINK_NAMES.iter().enumerate() {
            v.links[i] = self.links.get(*name).map(lend);
        }
        v.exe = self.exe.as_ref().map(|r| r.as_ref().map_err(|k| *k));
        v.fds = self.fds.as_ref().map(|r| match r {
            Ok(list) => Ok(list.iter().map(|(fd, t)| (*fd, lend(t))).collect()),
            Err(k) => Err(*k),
        });
        v
    }
}
