//! Output files that never replace, follow or half-write anything.
//!
//! Evidence and reports are written beside other evidence: an `-o` that named an existing file,
//! a planted symlink or one of the command's own inputs would destroy or leak what the examiner
//! holds. A [`NewFile`] is written under a temporary name in the destination's folder (created
//! exclusively, never through a link) and renamed to its final name only when complete, with
//! `RENAME_NOREPLACE`: a failure or a signal leaves no half file under the final name, and a file
//! that appeared meanwhile is never replaced. Written on rustix rather than the tempfile crate:
//! the static collector carries this too and stays small.

use rustix::fd::OwnedFd;
use rustix::fs::{AtFlags, Mode, OFlags, RenameFlags};
use rustix::io::Errno;
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

/// A file being written, to appear under its final name only on [`NewFile::commit`].
pub struct NewFile {
    file: Option<File>,
    dir: OwnedFd,
    tmp: OsString,
    name: OsString,
    shown: String,
}

fn named(path: &str, e: impl std::fmt::Display, kind: io::ErrorKind) -> io::Error {
    io::Error::new(kind, format!("{path}: {e}"))
}

/// Refuses `path` as an output when anything (a file, a folder, a link, even a dangling one)
/// is there already, or when it is one of `inputs` (by name, or by device and inode).
pub fn check_new(path: &str, inputs: &[&str]) -> io::Result<()> {
    if path.is_empty() {
        return Err(named(path, "an empty output name", io::ErrorKind::InvalidInput));
    }
    for input in inputs {
        if same_file(path, input) {
            return Err(named(
                path,
                "is also an input of this command; choose another output",
                io::ErrorKind::InvalidInput,
            ));
        }
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            Err(named(path, "is a symbolic link; outputs are never written through one", io::ErrorKind::AlreadyExists))
        }
        Ok(_) => Err(named(path, "exists already; an output never replaces a file", io::ErrorKind::AlreadyExists)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(named(path, &e, e.kind())),
    }
}

fn same_file(a: &str, b: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    if a == b {
        return true;
    }
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

impl NewFile {
    /// Starts `path` (which must not exist, see [`check_new`]) under a temporary name beside it.
    pub fn create(path: &str, inputs: &[&str]) -> io::Result<NewFile> {
        check_new(path, inputs)?;
        let p = Path::new(path);
        let name =
            p.file_name().ok_or_else(|| named(path, "names no file", io::ErrorKind::InvalidInput))?.to_os_string();
        let parent = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let dir = rustix::fs::open(parent, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| named(&parent.to_string_lossy(), io::Error::from(e), io::ErrorKind::NotFound))?;
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let mut last = Errno::EXIST;
        for _ in 0..16 {
            let nanos =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
            let mut tmp = OsString::from(".");
            tmp.push(&name);
            tmp.push(format!(
                ".{}.{:x}{:x}.part",
                std::process::id(),
                nanos as u32,
                SEQ.fetch_add(1, Ordering::Relaxed)
            ));
            let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            match rustix::fs::openat(&dir, tmp.as_bytes(), flags, Mode::from_raw_mode(0o644)) {
                Ok(fd) => {
                    return Ok(NewFile { file: Some(File::from(fd)), dir, tmp, name, shown: path.to_string() });
                }
                Err(Errno::EXIST) => last = Errno::EXIST,
                Err(e) => return Err(named(path, io::Error::from(e), io::Error::from(e).kind())),
            }
        }
        Err(named(path, io::Error::from(last), io::ErrorKind::AlreadyExists))
    }

    /// Where the file is being written until [`Self::commit`]: the destination's folder and the
    /// temporary name in it (for a signal handler to remove, see [`crate::stop`]).
    pub fn temporary(&self) -> (rustix::fd::BorrowedFd<'_>, &std::ffi::OsStr) {
        (rustix::fd::AsFd::as_fd(&self.dir), &self.tmp)
    }

    /// The file being written.
    pub fn file(&self) -> &File {
        self.file.as_ref().expect("not yet committed")
    }

    /// Flushes the bytes to disk and gives the file its final name, unless something took that
    /// name meanwhile (then the temporary file is removed and the error names the path).
    pub fn commit(mut self) -> io::Result<()> {
        let file = self.file.take().expect("committed once");
        file.sync_all().map_err(|e| named(&self.shown, e, io::ErrorKind::Other))?;
        drop(file);
        let moved = match rustix::fs::renameat_with(
            &self.dir,
            self.tmp.as_bytes(),
            &self.dir,
            self.name.as_bytes(),
            RenameFlags::NOREPLACE,
        ) {
            // A filesystem without RENAME_NOREPLACE: a hard link fails just as well on an
            // existing name, then the temporary name goes.
            Err(Errno::INVAL) | Err(Errno::NOSYS) => {
                rustix::fs::linkat(&self.dir, self.tmp.as_bytes(), &self.dir, self.name.as_bytes(), AtFlags::empty())
                    .and_then(|()| rustix::fs::unlinkat(&self.dir, self.tmp.as_bytes(), AtFlags::empty()))
            }
            r => r,
        };
        match moved {
            Ok(()) => {
                let _ = rustix::fs::fsync(&self.dir);
                self.tmp.clear();
                Ok(())
            }
            Err(Errno::EXIST) => Err(named(
                &self.shown,
                "appeared while it was being written; it was not replaced",
                io::ErrorKind::AlreadyExists,
            )),
            Err(e) => Err(named(&self.shown, io::Error::from(e), io::Error::from(e).kind())),
        }
    }
}

impl Write for NewFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.as_mut().expect("not yet committed").write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().expect("not yet committed").flush()
    }
}

