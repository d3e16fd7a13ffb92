//! Writing the evidence archive: a tar stream (optionally zstd-compressed) whose members are
//! listed with their SHA-256 (raw files that repeat a recent one are hard links to it). Reading
//! it back, as hostile input, is [`crate::reader`]'s.

use curtain_model::{to_hex, Member};
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::io::{self, Write};

use crate::reader::is_safe_member_path;

/// Archive compression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Compression {
    /// Plain tar.
    None,
    /// zstd-compressed tar (`.tar.zst`).
    Zstd,
}

impl Compression {
    /// From the output file name: `.zst` means zstd.
    pub fn for_path(path: &str) -> Compression {
        if path.ends_with(".zst") || path.ends_with(".tzst") {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// The zstd window the writer uses (log2 bytes, 512 KiB); a reader allows at least this much.
pub const WINDOW_LOG: u32 = 19;

/// Counts and hashes every byte written through it: the SHA-256 of the whole archive file.
pub struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter { inner, hasher: Sha256::new(), written: 0 }
    }
    pub fn finish(self) -> (W, String, u64) {
        (self.inner, to_hex(&self.hasher.finalize()), self.written)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

enum Sink<W: Write> {
    Plain(HashingWriter<W>),
    Zstd(zstd::stream::write::Encoder<'static, HashingWriter<W>>),
}

impl<W: Write> Write for Sink<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Plain(w) => w.write(buf),
            Sink::Zstd(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.flush(),
            Sink::Zstd(w) => w.flush(),
        }
    }
}

/// Bytes gathered before they go to the compressor: zstd costs about half as much given 128 KiB
/// at a time as given each tar header and file apart (tens of thousands of small writes).
const CHUNK: usize = 128 << 10;
/// Data this large is written through as it is.
const BIG: usize = 16 << 10;

/// The tar stream being written: members are laid out in `buf` and handed on by the chunk.
struct Out<W: Write> {
    buf: Vec<u8>,
    sink: Sink<W>,
}

impl<W: Write> Out<W> {
    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        if b.len() >= BIG {
            // A table part or a carved executable: straight to the compressor, not copied here.
            self.flush()?;
            return self.sink.write_all(b);
        }
        if self.buf.len() + b.len() > CHUNK {
            self.flush()?;
        }
        self.buf.extend_from_slice(b);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sink.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }
}

/// Writes members one after the other and remembers each one's size and SHA-256: the
/// manifest (written last) lists them, except the many raw files, which are listed in index
/// parts (`raw/index.jsonl`, `raw/index.1.jsonl`...) that the manifest lists in turn.
///
/// The tar headers are laid out here rather than by `tar::Builder`, whose per-member path
/// checks and octal formatting cost more than the member's bytes on a small /proc file; they
/// are the same bytes (a test compares them), and long names still go through the crate.
///
/// A raw file whose bytes equal those of one written shortly before under the same file name
/// (the maps, environ, cmdline and cgroup of pre-fork workers, which are their parent's) is
/// written as a tar hard link to it: listed in the index with its own path, size and digest
/// like any other, its bytes neither copied nor compressed again. `tar -x` makes it a link,
/// [`read_archive`] gives it the bytes of its target.
pub struct ArchiveWriter<W: Write> {
    out: Out<W>,
    /// The header every member shares but for name, size and checksum.
    template: [u8; 512],
    mtime: u64,
    members: Vec<Member>,
    index: Vec<u8>,
    index_parts: u32,
    written: u64,
    /// For each raw file name (`maps`, `environ`...), the digests of the last [`SAME_KEPT`]
    /// contents written under it and the member holding each.
    recent: Vec<(Box<str>, Recent)>,
}

/// The digests last written under one raw file name, each with the member holding it.
type Recent = VecDeque<([u8; 32], Box<str>)>;

/// Contents remembered per raw file name: enough for several groups of workers side by side,
/// few enough to look through on every member.
const SAME_KEPT: usize = 8;

/// The stream of index parts.
pub const INDEX: &str = "raw/index";

/// Members listed in the index parts rather than the manifest: the many raw files.
pub fn is_indexed(path: &str) -> bool {
    path.starts_with("raw/proc/") || path.starts_with("raw/netlink/") || path.starts_with("raw/host/")
}

/// The header of a regular, read-only member stamped `mtime`, as `tar::Builder` writes it.
fn tar_header(mtime: u64, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(0o444);
    h.set_mtime(mtime);
    h.set_entry_type(tar::EntryType::Regular);
    h
}

/// `v` in octal, zero-padded, NUL-terminated, filling `field` (tar's numeric fields).
fn octal(field: &mut [u8], mut v: u64) {
    let (last, digits) = field.split_last_mut().expect("a field");
    *last = 0;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (v & 7) as u8;
        v >>= 3;
    }
}

