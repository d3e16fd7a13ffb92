//! What two replicas' command lines and paths have in common once what differs by nature between
//! them is taken out: pids, ports and other numbers, hex and random ids, UUIDs, IP addresses and
//! the random suffixes of temporary files. Each becomes a placeholder, so that `worker --id 17
//! --peer 10.0.3.7:41234` and `worker --id 4 --peer 10.0.9.2:50112` are one command line.
//!
//! The placeholders only decide what counts as the same; the raw value is what gets reported.
//! Replacing too much only makes two command lines look alike that differ in a number (the
//! process, its executable and its connections are still compared); replacing too little would
//! flag every replica. Where in doubt, a token is replaced.

use std::net::Ipv6Addr;

/// `s` with its varying tokens replaced by `<n>`, `<hex>`, `<id>`, `<uuid>`, `<ip>` and `<tmp>`.
pub fn normalise(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        // A token starts where a word does: `x86` is not the number 86 with a prefix.
        let at_start = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        if at_start {
            let rest = &s[i..];
            if let Some(n) = uuid(rest) {
                out.push_str("<uuid>");
                i += n;
                continue;
            }
            if let Some(n) = ipv4(rest).or_else(|| ipv6(rest)) {
                out.push_str("<ip>");
                i += n;
                continue;
            }
            if let Some((keep, n)) = temp_name(rest) {
                out.push_str(&rest[..keep]);
                out.push_str("<tmp>");
                i += n;
                continue;
            }
            let run = rest.bytes().take_while(u8::is_ascii_alphanumeric).count();
            if run > 0 {
                word(&mut out, &rest[..run]);
                i += run;
                continue;
            }
        }
        let c = s[i..].chars().next().unwrap_or('\u{fffd}');
        out.push(c);
        i += c.len_utf8().max(1);
    }
    out
}

/// One run of ASCII letters and digits.
fn word(out: &mut String, w: &str) {
    let digits = w.bytes().filter(u8::is_ascii_digit).count();
    if digits == w.len() {
        out.push_str("<n>");
    } else if w.len() >= 8 && digits > 0 && w.bytes().all(|c| c.is_ascii_hexdigit()) {
        out.push_str("<hex>");
    } else if w.len() >= 5 && digits > 0 {
        // Letters and digits mixed: a random id (a pod suffix, `tmpXk2a9`, a build id). A word
        // with a version in it (`python3`, `log4j2`) goes too, the same way on every replica.
        out.push_str("<id>");
    } else {
        // Short: keep the letters, replace the numbers (`w3` and `w4` are one shard flag).
        let mut in_digits = false;
        for c in w.chars() {
            if c.is_ascii_digit() {
                if !in_digits {
                    out.push_str("<n>");
                }
                in_digits = true;
            } else {
                out.push(c);
                in_digits = false;
            }
        }
    }
}

/// Whether the token ends at `n`: what follows is not a letter or a digit.
fn ends_at(s: &str, n: usize) -> bool {
    s.as_bytes().get(n).is_none_or(|c| !c.is_ascii_alphanumeric())
}

/// 8-4-4-4-12 hex digits.
fn uuid(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if b.len() < 36 {
        return None;
    }
    for (i, &c) in b[..36].iter().enumerate() {
        let ok = if matches!(i, 8 | 13 | 18 | 23) { c == b'-' } else { c.is_ascii_hexdigit() };
        if !ok {
            return None;
        }
    }
    ends_at(s, 36).then_some(36)
}

/// A dotted quad, each part at most 255. A port after it is a number of its own.
fn ipv4(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    for part in 0..4 {
        if part > 0 {
            if b.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        let n = b[i..].iter().take(4).take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 3 || s[i..i + n].parse::<u16>().ok()? > 255 {
            return None;
        }
        i += n;
    }
    ends_at(s, i).then_some(i)
}

/// An IPv6 address in any of its text forms (`::1`, `fe80::1`, `::ffff:10.0.0.1`).
fn ipv6(s: &str) -> Option<usize> {
    let n = s.bytes().take_while(|c| c.is_ascii_hexdigit() || *c == b':' || *c == b'.').count();
    let cand = &s[..n];
    if cand.matches(':').count() < 2 {
        return None;
    }
    // `::1:8080`-like runs: try the whole run, then without what follows its last colon.
    let mut end = n;
    loop {
        if cand[..end].parse::<Ipv6Addr>().is_ok() && ends_at(s, end) {
            return Some(end);
        }
        end = cand[..end].rfind(':')?;
        if end == 0 {
            return None;
        }
    }
}

/// A temporary name: `tmp` then the random part that mktemp (`tmp.Xk2RqPzAbc`), Python's
/// tempfile (`tmpk2j_3x9a`) and their likes add. Returns how much of the start is kept (`tmp`
/// and its separator) and the length of the whole name.
fn temp_name(s: &str) -> Option<(usize, usize)> {
    if !s.get(..3)?.eq_ignore_ascii_case("tmp") {
        return None;
    }
    let keep = 3 + usize::from(matches!(s.as_bytes().get(3), Some(b'.' | b'-' | b'_')));
    let n = s[keep..].bytes().take_while(|c| c.is_ascii_alphanumeric() || *c == b'_').count();
    (n >= 5).then_some((keep, keep + n))
}

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn what_varies_between_replicas_becomes_a_placeholder() {
        for (raw, want) in [
            ("worker --id 17 --port=8080", "worker --id <n> --port=<n>"),
            ("node server.js --listen 10.0.3.7:41234", "node server.js --listen <ip>:<n>"),
            ("app --peer [fe80::1]:443 --v6 ::ffff:10.0.0.1", "app --peer [<ip>]:<n> --v<n> <ip>"),
            ("run 123e4567-e89b-12d3-a456-426614174000", "run <uuid>"),
            ("sh -c /tmp/tmp.Xk2RqPzAbc/run", "sh -c /tmp/tmp.<tmp>/run"),
            ("python /tmp/tmpk2j_3x9a.py", "python /tmp/tmp<tmp>.py"),
            ("/tmp/tmp.QwErTyUiOp", "/tmp/tmp.<tmp>"),
            ("ctr 3f4e1b2c5d6a7f80", "ctr <hex>"),
            ("web-7d4b9c8f6-x2kqz", "web-<hex>-<id>"),
            ("--shard w3", "--shard w<n>"),
            ("/usr/bin/python3 -m http.server", "/usr/bin/<id> -m http.server"),
            ("at 12:30:45", "at <n>:<n>:<n>"),
            ("version 1.21.3", "version <n>.<n>.<n>"),
            ("non-utf8 \u{fffd}17é", "non-utf<n> \u{fffd}<n>é"),
            ("", ""),
        ] {
            assert_eq!(normalise(raw), want, "{raw}");
        }
    }

    #[test]
    fn what_names_a_program_is_kept() {
        for raw in ["/usr/sbin/nginx -g daemon off;", "/tmp/x", "/bin/sh -c id", "tmpfs /dev/shm", "std::vec"] {
            assert_eq!(normalise(raw), raw);
        }
    }

    #[test]
    fn two_replicas_one_command_line() {
        let a = "gunicorn --bind 10.0.1.15:8000 --pid /tmp/tmp.aB3dE9fGhQ/pid --worker-id 3f4e1b2c5d";
        let b = "gunicorn --bind 10.0.7.201:8000 --pid /tmp/tmp.Zq81LmNoPw/pid --worker-id 0a9b8c7d6e";
        assert_eq!(normalise(a), normalise(b));
    }
}
