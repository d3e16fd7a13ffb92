//! Parsers for the per-process files of /proc: stat, status, cmdline, environ, cgroup, maps,
//! mountinfo and the link targets of exe, fd/* and ns/*.
//!
//! Each takes the bytes exactly as read and never panics. They work on bytes, not `str`: a
//! process names itself, so comm, argv, environment and paths may hold any byte but NUL.

use curtain_model::{ByteString, CgroupEntry, FdKind, MapKind, Mapping, Mount};

/// Malformed input: the bytes are not in the format the kernel writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for ParseError {}

/// The lines of `b`, as `b.split(|&c| c == b'\n')` gives them, found with memchr: a byte-by-byte
/// search for newlines was the largest part of parsing maps and status.
pub fn lines(b: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(b);
    std::iter::from_fn(move || {
        let r = rest?;
        match memchr::memchr(b'\n', r) {
            Some(i) => {
                rest = Some(&r[i + 1..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

fn err<T>(what: &str) -> Result<T, ParseError> {
    Err(ParseError(what.to_string()))
}

/// PF_KTHREAD in the flags of stat: the task is a kernel thread.
pub const PF_KTHREAD: u64 = 0x0020_0000;

/// The fields of /proc/PID/stat that curtain keeps, borrowing the comm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat<'a> {
    pub pid: i32,
    pub comm: &'a [u8],
    pub state: u8,
    pub ppid: i32,
    pub pgrp: i32,
    pub session: i32,
    pub tty_nr: i32,
    pub flags: u64,
    pub num_threads: i64,
    pub starttime: u64,
}

/// Parses /proc/PID/stat. The comm runs from the first `(` to the *last* `)`: a process can name
/// itself `x) Z 1 1 1 (` and only the last parenthesis is the kernel's.
pub fn parse_stat(b: &[u8]) -> Result<Stat<'_>, ParseError> {
    let open = match b.iter().position(|&c| c == b'(') {
        Some(i) => i,
        None => return err("stat: no '('"),
    };
    let close = match b.iter().rposition(|&c| c == b')') {
        Some(i) if i > open => i,
        _ => return err("stat: no ')'"),
    };
    let pid = parse_int::<i32>(trim(&b[..open])).ok_or_else(|| ParseError("stat: pid".into()))?;
    let comm = &b[open + 1..close];
    // Fields 3 to 22 of proc(5), after the comm: field n is fields[n - 3].
    let mut fields: [&[u8]; 20] = [&[]; 20];
    let mut n = 0;
    for f in b[close + 1..].split(|c| c.is_ascii_whitespace()).filter(|f| !f.is_empty()).take(20) {
        fields[n] = f;
        n += 1;
    }
    let f = |i: usize| (i - 3 < n).then(|| fields[i - 3]);
    let num = |i: usize| -> Result<i64, ParseError> {
        f(i).and_then(parse_int::<i64>).ok_or_else(|| ParseError(format!("stat: field {i}")))
    };
    let state = match f(3) {
        Some([c]) => *c,
        _ => return err("stat: state"),
    };
    Ok(Stat {
        pid,
        comm,
        state,
        ppid: num(4)? as i32,
        pgrp: num(5)? as i32,
        session: num(6)? as i32,
        tty_nr: num(7)? as i32,
        flags: f(9).and_then(parse_int::<u64>).ok_or_else(|| ParseError("stat: flags".into()))?,
        num_threads: num(20)?,
        starttime: f(22).and_then(parse_int::<u64>).ok_or_else(|| ParseError("stat: starttime".into()))?,
    })
}

/// The fields of /proc/PID/status that curtain keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status<'a> {
    /// Real, effective, saved, filesystem.
    pub uid: Option<[u32; 4]>,
    pub gid: Option<[u32; 4]>,
    /// CapEff, its hex digits.
    pub cap_eff: Option<&'a str>,
    pub tracer_pid: Option<u32>,
    /// The NSpid line's value.
    nspid: &'a [u8],
    pub threads: Option<u32>,
    pub seccomp: Option<u8>,
}

/// The numbers of a status value, skipping what is not one.
fn numbers(val: &[u8]) -> impl Iterator<Item = u32> + '_ {
    val.split(|c| c.is_ascii_whitespace()).filter(|f| !f.is_empty()).filter_map(parse_int::<u32>)
}

impl Status<'_> {
    /// The pid in each nested pid namespace, outermost first.
    pub fn nspid(&self) -> impl Iterator<Item = u32> + '_ {
        numbers(self.nspid)
    }
}

/// Parses /proc/PID/status, line by line; unknown or malformed lines are skipped (the kernel
/// adds fields over time), and `Name:` is never interpreted (stat's comm is exact).
pub fn parse_status(b: &[u8]) -> Status<'_> {
    let mut s = Status::default();
    for line in lines(b) {
        let Some(colon) = line.iter().position(|&c| c == b':') else {
            continue;
        };
        let (key, val) = (&line[..colon], trim(&line[colon + 1..]));
        let four = || -> Option<[u32; 4]> {
            let mut a = [0u32; 4];
            let mut n = 0;
            for v in numbers(val) {
                *a.get_mut(n)? = v;
                n += 1;
            }
            (n == 4).then_some(a)
        };
        match key {
            b"Uid" => s.uid = four().or(s.uid),
            b"Gid" => s.gid = four().or(s.gid),
            b"CapEff" if val.iter().all(|c| c.is_ascii_hexdigit()) && !val.is_empty() => {
                // Hex digits are ASCII.
                s.cap_eff = std::str::from_utf8(val).ok()
            }
            b"TracerPid" => s.tracer_pid = parse_int(val),
            b"NSpid" => s.nspid = val,
            b"Threads" => s.threads = parse_int(val),
            b"Seccomp" => s.seccomp = parse_int(val),
            _ => {}
        }
    }
    s
}

