//! Reading an evidence archive back, as hostile input.
//!
//! An archive comes from a container that an attacker may control, and its reader runs on the
//! examiner's machine. So the reader
//! - sees every tar header itself (the tar crate's raw entries) and accepts only what the
//!   collector's writer makes: a GNU or ustar header, at most one GNU long name, one long link
//!   name and one pax header before a member, pax keys from a short list. Anything that GNU tar,
//!   bsdtar and the tar crate might read differently (a long name and a pax path, a pax `size`,
//!   global pax headers, sparse files, a malformed number...) is refused as a problem, never
//!   resolved one way: what `curtain verify` checked must be what `tar -x` extracts;
//! - never uses a path that is absolute, has `..` or empty components, or is not UTF-8, and
//!   accepts hard links only between raw files, to a member read before;
//! - streams each member through, keeping only the bytes its caller asked for ([`Keep`]), and
//!   checks every size against [`Limits`] before reading it: a small file that expands to
//!   terabytes costs nothing but the error.

use crate::writer::{is_indexed, INDEX};
use crate::MANIFEST;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{self, Read};
use std::sync::Arc;

/// What reading one archive may cost at most. The defaults are far above any real collection
/// (a busy host's archive expands to a few hundred MiB in some 10^5 members); each one reached is
/// an error naming the command-line flag that raises it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of one member, checked against its header before anything is read.
    pub max_member_size: u64,
    /// Bytes of the whole tar stream once decompressed, headers included.
    pub max_expanded: u64,
    /// Tar entries, extension headers included.
    pub max_members: u64,
    /// Bytes of one line of a `.jsonl` part whose bytes are kept.
    pub max_line: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_member_size: 4 << 30, max_expanded: 64 << 30, max_members: 10_000_000, max_line: 64 << 20 }
    }
}

/// `n` as the size flags take it: `4G`, `64M`, `512K` or bytes.
pub fn size_arg(n: u64) -> String {
    for (shift, unit) in [(30, "G"), (20, "M"), (10, "K")] {
        if n >= 1 << shift && n.is_multiple_of(1 << shift) {
            return format!("{}{unit}", n >> shift);
        }
    }
    n.to_string()
}

fn over(what: impl std::fmt::Display, limit: String, flag: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{what}, over the limit of {limit} (raise it with {flag})"))
}

/// Which members' bytes a reader keeps; the others are streamed through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    /// Every member (`reparse` replays them all). Every member hashed.
    All,
    /// The manifest and the index parts (`verify`). Every member hashed.
    Listings,
    /// The manifest and the table parts (analysis). Nothing hashed.
    Tables,
}

impl Keep {
    fn keeps(self, path: &str) -> bool {
        match self {
            Keep::All => true,
            Keep::Listings => path == MANIFEST || crate::parts::part_of(INDEX, path).is_some(),
            Keep::Tables => path == MANIFEST || path.starts_with("tables/"),
        }
    }
    fn hashes(self) -> bool {
        self != Keep::Tables
    }
}

/// Why an archive member was refused when reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberProblem {
    /// Absolute, `..`, empty component, or not UTF-8: never used as a path.
    UnsafePath(String),
    /// Not a regular file or a hard link (symlink, device, directory...).
    NotAFile(String),
    /// The same path twice.
    Duplicate(String),
    /// A hard link whose target is not a member read before it (or not a safe path), one that
    /// is not between raw files, or one with a size or a pax `linkpath`.
    BadLink(String),
    /// Headers that tar implementations may read differently: the member, and why. When where
    /// the next header starts is in question too, reading stops there (the message says so).
    Ambiguous(String),
}

/// One member as read: its path, size and SHA-256 (a hard link: those of its target).
#[derive(Debug, Clone)]
pub struct SeenMember {
    pub path: String,
    pub size: u64,
    /// `None` when the reader was asked not to hash ([`Keep::Tables`]).
    pub sha256: Option<[u8; 32]>,
    /// Index in [`ArchiveContents::members`] when the bytes were kept.
    kept: Option<usize>,
}

/// An archive as read: every member accepted (path, size, digest) in archive order, the bytes of
/// those kept, and the members refused.
#[derive(Debug, Default)]
pub struct ArchiveContents {
    /// The members whose bytes were kept, in archive order (with [`read_archive`], all). A hard
    /// link shares the bytes of the earlier member it names.
    pub members: Vec<(String, Arc<Vec<u8>>)>,
    /// Every member accepted, in archive order.
    pub seen: Vec<SeenMember>,
    pub problems: Vec<MemberProblem>,
    /// SHA-256 of all the bytes read (the archive file's), once read to the end.
    pub archive_sha256: Option<String>,
    by_path: HashMap<String, usize>,
}

