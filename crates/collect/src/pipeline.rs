//! From bundles to the archive: one writer at a time, fed in pid order by one or more readers.
//!
//! Most of a collection is the kernel building /proc entries (readlink of every fd, the files of
//! every process); the rest is hashing, JSON and compression. With `jobs` > 1, that many threads
//! read processes (each its own dirfds and buffers, see [`crate::walk`]), and the one that hands
//! over the chunk next in order writes it: the wall time falls to about the CPU time over the
//! cores given. The archive does not depend on the number of jobs but for which process of a
//! namespace read its socket tables: bundles are written in the order of the pid list, and
//! readers may run at most [`WINDOW`] chunks of [`CHUNK`] processes (and [`BUDGET`] bytes) ahead
//! of the writing, so memory stays bounded.
//!
//! When the collection must stop early ([`crate::stop`]), readers stop reading between two
//! processes and take no more chunks; the caller's `take` drops whatever reaches it after it has
//! seen the stop itself, so that the archive holds a prefix of the pid list.

use crate::walk::{Bundle, Item, Reader, Shared};
use curtain_archive::parts::{Parts, READS};
use curtain_archive::ArchiveWriter;
use curtain_model::RawRecord;
use curtain_tables::record::RecordRef;
use curtain_tables::replay::{member_of, Pending};
use curtain_tables::{Context, Tables};
use std::collections::{BTreeMap, HashSet};
use std::io::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

/// Processes a reader takes at once: one hand-over (and wake-up) per chunk, not per process.
pub const CHUNK: usize = 8;
/// How far (in chunks) readers may run ahead of the writing.
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
        curtain_tables::replay::global_error(&mut self.tables, &item.rec);
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
/// `pids`. With one job, no thread is started and all of it happens on this thread. Once
/// `shared.stop` says stop, no more processes are read and the walk ends without error.
///
/// There is no writer thread: a reader that hands over a chunk while no other is writing
/// becomes the writer and writes every chunk that is next in order, then goes back to reading.
/// `jobs` threads on `jobs` cores, then, not one more: a third thread on two cores (a writer fed
/// a chunk at a time) woke and slept about a thousand times at N=8000, each a futex call and a
/// wake-up across cores, and took its share of the cores from the readers (docs/BENCHMARKS.md).
pub fn walk(
    shared: &Shared,
    pids: &[u32],
    jobs: usize,
    mut take: impl FnMut(Bundle) -> io::Result<()> + Send,
) -> io::Result<()> {
    // On this thread, one process after the other.
    let stopped = || shared.stop.reason().is_some();
    let here = |take: &mut dyn FnMut(Bundle) -> io::Result<()>| -> io::Result<()> {
        let mut r = Reader::new(shared);
        pids.iter().take_while(|_| !stopped()).try_for_each(|&pid| take(r.process(pid)))
    };
    if jobs <= 1 || pids.len() < 2 {
        return here(&mut take);
    }
    let chunks: Vec<&[u32]> = pids.chunks(CHUNK).collect();
    let next = AtomicUsize::new(0);
    let line = Line::default();
    // Used by the one reader that holds the writer's turn (`LineState::writing`).
    let writer = Mutex::new(&mut take);
    let started = std::thread::scope(|s| {
        let mut started = 0;
        for _ in 0..jobs {
            let (next, line, chunks, writer, stopped) = (&next, &line, &chunks, &writer, &stopped);
            let reader = std::thread::Builder::new().name("curtain-reader".into()).spawn_scoped(s, move || {
                let _halt = HaltOnPanic(line);
                // Its own descriptor table: a shared one makes every fd syscall take a reference
                // on the file and every open and close take the table's lock, which two readers
                // would contend for (about 10% more kernel time). When it fails, it shares.
                // SAFETY: this thread uses only descriptors opened before (the proc root, the home
                // namespace, the output: in both tables under the same numbers) or by itself, and
                // hands none on: bundles are bytes, and writing opens no descriptor.
                let _ = unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::FILES) };
                let mut r = Reader::new(shared);
                line.take_turns(next, chunks, writer, stopped, |pids| {
                    pids.iter().take_while(|_| !stopped()).map(|&pid| r.process(pid)).collect()
                });
            });
            match reader {
                Ok(_) => started += 1,
                // No more threads (a pids.max, a ulimit): those started do the work.
                Err(_) => break,
            }
        }
        started
    });
    if started == 0 {
        return here(&mut take);
    }
    let st = line.state.into_inner().unwrap_or_else(|e| e.into_inner());
    st.result?;
    if st.written < chunks.len() && !stopped() {
        return Err(io::Error::other(format!(
            "{} of {} chunks of processes not read",
            chunks.len() - st.written,
            chunks.len()
        )));
    }
    Ok(())
}

