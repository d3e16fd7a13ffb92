//! Text for a human's terminal, safe whatever the target put in it.
//!
//! Every string in an archive or a register row can be chosen by whoever controls the target: a
//! process name, a manifest field, a member name, a task's tag. Printed raw, ESC sequences move
//! the cursor, rewrite earlier lines, set the window title or hide text; CR and backspace
//! overwrite what the examiner reads; bidi overrides reorder it. Two layers keep them out:
//! [`term`] escapes one value (newlines included, so a value cannot forge a line of output), and
//! [`TermSafe`] filters a whole stream, so a value a renderer forgot to escape still cannot reach
//! the terminal as a control. Machine formats (JSON, JSONL) keep the exact text instead.

use std::fmt::Write as _;
use std::io::{self, Write};

/// Characters that reorder or hide text without being control characters: the bidi embeddings,
/// overrides and isolates, the marks, and the Arabic letter mark.
fn is_bidi(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Appends `c` as a visible escape when it is a control or bidi character; `keep_lines` lets
/// newline and tab through (for a stream whose lines are the renderer's own).
fn push_escaped(out: &mut String, c: char, keep_lines: bool) {
    match c {
        '\n' if keep_lines => out.push('\n'),
        '\t' if keep_lines => out.push('\t'),
        '\n' => out.push_str("\\n"),
        '\t' => out.push_str("\\t"),
        '\r' => out.push_str("\\r"),
        // C0, DEL and C1.
        c if c.is_control() => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if is_bidi(c) => {
            let _ = write!(out, "\\u{{{:04x}}}", c as u32);
        }
        c => out.push(c),
    }
}

/// One value made safe to print on a terminal: control characters (ESC, CR, BEL, backspace,
/// newlines inside the value, the C1 set) and bidi overrides become visible escapes.
pub fn term(s: &str) -> String {
    if !s.chars().any(|c| c.is_control() || is_bidi(c)) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        push_escaped(&mut out, c, false);
    }
    out
}

/// A writer that lets only printable text, newlines and tabs through to a terminal: every other
/// control character, bidi override and byte that is not UTF-8 is written as a visible escape.
///
/// With `colors`, the few SGR sequences the renderers themselves use for severity and emphasis
/// pass as they are (nothing that moves the cursor, clears, hides text or sets a title); any
/// other ESC is escaped like the rest.
pub struct TermSafe<W: Write> {
    inner: W,
    colors: bool,
    pending: Vec<u8>,
}

/// The SGR parameter lists the renderers emit (`ESC [ ... m`).
const OWN_SGR: &[&[u8]] = &[b"0", b"1", b"2", b"33", b"36", b"1;31", b"1;37;41"];

impl<W: Write> TermSafe<W> {
    pub fn new(inner: W, colors: bool) -> Self {
        TermSafe { inner, colors, pending: Vec::new() }
    }

    /// Escapes and writes what `pending` holds; at `end`, an unfinished sequence too.
    fn drain(&mut self, end: bool) -> io::Result<()> {
        let mut out = String::with_capacity(self.pending.len() + 16);
        let b = &self.pending[..];
        let mut i = 0;
        while i < b.len() {
            if b[i] == 0x1b && self.colors {
                // One of our own colour sequences, whole: as it is.
                match own_sgr(&b[i..]) {
                    Sgr::Own(n) => {
                        out.push_str(std::str::from_utf8(&b[i..i + n]).expect("ASCII"));
                        i += n;
                        continue;
                    }
                    Sgr::Unfinished if !end => break,
                    _ => {}
                }
            }
            // The text that is valid UTF-8 from here, and what ends it (a bad or cut byte).
            let (text, bad) = match std::str::from_utf8(&b[i..]) {
                Ok(s) => (s, None),
                Err(e) => (std::str::from_utf8(&b[i..i + e.valid_up_to()]).expect("valid prefix"), Some(e.error_len())),
            };
            if !text.is_empty() {
                // Up to the next ESC, which may start one of our colours.
                let stop = if self.colors { text.find('\x1b').map_or(text.len(), |p| p.max(1)) } else { text.len() };
                for c in text[..stop].chars() {
                    push_escaped(&mut out, c, true);
                }
                i += stop;
                continue;
            }
            match bad.flatten() {
                // A character cut between two writes: wait for the rest.
                None if !end => break,
                n => {
                    let n = n.unwrap_or(b.len() - i);
                    for &x in &b[i..i + n] {
                        let _ = write!(out, "\\x{x:02x}");
                    }
                    i += n;
                }
            }
        }
        self.pending.drain(..i);
        self.inner.write_all(out.as_bytes())
    }
}