impl Drop for NewFile {
    /// Not committed: the temporary file goes, nothing is left under the final name.
    fn drop(&mut self) {
        if !self.tmp.is_empty() {
            let _ = rustix::fs::unlinkat(&self.dir, self.tmp.as_bytes(), AtFlags::empty());
        }
    }
}

/// Writes `bytes` as the new file `path` (see [`NewFile`]).
pub fn write_new(path: &str, bytes: &[u8], inputs: &[&str]) -> io::Result<()> {
    let mut f = NewFile::create(path, inputs)?;
    f.write_all(bytes)?;
    f.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("curtain-output-{}-{}", std::process::id(), rand()));
        std::fs::create_dir(&d).unwrap();
        d
    }
    fn rand() -> u128 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    }
    fn listing(d: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn written_whole_or_not_at_all() {
        let d = tmpdir();
        let p = d.join("out.txt").to_string_lossy().into_owned();
        let mut f = NewFile::create(&p, &[]).unwrap();
        f.write_all(b"half").unwrap();
        assert!(!Path::new(&p).exists(), "nothing under the final name before commit");
        drop(f);
        assert!(listing(&d).is_empty(), "an abandoned file leaves nothing: {:?}", listing(&d));
        write_new(&p, b"whole", &[]).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"whole");
        assert_eq!(listing(&d), ["out.txt"]);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn never_replaces_follows_or_names_an_input() {
        let d = tmpdir();
        let existing = d.join("evidence.tar").to_string_lossy().into_owned();
        std::fs::write(&existing, b"keep").unwrap();
        let e = write_new(&existing, b"x", &[]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert!(e.to_string().contains("evidence.tar"), "{e}");
        // A symlink, to an existing file or to nothing: refused, its target untouched.
        let secret = d.join("secret").to_string_lossy().into_owned();
        let link = d.join("link").to_string_lossy().into_owned();
        std::os::unix::fs::symlink(&existing, &link).unwrap();
        assert!(write_new(&link, b"x", &[]).unwrap_err().to_string().contains("symbolic link"));
        let dangling = d.join("dangling").to_string_lossy().into_owned();
        std::os::unix::fs::symlink(&secret, &dangling).unwrap();
        assert!(write_new(&dangling, b"x", &[]).is_err());
        assert!(!Path::new(&secret).exists(), "nothing written through a dangling link");
        assert_eq!(std::fs::read(&existing).unwrap(), b"keep");
        // One of its own inputs, by another spelling.
        let other = d.join(".").join("evidence.tar").to_string_lossy().into_owned();
        let e = check_new(&other, &[existing.as_str()]).unwrap_err();
        assert!(e.to_string().contains("input"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_name_taken_meanwhile_is_not_replaced() {
        let d = tmpdir();
        let p = d.join("race").to_string_lossy().into_owned();
        let mut f = NewFile::create(&p, &[]).unwrap();
        f.write_all(b"ours").unwrap();
        std::fs::write(&p, b"theirs").unwrap();
        assert_eq!(f.commit().unwrap_err().kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&p).unwrap(), b"theirs");
        assert_eq!(listing(&d), ["race"]);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