impl ArchiveContents {
    /// The bytes of `path`, when kept.
    pub fn get(&self, path: &str) -> Option<&[u8]> {
        let k = self.seen[*self.by_path.get(path)?].kept?;
        Some(self.members[k].1.as_slice())
    }

    /// Path, size and digest of `path`, kept or not.
    pub fn seen(&self, path: &str) -> Option<&SeenMember> {
        self.by_path.get(path).map(|&i| &self.seen[i])
    }

    /// The kept parts of stream `base` (`tables/fds`, `raw/reads`...) in order, each with its
    /// member name; `None` when the archive has no first part.
    pub fn parts(&self, base: &str) -> Option<Vec<(&str, &[u8])>> {
        let mut parts: Vec<(u32, &str, &[u8])> = self
            .members
            .iter()
            .filter_map(|(p, d)| Some((crate::parts::part_of(base, p)?, p.as_str(), d.as_slice())))
            .collect();
        parts.sort_by_key(|(n, ..)| *n);
        if parts.first().map(|(n, ..)| *n) != Some(0) {
            return None;
        }
        Some(parts.into_iter().map(|(_, p, d)| (p, d)).collect())
    }

    /// The parts of stream `base` joined in order; `None` when the archive has no first part.
    pub fn joined(&self, base: &str) -> Option<Vec<u8>> {
        Some(self.parts(base)?.into_iter().flat_map(|(_, d)| d.iter().copied()).collect())
    }
}

/// A member path is used only if it is relative, has no `..` or empty components, and is UTF-8.
pub fn is_safe_member_path(p: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(p) else {
        return false;
    };
    !s.is_empty()
        && !s.starts_with('/')
        && !s.contains('\0')
        && !s.contains('\\')
        && s.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}

/// Opens a `.tar` or `.tar.zst` (told apart by the zstd magic number, not the name).
pub fn open_reader<'a>(r: impl Read + 'a) -> io::Result<Box<dyn Read + 'a>> {
    open_within(r, u64::MAX)
}

/// The largest zstd window (log2 bytes) a reader allows when the stream may expand to
/// `max_expanded` bytes. The decoder allocates a frame's window from its header alone, before
/// any data: zstd's own cap, 128 MiB, was allocated for a 1 KB file whatever the limits. A window
/// larger than the whole stream may be serves no archive; the writer's always fits.
fn window_log_max(max_expanded: u64) -> u32 {
    let fits = u64::BITS - max_expanded.saturating_sub(1).leading_zeros();
    fits.clamp(crate::writer::WINDOW_LOG, 27)
}

/// [`open_reader`], with a zstd window no larger than [`window_log_max`] allows.
fn open_within<'a>(mut r: impl Read + 'a, max_expanded: u64) -> io::Result<Box<dyn Read + 'a>> {
    let mut magic = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let n = r.read(&mut magic[got..])?;
        if n == 0 {
            break;
        }
        got += n;
    }
    let head = io::Cursor::new(magic[..got].to_vec()).chain(r);
    if got == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
        let mut d = zstd::stream::read::Decoder::new(head)?;
        d.window_log_max(window_log_max(max_expanded))?;
        Ok(Box::new(d))
    } else {
        Ok(Box::new(head))
    }
}

/// Reads every member into memory, with the default [`Limits`].
pub fn read_archive(r: impl Read + 'static) -> io::Result<ArchiveContents> {
    read_archive_with(r, &Limits::default(), Keep::All)
}

/// Hashes every byte read through it.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Reads the archive file `path` (see [`read_archive_with`]); errors name the file.
pub fn read_archive_file(path: &str, limits: &Limits, keep: Keep) -> io::Result<ArchiveContents> {
    let named = |e: io::Error| io::Error::new(e.kind(), format!("{path}: {e}"));
    let f = std::fs::File::open(path).map_err(named)?;
    read_archive_with(io::BufReader::with_capacity(1 << 16, f), limits, keep).map_err(named)
}

/// Longest GNU long name or pax header accepted: a path is at most 4096 bytes on Linux.
const EXTENSION_MAX: u64 = 64 << 10;

