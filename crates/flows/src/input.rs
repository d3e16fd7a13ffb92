//! Reading flow logs in whatever form AWS delivered them, one record at a time: S3 text files
//! (plain or gzip, a header line first, repeated wherever files were joined), CloudWatch Logs
//! exports (a time before each record), subscription payloads (gzip, base64, JSON envelopes with
//! `logEvents[].message`), `aws logs get-log-events`/`filter-log-events` output (`events`), and
//! the S3 Parquet delivery. The form is told by content, never by file name: gzip and Parquet by
//! their magic numbers, JSON by its first byte, base64 by a line of its alphabet alone.
//!
//! Everything read may be hostile or damaged: a line that does not parse is reported (file, line,
//! reason) and skipped, a line longer than the limit is skipped without being kept, a file that
//! fails part way is reported where it failed; nothing stops the run but a path that is not there.
//! Memory stays flat: text is read line by line and records go to the sink as they are read (a
//! JSON document is the one unit read whole: AWS caps a subscription payload at about 1 MB).

use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use base64::Engine as _;
use serde::Serialize;
use serde_json::Value;

use crate::format::{clip, Layout};
use crate::record::FlowRecord;

/// How inputs are read.
#[derive(Clone, Debug)]
pub struct ReadOptions {
    /// The layout of lines with no header before them (CloudWatch Logs): AWS's default format
    /// unless the flow log's own format string is given ([`Layout::parse_format`]).
    pub log_format: Layout,
    /// The longest line (text record or base64 payload) kept; longer ones are reported, skipped.
    pub max_line: usize,
    /// The largest Parquet file read from inside another (gzip, base64) into memory; one on disk
    /// is read in place, whatever its size.
    pub max_inner_parquet: usize,
    /// The largest JSON document (a subscription payload, a CLI output) read whole; AWS caps a
    /// subscription payload at about 1 MB.
    pub max_json_document: usize,
}

impl Default for ReadOptions {
    fn default() -> ReadOptions {
        ReadOptions {
            log_format: Layout::v2(),
            max_line: 16 << 20,
            max_inner_parquet: 256 << 20,
            max_json_document: 64 << 20,
        }
    }
}

/// A line (or event, or row) that was not read as a record, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub file: String,
    /// The line in the file (for text), the event's ordinal in the file (for JSON), the row's
    /// (for Parquet), counted from 1; 0 for the file as a whole.
    pub line: u64,
    pub reason: String,
}

/// What was read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReadStats {
    pub files: u64,
    /// Records read, NODATA and SKIPDATA ones included.
    pub records: u64,
    pub nodata: u64,
    pub skipdata: u64,
    /// Lines, events or rows reported and skipped.
    pub malformed: u64,
    /// Header lines read (an S3 file has one; joined files repeat it).
    pub headers: u64,
    /// Files that could not be read to their end (reported where they failed).
    pub unreadable: u64,
}

/// Where records and problems go as they are read.
pub trait Sink {
    /// One record, with the file and line (event, row) it came from.
    fn record(&mut self, file: &str, line: u64, record: FlowRecord);
    fn problem(&mut self, problem: Problem);
}

/// A sink that keeps everything (tests, small inputs).
#[derive(Debug, Default)]
pub struct Collect {
    pub records: Vec<FlowRecord>,
    pub problems: Vec<Problem>,
}

impl Sink for Collect {
    fn record(&mut self, _: &str, _: u64, record: FlowRecord) {
        self.records.push(record);
    }
    fn problem(&mut self, problem: Problem) {
        self.problems.push(problem);
    }
}

/// Nested forms (base64 of gzip of JSON...) deeper than this are refused.
const MAX_DEPTH: u8 = 4;
/// What is looked at to tell the form.
const PEEK: u64 = 4096;

