//! Pure parsers: the bytes the collector read from /proc in, curtain's model out. No file I/O.
//!
//! Content of /proc in a compromised container is attacker-controlled (a process picks its own
//! name, argv, environment and socket paths), so every parser here works on bytes, never
//! panics, and reports malformed input as a value. procfs-core is used where its parser fits
//! (`/proc/stat`, which only the kernel writes); the per-process files and socket tables have
//! parsers of their own because procfs-core's read them as UTF-8 `String`s and fail a whole file
//! on one byte it does not expect (see `net`).

#![forbid(unsafe_code)]

pub mod container;
pub mod diag;
pub mod ecs;
pub mod host;
pub mod net;
pub mod proc;

pub use proc::ParseError;

/// Boot time (`btime`, seconds since the epoch) from /proc/stat, through procfs-core.
pub fn parse_btime(b: &[u8], clk_tck: u64, page_size: u64) -> Option<u64> {
    use procfs_core::FromBufReadSI;
    let si = procfs_core::ExplicitSystemInfo {
        boot_time_secs: 0,
        ticks_per_second: clk_tck,
        page_size,
        is_little_endian: cfg!(target_endian = "little"),
    };
    procfs_core::KernelStats::from_buf_read(b, &si).ok().map(|k| k.btime)
}

/// Every socket a table parser hands on, with its errors (for tests).
#[cfg(test)]
pub(crate) fn sockets_of(
    parse: impl FnOnce(&mut dyn FnMut(curtain_model::Socket)) -> Vec<ParseError>,
) -> (Vec<curtain_model::Socket>, Vec<ParseError>) {
    let mut sockets = Vec::new();
    let errors = parse(&mut |s| sockets.push(s));
    (sockets, errors)
}

#[cfg(test)]
mod tests {
    #[test]
    fn btime_from_proc_stat() {
        // /proc/stat of a 2-CPU Linux 6.x host, shortened (intr and softirq lines cut).
        let b = b"cpu  3357 0 4313 1362393 0 0 0 0 0 0\ncpu0 1678 0 2156 681196 0 0 0 0 0 0\ncpu1 1679 0 2157 681197 0 0 0 0 0 0\nctxt 1990473\nbtime 1764419640\nprocesses 2915\nprocs_running 1\nprocs_blocked 0\n";
        assert_eq!(super::parse_btime(b, 100, 4096), Some(1764419640));
        assert_eq!(super::parse_btime(b"garbage", 100, 4096), None);
    }
}