/// Pax keys accepted: names and times, nothing that changes where data is or how long.
const PAX_KEYS: [&str; 9] = ["path", "linkpath", "mtime", "atime", "ctime", "uid", "gid", "uname", "gname"];

/// A pax header's records, key and value, in order.
type PaxRecords = Vec<(Vec<u8>, Vec<u8>)>;

/// The extension headers read since the last member, for the next one.
#[derive(Default)]
struct Pending {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax: Option<PaxRecords>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.long_name.is_none() && self.long_link.is_none() && self.pax.is_none()
    }
    fn pax(&self, key: &[u8]) -> Option<&[u8]> {
        self.pax.as_ref()?.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_slice())
    }
}

/// A pax header's records (`LEN key=value\n`), read strictly: any record that is not exactly
/// well formed, a key twice, an empty value or a key off the list is refused.
fn parse_pax(mut data: &[u8]) -> Result<PaxRecords, String> {
    let mut out = PaxRecords::new();
    while !data.is_empty() {
        let sp = data.iter().take(20).position(|&b| b == b' ').ok_or("a pax record without its length")?;
        let digits = &data[..sp];
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) || digits[0] == b'0' {
            return Err("a pax record length that is not a plain decimal number".into());
        }
        let len: usize = std::str::from_utf8(digits).ok().and_then(|s| s.parse().ok()).ok_or("a pax record length")?;
        if len <= sp + 2 || len > data.len() || data[len - 1] != b'\n' {
            return Err("a pax record whose length does not match it".into());
        }
        let kv = &data[sp + 1..len - 1];
        let eq = kv.iter().position(|&b| b == b'=').ok_or("a pax record without `=`")?;
        let (key, value) = (&kv[..eq], &kv[eq + 1..]);
        let name = String::from_utf8_lossy(key);
        if !PAX_KEYS.contains(&&*name) {
            return Err(format!("the pax key {name:?}"));
        }
        if value.is_empty() {
            return Err(format!("an empty pax {name}"));
        }
        if out.iter().any(|(k, _)| k == key) {
            return Err(format!("the pax key {name:?} twice"));
        }
        out.push((key.to_vec(), value.to_vec()));
        data = &data[len..];
    }
    Ok(out)
}

/// A GNU long name or long link name: the name and one NUL, and no other NUL (which GNU tar
/// would end the name at and the tar crate would keep).
fn long_name(data: &[u8]) -> Option<&[u8]> {
    let name = data.strip_suffix(b"\0")?;
    (!name.contains(&0)).then_some(name)
}

/// A numeric header field as every reader parses it alike: octal digits after optional spaces,
/// then only spaces and NULs; or GNU base-256 with no bits above 64.
fn strict_number(f: &[u8]) -> Option<u64> {
    if f[0] & 0x80 != 0 {
        let (high, low) = f.split_at(f.len() - 8);
        return (high[0] == 0x80 && high[1..].iter().all(|&b| b == 0) && low[0] & 0x80 == 0)
            .then(|| u64::from_be_bytes(low.try_into().expect("8 bytes")));
    }
    let start = f.iter().position(|&b| b != b' ')?;
    let digits = f[start..].iter().take_while(|b| (b'0'..=b'7').contains(b)).count();
    if digits == 0 || !f[start + digits..].iter().all(|&b| b == b' ' || b == 0) {
        return None;
    }
    f[start..start + digits].iter().try_fold(0u64, |n, &d| n.checked_mul(8)?.checked_add((d - b'0') as u64))
}

/// The two header formats the writer's crate makes, which every reader tells apart alike.
/// Anything else (v7, or `ustar` magic with another version, which GNU tar reads as POSIX and
/// the tar crate as v7) is refused.
fn known_format(h: &tar::Header) -> bool {
    matches!(&h.as_bytes()[257..265], b"ustar  \0" | b"ustar\x0000")
}

/// Counts a `.jsonl` member's lines as its bytes stream by, so that one huge line fails before
/// it is all in memory.
struct Lines<'a> {
    path: &'a str,
    line: u64,
    len: u64,
    max: u64,
}

impl Lines<'_> {
    fn feed(&mut self, mut b: &[u8]) -> io::Result<()> {
        loop {
            let end = b.iter().position(|&c| c == b'\n');
            self.len += end.unwrap_or(b.len()) as u64;
            if self.len > self.max {
                return Err(over(
                    format_args!("{} line {}: more than {} bytes", self.path, self.line, self.max),
                    size_arg(self.max),
                    "--max-line",
                ));
            }
            match end {
                Some(i) => {
                    self.line += 1;
                    self.len = 0;
                    b = &b[i + 1..];
                }
                None => return Ok(()),
            }
        }
    }
}