impl<W: Write> ArchiveWriter<W> {
    /// `mtime`: the time stamped on every member (the collection's start, in seconds).
    pub fn new(out: W, compression: Compression, mtime: u64) -> io::Result<Self> {
        let hashing = HashingWriter::new(out);
        let sink = match compression {
            Compression::None => Sink::Plain(hashing),
            // On this thread (a multithreaded encoder buffers megabytes per job), level 1 with a
            // 512 KiB window: on /proc text and JSON it compresses as well as level 3 with its
            // 2 MiB window, for less memory and time (docs/BENCHMARKS.md).
            Compression::Zstd => {
                let mut enc = zstd::stream::write::Encoder::new(hashing, 1)?;
                enc.window_log(WINDOW_LOG)?;
                Sink::Zstd(enc)
            }
        };
        let mut template = [0u8; 512];
        template.copy_from_slice(tar_header(mtime, 0).as_bytes());
        Ok(ArchiveWriter {
            out: Out { buf: Vec::with_capacity(CHUNK), sink },
            template,
            mtime,
            members: Vec::new(),
            index: Vec::new(),
            index_parts: 0,
            written: 0,
            recent: Vec::new(),
        })
    }

    /// The header block(s) of a member named `path` of `size` bytes, or of a hard link (size 0)
    /// to the earlier member `link`.
    fn header(&mut self, path: &str, size: u64, link: Option<&str>) -> io::Result<()> {
        // Short plain names (all the collector makes) and sizes below 8 GiB: the template with
        // name, size, link and checksum filled in. The rest as the crate writes them.
        let target = link.unwrap_or("");
        if path.len() < 100 && target.len() < 100 && size < 1 << 33 && is_safe_member_path(path.as_bytes()) {
            let mut h = self.template;
            h[..path.len()].copy_from_slice(path.as_bytes());
            octal(&mut h[124..136], size);
            if link.is_some() {
                h[156] = b'1';
                h[157..157 + target.len()].copy_from_slice(target.as_bytes());
            }
            // The checksum counts its own field as spaces.
            h[148..156].fill(b' ');
            let sum: u64 = h.iter().map(|&b| b as u64).sum();
            octal(&mut h[148..156], sum);
            return self.out.put(&h);
        }
        let mut h = tar_header(self.mtime, size);
        let mut b = tar::Builder::new(Vec::new());
        match link {
            Some(target) => {
                h.set_entry_type(tar::EntryType::Link);
                b.append_link(&mut h, path, target)?;
            }
            None => b.append_data(&mut h, path, io::empty())?,
        }
        let blocks = std::mem::take(b.get_mut());
        self.out.put(&blocks)
    }

    /// A hard link named `path` to the earlier member `target`.
    fn link(&mut self, path: &str, target: &str) -> io::Result<()> {
        self.header(path, 0, Some(target))?;
        self.written += 1;
        Ok(())
    }

    /// The member already written under the same file name as `path` with these bytes, if it
    /// is among the last few; else remembers `path` as holding them.
    fn same_as(&mut self, path: &str, digest: &[u8; 32]) -> Option<Box<str>> {
        let kind = path.rsplit('/').next().unwrap_or(path);
        let i = match self.recent.iter().position(|(k, _)| &**k == kind) {
            Some(i) => i,
            None => {
                self.recent.push((kind.into(), VecDeque::with_capacity(SAME_KEPT)));
                self.recent.len() - 1
            }
        };
        let ring = &mut self.recent[i].1;
        if let Some(at) = ring.iter().position(|(d, _)| d == digest) {
            // Kept while it repeats: moved to the back, the last to go.
            let hit = ring.remove(at).expect("found");
            let first = hit.1.clone();
            ring.push_back(hit);
            return Some(first);
        }
        if ring.len() == SAME_KEPT {
            ring.pop_front();
        }
        ring.push_back((*digest, path.into()));
        None
    }