/// The files `inputs` name: files as given, directories walked (sorted, links to files followed,
/// links to directories not). A path that is not there is an error before anything is read.
pub fn expand(inputs: &[PathBuf]) -> io::Result<Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let t = e.file_type()?;
            if t.is_dir() {
                walk(&e.path(), out)?;
            } else if t.is_file() || (t.is_symlink() && e.path().metadata().is_ok_and(|m| m.is_file())) {
                out.push(e.path());
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in inputs {
        let m = std::fs::metadata(p).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))?;
        if m.is_dir() {
            walk(p, &mut out).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))?;
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Reads every file `inputs` name ([`expand`]). Only a missing input is an error.
pub fn read_paths(inputs: &[PathBuf], opts: &ReadOptions, sink: &mut dyn Sink) -> io::Result<ReadStats> {
    let mut stats = ReadStats::default();
    for path in expand(inputs)? {
        read_file(&path, opts, sink, &mut stats);
    }
    Ok(stats)
}

/// Reads one file into `stats`: a Parquet file in place, anything else as a stream.
pub fn read_file(path: &Path, opts: &ReadOptions, sink: &mut dyn Sink, stats: &mut ReadStats) {
    let name = path.display().to_string();
    stats.files += 1;
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            stats.unreadable += 1;
            return sink.problem(Problem { file: name, line: 0, reason: format!("cannot open: {e}") });
        }
    };
    let mut magic = Vec::with_capacity(4);
    if let Err(e) = (&mut f).take(4).read_to_end(&mut magic) {
        stats.unreadable += 1;
        return sink.problem(Problem { file: name, line: 0, reason: format!("read error: {e}") });
    }
    let mut rd = Reader { opts, sink, stats, file: name };
    if magic == b"PAR1" {
        return rd.parquet_file(f);
    }
    let rest = BufReader::with_capacity(64 << 10, Cursor::new(magic).chain(f));
    rd.stream(Box::new(rest), 0);
}

/// Reads one input from memory (tests, fuzzing, a payload handed over by another program).
pub fn read_bytes(name: &str, bytes: &[u8], opts: &ReadOptions, sink: &mut dyn Sink) -> ReadStats {
    let mut stats = ReadStats { files: 1, ..Default::default() };
    let mut rd = Reader { opts, sink, stats: &mut stats, file: name.to_string() };
    rd.stream(Box::new(Cursor::new(bytes)), 0);
    stats
}

/// Reads one input from a stream (standard input).
pub fn read_stream(name: &str, r: impl Read, opts: &ReadOptions, sink: &mut dyn Sink) -> ReadStats {
    let mut stats = ReadStats { files: 1, ..Default::default() };
    let mut rd = Reader { opts, sink, stats: &mut stats, file: name.to_string() };
    rd.stream(Box::new(BufReader::with_capacity(64 << 10, r)), 0);
    stats
}

/// A reader that fails once more than `cap` bytes were read since `used` was last reset: one JSON
/// document is never read whole past the limit.
struct Capped<R> {
    inner: R,
    used: Rc<Cell<u64>>,
    cap: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.used.get() > self.cap {
            return Err(io::Error::other("over the limit"));
        }
        let n = self.inner.read(buf)?;
        self.used.set(self.used.get() + n as u64);
        Ok(n)
    }
}

struct Reader<'a> {
    opts: &'a ReadOptions,
    sink: &'a mut dyn Sink,
    stats: &'a mut ReadStats,
    file: String,
}

/// The forms an input can take.
#[derive(Debug, PartialEq)]
enum Form {
    Gzip,
    Parquet,
    Json,
    Base64,
    Text,
}

fn is_b64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'='
}