/// Bytes a reader may hold beyond the chunk to write next: a few huge maps or carved
/// executables wait instead of piling up.
pub const BUDGET: usize = 16 << 20;

/// Where the readers meet: the chunks read but not yet written, whose turn it is to write, and
/// where a reader too far ahead waits.
#[derive(Default)]
struct Line {
    state: Mutex<LineState>,
    moved: Condvar,
}

struct LineState {
    /// Chunks written: the next to write is this one.
    written: usize,
    /// Chunks read and waiting for their turn, with their bytes.
    ready: BTreeMap<usize, (Vec<Bundle>, usize)>,
    /// Bytes in `ready` and in the chunk being written.
    held: usize,
    /// A reader is writing.
    writing: bool,
    /// Readers waiting in [`Line::wait_turn`]: woken only when there are some.
    waiting: usize,
    /// The walk stops (the output failed, a thread panicked).
    halt: bool,
    /// The first error of the output.
    result: io::Result<()>,
}

impl Default for LineState {
    fn default() -> Self {
        LineState {
            written: 0,
            ready: BTreeMap::new(),
            held: 0,
            writing: false,
            waiting: 0,
            halt: false,
            result: Ok(()),
        }
    }
}

impl Line {
    fn lock(&self) -> std::sync::MutexGuard<'_, LineState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One reader's part: claims the chunks in turn, reads each with `read` once it may, and
    /// hands it over (writing when it is next in order), until none is left or the walk stops
    /// (the output failed, or `stopped` says so: then it stops every reader, so that none waits
    /// for a chunk that no one will read).
    fn take_turns<F: FnMut(Bundle) -> io::Result<()>>(
        &self,
        next: &AtomicUsize,
        chunks: &[&[u32]],
        writer: &Mutex<&mut F>,
        stopped: &dyn Fn() -> bool,
        mut read: impl FnMut(&[u32]) -> Vec<Bundle>,
    ) {
        loop {
            if stopped() {
                self.halt();
                break;
            }
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= chunks.len() || !self.wait_turn(i) {
                break;
            }
            self.hand_over(i, read(chunks[i]), writer);
        }
    }

    /// Waits until chunk `i` may be read: within [`WINDOW`] of the writing and, unless it is the
    /// chunk to write next, within [`BUDGET`]. The next chunk never waits, so writing keeps
    /// moving. False when the walk stops.
    fn wait_turn(&self, i: usize) -> bool {
        let mut st = self.lock();
        while !st.halt && (i >= st.written + WINDOW || (i > st.written && st.held > BUDGET)) {
            st.waiting += 1;
            st = self.moved.wait(st).unwrap_or_else(|e| e.into_inner());
            st.waiting -= 1;
        }
        !st.halt
    }

    /// Leaves chunk `i`; unless another reader is writing, writes every chunk that is next in
    /// order (this one or those left before it) through `writer`.
    fn hand_over<F: FnMut(Bundle) -> io::Result<()>>(&self, i: usize, bundles: Vec<Bundle>, writer: &Mutex<&mut F>) {
        let bytes = bundles.iter().map(Bundle::bytes).sum();
        let mut st = self.lock();
        st.held += bytes;
        st.ready.insert(i, (bundles, bytes));
        if st.writing {
            // The writing reader finds it after the chunk it is on.
            return;
        }
        st.writing = true;
        loop {
            let want = st.written;
            let Some((bundles, bytes)) = st.ready.remove(&want) else { break };
            let halted = st.halt;
            drop(st);
            let mut result = Ok(());
            if !halted {
                let mut take = writer.lock().unwrap_or_else(|e| e.into_inner());
                for b in bundles {
                    if result.is_ok() {
                        result = take(b);
                    }
                }
            }
            st = self.lock();
            st.written += 1;
            st.held = st.held.saturating_sub(bytes);
            if let Err(e) = result {
                // The output failed: readers stop.
                if st.result.is_ok() {
                    st.result = Err(e);
                }
                st.halt = true;
            }
            if st.waiting > 0 || st.halt {
                self.moved.notify_all();
            }
        }
        st.writing = false;
    }

    /// Stops every reader (set under the lock: a reader about to wait sees it or is woken).
    fn halt(&self) {
        self.lock().halt = true;
        self.moved.notify_all();
    }
}

