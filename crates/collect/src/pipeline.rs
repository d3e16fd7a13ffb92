//! From bundles to the archive: one writer, fed in pid order by one or more readers.
//!
//! Most of a collection is the kernel building /proc entries (readlink of every fd, the files of
//! every process); the rest is hashing, JSON and compression. With `jobs` > 1, that many threads
//! read processes (each its own dirfds and buffers, see [`crate::walk`]) while this thread writes:
//! the wall time falls to about the CPU time over the cores given. The archive does not depend on
//! the number of jobs but for which process of a namespace read its socket tables: bundles are
//! written in the order of the pid list, and readers may run at most [`WINDOW`] chunks of
//! [`CHUNK`] processes (and [`BUDGET`] bytes) ahead of the writer, so memory stays bounded.

use crate::archive::ArchiveWriter;
use crate::parts::{Parts, READS};
use crate::walk::{Bundle, Item, Reader, Shared};
use curtain_model::RawRecord;
use curtain_parse::record::RecordRef;
use curtain_parse::replay::{member_of, Pending};
use curtain_parse::{Context, Tables};
use std::collections::{BTreeMap, HashSet};
use std::io::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Condvar, Mutex};

/// Processes a reader takes at once: one hand-over (and wake-up) per chunk, not per process.
pub const CHUNK: usize = 8;
/// How far (in chunks) readers may run ahead of the writer.
pub const WINDOW: usize = 4;

/// The writing side of a collection: archive members, the read log and the tables.
pub struct Writer<'a, W: Write> {
    pub tables: Tables<Parts>,
    pub archive: &'a mut ArchiveWriter<W>,
    pub ctx: Context,
    /// Bytes of raw members written.
    pub raw_bytes: u64,
    /// Processes written before the pid list is walked (the collector and its session), so that
    /// none is walked twice.
    pub done: HashSet<u32>,
    scratch: Vec<u8>,
    /// The name of the member being written.
    member: String,
    carved: HashSet<String>,
}

impl<'a, W: Write> Writer<'a, W> {
    pub fn new(archive: &'a mut ArchiveWriter<W>, ctx: Context) -> Self {
        Writer {
            tables: Tables::new(Parts::new(), None),
            archive,
            ctx,
            raw_bytes: 0,
            done: HashSet::new(),
            scratch: Vec::with_capacity(1 << 12),
            member: String::with_capacity(64),
            carved: HashSet::new(),
        }
    }

    /// Appends a record to the read log.
    pub fn record(&mut self, r: &RawRecord) {
        self.scratch.clear();
        // Serialising plain data into a Vec cannot fail.
        serde_json::to_writer(&mut self.scratch, r).expect("serialise record");
        self.tables.sink.push(READS, &self.scratch);
        if self.scratch.capacity() > 1 << 16 {
            // One process with many fds made it big: not kept for the rest.
            self.scratch = Vec::with_capacity(1 << 12);
        }
    }

    /// Writes a read that belongs to no process (the root listing, /proc/stat, `self`): its
    /// member, its record, an error row when it failed.
    pub fn global(&mut self, item: &Item) -> io::Result<()> {
        if let (Some(name), Some(bytes)) = (member_of(&item.rec), &item.bytes) {
            self.archive.append_indexed(&name, bytes, item.sha256.as_ref())?;
            self.raw_bytes += bytes.len() as u64;
        }
        self.record(&item.rec);
        curtain_parse::replay::global_error(&mut self.tables, &item.rec);
        Ok(())
    }

    /// Writes one process: for each read its member and its line of the read log, then the
    /// process's rows (through the same [`Pending`] calls `reparse` makes).
    pub fn take(&mut self, b: Bundle) -> io::Result<()> {
        if let Some((name, bytes)) = &b.carved {
            if self.carved.insert(name.clone()) {
                self.archive.append(name, bytes)?;
            }
        }
        let links = b.link_refs();
        let mut pending: Option<Pending> = None;
        for read in &b.reads {
            let (rec, sha256) = b.record(read, &links);
            if let (Some(sha256), RecordRef::Read { got: Ok(bytes), .. } | RecordRef::Netlink { got: Ok(bytes), .. }) =
                (sha256, &rec)
            {
                self.member.clear();
                rec.write_member(b.pid, &mut self.member);
                self.archive.append_indexed(&self.member, bytes, Some(sha256))?;
                self.raw_bytes += bytes.len() as u64;
            }
            self.scratch.clear();
            rec.write_json(b.pid, &mut self.scratch);
            self.tables.sink.push(READS, &self.scratch);
            match (&rec, pending.as_mut()) {
                (RecordRef::Opendir(failed), _) => pending = Pending::open(&mut self.tables, b.pid, *failed),
                (_, Some(p)) => p.add(&mut self.tables, &rec),
                (_, None) => {}
            }
        }
        if self.scratch.capacity() > 1 << 16 {
            // One process with many fds made it big: not kept for the rest.
            self.scratch = Vec::with_capacity(1 << 12);
        }
        if let Some(p) = pending {
            // The namespace's dumps stay in their buffer until the end, not copied beside it.
            self.tables.share(b.dumps.clone());
            p.flush(&mut self.tables, &self.ctx);
            self.tables.share(None);
        }
        self.flush_parts()
    }