    /// Lays out one member (header, data, padding to the block) and returns its SHA-256:
    /// `sha256` when the reader already made it (on its own thread), else made here.
    fn put_member(&mut self, path: &str, data: &[u8], sha256: Option<&[u8; 32]>) -> io::Result<[u8; 32]> {
        self.header(path, data.len() as u64, None)?;
        self.out.put(data)?;
        let pad = (512 - data.len() % 512) % 512;
        self.out.put(&[0u8; 512][..pad])?;
        self.written += 1;
        Ok(sha256.copied().unwrap_or_else(|| Sha256::digest(data).into()))
    }

    fn write(&mut self, path: &str, data: &[u8], sha256: Option<&[u8; 32]>) -> io::Result<Member> {
        let digest = self.put_member(path, data, sha256)?;
        Ok(Member { path: path.to_string(), size: data.len() as u64, sha256: to_hex(&digest) })
    }

    /// Appends one member and lists it in the manifest.
    pub fn append(&mut self, path: &str, data: &[u8]) -> io::Result<()> {
        let m = self.write(path, data, None)?;
        self.members.push(m);
        Ok(())
    }

    /// Appends one member and lists it in the current index part. `sha256`: its digest when the
    /// reader already made it (on its own thread).
    /// Bytes equal to those of a recent member of the same file name are written as a link to it.
    pub fn append_indexed(&mut self, path: &str, data: &[u8], sha256: Option<&[u8; 32]>) -> io::Result<()> {
        let digest = sha256.copied().unwrap_or_else(|| Sha256::digest(data).into());
        let earlier = if data.is_empty() { None } else { self.same_as(path, &digest) };
        match earlier {
            Some(target) => self.link(path, &target)?,
            None => {
                self.put_member(path, data, Some(&digest))?;
            }
        }
        // The index line, as serde writes a Member.
        let mut o = curtain_model::json::Obj::new(&mut self.index);
        o.str("path", path);
        o.int("size", data.len());
        let v = o.key("sha256");
        v.push(b'"');
        curtain_model::json::hex(v, &digest);
        v.push(b'"');
        o.end();
        self.index.push(b'\n');
        if self.index.len() >= crate::parts::PART_BYTES {
            self.flush_index()?;
        }
        Ok(())
    }

    fn flush_index(&mut self) -> io::Result<()> {
        let body = std::mem::take(&mut self.index);
        let name = crate::parts::part_name(INDEX, self.index_parts);
        self.index_parts += 1;
        self.append(&name, &body)
    }

    /// How many members were written so far (listed in the manifest or an index part).
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The members the manifest lists (so far). Call [`Self::close_index`] first for all.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Writes the last index part, so that [`Self::members`] is complete for the manifest.
    pub fn close_index(&mut self) -> io::Result<()> {
        if !self.index.is_empty() {
            self.flush_index()?;
        }
        Ok(())
    }