enum Sgr {
    Own(usize),
    Unfinished,
    Other,
}

fn own_sgr(b: &[u8]) -> Sgr {
    if b.len() < 2 {
        return Sgr::Unfinished;
    }
    if b[1] != b'[' {
        return Sgr::Other;
    }
    let body = &b[2..];
    match body.iter().position(|&c| !(c.is_ascii_digit() || c == b';')) {
        None if body.len() < 8 => Sgr::Unfinished,
        Some(p) if body[p] == b'm' && OWN_SGR.contains(&&body[..p]) => Sgr::Own(p + 3),
        _ => Sgr::Other,
    }
}

impl<W: Write> Write for TermSafe<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        self.drain(false)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.drain(true)?;
        self.inner.flush()
    }
}

impl<W: Write> Drop for TermSafe<W> {
    /// What a renderer left unfinished (a cut character) is written escaped.
    fn drop(&mut self) {
        let _ = self.drain(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filtered(chunks: &[&[u8]], colors: bool) -> String {
        let mut out = Vec::new();
        let mut t = TermSafe::new(&mut out, colors);
        for c in chunks {
            t.write_all(c).unwrap();
        }
        t.flush().unwrap();
        drop(t);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn values_are_escaped() {
        assert_eq!(term("plain ünïcode"), "plain ünïcode");
        assert_eq!(term("a\x1b]0;pwned\x07b"), "a\\x1b]0;pwned\\x07b");
        assert_eq!(term("x\ry\x08z\nw"), "x\\ry\\x08z\\nw");
        assert_eq!(term("\u{9b}31m"), "\\x9b31m");
        assert_eq!(term("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
        assert_eq!(term("\u{2067}\u{200f}"), "\\u{2067}\\u{200f}");
    }

    #[test]
    fn the_stream_keeps_lines_and_nothing_else() {
        let got = filtered(&[b"line one\n\tTAB\x1b[2J\x1b]0;title\x07\r\xff\xfe\n"], false);
        assert_eq!(got, "line one\n\tTAB\\x1b[2J\\x1b]0;title\\x07\\r\\xff\\xfe\n");
        // Colours: ours pass, anything else is escaped (clear screen, conceal, cursor moves).
        let got = filtered(&[b"\x1b[1;31mHIGH\x1b[0m \x1b[8mhidden\x1b[0m \x1b[2J\x1b[A"], true);
        assert_eq!(got, "\x1b[1;31mHIGH\x1b[0m \\x1b[8mhidden\x1b[0m \\x1b[2J\\x1b[A");
        assert_eq!(filtered(&[b"\x1b[1;31mHIGH"], false), "\\x1b[1;31mHIGH");
    }

    #[test]
    fn sequences_cut_between_writes() {
        // A UTF-8 character and one of our colours split across writes arrive whole.
        let got = filtered(&[b"caf\xc3", b"\xa9 \x1b[", b"1m", b"bold\x1b"], true);
        assert_eq!(got, "café \x1b[1mbold\\x1b");
        assert_eq!(filtered(&[b"\xe2\x80"], false), "\\xe2\\x80");
        // Every split of a hostile line gives the same output as the line whole.
        let line: &[u8] = b"a\x1b[1mb\xe2\x80\xaec\x1b[9999;1Hd\xc3\xa9\x1b";
        let whole = filtered(&[line], true);
        for cut in 0..line.len() {
            assert_eq!(filtered(&[&line[..cut], &line[cut..]], true), whole, "cut at {cut}");
        }
    }
}