/// Splits a NUL-separated list (cmdline, environ). A trailing NUL ends the last item; a process
/// that rewrote its argv without NULs gives one item.
pub fn split_nul(b: &[u8]) -> Vec<ByteString> {
    nul_items(b).map(ByteString::from).collect()
}

/// Parses /proc/PID/cgroup (`hierarchy:controllers:path` per line; the path may hold `:`).
pub fn parse_cgroup(b: &[u8]) -> Result<Vec<CgroupEntry>, ParseError> {
    Ok(cgroup_lines(b)?
        .map(|(hierarchy, ctl, path)| CgroupEntry {
            hierarchy,
            controllers: String::from_utf8_lossy(ctl).into_owned(),
            path: ByteString::from(path),
        })
        .collect())
}

/// The lines of /proc/PID/cgroup as (hierarchy, controllers, path), borrowed; an error when
/// any line is not one (and then none is taken).
pub fn cgroup_lines(b: &[u8]) -> Result<impl Iterator<Item = (u32, &[u8], &[u8])> + '_, ParseError> {
    fn split(line: &[u8]) -> Option<(u32, &[u8], &[u8])> {
        let mut parts = line.splitn(3, |&c| c == b':');
        let (h, ctl, path) = (parts.next()?, parts.next()?, parts.next()?);
        Some((parse_int::<u32>(h)?, ctl, path))
    }
    let lines = || lines(b).filter(|l| !l.is_empty());
    for line in lines() {
        let mut parts = line.splitn(3, |&c| c == b':');
        let (Some(h), Some(_), Some(_)) = (parts.next(), parts.next(), parts.next()) else {
            return err("cgroup: line without two ':'");
        };
        if parse_int::<u32>(h).is_none() {
            return err("cgroup: hierarchy");
        }
    }
    Ok(lines().filter_map(split))
}

/// The inode of a namespace link target such as `net:[4026531840]`.
pub fn parse_ns_link(target: &[u8]) -> Option<u64> {
    let open = target.iter().position(|&c| c == b'[')?;
    let inner = target.get(open + 1..target.len().checked_sub(1)?)?;
    if target.last() != Some(&b']') {
        return None;
    }
    parse_int(inner)
}