/// Reads an archive as hostile input (see the module's doc): every member is checked and
/// hashed as it streams by, and only the bytes `keep` names are kept. The input is read to its
/// end, past the tar stream's, for [`ArchiveContents::archive_sha256`].
///
/// Members refused are listed as problems; an error (unreadable stream, a limit reached) ends
/// the reading.
pub fn read_archive_with(r: impl Read, limits: &Limits, keep: Keep) -> io::Result<ArchiveContents> {
    let mut h = HashingReader { inner: r, hasher: Sha256::new() };
    let mut c = read_tar(open_within(&mut h, limits.max_expanded)?, limits, keep).map_err(|e| {
        // zstd's own words for a frame whose window is over the cap set from the limit.
        if e.to_string().contains("too much memory") {
            io::Error::new(
                e.kind(),
                format!("{e}: a zstd window larger than the archive may expand to (raise it with --max-expanded)"),
            )
        } else {
            e
        }
    })?;
    io::copy(&mut h, &mut io::sink())?;
    c.archive_sha256 = Some(curtain_model::to_hex(&h.hasher.finalize()));
    Ok(c)
}

fn read_tar(r: impl Read, limits: &Limits, keep: Keep) -> io::Result<ArchiveContents> {
    let mut ar = tar::Archive::new(r);
    let mut c = ArchiveContents::default();
    let mut pending = Pending::default();
    let (mut entries, mut expanded) = (0u64, 0u64);
    let mut buf = vec![0u8; 1 << 16];
    for entry in ar.entries()?.raw(true) {
        let mut entry = entry?;
        entries += 1;
        if entries > limits.max_members {
            return Err(over(
                format_args!("more than {} members", limits.max_members),
                limits.max_members.to_string(),
                "--max-members",
            ));
        }
        let header = entry.header().clone();
        let shown = String::from_utf8_lossy(&header.path_bytes()).into_owned();
        let stop = |c: &mut ArchiveContents, why: &str| {
            c.problems.push(MemberProblem::Ambiguous(format!("{shown}: {why}; reading stopped here")));
        };
        // Where the next header starts must be certain before anything else.
        let size = match strict_number(&header.as_bytes()[124..136]) {
            Some(s) if s == entry.size() => s,
            _ => {
                stop(&mut c, "a size field that tar implementations may read differently");
                break;
            }
        };
        expanded = expanded.saturating_add(512).saturating_add(size.div_ceil(512).saturating_mul(512));
        if expanded > limits.max_expanded {
            return Err(over(
                format_args!("{shown}: the archive expands to more than {} bytes", limits.max_expanded),
                size_arg(limits.max_expanded),
                "--max-expanded",
            ));
        }
        if !known_format(&header) {
            stop(&mut c, "a header neither GNU nor ustar");
            break;
        }
        let kind = header.entry_type().as_byte();
        if matches!(kind, b'L' | b'K' | b'x') {
            if size > EXTENSION_MAX {
                stop(&mut c, &format!("an extension header of {size} bytes"));
                break;
            }
            let mut data = Vec::with_capacity(size as usize);
            entry.read_to_end(&mut data)?;
            let slot = match kind {
                b'L' => &mut pending.long_name,
                b'K' => &mut pending.long_link,
                _ => {
                    match parse_pax(&data) {
                        Ok(pax) if pending.pax.is_none() => pending.pax = Some(pax),
                        Ok(_) => {
                            stop(&mut c, "two pax headers before one member");
                            break;
                        }
                        Err(why) => {
                            stop(&mut c, &why);
                            break;
                        }
                    }
                    continue;
                }
            };
            if slot.is_some() {
                stop(&mut c, "two GNU long names of one kind before one member");
                break;
            }
            *slot = Some(data);
            continue;
        }
        let ext = std::mem::take(&mut pending);
        match kind {
            b'0' | b'\0' | b'7' | b'1' => {}
            // Types that carry no data: skipped alike by every reader only when empty (GNU tar
            // skips no data after a directory whatever its size).
            b'2'..=b'6' if size == 0 => {
                c.problems.push(MemberProblem::NotAFile(shown));
                continue;
            }
            b'2'..=b'6' => {
                stop(&mut c, "a member that is not a file, with a size");
                break;
            }
            b'g' => {
                stop(&mut c, "a global pax header");
                break;
            }
            b'S' => {
                stop(&mut c, "a GNU sparse file");
                break;
            }
            other => {
                stop(&mut c, &format!("an entry of type {:?}", other as char));
                break;
            }
        }
        if kind == b'1' && size != 0 {
            // Its bytes would be members to `tar` and skipped data to the tar crate.
            c.problems.push(MemberProblem::BadLink(shown.clone()));
            stop(&mut c, "a hard link with a size");
            break;
        }

        // The name: from the header, a GNU long name or a pax path, never two of them that
        // disagree. The writer's long names leave their first bytes in the header.
        let in_header = header.path_bytes().into_owned();
        let name = match (&ext.long_name, ext.pax(b"path")) {
            (Some(_), Some(_)) => Err("a GNU long name and a pax path"),
            (Some(l), None) => long_name(l).ok_or("a GNU long name that is not one NUL-ended name"),
            (None, Some(p)) => Ok(p),
            (None, None) => Ok(&in_header[..]),
        }
        .and_then(|n| {
            if n.starts_with(&in_header) {
                Ok(n)
            } else {
                Err("a long name that the header's own name does not begin")
            }
        });
        let name = match name {
            Ok(n) => n.to_vec(),
            Err(why) => {
                c.problems.push(MemberProblem::Ambiguous(format!("{shown}: {why}")));
                continue;
            }
        };
        let shown = String::from_utf8_lossy(&name).into_owned();
        if !is_safe_member_path(&name) {
            c.problems.push(MemberProblem::UnsafePath(shown));
            continue;
        }
        if c.by_path.contains_key(&shown) {
            c.problems.push(MemberProblem::Duplicate(shown));
            continue;
        }

        let seen = if kind == b'1' {
            // A pax `linkpath` could name another target for `tar` than for the tar crate.
            let in_header = header.link_name_bytes().map(|t| t.into_owned()).unwrap_or_default();
            let target = match &ext.long_link {
                Some(k) if ext.pax(b"linkpath").is_none() => long_name(k).filter(|t| t.starts_with(&in_header)),
                Some(_) => None,
                None if ext.pax(b"linkpath").is_some() => None,
                None => Some(&in_header[..]),
            };
            // Only raw files repeat (the writer links nothing else): a link to a table part
            // would be its bytes again for every link when the parts are joined.
            let earlier = target
                .and_then(|t| std::str::from_utf8(t).ok())
                .filter(|t| is_safe_member_path(t.as_bytes()) && is_indexed(t) && is_indexed(&shown))
                .and_then(|t| c.by_path.get(t));
            let Some(&i) = earlier else {
                c.problems.push(MemberProblem::BadLink(shown));
                continue;
            };
            let first = &c.seen[i];
            let kept = first.kept.filter(|_| keep.keeps(&shown)).map(|k| {
                let data = Arc::clone(&c.members[k].1);
                c.members.push((shown.clone(), data));
                c.members.len() - 1
            });
            SeenMember { path: shown.clone(), size: first.size, sha256: first.sha256, kept }
        } else {
            if ext.long_link.is_some() || ext.pax(b"linkpath").is_some() {
                c.problems.push(MemberProblem::Ambiguous(format!("{shown}: a link name on a file")));
                continue;
            }
            if size > limits.max_member_size {
                return Err(over(
                    format_args!("{shown}: a member of {size} bytes"),
                    size_arg(limits.max_member_size),
                    "--max-member-size",
                ));
            }
            let kept = keep.keeps(&shown);
            let mut hasher = keep.hashes().then(Sha256::new);
            let mut data = if kept { Vec::with_capacity(size.min(1 << 26) as usize) } else { Vec::new() };
            let mut lines = (kept && shown.ends_with(".jsonl")).then_some(Lines {
                path: &shown,
                line: 1,
                len: 0,
                max: limits.max_line,
            });
            loop {
                let n = match entry.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                let b = &buf[..n];
                if let Some(h) = &mut hasher {
                    h.update(b);
                }
                if let Some(l) = &mut lines {
                    l.feed(b)?;
                }
                if kept {
                    data.extend_from_slice(b);
                }
            }
            let kept = kept.then(|| {
                c.members.push((shown.clone(), Arc::new(data)));
                c.members.len() - 1
            });
            SeenMember { path: shown.clone(), size, sha256: hasher.map(|h| h.finalize().into()), kept }
        };
        c.by_path.insert(shown, c.seen.len());
        c.seen.push(seen);
    }
    if !pending.is_empty() {
        c.problems.push(MemberProblem::Ambiguous("extension headers with no member after them".into()));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header of any name bytes (the crate's setters refuse some), type and size.
    fn header(gnu: bool, name: &[u8], size: u64, kind: u8) -> tar::Header {
        let mut h = if gnu { tar::Header::new_gnu() } else { tar::Header::new_ustar() };
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_size(size);
        h.set_mode(0o444);
        h.set_entry_type(tar::EntryType::new(kind));
        h.set_cksum();
        h
    }

    fn put(out: &mut Vec<u8>, h: &tar::Header, data: &[u8]) {
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }

    fn file(out: &mut Vec<u8>, name: &str, data: &[u8]) {
        put(out, &header(true, name.as_bytes(), data.len() as u64, b'0'), data);
    }

    fn link(out: &mut Vec<u8>, name: &str, target: &str) {
        let mut h = header(true, name.as_bytes(), 0, b'1');
        h.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
        h.set_cksum();
        put(out, &h, b"");
    }

    /// A GNU long name (`L`) or long link name (`K`), or a pax header (`x`, `g`).
    fn ext(out: &mut Vec<u8>, kind: u8, data: &[u8]) {
        let gnu = matches!(kind, b'L' | b'K');
        put(out, &header(gnu, b"././@LongLink", data.len() as u64, kind), data);
    }

    fn pax(records: &[(&str, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        b.append_pax_extensions(records.iter().map(|(k, v)| (*k, v.as_bytes()))).unwrap();
        let mut v = b.into_inner().unwrap();
        v.truncate(v.len() - 1024);
        v.drain(..512);
        while v.last() == Some(&0) {
            v.pop();
        }
        v
    }

    fn read(mut bytes: Vec<u8>) -> ArchiveContents {
        bytes.extend_from_slice(&[0; 1024]);
        read_archive(io::Cursor::new(bytes)).unwrap()
    }

    #[test]
    fn each_header_that_tar_implementations_may_read_differently_is_refused() {
        type Case = (&'static str, fn(&mut Vec<u8>), &'static str, bool);
        let cases: [Case; 18] = [
            (
                "GNU long name and pax path",
                |o| {
                    ext(o, b'x', &pax(&[("path", "raw/proc/1/b")]));
                    ext(o, b'L', b"raw/proc/1/a\0");
                    file(o, "raw/proc/1/a", b"x");
                },
                "raw/proc/1/a: a GNU long name and a pax path",
                true,
            ),
            (
                "GNU long link and pax linkpath",
                |o| {
                    file(o, "raw/proc/1/maps", b"m");
                    file(o, "raw/proc/3/maps", b"n");
                    ext(o, b'x', &pax(&[("linkpath", "raw/proc/3/maps")]));
                    ext(o, b'K', b"raw/proc/1/maps\0");
                    link(o, "raw/proc/2/maps", "raw/proc/1/maps");
                },
                "BadLink(\"raw/proc/2/maps\")",
                true,
            ),
            (
                "pax size",
                |o| {
                    ext(o, b'x', &pax(&[("size", "1")]));
                    file(o, "raw/proc/1/a", b"x");
                },
                "the pax key \"size\"; reading stopped here",
                false,
            ),
            (
                "global pax header",
                |o| {
                    ext(o, b'g', &pax(&[("path", "raw/proc/1/b")]));
                    file(o, "raw/proc/1/a", b"x");
                },
                "a global pax header; reading stopped here",
                false,
            ),
            (
                "GNU sparse file",
                |o| put(o, &header(true, b"raw/proc/1/a", 0, b'S'), b""),
                "raw/proc/1/a: a GNU sparse file; reading stopped here",
                false,
            ),
            (
                "two long names",
                |o| {
                    ext(o, b'L', b"raw/proc/1/a\0");
                    ext(o, b'L', b"raw/proc/1/b\0");
                    file(o, "raw/proc/1/", b"x");
                },
                "two GNU long names of one kind before one member; reading stopped here",
                false,
            ),
            (
                "two long link names",
                |o| {
                    file(o, "raw/proc/1/maps", b"m");
                    ext(o, b'K', b"raw/proc/1/maps\0");
                    ext(o, b'K', b"raw/proc/1/maps\0");
                    link(o, "raw/proc/2/maps", "raw/proc/1/maps");
                },
                "two GNU long names of one kind",
                false,
            ),
            (
                "two pax headers",
                |o| {
                    ext(o, b'x', &pax(&[("mtime", "1")]));
                    ext(o, b'x', &pax(&[("path", "raw/proc/1/b")]));
                    file(o, "raw/proc/1/a", b"x");
                },
                "two pax headers before one member; reading stopped here",
                false,
            ),
            (
                "long name that the header name does not begin",
                |o| {
                    ext(o, b'L', b"raw/proc/1/long\0");
                    file(o, "raw/proc/1/other", b"x");
                },
                "raw/proc/1/other: a long name that the header's own name does not begin",
                true,
            ),
            (
                "ustar prefix and name against a long name",
                |o| {
                    ext(o, b'L', b"raw/proc/1/y\0");
                    let mut h = header(false, b"1/x", 1, b'0');
                    h.as_ustar_mut().unwrap().prefix[..8].copy_from_slice(b"raw/proc");
                    h.set_cksum();
                    put(o, &h, b"x");
                },
                "raw/proc/1/x: a long name that the header's own name does not begin",
                true,
            ),
            (
                "ustar magic with the GNU version",
                |o| {
                    let mut h = header(false, b"1/x", 1, b'0');
                    h.as_mut_bytes()[263..265].copy_from_slice(b"  ");
                    h.set_cksum();
                    put(o, &h, b"x");
                },
                "1/x: a header neither GNU nor ustar; reading stopped here",
                false,
            ),
            (
                "size with a sign",
                |o| {
                    let mut h = header(true, b"raw/proc/1/a", 1, b'0');
                    h.as_mut_bytes()[124..136].copy_from_slice(b"+0000000001\0");
                    h.set_cksum();
                    put(o, &h, b"x");
                },
                "a size field that tar implementations may read differently",
                false,
            ),
            (
                "long name with a NUL inside",
                |o| {
                    ext(o, b'L', b"raw/proc/1/a\0b\0");
                    file(o, "raw/proc/1/a", b"x");
                },
                "raw/proc/1/a: a GNU long name that is not one NUL-ended name",
                true,
            ),
            (
                "pax key off the list",
                |o| {
                    ext(o, b'x', &pax(&[("GNU.sparse.size", "1")]));
                    file(o, "raw/proc/1/a", b"x");
                },
                "the pax key \"GNU.sparse.size\"; reading stopped here",
                false,
            ),
            (
                "long link name on a file",
                |o| {
                    ext(o, b'K', b"raw/proc/1/maps\0");
                    file(o, "raw/proc/1/a", b"x");
                },
                "raw/proc/1/a: a link name on a file",
                true,
            ),
            (
                "empty pax path",
                |o| {
                    ext(o, b'x', &pax(&[("path", "")]));
                    file(o, "raw/proc/1/a", b"x");
                },
                "an empty pax path; reading stopped here",
                false,
            ),
            (
                "directory with a size",
                |o| put(o, &header(true, b"raw/proc/1", 512, b'5'), &[b'x'; 512]),
                "raw/proc/1: a member that is not a file, with a size; reading stopped here",
                false,
            ),
            (
                "pax record of the wrong length",
                |o| {
                    ext(o, b'x', b"99 path=raw/proc/1/b\n");
                    file(o, "raw/proc/1/a", b"x");
                },
                "a pax record whose length does not match it",
                false,
            ),
        ];
        for (what, build, want, goes_on) in cases {
            let mut bytes = Vec::new();
            build(&mut bytes);
            file(&mut bytes, "raw/proc/9/stat", b"after");
            let got = read(bytes);
            let problems: Vec<String> = got
                .problems
                .iter()
                .map(|p| match p {
                    MemberProblem::Ambiguous(m) => m.clone(),
                    p => format!("{p:?}"),
                })
                .collect();
            assert!(problems.iter().any(|p| p.contains(want)), "{what}: {problems:?}");
            assert_eq!(got.get("raw/proc/9/stat").is_some(), goes_on, "{what}: {problems:?}");
            for name in ["raw/proc/1/a", "raw/proc/1/b", "raw/proc/1/x", "raw/proc/1/y", "raw/proc/2/maps"] {
                assert!(got.seen(name).is_none(), "{what}: {name} read");
            }
        }
        // Extension headers that describe nothing.
        let mut bytes = Vec::new();
        ext(&mut bytes, b'L', b"raw/proc/1/a\0");
        let problems = read(bytes).problems;
        assert_eq!(problems, [MemberProblem::Ambiguous("extension headers with no member after them".into())]);
    }

    #[test]
    fn names_every_reader_agrees_on_are_read() {
        // A pax path, with times and owners, that the header's name begins; a long name with the
        // header's name its first bytes; a ustar prefix.
        let long = format!("raw/proc/1/{}", "n".repeat(150));
        let mut bytes = Vec::new();
        ext(&mut bytes, b'x', &pax(&[("path", "raw/proc/1/pax"), ("mtime", "1.5"), ("uid", "0"), ("uname", "root")]));
        file(&mut bytes, "raw/proc/1/p", b"1");
        ext(&mut bytes, b'L', format!("{long}\0").as_bytes());
        file(&mut bytes, &long[..100], b"2");
        let mut h = header(false, b"1/u", 1, b'0');
        h.as_ustar_mut().unwrap().prefix[..8].copy_from_slice(b"raw/proc");
        h.set_cksum();
        put(&mut bytes, &h, b"3");
        ext(&mut bytes, b'K', format!("{long}\0").as_bytes());
        link(&mut bytes, "raw/proc/2/n", &long[..100]);
        let got = read(bytes);
        assert!(got.problems.is_empty(), "{:?}", got.problems);
        assert_eq!(got.get("raw/proc/1/pax"), Some(&b"1"[..]));
        assert_eq!(got.get(&long), Some(&b"2"[..]));
        assert_eq!(got.get("raw/proc/1/u"), Some(&b"3"[..]));
        assert_eq!(got.get("raw/proc/2/n"), Some(&b"2"[..]));
    }

    #[test]
    fn the_writers_long_names_and_links_read_back() {
        // Names and targets of 99, 100 and 150 bytes: in the header, filling it, through the crate.
        let mut w = crate::writer::ArchiveWriter::new(Vec::new(), crate::writer::Compression::None, 0).unwrap();
        let mut want = Vec::new();
        for n in [99, 100, 150] {
            let first = format!("raw/proc/1/{}", "f".repeat(n - 11));
            let data = format!("{n} bytes of name").into_bytes();
            assert_eq!(first.len(), n);
            w.append_indexed(&first, &data, None).unwrap();
            // Its bytes again under the same file name: a link to the first.
            let again = format!("raw/proc/3/{}", "f".repeat(n - 11));
            w.append_indexed(&again, &data, None).unwrap();
            w.append(&format!("files/{}", "a".repeat(n - 6)), &data).unwrap();
            want.extend([(first, data.clone()), (again, data)]);
        }
        let (bytes, _, _) = w.finish(b"{}").unwrap();
        let links = tar::Archive::new(&bytes[..])
            .entries()
            .unwrap()
            .filter(|e| e.as_ref().unwrap().header().entry_type() == tar::EntryType::Link)
            .count();
        assert_eq!(links, 3);
        let got = read_archive(io::Cursor::new(bytes)).unwrap();
        assert!(got.problems.is_empty(), "{:?}", got.problems);
        for (path, data) in want {
            assert_eq!(got.get(&path), Some(&data[..]), "{path}");
        }
    }

    #[test]
    fn numbers_are_read_strictly() {
        assert_eq!(strict_number(b"00000000012\0"), Some(10));
        assert_eq!(strict_number(b"   12 \0\0\0\0\0\0"), Some(10));
        for bad in [&b"+0000000001\0"[..], b"0000000001x\0", b"\0\0\0\0\0\0\0\0\0\0\0\0", b"00000009\0\0\0\0"] {
            assert_eq!(strict_number(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        let mut big = [0u8; 12];
        big[0] = 0x80;
        big[4..].copy_from_slice(&(10u64 << 30).to_be_bytes());
        assert_eq!(strict_number(&big), Some(10 << 30));
        big[1] = 1;
        assert_eq!(strict_number(&big), None);
    }

    #[test]
    fn sizes_print_as_the_flags_take_them() {
        assert_eq!(size_arg(4 << 30), "4G");
        assert_eq!(size_arg(64 << 20), "64M");
        assert_eq!(size_arg(1536), "1536");
        assert_eq!(size_arg(3 << 10), "3K");
    }
}