/// Stops the walk when the thread holding it unwinds, so that no other waits forever.
struct HaltOnPanic<'a>(&'a Line);

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    fn bundle(pid: u32) -> Bundle {
        Bundle { pid, arena: vec![0; 64], dumps: None, reads: Vec::new(), links: Vec::new(), exe: None, carved: None }
    }

    /// `threads` readers over `chunks` chunks of CHUNK pids, each chunk read after a pause that
    /// varies with its number, through `take`; returns what the line ends with.
    fn run(threads: usize, chunks: usize, take: impl FnMut(Bundle) -> io::Result<()> + Send) -> LineState {
        run_until(threads, chunks, &|| false, &|_| {}, take)
    }

    /// [`run`], with readers that look at `stopped` and call `reading` with each chunk's number.
    fn run_until(
        threads: usize,
        chunks: usize,
        stopped: &(dyn Fn() -> bool + Sync),
        reading: &(dyn Fn(usize) + Sync),
        mut take: impl FnMut(Bundle) -> io::Result<()> + Send,
    ) -> LineState {
        let line = Line::default();
        let next = AtomicUsize::new(0);
        let writer = Mutex::new(&mut take);
        let pids: Vec<u32> = (0..(chunks * CHUNK) as u32).collect();
        let chunks: Vec<&[u32]> = pids.chunks(CHUNK).collect();
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    line.take_turns(&next, &chunks, &writer, stopped, |pids| {
                        let i = pids[0] as usize / CHUNK;
                        reading(i);
                        assert!(i < line.lock().written + WINDOW, "chunk {i} read more than WINDOW ahead");
                        // Chunks finish out of order: every third one takes longer.
                        std::thread::sleep(std::time::Duration::from_micros(if i.is_multiple_of(3) {
                            900
                        } else {
                            50
                        }));
                        pids.iter().take_while(|_| !stopped()).map(|&pid| bundle(pid)).collect()
                    })
                });
            }
        });
        line.state.into_inner().unwrap()
    }

    #[test]
    fn readers_taking_turns_write_every_bundle_once_in_order_one_at_a_time() {
        let inside = AtomicBool::new(false);
        let mut got = Vec::new();
        let st = run(3, 40, |b| {
            assert!(!inside.swap(true, Ordering::SeqCst), "two writers at once");
            got.push(b.pid);
            inside.store(false, Ordering::SeqCst);
            Ok(())
        });
        assert!(st.result.is_ok());
        assert_eq!(got, (0..(40 * CHUNK) as u32).collect::<Vec<_>>());
        assert_eq!((st.written, st.held, st.waiting, st.writing, st.halt), (40, 0, 0, false, false));
        assert!(st.ready.is_empty());
    }

    #[test]
    fn a_failed_write_stops_the_readers_and_nothing_is_written_after_it() {
        let mut got = Vec::new();
        let st = run(3, 40, |b| {
            got.push(b.pid);
            if b.pid == 37 {
                return Err(io::Error::other("disk full"));
            }
            Ok(())
        });
        assert_eq!(st.result.unwrap_err().to_string(), "disk full");
        assert!(st.halt);
        // Written in order up to the failure, and not one bundle after it.
        assert_eq!(got, (0..=37).collect::<Vec<_>>());
        // The readers stopped within a window of chunks of it instead of reading all 40.
        assert!(st.written < 37 / CHUNK + 1 + 2 * WINDOW, "{} chunks went by", st.written);
    }

    #[test]
    fn a_stop_ends_the_walk_and_what_is_taken_after_it_is_dropped() {
        // The stop comes while chunk 12 is being read (as a signal would, between two reads):
        // readers stop, none is left waiting, and a writer that drops what reaches it once it
        // has seen the stop has written a prefix of the pids.
        let stop = AtomicBool::new(false);
        let stopped = || stop.load(Ordering::SeqCst);
        let mut got = Vec::new();
        let st = run_until(
            3,
            40,
            &stopped,
            &|i| {
                if i == 12 {
                    stop.store(true, Ordering::SeqCst)
                }
            },
            |b| {
                if !stopped() {
                    got.push(b.pid);
                }
                Ok(())
            },
        );
        assert!(st.result.is_ok() && st.halt);
        assert!(st.written < 12 + 2 * WINDOW, "{} chunks went by", st.written);
        assert!(!got.is_empty() && got.len() < 12 * CHUNK + CHUNK, "{}", got.len());
        assert_eq!(got, (0..got.len() as u32).collect::<Vec<_>>());
    }
}