/// What an fd link target points at, and the socket inode for `socket:[N]`.
pub fn classify_fd(target: &[u8]) -> (FdKind, Option<u64>) {
    if let Some(rest) = target.strip_prefix(b"socket:[") {
        return (FdKind::Socket, rest.strip_suffix(b"]").and_then(parse_int));
    }
    if target.starts_with(b"pipe:[") {
        return (FdKind::Pipe, None);
    }
    if target.starts_with(b"anon_inode:") {
        return (FdKind::Anon, None);
    }
    if target.starts_with(b"/memfd:") {
        return (FdKind::Memfd, None);
    }
    if target.starts_with(b"/") {
        // An fd's target has no link count to ask, so the kernel's suffix is what there is.
        if target.ends_with(b" (deleted)") {
            return (FdKind::Deleted, None);
        }
        return (FdKind::File, None);
    }
    (FdKind::Other, None)
}

/// True for a `/memfd:NAME (deleted)` target: an anonymous memory file.
pub fn is_memfd_path(target: &[u8]) -> bool {
    target.starts_with(b"/memfd:")
}

/// One kept line of /proc/PID/maps, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapRef<'a> {
    pub start: &'a [u8],
    pub end: &'a [u8],
    pub perms: &'a [u8],
    pub offset: u64,
    pub dev: &'a [u8],
    pub inode: u64,
    pub path: &'a [u8],
    pub kind: MapKind,
}

impl MapRef<'_> {
    pub fn to_mapping(&self, pid: u32) -> Mapping {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        Mapping {
            pid,
            start: text(self.start),
            end: text(self.end),
            perms: text(self.perms),
            offset: self.offset,
            dev: text(self.dev),
            inode: self.inode,
            path: (!self.path.is_empty()).then(|| ByteString::from(self.path)),
            kind: self.kind,
        }
    }
}

/// Parses /proc/PID/maps and keeps the mappings a responder looks at: executable file
/// mappings, deleted files, memfd files and anonymous executable memory. `[vdso]`,
/// `[vsyscall]` and `[vvar]` are the kernel's and are left out.
pub fn parse_maps(pid: u32, b: &[u8]) -> Result<Vec<Mapping>, ParseError> {
    Ok(maps_kept(b)?.iter().map(|m| m.to_mapping(pid)).collect())
}

/// The mappings [`parse_maps`] keeps, borrowed; an error (and none) when a line is malformed.
pub fn maps_kept(b: &[u8]) -> Result<Vec<MapRef<'_>>, ParseError> {
    let mut out = Vec::new();
    for line in lines(b).filter(|l| !l.is_empty()) {
        let mut rest = line;
        let mut field = || -> Option<&[u8]> {
            let start = rest.iter().position(|c| *c != b' ')?;
            let r = &rest[start..];
            let end = r.iter().position(|c| *c == b' ').unwrap_or(r.len());
            let (f, tail) = r.split_at(end);
            rest = tail;
            Some(f)
        };
        let (Some(range), Some(perms), Some(offset), Some(dev), Some(inode)) =
            (field(), field(), field(), field(), field())
        else {
            return err("maps: short line");
        };
        let path = trim_start(rest);
        let Some(dash) = range.iter().position(|&c| c == b'-') else {
            return err("maps: range");
        };
        let (Some(offset), Some(inode)) = (parse_hex(offset), parse_int::<u64>(inode)) else {
            return err("maps: offset or inode");
        };
        let exec = perms.get(2) == Some(&b'x');
        let kind = if path.starts_with(b"/memfd:") {
            Some(MapKind::Memfd)
        } else if path.starts_with(b"/") && path.ends_with(b" (deleted)") {
            Some(MapKind::Deleted)
        } else if exec && inode != 0 && !path.is_empty() {
            Some(MapKind::ExecFile)
        } else if exec && (path.is_empty() || path == b"[heap]" || path == b"[stack]" || path.starts_with(b"[anon")) {
            Some(MapKind::AnonExec)
        } else {
            None
        };
        if let Some(kind) = kind {
            out.push(MapRef { start: &range[..dash], end: &range[dash + 1..], perms, offset, dev, inode, path, kind });
        }
    }
    Ok(out)
}

