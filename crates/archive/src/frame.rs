//! Framing: bytes carried whole through a terminal.
//!
//! ECS Exec, `kubectl exec -t` and `docker exec -t` run the collector under a pseudo-terminal:
//! the line discipline turns `\n` into `\r\n`, the session adds banners and noise before and
//! after, and the transport cuts the stream into chunks of its own. A raw archive does not
//! survive that. A frame does: a begin line naming a per-acquisition nonce, the payload as base64
//! lines, and an end line with the byte count, the SHA-256 and the sender's exit status:
//!
//! ```text
//! CURTAIN-FRAME BEGIN <nonce>
//! <base64, at most LINE_CHARS characters a line>
//! ...
//! CURTAIN-FRAME END <nonce> <bytes> <sha256 hex> <status>
//! ```
//!
//! The receiver ([`FrameReader`]) ignores everything outside the markers, drops every `\r`,
//! decodes strictly, and checks count and hash: a line inside the frame that is not base64 (noise,
//! a flipped byte, a lost chunk) is a corrupt transfer, never a silently wrong archive. Lines stay
//! short (terminals' canonical mode takes at most 4095 bytes a line) and never begin with `~`
//! (the session-manager-plugin's escape), so the same framing is safe on the way in.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::io::{self, Write};

/// The words every marker line starts with.
pub const MARK: &str = "CURTAIN-FRAME";
/// Payload characters per line: 1000 base64 characters (750 bytes) and a newline, under any
/// terminal's line limit, at 74.9% of the channel's throughput (base64 alone allows 75%).
pub const LINE_CHARS: usize = 1000;
const LINE_BYTES: usize = LINE_CHARS / 4 * 3;
/// A line longer than this outside a frame is noise, kept only by its tail.
const MAX_NOISE_LINE: usize = 4 * LINE_CHARS;

/// The begin line of a frame (without its newline).
pub fn begin_line(nonce: &str) -> String {
    format!("{MARK} BEGIN {nonce}")
}

/// Writes one frame around everything written to it; [`FrameWriter::finish`] ends it.
pub struct FrameWriter<W: Write> {
    out: W,
    pending: Vec<u8>,
    line: String,
    hash: Sha256,
    bytes: u64,
    nonce: String,
}

impl<W: Write> FrameWriter<W> {
    /// Writes the begin line at once: the receiver knows the sender started.
    pub fn new(mut out: W, nonce: &str) -> io::Result<Self> {
        out.write_all(format!("\n{}\n", begin_line(nonce)).as_bytes())?;
        Ok(FrameWriter {
            out,
            pending: Vec::with_capacity(LINE_BYTES),
            line: String::with_capacity(LINE_CHARS + 1),
            hash: Sha256::new(),
            bytes: 0,
            nonce: nonce.to_string(),
        })
    }

    fn emit(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.line.clear();
        STANDARD.encode_string(chunk, &mut self.line);
        self.line.push('\n');
        self.out.write_all(self.line.as_bytes())
    }

    /// Ends the frame with `status` (the sender's exit status) and returns the writer.
    pub fn finish(self, status: i32) -> io::Result<W> {
        self.finish_with(status, None)
    }

    /// Ends the frame with `status` and a message (why the sender failed), kept to printable
    /// ASCII on one line.
    pub fn finish_with(mut self, status: i32, message: Option<&str>) -> io::Result<W> {
        let rest = std::mem::take(&mut self.pending);
        if !rest.is_empty() {
            self.emit(&rest)?;
        }
        let digest = curtain_model::to_hex(&self.hash.clone().finalize());
        let mut end = format!("{MARK} END {} {} {digest} {status}", self.nonce, self.bytes);
        if let Some(m) = message {
            end.push(' ');
            end.extend(m.chars().take(2000).map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }));
        }
        end.push('\n');
        self.out.write_all(end.as_bytes())?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Write for FrameWriter<W> {
    fn write(&mut self, mut buf: &[u8]) -> io::Result<usize> {
        let n = buf.len();
        self.hash.update(buf);
        self.bytes += n as u64;
        while !buf.is_empty() {
            if self.pending.is_empty() && buf.len() >= LINE_BYTES {
                let (line, rest) = buf.split_at(LINE_BYTES);
                self.emit(line)?;
                buf = rest;
                continue;
            }
            let take = (LINE_BYTES - self.pending.len()).min(buf.len());
            self.pending.extend_from_slice(&buf[..take]);
            buf = &buf[take..];
            if self.pending.len() == LINE_BYTES {
                let full = std::mem::take(&mut self.pending);
                self.emit(&full)?;
                self.pending = full;
                self.pending.clear();
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// How a frame ended, as its end line says and as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameEnd {
    pub bytes: u64,
    pub sha256: String,
    /// The sender's exit status.
    pub status: i32,
    /// Why the sender failed, when it said.
    pub message: Option<String>,
}

/// What is wrong with a transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// A line inside the frame that is not the payload: noise, a flipped byte, a lost chunk.
    Corrupt { line: u64, reason: String },
    /// The end line's count or hash is not what arrived.
    Mismatch { said: FrameEnd, got_bytes: u64, got_sha256: String },
    /// The stream ended inside the frame, or before it began.
    Truncated { began: bool, bytes: u64 },
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Corrupt { line, reason } => write!(f, "corrupt transfer at line {line} of the frame: {reason}"),
            FrameError::Mismatch { said, got_bytes, got_sha256 } => write!(
                f,
                "transfer does not match its end line: {got_bytes} bytes with SHA-256 {got_sha256} arrived, \
                 the sender said {} bytes with SHA-256 {}",
                said.bytes, said.sha256
            ),
            FrameError::Truncated { began: false, .. } => write!(f, "the stream ended before any frame began"),
            FrameError::Truncated { began: true, bytes } => {
                write!(f, "the stream ended inside the frame after {bytes} bytes, without its end line")
            }
        }
    }
}

