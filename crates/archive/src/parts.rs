//! Tables and logs written as they grow, in parts of bounded size, so that a collection of
//! thousands of processes never holds its tables in memory. A stream `tables/fds` is the members
//! `tables/fds.jsonl`, `tables/fds.1.jsonl`, `tables/fds.2.jsonl`... read back in that order.

use curtain_tables::{RowSink, Table};

/// Size at which a part is closed and written.
pub const PART_BYTES: usize = 64 << 10;

/// Stream number of `raw/reads`, after the tables (which use their own index, [`Table::index`]).
pub const READS: usize = Table::ALL.len();
const STREAM_COUNT: usize = READS + 1;

/// A stream's base name: a table's, or the read log's.
fn stream_base(stream: usize) -> &'static str {
    Table::ALL.get(stream).map_or("raw/reads", |t| t.base())
}

/// Member name of part `n` of a stream.
pub fn part_name(base: &str, n: u32) -> String {
    if n == 0 {
        format!("{base}.jsonl")
    } else {
        format!("{base}.{n}.jsonl")
    }
}

/// Part number of `member` if it is a part of stream `base`.
pub fn part_of(base: &str, member: &str) -> Option<u32> {
    let rest = member.strip_prefix(base)?.strip_suffix(".jsonl")?;
    if rest.is_empty() {
        return Some(0);
    }
    rest.strip_prefix('.')?.parse().ok().filter(|n| *n > 0)
}

pub struct Parts {
    bufs: Vec<Vec<u8>>,
    next: Vec<u32>,
    ready: Vec<(String, Vec<u8>)>,
    limit: usize,
}

impl Default for Parts {
    fn default() -> Self {
        Self::new()
    }
}

impl Parts {
    pub fn new() -> Self {
        Self::with_limit(PART_BYTES)
    }

    pub fn with_limit(limit: usize) -> Self {
        Parts { bufs: vec![Vec::new(); STREAM_COUNT], next: vec![0; STREAM_COUNT], ready: Vec::new(), limit }
    }

    /// Adds one JSON line to a stream.
    pub fn push(&mut self, stream: usize, line: &[u8]) {
        let buf = &mut self.bufs[stream];
        if buf.capacity() == 0 {
            // Room for a whole part at once: no doubling past it.
            buf.reserve_exact(self.limit + 4096);
        }
        buf.extend_from_slice(line);
        buf.push(b'\n');
        if buf.len() >= self.limit {
            let body = std::mem::take(buf);
            let n = self.next[stream];
            self.next[stream] += 1;
            self.ready.push((part_name(stream_base(stream), n), body));
        }
    }

    /// Parts that are full and can be written.
    pub fn take_ready(&mut self) -> Vec<(String, Vec<u8>)> {
        std::mem::take(&mut self.ready)
    }

    /// Everything left, a first (possibly empty) part for every stream that has none yet.
    pub fn finish(&mut self) -> Vec<(String, Vec<u8>)> {
        let mut out = self.take_ready();
        for (stream, (buf, next)) in self.bufs.iter_mut().zip(&mut self.next).enumerate() {
            let buf = std::mem::take(buf);
            if !buf.is_empty() || *next == 0 {
                out.push((part_name(stream_base(stream), *next), buf));
                *next += 1;
            }
        }
        out
    }
}

impl RowSink for Parts {
    fn row(&mut self, table: Table, line: &[u8]) {
        self.push(table.index(), line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_splitting() {
        assert_eq!(part_name("tables/fds", 0), "tables/fds.jsonl");
        assert_eq!(part_name("tables/fds", 3), "tables/fds.3.jsonl");
        assert_eq!(part_of("tables/fds", "tables/fds.jsonl"), Some(0));
        assert_eq!(part_of("tables/fds", "tables/fds.12.jsonl"), Some(12));
        assert_eq!(part_of("tables/fds", "tables/fdsx.jsonl"), None);
        assert_eq!(part_of("tables/fds", "tables/fds.0.jsonl"), None);
        let mut p = Parts::with_limit(10);
        for _ in 0..5 {
            p.push(1, b"12345");
        }
        let ready = p.take_ready();
        assert_eq!(
            ready.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            ["tables/fds.jsonl", "tables/fds.1.jsonl"]
        );
        let rest = p.finish();
        assert!(rest.iter().any(|(n, b)| n == "tables/fds.2.jsonl" && b == b"12345\n"));
        assert!(rest.iter().any(|(n, b)| n == "tables/processes.jsonl" && b.is_empty()));
    }
}