    /// Appends the manifest (not listed in itself) and closes the stream. Returns the output,
    /// the SHA-256 of all bytes written and their count.
    pub fn finish(mut self, manifest: &[u8]) -> io::Result<(W, String, u64)> {
        if !self.index.is_empty() {
            self.flush_index()?;
        }
        self.write(crate::MANIFEST, manifest, None)?;
        // The end of the archive: two zero blocks.
        self.out.put(&[0u8; 1024])?;
        self.out.flush()?;
        let hashing = match self.out.sink {
            Sink::Plain(w) => w,
            Sink::Zstd(enc) => enc.finish()?,
        };
        let (mut out, digest, n) = hashing.finish();
        out.flush()?;
        Ok((out, digest, n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::read_archive;

    #[test]
    fn member_paths_are_checked() {
        for ok in ["manifest.json", "raw/proc/1/stat", "files/ab"] {
            assert!(is_safe_member_path(ok.as_bytes()), "{ok}");
        }
        for bad in ["", "/etc/passwd", "../x", "raw/../../x", "raw//x", "./x", "a\\..\\b", "a\0b"] {
            assert!(!is_safe_member_path(bad.as_bytes()), "{bad}");
        }
        assert!(!is_safe_member_path(b"raw/\xff"));
    }

    #[test]
    fn headers_are_the_tar_crates() {
        // Every length of short name, sizes around block edges, a long name, a big size.
        let long = format!("files/{}", "ab".repeat(60));
        let mut names: Vec<String> =
            (1..100).map(|n| if n < 3 { "x".repeat(n) } else { format!("d/{}", "x".repeat(n - 2)) }).collect();
        names.push(long);
        let sizes = [0usize, 1, 511, 512, 513, 70_000];
        let mut ours = ArchiveWriter::new(Vec::new(), Compression::None, 1_764_419_640).unwrap();
        let mut theirs = tar::Builder::new(Vec::new());
        for (i, name) in names.iter().enumerate() {
            let data = vec![b'a' + (i % 26) as u8; sizes[i % sizes.len()]];
            ours.append(name, &data).unwrap();
            theirs.append_data(&mut tar_header(1_764_419_640, data.len() as u64), name, &data[..]).unwrap();
        }
        ours.append_indexed("raw/proc/1/stat", b"1 (init) S", None).unwrap();
        theirs.append_data(&mut tar_header(1_764_419_640, 10), "raw/proc/1/stat", &b"1 (init) S"[..]).unwrap();
        let (a, _, _) = ours.finish(b"{}").unwrap();
        // Our index part and manifest come last: compare what both wrote before them.
        let b = theirs.into_inner().unwrap();
        assert_eq!(&a[..b.len() - 1024], &b[..b.len() - 1024]);
        let got = read_archive(std::io::Cursor::new(a)).unwrap();
        assert!(got.problems.is_empty());
        assert_eq!(got.members.len(), names.len() + 3);
        let index = got.get("raw/index.jsonl").unwrap();
        let m: Member = serde_json::from_slice(index.strip_suffix(b"\n").unwrap()).unwrap();
        assert_eq!(m.sha256, to_hex(&Sha256::digest(b"1 (init) S")));
        assert_eq!(index, [serde_json::to_vec(&m).unwrap(), b"\n".to_vec()].concat());
    }

    #[test]
    fn round_trip_plain_and_zstd() {
        for c in [Compression::None, Compression::Zstd] {
            let mut w = ArchiveWriter::new(Vec::new(), c, 0).unwrap();
            w.append("raw/proc/1/stat", b"1 (init) S 0").unwrap();
            w.append("tables/x.jsonl", b"").unwrap();
            let (bytes, digest, n) = w.finish(b"{}").unwrap();
            assert_eq!(n as usize, bytes.len());
            assert_eq!(digest, to_hex(&Sha256::digest(&bytes)));
            let got = read_archive(std::io::Cursor::new(bytes)).unwrap();
            assert!(got.problems.is_empty());
            let names: Vec<_> = got.members.iter().map(|(p, _)| p.as_str()).collect();
            assert_eq!(names, ["raw/proc/1/stat", "tables/x.jsonl", "manifest.json"]);
            assert_eq!(got.get("raw/proc/1/stat"), Some(&b"1 (init) S 0"[..]));
        }
    }

    #[test]
    fn link_headers_are_the_tar_crates() {
        // Short and long names and targets: laid out here or through the crate, the same bytes.
        let long = format!("raw/proc/1/{}", "m".repeat(120));
        let cases =
            [("raw/proc/2/maps", "raw/proc/1/maps"), (long.as_str(), "raw/proc/1/maps"), ("raw/proc/3/maps", &long)];
        for (path, target) in cases {
            let mut ours = ArchiveWriter::new(Vec::new(), Compression::None, 1_764_419_640).unwrap();
            ours.link(path, target).unwrap();
            ours.out.flush().unwrap();
            let Sink::Plain(h) = &ours.out.sink else { unreachable!() };
            let mut theirs = tar::Builder::new(Vec::new());
            let mut header = tar_header(1_764_419_640, 0);
            header.set_entry_type(tar::EntryType::Link);
            theirs.append_link(&mut header, path, target).unwrap();
            assert_eq!(&h.inner, theirs.get_ref(), "{path} -> {target}");
        }
    }

    #[test]
    fn equal_raw_files_are_links_and_read_back_whole() {
        let maps = b"55d0c0000000-55d0c0001000 r--p 00000000 08:01 1234 /usr/bin/worker\n".repeat(40);
        for c in [Compression::None, Compression::Zstd] {
            let mut w = ArchiveWriter::new(Vec::new(), c, 0).unwrap();
            w.append_indexed("raw/proc/10/maps", &maps, None).unwrap();
            w.append_indexed("raw/proc/10/environ", b"A=1", None).unwrap();
            // The same bytes under the same file name: a link; under another name, or other
            // bytes: a file; empty: a file.
            w.append_indexed("raw/proc/11/maps", &maps, None).unwrap();
            w.append_indexed("raw/proc/11/cmdline", &maps, None).unwrap();
            w.append_indexed("raw/proc/12/maps", b"other", None).unwrap();
            w.append_indexed("raw/proc/12/environ", b"", None).unwrap();
            w.append_indexed("raw/proc/13/environ", b"", None).unwrap();
            w.append_indexed("raw/proc/13/maps", &maps, None).unwrap();
            w.close_index().unwrap();
            let manifest = serde_json::to_vec(&serde_json::json!({ "members": w.members() })).unwrap();
            let (bytes, _, _) = w.finish(&manifest).unwrap();
            let plain = if c == Compression::Zstd { zstd::decode_all(&bytes[..]).unwrap() } else { bytes.clone() };
            let mut kinds = Vec::new();
            for e in tar::Archive::new(&plain[..]).entries().unwrap() {
                let e = e.unwrap();
                let link = e.link_name().unwrap().map(|l| l.to_string_lossy().into_owned());
                kinds.push((e.path().unwrap().to_string_lossy().into_owned(), e.header().entry_type(), link));
            }
            let link = |p: &str| kinds.iter().find(|(n, ..)| n == p).unwrap().clone();
            assert_eq!(link("raw/proc/11/maps").2.as_deref(), Some("raw/proc/10/maps"));
            assert_eq!(link("raw/proc/13/maps").2.as_deref(), Some("raw/proc/10/maps"));
            for p in ["raw/proc/11/cmdline", "raw/proc/12/maps", "raw/proc/13/environ"] {
                assert_eq!(link(p).1, tar::EntryType::Regular, "{p}");
            }
            let got = read_archive(std::io::Cursor::new(bytes)).unwrap();
            assert!(got.problems.is_empty(), "{:?}", got.problems);
            assert_eq!(got.get("raw/proc/11/maps"), Some(&maps[..]));
            assert_eq!(got.get("raw/proc/13/maps"), Some(&maps[..]));
            assert_eq!(got.get("raw/proc/13/environ"), Some(&b""[..]));
            // The index lists a link with the size and digest of its bytes.
            let index = got.get("raw/index.jsonl").unwrap();
            let line = index.split(|&b| b == b'\n').find(|l| l.starts_with(br#"{"path":"raw/proc/13/maps""#)).unwrap();
            let m: Member = serde_json::from_slice(line).unwrap();
            assert_eq!((m.size, m.sha256), (maps.len() as u64, to_hex(&Sha256::digest(&maps))));
        }
    }

    #[test]
    fn links_to_anything_but_an_earlier_member_are_refused() {
        let link = |b: &mut tar::Builder<Vec<u8>>, path: &str, target: &str| {
            let mut h = tar_header(0, 0);
            h.set_entry_type(tar::EntryType::Link);
            b.append_link(&mut h, path, target).unwrap();
        };
        let mut b = tar::Builder::new(Vec::new());
        b.append_data(&mut tar_header(0, 3), "raw/proc/1/maps", &b"abc"[..]).unwrap();
        // A symlink: refused itself, so nothing may link to it.
        let mut h = tar_header(0, 0);
        h.set_entry_type(tar::EntryType::Symlink);
        b.append_link(&mut h, "raw/proc/1/environ", "/etc/shadow").unwrap();
        link(&mut b, "raw/proc/2/maps", "raw/proc/9/maps");
        link(&mut b, "raw/proc/3/maps", "../etc/passwd");
        link(&mut b, "raw/proc/4/maps", "/etc/passwd");
        // To a member that comes after it, to itself, to the refused symlink.
        link(&mut b, "raw/proc/5/maps", "raw/proc/6/maps");
        b.append_data(&mut tar_header(0, 3), "raw/proc/6/maps", &b"def"[..]).unwrap();
        link(&mut b, "raw/proc/8/maps", "raw/proc/8/maps");
        link(&mut b, "raw/proc/9/environ", "raw/proc/1/environ");
        // A pax linkpath naming another target than the header.
        b.append_pax_extensions([("linkpath", &b"raw/proc/6/maps"[..])]).unwrap();
        link(&mut b, "raw/proc/11/maps", "raw/proc/1/maps");
        link(&mut b, "raw/proc/7/maps", "raw/proc/1/maps");
        // A link with a size: what follows it would be members to tar and skipped bytes here.
        let hidden = {
            let mut inner = tar::Builder::new(Vec::new());
            inner.append_data(&mut tar_header(0, 3), "raw/proc/6/maps", &b"bad"[..]).unwrap();
            let mut v = inner.into_inner().unwrap();
            v.truncate(v.len() - 1024);
            v
        };
        let mut h = tar_header(0, hidden.len() as u64);
        h.set_entry_type(tar::EntryType::Link);
        h.set_link_name("raw/proc/1/maps").unwrap();
        h.set_path("raw/proc/10/maps").unwrap();
        h.set_cksum();
        b.append(&h, &hidden[..]).unwrap();
        // Where the next header starts is in question after it: nothing more is read.
        b.append_data(&mut tar_header(0, 3), "raw/proc/12/maps", &b"ghi"[..]).unwrap();
        let got = read_archive(std::io::Cursor::new(b.into_inner().unwrap())).unwrap();
        let bad: Vec<_> = got.problems.iter().map(|p| format!("{p:?}")).collect();
        let mut want = vec![format!("NotAFile({:?})", "raw/proc/1/environ")];
        want.extend(
            ["2/maps", "3/maps", "4/maps", "5/maps", "8/maps", "9/environ", "11/maps", "10/maps"]
                .map(|p| format!("BadLink(\"raw/proc/{p}\")")),
        );
        want.push(format!("Ambiguous({:?})", "raw/proc/10/maps: a hard link with a size; reading stopped here"));
        assert_eq!(bad, want);
        assert_eq!(got.get("raw/proc/12/maps"), None);
        assert_eq!(got.get("raw/proc/7/maps"), Some(&b"abc"[..]));
        assert_eq!(got.get("raw/proc/6/maps"), Some(&b"def"[..]), "the hidden member is not read");
        assert_eq!(got.get("raw/proc/2/maps"), None);
    }

    #[test]
    fn a_content_that_keeps_repeating_stays_linkable() {
        // Eight other contents after it, the first one linked to all the while: still a link.
        // Never linked again: after eight others, written anew.
        let mut w = ArchiveWriter::new(Vec::new(), Compression::None, 0).unwrap();
        w.append_indexed("raw/proc/1/maps", b"worker", None).unwrap();
        w.append_indexed("raw/proc/1/environ", b"lonely", None).unwrap();
        for i in 2..12 {
            w.append_indexed(&format!("raw/proc/{i}/maps"), format!("other {i}").as_bytes(), None).unwrap();
            w.append_indexed(&format!("raw/proc/{i}/environ"), format!("other {i}").as_bytes(), None).unwrap();
            w.append_indexed(&format!("raw/proc/{i}/cmdline"), b"worker", None).unwrap();
            w.append_indexed(&format!("raw/proc/{i}/maps.1"), b"x", None).unwrap();
            w.append_indexed(&format!("raw/proc/{i}/w"), b"", None).unwrap();
            w.append_indexed(&format!("raw/proc/{i}.w/maps"), b"worker", None).unwrap();
        }
        w.append_indexed("raw/proc/12/environ", b"lonely", None).unwrap();
        let (bytes, _, _) = w.finish(b"{}").unwrap();
        let mut links = std::collections::BTreeMap::new();
        for e in tar::Archive::new(&bytes[..]).entries().unwrap() {
            let e = e.unwrap();
            if e.header().entry_type() == tar::EntryType::Link {
                links.insert(
                    e.path().unwrap().to_string_lossy().into_owned(),
                    e.link_name().unwrap().unwrap().to_string_lossy().into_owned(),
                );
            }
        }
        for i in 2..12 {
            assert_eq!(links[&format!("raw/proc/{i}.w/maps")], "raw/proc/1/maps", "{i}");
        }
        assert!(!links.contains_key("raw/proc/12/environ"), "pushed out by eight others");
        // The same bytes under another name (cmdline) are a file the first time.
        assert_eq!(links["raw/proc/3/cmdline"], "raw/proc/2/cmdline");
        assert!(!links.contains_key("raw/proc/2/cmdline"));
        assert_eq!(links["raw/proc/3/maps.1"], "raw/proc/2/maps.1");
        assert!(!links.keys().any(|k| k.ends_with("/w")), "empty files are never links");
    }
}
