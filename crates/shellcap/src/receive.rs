//! Receiving the script's frame from a noisy stream: whatever a terminal made of it.
//!
//! The script's awk program writes, between a begin and an end marker naming the nonce, lines
//! that each carry a sequence number and an Adler-32 of their content:
//!
//! ```text
//! CURTAIN-FRAME BEGIN <nonce>
//! H<seq>:<header text>:<adler-32 hex>      a record header (printable ASCII)
//! D<seq>:<hex bytes>:<adler-32 hex>        bytes of the record whose header came last
//! CURTAIN-FRAME END <nonce> <lines> <bytes>
//! ```
//!
//! The receiver drops every `\r`, ignores what comes before the begin line and after the end
//! line (banners, prompts, the echo of the typed script), and refuses the transfer at the first
//! line inside the frame that is not exactly one of these with the next sequence number and a
//! matching checksum: a flipped byte, a lost or repeated chunk, noise written into the terminal
//! mid-frame, a truncated stream. The end line's counts close it. Any single changed byte
//! changes the Adler-32 of its line (its two sums move by less than their modulus), and a line
//! lost, repeated or moved breaks the sequence; the end line counts both lines and bytes, and
//! the stream itself must end with the script's last record, so a cut anywhere is seen too.
//! The check is against the channel, not against the target: a process there that can write
//! to the terminal can write a well-formed frame, as it could lie in any file it can change.

/// The words every marker line starts with (as in `curtain_archive::frame`).
pub const MARK: &str = curtain_archive::frame::MARK;
/// A line longer than this inside the frame is corruption (the script writes at most about
/// 1000 characters a line).
const MAX_LINE: usize = 4096;
/// A line longer than this outside a frame is noise, kept only by its tail.
const MAX_NOISE_LINE: usize = 16 * 1024;

/// One record of the stream: its header and the bytes that followed it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Item {
    pub header: String,
    pub data: Vec<u8>,
}

/// What is wrong with a transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiveError {
    /// A line inside the frame that is not the next valid line: noise, a flipped byte, a lost
    /// chunk. `line` counts the frame's lines from 1.
    Corrupt { line: u64, reason: String },
    /// The end line's counts are not what arrived.
    Mismatch { said_lines: u64, said_bytes: u64, got_lines: u64, got_bytes: u64 },
    /// The stream ended inside the frame, or before it began.
    Truncated { began: bool, lines: u64 },
    /// The script said it could not run (a missing tool), before any frame.
    Refused(String),
    /// The frame arrived whole, but its records are not what the script writes.
    Malformed(String),
}

impl std::fmt::Display for ReceiveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReceiveError::Corrupt { line, reason } => {
                write!(f, "corrupt transfer at line {line} of the frame: {reason}")
            }
            ReceiveError::Mismatch { said_lines, said_bytes, got_lines, got_bytes } => write!(
                f,
                "transfer does not match its end line: {got_lines} lines and {got_bytes} bytes arrived, the script \
                 said {said_lines} lines and {said_bytes} bytes"
            ),
            ReceiveError::Truncated { began: false, .. } => write!(f, "the stream ended before any frame began"),
            ReceiveError::Truncated { began: true, lines } => {
                write!(f, "the stream ended inside the frame after {lines} lines, without its end line")
            }
            ReceiveError::Refused(m) => write!(f, "the shell method cannot run in the target: {m}"),
            ReceiveError::Malformed(m) => write!(f, "the capture is not what the script writes: {m}"),
        }
    }
}

impl std::error::Error for ReceiveError {}

/// What feeding a chunk gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fed {
    /// More is wanted.
    More,
    /// The frame is whole and checked; anything after it is ignored.
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Seeking,
    Inside,
    Done,
}

/// Receives one frame of the script's output, fed in chunks of any size.
pub struct Receiver {
    begin: Vec<u8>,
    end: Vec<u8>,
    fail: Vec<u8>,
    state: State,
    line: Vec<u8>,
    lines: u64,
    bytes: u64,
    items: Vec<Item>,
    /// The error, once seen: every later feed gives it again.
    failed: Option<ReceiveError>,
}