fn form(head: &[u8]) -> Form {
    if head.starts_with(&[0x1f, 0x8b]) {
        return Form::Gzip;
    }
    if head.starts_with(b"PAR1") {
        return Form::Parquet;
    }
    let body = head.trim_ascii_start();
    if body.starts_with(b"{") || body.starts_with(b"[") {
        return Form::Json;
    }
    // One line of base64 alone: records and headers always have spaces.
    let line = body.split(|&b| b == b'\n').next().unwrap_or_default().trim_ascii_end();
    if line.len() >= 8 && line.iter().all(|&b| is_b64(b)) {
        return Form::Base64;
    }
    Form::Text
}

/// Reads one line into `buf` (without its end), at most `max` bytes of it: `None` at the end of
/// input, `Some(false)` when the line was longer (the rest read past, not kept).
fn read_line(r: &mut dyn BufRead, buf: &mut Vec<u8>, max: usize) -> io::Result<Option<bool>> {
    buf.clear();
    let mut whole = true;
    let mut any = false;
    loop {
        let avail = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            return Ok(any.then_some(whole));
        }
        any = true;
        let (chunk, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (&avail[..i], Some(i + 1)),
            None => (avail, None),
        };
        if whole {
            if buf.len() + chunk.len() > max {
                whole = false;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        let used = done.unwrap_or(avail.len());
        r.consume(used);
        if done.is_some() {
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(Some(whole));
        }
    }
}

impl Reader<'_> {
    fn problem(&mut self, line: u64, reason: String) {
        self.stats.malformed += 1;
        self.sink.problem(Problem { file: self.file.clone(), line, reason });
    }

    /// The input failed part way (or cannot be read in its form): reported, not counted as a
    /// malformed line.
    fn failed(&mut self, line: u64, reason: String) {
        self.stats.unreadable += 1;
        self.sink.problem(Problem { file: self.file.clone(), line, reason });
    }

    fn record(&mut self, line: u64, r: FlowRecord) {
        self.stats.records += 1;
        match r.log_status() {
            Some("NODATA") => self.stats.nodata += 1,
            Some("SKIPDATA") => self.stats.skipdata += 1,
            _ => {}
        }
        self.sink.record(&self.file, line, r);
    }

    /// Tells the form from the first bytes and reads it.
    fn stream(&mut self, mut r: Box<dyn BufRead + '_>, depth: u8) {
        if depth > MAX_DEPTH {
            return self.failed(0, format!("nested more than {MAX_DEPTH} deep (gzip, base64)"));
        }
        let mut head = Vec::with_capacity(PEEK as usize);
        if let Err(e) = r.by_ref().take(PEEK).read_to_end(&mut head) {
            return self.failed(0, format!("read error: {e}"));
        }
        let form = form(&head);
        let r: Box<dyn BufRead + '_> = Box::new(Cursor::new(head).chain(r));
        match form {
            Form::Gzip => {
                let gz = flate2::bufread::MultiGzDecoder::new(r);
                self.stream(Box::new(BufReader::with_capacity(64 << 10, gz)), depth + 1)
            }
            Form::Parquet => {
                let mut bytes = Vec::new();
                let cap = self.opts.max_inner_parquet as u64;
                match r.take(cap + 1).read_to_end(&mut bytes) {
                    Ok(_) if bytes.len() as u64 > cap => {
                        self.failed(0, format!("a Parquet file inside another is over {cap} bytes"))
                    }
                    Ok(_) => self.parquet_bytes(bytes),
                    Err(e) => self.failed(0, format!("read error: {e}")),
                }
            }
            Form::Json => self.json(r),
            Form::Base64 => self.base64(r, depth),
            Form::Text => self.text(r),
        }
    }

    /// Lines: a header line sets the layout of the lines after it; before any header, the
    /// configured one (CloudWatch Logs has no header).
    fn text(&mut self, mut r: Box<dyn BufRead + '_>) {
        let mut layout: Option<Layout> = None;
        let mut buf = Vec::new();
        let mut n = 0u64;
        let max = self.opts.max_line;
        loop {
            // The common line lies whole in the reader's buffer: it is read there, not copied.
            let avail = match r.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return self.failed(n + 1, format!("read error: {e}")),
            };
            if avail.is_empty() {
                return;
            }
            n += 1;
            if let Some(i) = memchr::memchr(b'\n', avail).filter(|&i| i <= max) {
                let line = &avail[..i];
                self.text_line(n, line.strip_suffix(b"\r").unwrap_or(line), &mut layout);
                r.consume(i + 1);
                continue;
            }
            match read_line(&mut *r, &mut buf, max) {
                Ok(None) => return,
                Ok(Some(false)) => self.problem(n, format!("line longer than {max} bytes")),
                Ok(Some(true)) => self.text_line(n, &buf, &mut layout),
                Err(e) => return self.failed(n, format!("read error: {e}")),
            }
        }
    }

    /// One line of text: a header, a record, or a problem.
    fn text_line(&mut self, n: u64, bytes: &[u8], layout: &mut Option<Layout>) {
        let Ok(line) = std::str::from_utf8(bytes) else {
            return self.problem(n, "not UTF-8".into());
        };
        if line.trim_ascii().is_empty() {
            return;
        }
        if let Some(l) = Layout::from_header(line) {
            self.stats.headers += 1;
            *layout = Some(l);
            return;
        }
        match layout.as_ref().unwrap_or(&self.opts.log_format).parse_line(line) {
            Ok(rec) => self.record(n, rec),
            Err(e) => self.problem(n, e),
        }
    }

    /// JSON documents one after another (a Firehose delivery joins them): CloudWatch Logs
    /// subscription payloads (`logEvents`), the CLI's `events`, single events (`message`), and
    /// arrays of those.
    fn json(&mut self, r: Box<dyn BufRead + '_>) {
        let used = Rc::new(Cell::new(0u64));
        let cap = self.opts.max_json_document as u64;
        let capped = Capped { inner: r, used: used.clone(), cap };
        let mut ordinal = 0u64;
        for doc in serde_json::Deserializer::from_reader(capped).into_iter::<Value>() {
            match doc {
                Ok(v) => self.json_value(&v, &mut ordinal, true),
                Err(_) if used.get() > cap => {
                    return self.failed(ordinal + 1, format!("a JSON document over {cap} bytes"))
                }
                Err(e) => return self.failed(ordinal + 1, format!("JSON: {e}")),
            }
            used.set(0);
        }
    }

    fn json_value(&mut self, v: &Value, ordinal: &mut u64, top: bool) {
        match v {
            Value::Array(items) if top => items.iter().for_each(|i| self.json_value(i, ordinal, false)),
            Value::Object(o) => {
                if o.get("messageType").and_then(Value::as_str) == Some("CONTROL_MESSAGE") {
                    return;
                }
                let events = o.get("logEvents").or_else(|| o.get("events"));
                match (events, o.get("message")) {
                    (Some(Value::Array(events)), _) => {
                        for e in events {
                            *ordinal += 1;
                            match e.get("message").and_then(Value::as_str) {
                                Some(m) => self.message(*ordinal, m),
                                None => self.problem(*ordinal, "an event with no message".into()),
                            }
                        }
                    }
                    (_, Some(Value::String(m))) => {
                        *ordinal += 1;
                        self.message(*ordinal, m)
                    }
                    _ => {
                        *ordinal += 1;
                        self.problem(*ordinal, "a JSON object with no logEvents, events or message".into())
                    }
                }
            }
            _ => {
                *ordinal += 1;
                self.problem(*ordinal, "a JSON value that is not an object".into())
            }
        }
    }

    /// One log event's message: a record in the configured layout.
    fn message(&mut self, ordinal: u64, m: &str) {
        if m.len() > self.opts.max_line {
            return self.problem(ordinal, format!("event longer than {} bytes", self.opts.max_line));
        }
        match self.opts.log_format.parse_line(m.trim_ascii()) {
            Ok(rec) => self.record(ordinal, rec),
            Err(e) => self.problem(ordinal, e),
        }
    }

    /// Lines of base64, each one payload (a Kinesis record's data): each decoded and read in
    /// its own form.
    fn base64(&mut self, mut r: Box<dyn BufRead + '_>, depth: u8) {
        let mut buf = Vec::new();
        let mut n = 0u64;
        let file = self.file.clone();
        loop {
            n += 1;
            match read_line(&mut *r, &mut buf, self.opts.max_line) {
                Ok(None) => return,
                Ok(Some(false)) => self.problem(n, format!("line longer than {} bytes", self.opts.max_line)),
                Ok(Some(true)) => {
                    let line = buf.trim_ascii();
                    if line.is_empty() {
                        continue;
                    }
                    match base64::engine::general_purpose::STANDARD.decode(line) {
                        Ok(bytes) => {
                            self.file = format!("{file} (base64 line {n})");
                            self.stream(Box::new(Cursor::new(bytes)), depth + 1);
                            self.file.clone_from(&file);
                        }
                        Err(e) => self.problem(n, format!("base64: {e}: {:?}", clip(&String::from_utf8_lossy(line)))),
                    }
                }
                Err(e) => return self.failed(n, format!("read error: {e}")),
            }
        }
    }

    #[cfg(feature = "parquet")]
    fn parquet_file(&mut self, f: File) {
        crate::parquet::read(self, f)
    }

    #[cfg(feature = "parquet")]
    fn parquet_bytes(&mut self, b: Vec<u8>) {
        crate::parquet::read(self, bytes::Bytes::from(b))
    }

    #[cfg(not(feature = "parquet"))]
    fn parquet_file(&mut self, _: File) {
        self.failed(0, "Parquet: this build has no Parquet reader (cargo feature `parquet`)".into())
    }

    #[cfg(not(feature = "parquet"))]
    fn parquet_bytes(&mut self, _: Vec<u8>) {
        self.failed(0, "Parquet: this build has no Parquet reader (cargo feature `parquet`)".into())
    }
}