impl std::error::Error for FrameError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Seeking,
    Inside,
    Done,
}

/// Receives one frame from a noisy stream, writing its payload to `sink` as it arrives.
pub struct FrameReader<W: Write> {
    sink: W,
    begin: Vec<u8>,
    end: Vec<u8>,
    state: State,
    line: Vec<u8>,
    lines: u64,
    hash: Sha256,
    bytes: u64,
    decoded: Vec<u8>,
    ended: Option<FrameEnd>,
    /// A line shorter than LINE_CHARS ends the payload: only the end line may follow it.
    short_seen: bool,
    /// What came after the end line in the chunk that held it.
    rest: Vec<u8>,
}

/// What feeding a chunk gave.
#[derive(Debug)]
pub enum Fed {
    /// More is wanted.
    More,
    /// The frame is whole and checked; anything after it in the chunk is ignored.
    Done(FrameEnd),
}

impl<W: Write> FrameReader<W> {
    pub fn new(nonce: &str, sink: W) -> Self {
        FrameReader {
            sink,
            begin: begin_line(nonce).into_bytes(),
            end: format!("{MARK} END {nonce} ").into_bytes(),
            state: State::Seeking,
            line: Vec::new(),
            lines: 0,
            hash: Sha256::new(),
            bytes: 0,
            decoded: Vec::with_capacity(LINE_BYTES),
            ended: None,
            short_seen: false,
            rest: Vec::new(),
        }
    }

    /// Whether the begin line has been seen.
    pub fn began(&self) -> bool {
        self.state != State::Seeking
    }

