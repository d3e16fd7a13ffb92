//! JSON written by hand for the rows a collection writes by the hundred thousand (the read log,
//! the index of raw files, fds, maps and processes): serde_json's generic path (a serializer
//! per value, a map state per struct) cost as much as reading /proc/PID/fd itself. The output is
//! byte-identical to serde_json's for the same values (property tests in `curtain-parse` compare
//! the two), so readers keep deserialising with serde.

/// What serde_json writes for a byte that needs escaping inside a string: 0 for none, `u` for
/// `\u00XX`, else the letter after the backslash.
const ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// True when none of the 8 bytes of `w` needs escaping or is beyond ASCII: no control byte, no
/// `"`, no `\\`, no high bit.
#[inline]
fn plain_word(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A byte below 0x20 (or 0x80 and up) sets its high bit in `w - 0x20..` or in `w`.
    let low = w.wrapping_sub(ONES * 0x20);
    let quote = (w ^ (ONES * b'"' as u64)).wrapping_sub(ONES);
    let slash = (w ^ (ONES * b'\\' as u64)).wrapping_sub(ONES);
    (low | quote | slash | w) & HIGH == 0
}

/// The length of the leading run of `b` that is ASCII and needs no escaping, found 8 bytes at a
/// time (most of what a collection writes: paths, names, numbers as text).
#[inline]
fn plain_prefix(b: &[u8]) -> usize {
    let mut i = 0;
    while i + 8 <= b.len() {
        let w = u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        if !plain_word(w) {
            break;
        }
        i += 8;
    }
    while i < b.len() && b[i] < 0x80 && ESCAPE[b[i] as usize] == 0 {
        i += 1;
    }
    i
}

/// The contents of a JSON string for `s`, without the quotes.
pub fn escaped(out: &mut Vec<u8>, s: &str) {
    escape_from(out, s.as_bytes());
}

/// Escapes `b` (UTF-8, or at least no byte that matters to JSON beyond ASCII) onto `out`.
fn escape_from(out: &mut Vec<u8>, b: &[u8]) {
    let mut start = 0;
    let mut i = plain_prefix(b);
    while i < b.len() {
        let c = b[i];
        let e = ESCAPE[c as usize];
        if e == 0 {
            i += 1;
            continue;
        }
        out.extend_from_slice(&b[start..i]);
        if e == b'u' {
            out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[(c >> 4) as usize], HEX[(c & 15) as usize]]);
        } else {
            out.extend_from_slice(&[b'\\', e]);
        }
        i += 1;
        start = i;
    }
    out.extend_from_slice(&b[start..]);
}

/// A JSON string.
pub fn str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    escaped(out, s);
    out.push(b'"');
}

/// A [`crate::ByteString`]: a string when the bytes are UTF-8, else `{"lossy": ..., "hex": ...}`.
pub fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    // Plain ASCII needs no UTF-8 check: one pass.
    let plain = plain_prefix(b);
    if plain == b.len() {
        out.push(b'"');
        out.extend_from_slice(b);
        out.push(b'"');
        return;
    }
    match std::str::from_utf8(&b[plain..]) {
        Ok(_) => {
            out.push(b'"');
            out.extend_from_slice(&b[..plain]);
            escape_from(out, &b[plain..]);
            out.push(b'"');
        }
        Err(_) => {
            out.extend_from_slice(b"{\"lossy\":");
            str(out, &String::from_utf8_lossy(b));
            out.extend_from_slice(b",\"hex\":\"");
            hex(out, b);
            out.extend_from_slice(b"\"}");
        }
    }
}

/// Lower-case hex digits of `b`.
pub fn hex(out: &mut Vec<u8>, b: &[u8]) {
    out.reserve(b.len() * 2);
    for &c in b {
        out.push(HEX[(c >> 4) as usize]);
        out.push(HEX[(c & 15) as usize]);
    }
}

/// An integer, as serde_json writes it.
pub fn int(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// An object being written: fields in order, commas between them.
pub struct Obj<'o> {
    pub out: &'o mut Vec<u8>,
    first: bool,
}

impl<'o> Obj<'o> {
    pub fn new(out: &'o mut Vec<u8>) -> Self {
        out.push(b'{');
        Obj { out, first: true }
    }

    /// The rest of an object whose `{` and first fields are already in `out` (written apart,
    /// or kept from an earlier row).
    pub fn continued(out: &'o mut Vec<u8>) -> Self {
        Obj { out, first: false }
    }

    /// Writes `"name":` and returns the output for the value. `name` needs no escaping.
    /// Inlined: with a literal name the copies become a few moves, not calls to memcpy.
    #[inline(always)]
    pub fn key(&mut self, name: &str) -> &mut Vec<u8> {
        let sep: &[u8] = if self.first { b"\"" } else { b",\"" };
        self.first = false;
        self.out.extend_from_slice(sep);
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    #[inline(always)]
    pub fn int(&mut self, name: &str, n: impl itoa::Integer) {
        int(self.key(name), n);
    }
    #[inline(always)]
    pub fn str(&mut self, name: &str, s: &str) {
        str(self.key(name), s);
    }
    #[inline(always)]
    pub fn bytes(&mut self, name: &str, b: &[u8]) {
        bytes(self.key(name), b);
    }
    #[inline(always)]
    pub fn bool(&mut self, name: &str, v: bool) {
        self.key(name).extend_from_slice(if v { b"true" } else { b"false" });
    }
    /// A value already JSON (a number, `true`, a quoted enum name).
    #[inline(always)]
    pub fn raw(&mut self, name: &str, json: &[u8]) {
        self.key(name).extend_from_slice(json);
    }
    #[inline(always)]
    pub fn opt_int(&mut self, name: &str, n: Option<impl itoa::Integer>) {
        if let Some(n) = n {
            self.int(name, n);
        }
    }
    pub fn end(self) {
        self.out.push(b'}');
    }
}

/// Writes a JSON array of `items`, each by `each`.
pub fn array<T>(out: &mut Vec<u8>, items: impl IntoIterator<Item = T>, mut each: impl FnMut(&mut Vec<u8>, T)) {
    out.push(b'[');
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        each(out, item);
    }
    out.push(b']');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_as_serde_json_does() {
        for s in ["", "plain", "a\"b\\c", "\u{0}\u{1f}\u{7f}\n\r\t\u{8}\u{c}", "é ✓ /x", "</script>"] {
            let mut out = Vec::new();
            str(&mut out, s);
            assert_eq!(out, serde_json::to_vec(s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn byte_strings_as_their_serde_form() {
        let long = b"/usr/lib/x86_64-linux-gnu/libc.so.6 \"quoted\" \\ and \x7f\xc3\xa9 then \x01 ";
        for b in [&b"ok"[..], b"\xff\xfe x", b"a\0b", long, &long[..17], b"12345678\"12345678\xff"] {
            let mut out = Vec::new();
            bytes(&mut out, b);
            assert_eq!(out, serde_json::to_vec(&crate::ByteString(b.to_vec())).unwrap());
        }
    }

    #[test]
    fn objects_and_numbers() {
        let mut out = Vec::new();
        let mut o = Obj::new(&mut out);
        o.int("a", -5i64);
        o.opt_int("skipped", None::<u32>);
        o.int("b", u64::MAX);
        o.bool("c", true);
        o.key("d");
        array(o.out, [1u32, 2], int);
        o.end();
        assert_eq!(out, br#"{"a":-5,"b":18446744073709551615,"c":true,"d":[1,2]}"#);
    }
}