/// What the Parquet reader needs of a [`Reader`].
#[cfg(feature = "parquet")]
pub(crate) trait RowSink {
    fn row(&mut self, row: u64, r: FlowRecord);
    fn bad_row(&mut self, row: u64, reason: String);
    fn failed(&mut self, row: u64, reason: String);
}

#[cfg(feature = "parquet")]
impl RowSink for Reader<'_> {
    fn row(&mut self, row: u64, r: FlowRecord) {
        self.record(row, r)
    }
    fn bad_row(&mut self, row: u64, reason: String) {
        self.problem(row, reason)
    }
    fn failed(&mut self, row: u64, reason: String) {
        Reader::failed(self, row, reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_lines() {
        let mut r = Cursor::new(b"short\nthis one is long\r\nend".to_vec());
        let mut buf = Vec::new();
        assert_eq!(read_line(&mut r, &mut buf, 8).unwrap(), Some(true));
        assert_eq!(buf, b"short");
        assert_eq!(read_line(&mut r, &mut buf, 8).unwrap(), Some(false));
        assert_eq!(read_line(&mut r, &mut buf, 8).unwrap(), Some(true));
        assert_eq!(buf, b"end");
        assert_eq!(read_line(&mut r, &mut buf, 8).unwrap(), None);
    }

    #[test]
    fn forms() {
        assert_eq!(form(b"\x1f\x8b\x08"), Form::Gzip);
        assert_eq!(form(b"PAR1...."), Form::Parquet);
        assert_eq!(form(b"  {\"logEvents\""), Form::Json);
        assert_eq!(form(b"H4sIAAAAAAAA/+1W\n"), Form::Base64);
        assert_eq!(form(b"version account-id\n"), Form::Text);
        assert_eq!(form(b"2 123 eni-1 - - - - - - - 1 2 - NODATA\n"), Form::Text);
    }
}
