//! What runs in the target: short POSIX `sh` scripts (dash and busybox ash), and how they are
//! handed over.
//!
//! Without a terminal a script is an argument (`sh -c SCRIPT sh NONCE`): no quoting meets a
//! shell on this side. Over a terminal (ECS Exec runs what it is given under a pty; its
//! `--command` is split by the agent, so nothing with spaces is safe there) the session runs a
//! bare `sh`, and one short line is typed into it: it turns the echo off and reads the next
//! script as lines up to a line `.`, then runs it. Every stage ends by reading the next the same
//! way, so that one session can probe, push, run and clean up. Markers are never written
//! literally in what is typed (`$M` holds their first word), so that an echo is never taken for
//! one; no line starts with `~` (the session-manager-plugin's escape) or reaches 4095 bytes.

use curtain_archive::frame::MARK;

/// Typed into the target's interactive shell to start: turns the echo off, defines `r` (read
/// the next script up to a line `.`), reads one and runs it.
pub const BOOT: &str = "stty -echo 2>/dev/null;r(){ S=;while IFS= read -r l;do [ \"$l\" = . ]&&break;S=\"$S$l$(printf '\\n.')\";S=\"${S%.}\";done;};r;eval \"$S\"\n";

/// Says what the target has: `INFO <nonce> arch=... b64=0|1 sha=0|1`. `tail` follows it (the
/// next stage for a terminal: `r;eval "$S"`).
pub fn probe(nonce: &str, tail: &str) -> String {
    format!(
        "M={MARK};N={nonce}\n\
         b=0;command -v base64 >/dev/null 2>&1&&b=1\n\
         h=0;command -v sha256sum >/dev/null 2>&1&&h=1\n\
         printf '%s INFO %s arch=%s b64=%s sha=%s\\n' \"$M\" \"$N\" \"$(uname -m 2>/dev/null)\" \"$b\" \"$h\"\n\
         {tail}\n"
    )
}

/// The places tried for the collector, in order: writable and executable both (docker mounts
/// /dev/shm noexec; a read-only root filesystem still has /dev as a tmpfs).
pub const PLACES: &str = "/dev/shm /tmp /var/tmp /run /dev";

/// Receives the collector with `receive` (a command that writes it to standard output), puts it
/// in the first place where it can run, and says `PUSHED <nonce> <sha256|-> <path>` or
/// `NOPLACE <nonce> <what was tried>`. Sets `$p` to the path (empty when none).
pub fn place(nonce: &str, receive: &str) -> String {
    format!(
        "M={MARK};N={nonce};src=;p=;t=\n\
         for d in {PLACES};do\n\
         if [ ! -d \"$d\" ]||[ ! -w \"$d\" ];then t=\"$t $d=not-writable\";continue;fi\n\
         q=\"$d/.curtain-collector-$N\"\n\
         if [ -z \"$src\" ];then\n\
         if ! {receive} >\"$q\" 2>/dev/null;then rm -f \"$q\";t=\"$t $d=write-failed\";break;fi\n\
         src=$q\n\
         elif ! cp \"$src\" \"$q\" 2>/dev/null;then rm -f \"$q\";t=\"$t $d=write-failed\";continue;fi\n\
         chmod 700 \"$q\" 2>/dev/null\n\
         if \"$q\" --version >/dev/null 2>&1;then p=$q;break;fi\n\
         t=\"$t $d=not-executable\";[ \"$q\" = \"$src\" ]||rm -f \"$q\"\n\
         done\n\
         if [ -n \"$p\" ];then\n\
         [ \"$p\" = \"$src\" ]||rm -f \"$src\"\n\
         s=-;if command -v sha256sum >/dev/null 2>&1;then s=$(sha256sum \"$p\");s=${{s%% *}};fi\n\
         printf '%s PUSHED %s %s %s\\n' \"$M\" \"$N\" \"$s\" \"$p\"\n\
         else\n\
         [ -n \"$src\" ]&&rm -f \"$src\"\n\
         printf '%s NOPLACE %s%s\\n' \"$M\" \"$N\" \"$t\"\n\
         fi\n"
    )
}

/// Over a terminal: `lines` lines decoded, by base64 when the target has it, else each line a
/// string of `\ooo` octal escapes for the shell's own printf. `head -n` takes them a line a
/// read (a terminal's canonical mode returns at most one line per read, so it takes no more);
/// the shell's `read` builtin, the fallback, reads a byte at a time, about 20 times slower.
pub fn tty_receive(base64: bool, lines: usize) -> String {
    let take = format!(
        "if command -v head >/dev/null 2>&1;then head -n {lines};else i=0;while [ $i -lt {lines} ]&&IFS= read -r l;do i=$((i+1));printf '%s\\n' \"$l\";done;fi"
    );
    if base64 {
        format!("{{ {take}|base64 -d; }}")
    } else {
        format!("{{ {take}|while IFS= read -r l;do printf \"$l\";done; }}")
    }
}