/// Parses /proc/PID/mountinfo; octal escapes (`\040` for a space) in paths are decoded.
pub fn parse_mountinfo(mnt_ns: u64, pid: u32, b: &[u8]) -> Result<Vec<Mount>, ParseError> {
    let mut out = Vec::new();
    for line in lines(b).filter(|l| !l.is_empty()) {
        let fields: Vec<&[u8]> = line.split(|&c| c == b' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == b"-") else {
            return err("mountinfo: no separator");
        };
        if sep < 6 || fields.len() < sep + 4 {
            return err("mountinfo: short line");
        }
        let (Some(mount_id), Some(parent_id)) = (parse_int(fields[0]), parse_int(fields[1])) else {
            return err("mountinfo: ids");
        };
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        out.push(Mount {
            mnt_ns,
            pid,
            mount_id,
            parent_id,
            major_minor: text(fields[2]),
            root: unescape_octal(fields[3]).into(),
            mount_point: unescape_octal(fields[4]).into(),
            options: text(fields[5]),
            optional: fields[6..sep].iter().filter(|f| !f.is_empty()).map(|f| text(f)).collect(),
            fs_type: text(fields[sep + 1]),
            source: unescape_octal(fields[sep + 2]).into(),
            super_options: text(fields[sep + 3]),
        });
    }
    Ok(out)
}