    /// Payload bytes received so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Takes the next chunk of the stream. An error of the sink is an `io::Error` in
    /// [`FrameError::Corrupt`]'s place: it ends the transfer too.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Fed, FeedError> {
        for (i, &b) in chunk.iter().enumerate() {
            if self.state == State::Done {
                self.rest.extend_from_slice(&chunk[i..]);
                break;
            }
            match b {
                b'\r' => {}
                b'\n' => {
                    let line = std::mem::take(&mut self.line);
                    self.take_line(&line)?;
                    self.line = line;
                    self.line.clear();
                }
                _ => {
                    if self.state == State::Seeking && self.line.len() >= MAX_NOISE_LINE {
                        // Noise: keep only as much of its tail as a begin line could be.
                        let keep = self.begin.len();
                        let cut = self.line.len() - keep;
                        self.line.drain(..cut);
                    } else if self.state == State::Inside && self.line.len() > LINE_CHARS + 200 {
                        return Err(FeedError::Frame(FrameError::Corrupt {
                            line: self.lines + 1,
                            reason: format!("a line longer than {LINE_CHARS} characters"),
                        }));
                    }
                    self.line.push(b);
                }
            }
        }
        match &self.ended {
            Some(end) => Ok(Fed::Done(end.clone())),
            None => Ok(Fed::More),
        }
    }

    fn take_line(&mut self, line: &[u8]) -> Result<(), FeedError> {
        match self.state {
            State::Seeking => {
                if line.ends_with(&self.begin) {
                    self.state = State::Inside;
                }
                Ok(())
            }
            State::Inside => {
                self.lines += 1;
                if let Some(rest) = line.strip_prefix(self.end.as_slice()) {
                    let said = parse_end(rest).ok_or_else(|| {
                        FeedError::Frame(FrameError::Corrupt {
                            line: self.lines,
                            reason: "a malformed end line".into(),
                        })
                    })?;
                    let got_sha256 = curtain_model::to_hex(&self.hash.clone().finalize());
                    if said.bytes != self.bytes || said.sha256 != got_sha256 {
                        return Err(FeedError::Frame(FrameError::Mismatch { said, got_bytes: self.bytes, got_sha256 }));
                    }
                    self.sink.flush().map_err(FeedError::Sink)?;
                    self.state = State::Done;
                    self.ended = Some(said);
                    return Ok(());
                }
                let corrupt = |reason: &str| FeedError::Frame(FrameError::Corrupt { line: 0, reason: reason.into() });
                let fail = |e: FeedError, n: u64| match e {
                    FeedError::Frame(FrameError::Corrupt { reason, .. }) => {
                        FeedError::Frame(FrameError::Corrupt { line: n, reason })
                    }
                    other => other,
                };
                if self.short_seen {
                    return Err(fail(corrupt("payload after a short line"), self.lines));
                }
                if line.len() > LINE_CHARS || line.is_empty() || !line.len().is_multiple_of(4) {
                    return Err(fail(corrupt(&format!("a line of {} characters", line.len())), self.lines));
                }
                if line.len() < LINE_CHARS || line.ends_with(b"=") {
                    self.short_seen = true;
                }
                self.decoded.clear();
                STANDARD
                    .decode_vec(line, &mut self.decoded)
                    .map_err(|e| fail(corrupt(&format!("not base64 ({e})")), self.lines))?;
                if self.decoded.len() != LINE_BYTES && !self.short_seen {
                    return Err(fail(corrupt("padding inside the payload"), self.lines));
                }
                self.hash.update(&self.decoded);
                self.bytes += self.decoded.len() as u64;
                self.sink.write_all(&self.decoded).map_err(FeedError::Sink)
            }
            State::Done => Ok(()),
        }
    }

    /// What followed the end line in the chunk that held it (the stream goes on after a
    /// frame: the session's next words).
    pub fn take_rest(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.rest)
    }

    /// The stream ended: the frame must have too.
    pub fn finish(self) -> Result<(FrameEnd, W), FeedError> {
        match self.ended {
            Some(end) => Ok((end, self.sink)),
            None => Err(FeedError::Frame(FrameError::Truncated { began: self.began(), bytes: self.bytes })),
        }
    }
}

/// Why a transfer stopped.
#[derive(Debug)]
pub enum FeedError {
    Frame(FrameError),
    /// The sink refused a write (a full disk).
    Sink(io::Error),
}

impl std::fmt::Display for FeedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FeedError::Frame(e) => e.fmt(f),
            FeedError::Sink(e) => write!(f, "writing what arrived: {e}"),
        }
    }
}

impl std::error::Error for FeedError {}

fn parse_end(rest: &[u8]) -> Option<FrameEnd> {
    let s = std::str::from_utf8(rest).ok()?;
    let mut it = s.splitn(4, ' ');
    let bytes = it.next()?.parse().ok()?;
    let sha256 = it.next()?;
    let status = it.next()?.parse().ok()?;
    let message = it.next().map(str::to_string);
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(FrameEnd { bytes, sha256: sha256.to_ascii_lowercase(), status, message })
}