/// Over a terminal, once placed: reads the acquisition record (as lines up to `.`, joined:
/// [`split_line`]), runs the collector framed, removes it and says `REMOVED <nonce> <0|1>`;
/// then the session ends.
pub fn tty_run(no_environ: bool) -> String {
    let ne = if no_environ { " --no-environ" } else { "" };
    format!(
        "if [ -n \"$p\" ];then\n\
         a=;while IFS= read -r l&&[ \"$l\" != . ];do a=\"$a$l\";done\n\
         \"$p\" --frame \"$N\" --acquisition \"$a\" -q{ne} 2>/dev/null\n\
         rm -f \"$p\";x=0;[ -e \"$p\" ]&&x=1\n\
         printf '%s REMOVED %s %s\\n' \"$M\" \"$N\" \"$x\"\n\
         exit 0\n\
         fi\n\
         r;eval \"$S\"\n"
    )
}

/// One long line (the acquisition record) as lines a terminal takes: at most 1000 bytes each,
/// cut between characters, none starting with `~` or being `.`; [`tty_run`] joins them.
pub fn split_line(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let mut cut = rest.len().min(1000);
        while !rest.is_char_boundary(cut) || (cut < rest.len() && (rest[cut..].starts_with('~') || &rest[cut..] == "."))
        {
            cut -= 1;
        }
        out.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    out
}

/// Without a terminal, the push reads the collector from standard input to its end.
pub const PIPE_RECEIVE: &str = "cat";

/// Without a terminal, after the run: remove the path given as `$1` and say so.
pub fn remove(nonce: &str) -> String {
    format!("M={MARK};rm -f \"$1\";x=0;[ -e \"$1\" ]&&x=1;printf '%s REMOVED %s %s\\n' \"$M\" {nonce} \"$x\"")
}

/// Encodes the collector as lines for [`tty_receive`]: base64 (the frame's lines) or octal
/// escapes, 250 bytes a line.
pub fn encode(data: &[u8], base64: bool) -> Vec<String> {
    if base64 {
        return curtain_archive::frame::encode_lines(data).collect();
    }
    data.chunks(250).map(|c| c.iter().map(|b| format!("\\{b:03o}")).collect()).collect()
}

/// A script as the lines typed after [`BOOT`], ending with the `.` line.
pub fn typed(script: &str) -> String {
    let mut s = String::with_capacity(script.len() + 3);
    for line in script.lines() {
        debug_assert!(line.len() < 4000 && !line.starts_with('~'));
        s.push_str(line);
        s.push('\n');
    }
    s.push_str(".\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::{Command, Stdio};

    /// The shells the scripts must work in: dash (Debian's sh) and busybox ash, when present.
    fn shells() -> Vec<Vec<&'static str>> {
        let mut v = vec![vec!["sh"]];
        if std::path::Path::new("/bin/busybox").exists() {
            v.push(vec!["/bin/busybox", "sh"]);
        }
        v
    }

    #[test]
    fn octal_lines_decode_to_the_bytes_in_every_shell() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        for sh in shells() {
            let mut input = String::new();
            for l in encode(&data, false) {
                input.push_str(&l);
                input.push('\n');
            }
            let script = tty_receive(false, input.lines().count());
            let mut c = Command::new(sh[0])
                .args(&sh[1..])
                .arg("-c")
                .arg(script)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            c.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
            let out = c.wait_with_output().unwrap();
            assert_eq!(out.stdout, data, "{sh:?}");
        }
    }

    #[test]
    fn place_puts_it_where_it_runs_and_says_where() {
        // A stand-in collector: a script that answers --version.
        let fake = b"#!/bin/sh\necho 1\n";
        for sh in shells() {
            let mut c = Command::new(sh[0])
                .args(&sh[1..])
                .arg("-c")
                .arg(place("t3st", PIPE_RECEIVE))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            c.stdin.take().unwrap().write_all(fake).unwrap();
            let out = c.wait_with_output().unwrap();
            let text = String::from_utf8(out.stdout).unwrap();
            let line = text.lines().find(|l| l.contains("PUSHED t3st")).unwrap_or_else(|| panic!("{sh:?}: {text}"));
            let path = line.rsplit(' ').next().unwrap();
            assert_eq!(std::fs::read(path).unwrap(), fake);
            std::fs::remove_file(path).unwrap();
        }
    }

    #[test]
    fn a_long_record_is_cut_into_lines_a_terminal_takes() {
        let long = format!("{{\"image\":\"{}~x\"}}", "é".repeat(1500));
        let lines = split_line(&long);
        assert!(lines.len() > 2);
        assert_eq!(lines.concat(), long);
        for l in &lines {
            assert!(l.len() <= 1000 && !l.starts_with('~') && *l != ".");
        }
    }

    #[test]
    fn nothing_typed_starts_an_escape_or_is_too_long() {
        for s in [probe("n", "r;eval \"$S\""), place("n", &tty_receive(true, 9)), tty_run(true), BOOT.to_string()] {
            for l in typed(&s).lines() {
                assert!(l.len() < 4000 && !l.starts_with('~'), "{l}");
                assert!(!l.contains("CURTAIN-FRAME "), "a marker written literally: {l}");
            }
        }
    }
}