/// Decodes the kernel's `\ooo` escapes (mountinfo); anything else is kept as is.
pub fn unescape_octal(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            let v = (b[i + 1] - b'0') as u32 * 64 + (b[i + 2] - b'0') as u32 * 8 + (b[i + 3] - b'0') as u32;
            if v <= 255 {
                out.push(v as u8);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

pub(crate) fn trim(b: &[u8]) -> &[u8] {
    let b = trim_start(b);
    let end = b.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(0, |i| i + 1);
    &b[..end]
}

fn trim_start(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(b.len());
    &b[start..]
}

/// A decimal integer of the whole slice (a leading `-` for signed types).
pub(crate) fn parse_int<T: std::str::FromStr>(b: &[u8]) -> Option<T> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

pub(crate) fn parse_hex(b: &[u8]) -> Option<u64> {
    u64::from_str_radix(std::str::from_utf8(b).ok()?, 16).ok()
}

/// The items of a NUL-separated list (cmdline, environ). A trailing NUL ends the last item; a
/// process that rewrote its argv without NULs gives one item.
pub fn nul_items(b: &[u8]) -> impl Iterator<Item = &[u8]> {
    // Nothing read is no item; a lone NUL is one empty item.
    let n = if b.is_empty() { 0 } else { usize::MAX };
    b.strip_suffix(&[0]).unwrap_or(b).split(|&c| c == 0).take(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    // `cat /proc/self/stat` run by bash on a Linux 6.x host (pid and addresses as printed).
    const STAT_CAT: &[u8] = b"12345 (cat) R 12300 12345 12300 34816 12345 4194304 92 0 0 0 0 0 0 0 20 0 1 0 9876543 5718016 224 18446744073709551615 94351244853248 94351244869489 140727480880160 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 94351244883120 94351244884576 94351261642752 140727480885597 140727480885617 140727480885617 140727480889323 0\n";

    #[test]
    fn lines_as_split_gives_them() {
        for b in [&b""[..], b"\n", b"a", b"a\n", b"a\nb", b"\n\nx\n\n", STATUS] {
            assert_eq!(lines(b).collect::<Vec<_>>(), b.split(|&c| c == b'\n').collect::<Vec<_>>());
        }
    }

    #[test]
    fn stat_of_a_plain_process() {
        let s = parse_stat(STAT_CAT).unwrap();
        assert_eq!((s.pid, s.ppid, s.pgrp, s.session, s.tty_nr), (12345, 12300, 12345, 12300, 34816));
        assert_eq!(s.comm, b"cat");
        assert_eq!(s.state, b'R');
        assert_eq!(s.num_threads, 1);
        assert_eq!(s.starttime, 9_876_543);
        assert_eq!(s.flags & PF_KTHREAD, 0);
    }

    #[test]
    fn stat_comm_that_mimics_the_format() {
        // A process that called prctl(PR_SET_NAME, "x) Z 1 1 1 (").
        let b = b"777 (x) Z 1 1 1 () S 1 777 777 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 4242 0 0 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
        let s = parse_stat(b).unwrap();
        assert_eq!(s.comm, b"x) Z 1 1 1 (");
        assert_eq!((s.state, s.ppid, s.starttime), (b'S', 1, 4242));
    }

    #[test]
    fn stat_comm_with_newline_and_invalid_utf8() {
        let b = b"778 (a\nb\xff) S 1 778 778 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 3 0 99 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
        let s = parse_stat(b).unwrap();
        assert_eq!(s.comm, b"a\nb\xff");
        assert_eq!(s.num_threads, 3);
    }

    #[test]
    fn stat_of_a_kernel_thread() {
        // kthreadd (pid 2) on a Linux 6.x host.
        let b = b"2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0 18446744073709551615 0 0 0 0 0 0 0 2147483647 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
        let s = parse_stat(b).unwrap();
        assert_ne!(s.flags & PF_KTHREAD, 0);
        assert_eq!(s.ppid, 0);
    }

    #[test]
    fn stat_garbage_is_an_error_not_a_panic() {
        for b in [&b""[..], b"(", b")", b") (", b"1 (x)", b"1 (x) S", b"x (y) S a b c", b"1 (x) SS 1"] {
            assert!(parse_stat(b).is_err(), "{:?}", String::from_utf8_lossy(b));
        }
    }

    // status of a traced process in a nested pid namespace, Linux 6.x layout (memory lines
    // trimmed).
    const STATUS: &[u8] = b"Name:\tsleep\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4321\nNgid:\t0\nPid:\t4321\nPPid:\t4300\nTracerPid:\t4310\nUid:\t1000\t0\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\nFDSize:\t64\nGroups:\t1000 \nNStgid:\t4321\t7\nNSpid:\t4321\t7\nNSpgid:\t4321\t7\nNSsid:\t4300\t1\nThreads:\t1\nCapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t000001ffffffffff\nCapBnd:\t000001ffffffffff\nNoNewPrivs:\t0\nSeccomp:\t2\n";

    #[test]
    fn status_fields() {
        let s = parse_status(STATUS);
        assert_eq!(s.uid, Some([1000, 0, 1000, 1000]));
        assert_eq!(s.gid, Some([1000; 4]));
        assert_eq!(s.cap_eff, Some("000001ffffffffff"));
        assert_eq!(s.tracer_pid, Some(4310));
        assert_eq!(s.nspid().collect::<Vec<_>>(), vec![4321, 7]);
        assert_eq!(s.threads, Some(1));
        assert_eq!(s.seccomp, Some(2));
    }

    #[test]
    fn status_with_hostile_name_still_parses() {
        let s = parse_status(b"Name:\t\xff\xfe:Uid:\t0\t0\t0\t0\nUid:\t5\t5\t5\t5\n");
        assert_eq!(s.uid, Some([5; 4]));
    }

    #[test]
    fn nul_lists() {
        assert_eq!(split_nul(b"sleep\x00100\x00"), vec![ByteString::from("sleep"), ByteString::from("100")]);
        assert_eq!(split_nul(b"nginx: worker process"), vec![ByteString::from("nginx: worker process")]);
        assert_eq!(split_nul(b""), Vec::<ByteString>::new());
        // An empty argument and non-UTF-8 bytes are kept.
        assert_eq!(split_nul(b"a\x00\x00\xff\x00"), vec!["a".into(), "".into(), ByteString(vec![0xff])]);
    }

    #[test]
    fn cgroup_v1_and_v2() {
        // Docker on a cgroup v1 + v2 hybrid host, then a Kubernetes pod on cgroup v2.
        let v =
            parse_cgroup(b"12:memory:/docker/0123abcd\n1:name=systemd:/docker/0123abcd\n0::/system.slice/x:y.scope\n")
                .unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].controllers, "memory");
        assert_eq!(v[2].hierarchy, 0);
        assert_eq!(v[2].path, ByteString::from("/system.slice/x:y.scope"));
        assert!(parse_cgroup(b"garbage\n").is_err());
    }

    #[test]
    fn ns_links() {
        assert_eq!(parse_ns_link(b"net:[4026531840]"), Some(4026531840));
        assert_eq!(parse_ns_link(b"net:[]"), None);
        assert_eq!(parse_ns_link(b"]"), None);
        assert_eq!(parse_ns_link(b""), None);
    }

    #[test]
    fn fd_targets() {
        assert_eq!(classify_fd(b"socket:[31337]"), (FdKind::Socket, Some(31337)));
        assert_eq!(classify_fd(b"pipe:[1]").0, FdKind::Pipe);
        assert_eq!(classify_fd(b"anon_inode:[eventfd]").0, FdKind::Anon);
        assert_eq!(classify_fd(b"/memfd:x (deleted)").0, FdKind::Memfd);
        assert_eq!(classify_fd(b"/tmp/a (deleted)").0, FdKind::Deleted);
        assert_eq!(classify_fd(b"/dev/null").0, FdKind::File);
        assert_eq!(classify_fd(b"net:[4026531840]").0, FdKind::Other);
    }

    #[test]
    fn maps_keeps_what_matters() {
        // Layout of a Linux 6.x maps file: python3 with a deleted library, a memfd and a JIT page.
        let b = b"55d0c0a00000-55d0c0a01000 r--p 00000000 fe:01 1311 /usr/bin/python3.11\n\
55d0c0a01000-55d0c0c00000 r-xp 00001000 fe:01 1311 /usr/bin/python3.11\n\
7f00aa000000-7f00aa001000 r-xp 00000000 00:01 2048 /memfd:jit (deleted)\n\
7f00ab000000-7f00ab002000 r-xp 00000000 fe:01 99 /tmp/libevil.so (deleted)\n\
7f00ac000000-7f00ac001000 rwxp 00000000 00:00 0 \n\
7f00ad000000-7f00ad001000 rw-p 00000000 00:00 0 \n\
7ffd1234000-7ffd1236000 r-xp 00000000 00:00 0                          [vdso]\n\
7f00ae000000-7f00ae001000 r-xp 00000000 fe:01 77 /opt/with space/lib.so\n";
        let m = parse_maps(9, b).unwrap();
        let kinds: Vec<_> = m.iter().map(|m| m.kind).collect();
        assert_eq!(kinds, [MapKind::ExecFile, MapKind::Memfd, MapKind::Deleted, MapKind::AnonExec, MapKind::ExecFile]);
        assert_eq!(m[0].offset, 0x1000);
        assert_eq!(m[4].path, Some(ByteString::from("/opt/with space/lib.so")));
        assert!(parse_maps(1, b"zz\n").is_err());
    }

    #[test]
    fn mountinfo_with_escapes() {
        // From proc(5), and a docker overlay root.
        let b = b"36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n\
612 580 0:52 / / rw,relatime - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w\n\
700 612 0:60 / /with\\040space rw - tmpfs tmpfs rw\n";
        let m = parse_mountinfo(4026531841, 1, b).unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].optional, vec!["master:1"]);
        assert_eq!(m[1].fs_type, "overlay");
        assert_eq!(m[2].mount_point, ByteString::from("/with space"));
        assert!(parse_mountinfo(1, 1, b"1 2 3\n").is_err());
    }
}