    /// Writes the table parts that filled up.
    pub fn flush_parts(&mut self) -> io::Result<()> {
        for (name, body) in self.tables.sink.take_ready() {
            self.archive.append(&name, &body)?;
        }
        Ok(())
    }
}

/// Walks `pids` with `jobs` reader threads and hands each bundle to `take` in the order of
/// `pids`, on this thread. With one job, no thread is started.
pub fn walk(
    shared: &Shared,
    pids: &[u32],
    jobs: usize,
    mut take: impl FnMut(Bundle) -> io::Result<()>,
) -> io::Result<()> {
    // On this thread, one process after the other.
    let here = |take: &mut dyn FnMut(Bundle) -> io::Result<()>| -> io::Result<()> {
        let mut r = Reader::new(shared);
        pids.iter().try_for_each(|&pid| take(r.process(pid)))
    };
    if jobs <= 1 || pids.len() < 2 {
        return here(&mut take);
    }
    let chunks: Vec<&[u32]> = pids.chunks(CHUNK).collect();
    let next = AtomicUsize::new(0);
    let gate = Gate::default();
    std::thread::scope(|s| {
        // Made inside the scope: if the writer panics, the receiver goes first and no reader
        // stays blocked sending.
        let (tx, rx) = mpsc::sync_channel::<(usize, Vec<Bundle>, usize)>(jobs);
        let _halt = HaltOnPanic(&gate);
        let mut started = 0;
        for _ in 0..jobs {
            let (tx, next, gate, chunks) = (tx.clone(), &next, &gate, &chunks);
            let reader = std::thread::Builder::new().name("curtain-reader".into()).spawn_scoped(s, move || {
                let _halt = HaltOnPanic(gate);
                // Its own descriptor table: a shared one makes every fd syscall take a reference
                // on the file and every open and close take the table's lock, which two readers
                // would contend for (about 10% more kernel time). When it fails, it shares.
                // SAFETY: this thread uses only descriptors opened before (the proc root, the home
                // namespace: in both tables under the same numbers) or by itself, and hands none
                // on: bundles are bytes.
                let _ = unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::FILES) };
                let mut r = Reader::new(shared);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= chunks.len() || !gate.wait_turn(i) {
                        break;
                    }
                    let bundles: Vec<Bundle> = chunks[i].iter().map(|&pid| r.process(pid)).collect();
                    let bytes = bundles.iter().map(Bundle::bytes).sum();
                    gate.add(bytes);
                    if tx.send((i, bundles, bytes)).is_err() {
                        break;
                    }
                }
            });
            match reader {
                Ok(_) => started += 1,
                // No more threads (a pids.max, a ulimit): those started do the work.
                Err(_) => break,
            }
        }
        drop(tx);
        if started == 0 {
            return here(&mut take);
        }
        let mut early: BTreeMap<usize, (Vec<Bundle>, usize)> = BTreeMap::new();
        let mut want = 0usize;
        let mut result = Ok(());
        for (i, bundles, bytes) in rx.iter() {
            early.insert(i, (bundles, bytes));
            while let Some((bundles, bytes)) = early.remove(&want) {
                for b in bundles {
                    if result.is_ok() {
                        result = take(b);
                    }
                }
                want += 1;
                gate.written(bytes);
            }
            if result.is_err() {
                // The output failed: readers stop, the channel is drained until they have.
                gate.halt();
            }
        }
        if result.is_ok() && want < chunks.len() {
            result = Err(io::Error::other(format!(
                "{} of {} chunks of processes not read",
                chunks.len() - want,
                chunks.len()
            )));
        }
        result
    })
}

/// Bytes a reader may hold beyond the chunk the writer waits for: a few huge maps or carved
/// executables wait instead of piling up.
pub const BUDGET: usize = 16 << 20;

/// Where readers wait for the writer: chunks written, bytes read but not yet written, and
/// whether to stop.
#[derive(Default)]
struct Gate {
    state: Mutex<(usize, usize, bool)>,
    moved: Condvar,
}

impl Gate {
    fn lock(&self) -> std::sync::MutexGuard<'_, (usize, usize, bool)> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until chunk `i` may be read: within [`WINDOW`] of the writer and, unless it is the
    /// chunk the writer waits for, within [`BUDGET`]. The lowest unwritten chunk never waits, so
    /// the writer keeps moving. False when the walk stops.
    fn wait_turn(&self, i: usize) -> bool {
        let mut st = self.lock();
        while !st.2 && (i >= st.0 + WINDOW || (i > st.0 && st.1 > BUDGET)) {
            st = self.moved.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        !st.2
    }

    fn add(&self, bytes: usize) {
        self.lock().1 += bytes;
    }

    /// One more chunk written, its bytes freed.
    fn written(&self, bytes: usize) {
        let mut st = self.lock();
        st.0 += 1;
        st.1 = st.1.saturating_sub(bytes);
        drop(st);
        self.moved.notify_all();
    }

    /// Stops every reader (set under the lock: a reader about to wait sees it or is woken).
    fn halt(&self) {
        self.lock().2 = true;
        self.moved.notify_all();
    }
}

/// Stops the walk when the thread holding it unwinds, so that no other waits forever.
struct HaltOnPanic<'a>(&'a Gate);

impl Drop for HaltOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.halt();
        }
    }
}

/// Reader threads for a collection: the `--jobs` asked, else the CPUs this process may use
/// (affinity and cgroup quota), at most 4.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(4)
}