/// Adler-32 of `bytes` from `a` (1 for data, 2 for a header: a line cannot pass for the other
/// kind), as the awk program computes it.
pub fn adler(start: u32, bytes: &[u8]) -> (u32, u32) {
    let (mut a, mut b) = (start, 0u32);
    for &c in bytes {
        a = (a + c as u32) % 65521;
        b = (b + a) % 65521;
    }
    (a, b)
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

impl Receiver {
    pub fn new(nonce: &str) -> Self {
        Receiver {
            begin: format!("{MARK} BEGIN {nonce}").into_bytes(),
            end: format!("{MARK} END {nonce} ").into_bytes(),
            fail: format!("{MARK} FAIL {nonce} ").into_bytes(),
            state: State::Seeking,
            line: Vec::new(),
            lines: 0,
            bytes: 0,
            items: Vec::new(),
            failed: None,
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

    /// Frame lines received so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Takes the next chunk of the stream.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Fed, ReceiveError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        for &c in chunk {
            if self.state == State::Done {
                break;
            }
            let step = match c {
                b'\r' => Ok(()),
                b'\n' => {
                    let line = std::mem::take(&mut self.line);
                    let r = self.take_line(&line);
                    self.line = line;
                    self.line.clear();
                    r
                }
                _ => {
                    match self.state {
                        State::Seeking if self.line.len() >= MAX_NOISE_LINE => {
                            let cut = self.line.len() - self.begin.len().max(self.fail.len() + 200);
                            self.line.drain(..cut);
                        }
                        State::Inside if self.line.len() >= MAX_LINE => {
                            let e = ReceiveError::Corrupt {
                                line: self.lines + 1,
                                reason: format!("a line longer than {MAX_LINE} characters"),
                            };
                            self.failed = Some(e.clone());
                            return Err(e);
                        }
                        _ => {}
                    }
                    self.line.push(c);
                    Ok(())
                }
            };
            if let Err(e) = step {
                self.failed = Some(e.clone());
                return Err(e);
            }
        }
        Ok(if self.state == State::Done { Fed::Done } else { Fed::More })
    }

    fn take_line(&mut self, line: &[u8]) -> Result<(), ReceiveError> {
        match self.state {
            State::Done => Ok(()),
            State::Seeking => {
                if line.ends_with(&self.begin) {
                    self.state = State::Inside;
                } else if let Some(at) = line.windows(self.fail.len()).position(|w| w == self.fail.as_slice()) {
                    let why: String = line[at + self.fail.len()..]
                        .iter()
                        .take(500)
                        .map(|&c| if c.is_ascii_graphic() || c == b' ' { c as char } else { '?' })
                        .collect();
                    return Err(ReceiveError::Refused(why));
                }
                Ok(())
            }
            State::Inside => {
                let n = self.lines + 1;
                let corrupt = |reason: String| ReceiveError::Corrupt { line: n, reason };
                if let Some(rest) = line.strip_prefix(self.end.as_slice()) {
                    let text = std::str::from_utf8(rest).map_err(|_| corrupt("a malformed end line".into()))?;
                    let mut it = text.split(' ');
                    let (Some(l), Some(b), None) = (it.next(), it.next(), it.next()) else {
                        return Err(corrupt("a malformed end line".into()));
                    };
                    let (Ok(said_lines), Ok(said_bytes)) = (l.parse::<u64>(), b.parse::<u64>()) else {
                        return Err(corrupt("a malformed end line".into()));
                    };
                    if said_lines != self.lines || said_bytes != self.bytes {
                        return Err(ReceiveError::Mismatch {
                            said_lines,
                            said_bytes,
                            got_lines: self.lines,
                            got_bytes: self.bytes,
                        });
                    }
                    self.state = State::Done;
                    return Ok(());
                }
                let (kind, rest) = match line.split_first() {
                    Some((&k @ (b'H' | b'D'), rest)) => (k, rest),
                    _ => return Err(corrupt("not a frame line".into())),
                };
                let colon = rest.iter().position(|&c| c == b':').ok_or_else(|| corrupt("no sequence number".into()))?;
                let seq = std::str::from_utf8(&rest[..colon])
                    .ok()
                    .filter(|s| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
                    .and_then(|s| s.parse::<u64>().ok())
                    .ok_or_else(|| corrupt("a malformed sequence number".into()))?;
                if seq != n {
                    return Err(corrupt(format!("line {seq} where line {n} was due (a line lost or repeated)")));
                }
                let body = &rest[colon + 1..];
                if body.len() < 9 || body[body.len() - 9] != b':' {
                    return Err(corrupt("no checksum".into()));
                }
                let (content, check) = (&body[..body.len() - 9], &body[body.len() - 8..]);
                let data: Vec<u8> = if kind == b'D' {
                    if content.is_empty() || content.len() % 2 != 0 {
                        return Err(corrupt(format!("{} hex digits", content.len())));
                    }
                    content
                        .chunks(2)
                        .map(|p| Some(hex_val(p[0])? << 4 | hex_val(p[1])?))
                        .collect::<Option<Vec<u8>>>()
                        .ok_or_else(|| corrupt("not hex".into()))?
                } else {
                    if !content.iter().all(|&c| (b' '..=b'~').contains(&c)) {
                        return Err(corrupt("a header that is not printable ASCII".into()));
                    }
                    content.to_vec()
                };
                let (a, b) = adler(if kind == b'D' { 1 } else { 2 }, &data);
                if format!("{a:04x}{b:04x}").as_bytes() != check {
                    return Err(corrupt("checksum mismatch".into()));
                }
                self.lines = n;
                if kind == b'D' {
                    self.bytes += data.len() as u64;
                    match self.items.last_mut() {
                        Some(item) => item.data.extend_from_slice(&data),
                        None => return Err(corrupt("data before any header".into())),
                    }
                } else {
                    // Printable ASCII was checked: valid UTF-8.
                    self.items.push(Item { header: String::from_utf8_lossy(&data).into_owned(), data: Vec::new() });
                }
                Ok(())
            }
        }
    }

    /// The stream ended (or the caller saw [`Fed::Done`]): the records, once the frame was
    /// whole.
    pub fn finish_items(self) -> Result<Vec<Item>, ReceiveError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        match self.state {
            State::Done => Ok(self.items),
            State::Seeking => Err(ReceiveError::Truncated { began: false, lines: 0 }),
            State::Inside => Err(ReceiveError::Truncated { began: true, lines: self.lines }),
        }
    }

    /// The stream ended: the capture it carried, parsed ([`crate::Capture::from_items`]).
    pub fn finish(self) -> Result<crate::Capture, ReceiveError> {
        let (lines, bytes) = (self.lines, self.bytes);
        let items = self.finish_items()?;
        let mut c = crate::Capture::from_items(&items).map_err(ReceiveError::Malformed)?;
        c.frame_lines = lines;
        c.frame_bytes = bytes;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame as the awk program writes it.
    fn frame(nonce: &str, items: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = format!("\n{MARK} BEGIN {nonce}\n").into_bytes();
        let (mut s, mut nb) = (0, 0);
        for (h, d) in items {
            s += 1;
            let (a, b) = adler(2, h.as_bytes());
            out.extend(format!("H{s}:{h}:{a:04x}{b:04x}\n").bytes());
            for chunk in d.chunks(480) {
                s += 1;
                nb += chunk.len();
                let (a, b) = adler(1, chunk);
                let hex: String = chunk.iter().map(|c| format!("{c:02x}")).collect();
                out.extend(format!("D{s}:{hex}:{a:04x}{b:04x}\n").bytes());
            }
        }
        out.extend(format!("{MARK} END {nonce} {s} {nb}\n").bytes());
        out
    }

    fn receive(stream: &[u8], chunk: usize) -> Result<Vec<Item>, ReceiveError> {
        let mut r = Receiver::new("n0");
        for c in stream.chunks(chunk) {
            if r.feed(c)? == Fed::Done {
                break;
            }
        }
        r.finish_items()
    }

    fn sample() -> Vec<u8> {
        let big: Vec<u8> = (0..1200u32).map(|i| (i * 31 + i / 7) as u8).collect();
        frame("n0", &[("v 1", b""), ("f 1/cmdline", b"sleep\x0099\x00"), ("f 1/maps", &big), ("k", b"")])
    }

    #[test]
    fn records_survive_crlf_banners_echo_and_any_chunking() {
        let mut s = b"$ CURTAIN_NONCE=n0\r\n$ cx_M=CURTAIN; cx_M=$cx_M-FRAME\r\nStarting session\r\n".to_vec();
        for &c in &sample() {
            if c == b'\n' {
                s.push(b'\r');
            }
            s.push(c);
        }
        s.extend_from_slice(b"\r\n$ exit\r\nExiting session\r\n");
        for chunk in [1, 3, 1024, 1 << 20] {
            let items = receive(&s, chunk).unwrap();
            assert_eq!(items.len(), 4);
            assert_eq!(items[1].data, b"sleep\x0099\x00");
            assert_eq!(items[2].data.len(), 1200);
        }
    }

    #[test]
    fn every_flipped_byte_inside_the_frame_is_caught() {
        let s = sample();
        let start = s.windows(5).position(|w| w == b"BEGIN").unwrap() + 8;
        let want = receive(&s, 4096).unwrap();
        for i in start..s.len() {
            for flip in [0x01u8, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80] {
                let mut bad = s.clone();
                bad[i] ^= flip;
                if let Ok(got) = receive(&bad, 4096) {
                    assert_eq!(got, want, "a flip at {i} gave other records silently");
                }
            }
        }
    }

    #[test]
    fn a_lost_repeated_or_injected_line_and_a_cut_are_caught() {
        let s = sample();
        let lines: Vec<&[u8]> = s.split_inclusive(|&c| c == b'\n').collect();
        for i in 2..lines.len() - 1 {
            let mut lost: Vec<u8> = Vec::new();
            let mut again: Vec<u8> = Vec::new();
            let mut noisy: Vec<u8> = Vec::new();
            for (j, l) in lines.iter().enumerate() {
                if j != i {
                    lost.extend_from_slice(l);
                }
                again.extend_from_slice(l);
                noisy.extend_from_slice(l);
                if j == i {
                    again.extend_from_slice(l);
                    noisy.extend_from_slice(b"sh: warning: something\n");
                }
            }
            assert!(receive(&lost, 64).is_err(), "line {i} lost");
            assert!(receive(&again, 64).is_err(), "line {i} repeated");
            assert!(receive(&noisy, 64).is_err(), "noise after line {i}");
        }
        for cut in [s.len() / 3, s.len() - 3] {
            assert!(matches!(receive(&s[..cut], 64), Err(ReceiveError::Truncated { began: true, .. })));
        }
        assert!(matches!(receive(b"no frame here\n", 64), Err(ReceiveError::Truncated { began: false, .. })));
    }

    #[test]
    fn the_scripts_refusal_is_an_error_of_its_own() {
        let s = format!("\n{MARK} FAIL n0 this shell has no awk or no od\n");
        assert_eq!(receive(s.as_bytes(), 7), Err(ReceiveError::Refused("this shell has no awk or no od".into())));
    }
}
