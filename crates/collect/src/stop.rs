//! Ending a collection early with a whole archive rather than a cut one.
//!
//! A collection may have to stop before it has read every process: a responder's Ctrl-C, the
//! SIGTERM of a container being stopped or of `timeout`, or `--time-budget` spent. What was read
//! by then is evidence, but a tar stream cut in the middle verifies as nothing. So a signal only
//! raises a flag; the walk looks at it between processes ([`Stop::reason`]), stops handing out
//! pids, and the archive is finished as usual: tables, index, and a manifest whose `partial`
//! says why and how far. A second signal means now: the process exits at once, removing the
//! output file it was writing (never a half file under the name asked for).
//!
//! The handler does only what is safe in a signal handler: atomic loads and stores, `unlinkat`
//! and `_exit`.

use std::ffi::{c_char, c_int, CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, Ordering};
use std::time::Instant;

/// The first signal received (0: none).
static SIGNALLED: AtomicI32 = AtomicI32::new(0);
/// The temporary output to remove when a second signal ends the process: a directory fd and a
/// name in it (leaked, so that the handler never reads freed memory).
static LEFTOVER_DIR: AtomicI32 = AtomicI32::new(-1);
static LEFTOVER_NAME: AtomicPtr<c_char> = AtomicPtr::new(std::ptr::null_mut());

/// Why a collection stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Signal(i32),
    TimeBudget,
}

impl Reason {
    /// As the manifest's `partial.reason` says it.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Signal(libc::SIGINT) => "SIGINT",
            Reason::Signal(libc::SIGTERM) => "SIGTERM",
            Reason::Signal(_) => "signal",
            Reason::TimeBudget => "time_budget",
        }
    }

    /// The exit status of a collection that stopped for this reason: 128 + the signal, as a
    /// shell reports a command a signal ended (the archive is whole all the same); 0 for the
    /// time budget, which the command line asked for.
    pub fn exit_code(self) -> i32 {
        match self {
            Reason::Signal(s) => 128 + s,
            Reason::TimeBudget => 0,
        }
    }
}

/// When a collection should stop: a signal caught by [`Handlers`], or its deadline passed.
#[derive(Debug, Default)]
pub struct Stop {
    deadline: Option<Instant>,
    /// Set once the deadline is seen passed, so that every later look agrees.
    spent: AtomicBool,
}

impl Stop {
    pub fn new(deadline: Option<Instant>) -> Stop {
        Stop { deadline, spent: AtomicBool::new(false) }
    }

    /// Why to stop, if it is time; once it says stop it always does.
    pub fn reason(&self) -> Option<Reason> {
        match SIGNALLED.load(Ordering::Relaxed) {
            0 => {}
            s => return Some(Reason::Signal(s)),
        }
        if self.spent.load(Ordering::Relaxed) {
            return Some(Reason::TimeBudget);
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            self.spent.store(true, Ordering::Relaxed);
            return Some(Reason::TimeBudget);
        }
        None
    }
}

extern "C" fn on_signal(sig: c_int) {
    if SIGNALLED.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
        return;
    }
    // The second: now. The output being written goes, and the process with it.
    let dir = LEFTOVER_DIR.load(Ordering::SeqCst);
    let name = LEFTOVER_NAME.load(Ordering::SeqCst);
    // SAFETY: unlinkat and _exit are async-signal-safe; `name` is null or a leaked,
    // NUL-terminated string that is never freed.
    unsafe {
        if dir >= 0 && !name.is_null() {
            libc::unlinkat(dir, name, 0);
        }
        libc::_exit(128 + sig);
    }
}

/// SIGINT and SIGTERM caught for the life of this value (a collection), then handled as before.
pub struct Handlers {
    previous: Vec<(c_int, libc::sigaction)>,
}

impl Handlers {
    /// Catches SIGINT and SIGTERM, except one ignored on entry (a command started in the
    /// background by a shell, or under `nohup`, keeps ignoring it).
    pub fn install() -> io::Result<Handlers> {
        SIGNALLED.store(0, Ordering::SeqCst);
        let mut previous = Vec::new();
        for sig in [libc::SIGINT, libc::SIGTERM] {
            // SAFETY: a zeroed sigaction is a valid value (no handler, empty mask, no flags);
            // sigaction reads `sa` and writes `old`, both live for the call. The handler only
            // touches atomics and calls async-signal-safe functions.
            unsafe {
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, std::ptr::null(), &mut old) != 0 {
                    return Err(io::Error::last_os_error());
                }
                if old.sa_sigaction == libc::SIG_IGN {
                    continue;
                }
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = on_signal as extern "C" fn(c_int) as libc::sighandler_t;
                // Interrupted system calls start again: the walk looks at the flag between
                // processes, and nothing needs EINTR to see it.
                sa.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut sa.sa_mask);
                if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
                    return Err(io::Error::last_os_error());
                }
                previous.push((sig, old));
            }
        }
        Ok(Handlers { previous })
    }
}

impl Drop for Handlers {
    fn drop(&mut self) {
        forget_leftover();
        for (sig, old) in &self.previous {
            // SAFETY: restores the disposition sigaction gave back for this signal.
            unsafe {
                libc::sigaction(*sig, old, std::ptr::null_mut());
            }
        }
    }
}

/// Runs `f` with SIGINT and SIGTERM held back on this thread (delivered when it returns): so
/// that no signal falls between creating a temporary file and naming it to
/// [`remove_if_killed`]. Only for the collection's own thread, before its readers start.
pub fn held<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: sigset_t values are initialised by sigemptyset before use; pthread_sigmask only
    // changes this thread's mask, restored below to what it was.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        let blocked = libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) == 0;
        let r = f();
        if blocked {
            libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        }
        r
    }
}

/// Names the temporary file (`name` in `dir`) that a second signal removes before exiting.
/// `dir` must stay open until [`forget_leftover`].
pub fn remove_if_killed(dir: BorrowedFd<'_>, name: &OsStr) {
    let Ok(c) = CString::new(name.as_bytes()) else { return };
    LEFTOVER_NAME.store(std::ptr::null_mut(), Ordering::SeqCst);
    LEFTOVER_DIR.store(dir.as_raw_fd(), Ordering::SeqCst);
    // Leaked on purpose (one name per collection): the handler may read it at any time.
    LEFTOVER_NAME.store(c.into_raw(), Ordering::SeqCst);
}

/// The temporary file is renamed or gone: nothing for a signal to remove.
pub fn forget_leftover() {
    LEFTOVER_NAME.store(std::ptr::null_mut(), Ordering::SeqCst);
    LEFTOVER_DIR.store(-1, Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_spent_budget_stays_spent() {
        let s = Stop::new(Some(Instant::now() + Duration::from_millis(30)));
        assert_eq!(s.reason(), None);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(s.reason(), Some(Reason::TimeBudget));
        assert_eq!(s.reason(), Some(Reason::TimeBudget));
        assert_eq!(Stop::new(None).reason(), None);
    }

    #[test]
    fn reasons_and_exit_codes() {
        assert_eq!(Reason::Signal(libc::SIGINT).as_str(), "SIGINT");
        assert_eq!(Reason::Signal(libc::SIGTERM).exit_code(), 143);
        assert_eq!(Reason::TimeBudget.exit_code(), 0);
    }
}