/// Encodes `data` as the lines a frame carries, for sending into a terminal: each line
/// `LINE_CHARS` at most, none starting with `~`.
pub fn encode_lines(data: &[u8]) -> impl Iterator<Item = String> + '_ {
    data.chunks(LINE_BYTES).map(|c| STANDARD.encode(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(data: &[u8], nonce: &str, status: i32) -> Vec<u8> {
        let mut w = FrameWriter::new(Vec::new(), nonce).unwrap();
        // Written in odd pieces, as the archive writer does.
        for piece in data.chunks(333) {
            w.write_all(piece).unwrap();
        }
        w.finish(status).unwrap()
    }

    /// What a pty and a session make of it: `\r\n`, banners, chunks.
    fn through_terminal(framed: &[u8]) -> Vec<u8> {
        let mut out = b"\r\nStarting session with SessionId: ecs-execute-command-0123\r\n".to_vec();
        for &b in framed {
            if b == b'\n' {
                out.push(b'\r');
            }
            out.push(b);
        }
        out.extend_from_slice(b"\r\n\r\nExiting session with sessionId: ecs-execute-command-0123.\r\n\r\n");
        out
    }

    fn receive(stream: &[u8], nonce: &str, chunk: usize) -> Result<(FrameEnd, Vec<u8>), FeedError> {
        let mut r = FrameReader::new(nonce, Vec::new());
        for c in stream.chunks(chunk) {
            if let Fed::Done(_) = r.feed(c)? {
                break;
            }
        }
        r.finish()
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[test]
    fn bytes_survive_crlf_banners_and_chunks_of_any_size() {
        for n in [0, 1, 749, 750, 751, 1500, 100_000] {
            let d = data(n);
            let s = through_terminal(&framed(&d, "n0nce", 0));
            for chunk in [1, 7, 1024, 1 << 20] {
                let (end, got) = receive(&s, "n0nce", chunk).unwrap();
                assert_eq!(got, d, "n={n} chunk={chunk}");
                assert_eq!(end.bytes, n as u64);
                assert_eq!(end.status, 0);
            }
        }
    }

    #[test]
    fn what_follows_the_frame_in_its_chunk_is_kept() {
        let mut s = framed(b"abc", "x", 0);
        s.extend_from_slice(b"CURTAIN-FRAME REMOVED x 0\n");
        let mut r = FrameReader::new("x", Vec::new());
        assert!(matches!(r.feed(&s).unwrap(), Fed::Done(_)));
        assert_eq!(r.take_rest(), b"CURTAIN-FRAME REMOVED x 0\n");
    }

    #[test]
    fn the_senders_status_arrives() {
        let s = framed(b"abc", "x", 130);
        assert_eq!(receive(&s, "x", 5).unwrap().0.status, 130);
    }

    #[test]
    fn a_flipped_byte_anywhere_in_the_frame_is_caught() {
        let d = data(5000);
        let s = through_terminal(&framed(&d, "n", 0));
        let begin = s.windows(5).position(|w| w == b"BEGIN").unwrap();
        let mut caught = 0;
        let mut tried = 0;
        for i in (begin..s.len()).step_by(97) {
            for flip in [0x01u8, 0x20, 0x80] {
                let mut bad = s.clone();
                bad[i] ^= flip;
                tried += 1;
                match receive(&bad, "n", 1024) {
                    Ok((_, got)) => {
                        // Only a flip that leaves the payload whole may pass: in the noise after
                        // the end line, or a \r turned into a byte that is dropped the same way.
                        assert_eq!(got, d, "a flip at {i} gave a wrong archive silently");
                    }
                    Err(_) => caught += 1,
                }
            }
        }
        assert!(caught > tried / 2, "{caught} of {tried}");
    }

    #[test]
    fn noise_inside_the_frame_and_a_lost_chunk_are_corruption() {
        let d = data(10_000);
        let s = through_terminal(&framed(&d, "n", 0));
        let mid = s.len() / 2;
        let mut noisy = s[..mid].to_vec();
        noisy.extend_from_slice(b"\r\nbash: warning\r\n");
        noisy.extend_from_slice(&s[mid..]);
        assert!(matches!(receive(&noisy, "n", 64), Err(FeedError::Frame(FrameError::Corrupt { .. }))));
        let mut lost = s[..mid].to_vec();
        lost.extend_from_slice(&s[mid + 1024..]);
        assert!(receive(&lost, "n", 64).is_err());
    }

    #[test]
    fn a_stream_cut_short_or_another_nonce_is_no_frame() {
        let s = framed(&data(3000), "mine", 0);
        let cut = &s[..s.len() - 20];
        assert!(matches!(receive(cut, "mine", 100), Err(FeedError::Frame(FrameError::Truncated { began: true, .. }))));
        assert!(matches!(receive(&s, "other", 100), Err(FeedError::Frame(FrameError::Truncated { began: false, .. }))));
    }

    #[test]
    fn a_failure_says_why_on_the_end_line() {
        let w = FrameWriter::new(Vec::new(), "n").unwrap();
        let s = w.finish_with(2, Some("/proc: Permission denied\n\x1b[2J")).unwrap();
        let (end, got) = receive(&s, "n", 9).unwrap();
        assert!(got.is_empty());
        assert_eq!((end.status, end.message.as_deref()), (2, Some("/proc: Permission denied??[2J")));
    }

    #[test]
    fn a_lying_end_line_is_a_mismatch() {
        let s = String::from_utf8(framed(b"hello", "n", 0)).unwrap();
        let forged = s.replace(" 5 ", " 6 ");
        assert!(matches!(receive(forged.as_bytes(), "n", 100), Err(FeedError::Frame(FrameError::Mismatch { .. }))));
    }

    #[test]
    fn lines_sent_in_are_short_and_never_an_escape() {
        let d: Vec<u8> = (0..100_000).map(|i| if i % 3 == 0 { 0xfb } else { 0xff }).collect();
        for l in encode_lines(&d) {
            assert!(l.len() <= LINE_CHARS && l.len() < 4095);
            assert!(!l.starts_with('~') && !l.contains('~'));
        }
    }
}
