//! The shell method of `curtain acquire`: a snapshot of a container that pushes nothing into it.
//!
//! Where no collector can run (an architecture without a build, a read-only filesystem), a POSIX
//! `sh` script ([`script`], for busybox ash and dash alike) reads the same /proc files the
//! collector reads and streams their bytes back, framed so that they survive a terminal
//! ([`receive`]: hex lines each with a sequence number and a checksum). It writes nothing in the
//! target. curtain then turns what arrived into the read log and raw files the collector would
//! have written ([`capture`]) and builds the archive from them off the target, with the table
//! builder `curtain reparse` uses ([`build`]); the manifest says so
//! (`acquisition.tables_built_off_target`).

#![forbid(unsafe_code)]

pub mod build;
pub mod capture;
pub mod receive;

pub use build::build_archive;
pub use capture::{Capture, ProcessCapture, Rec};
pub use receive::{Fed, Item, ReceiveError, Receiver};

/// The shell part of the script (functions, then one call), kept apart from the awk program
/// that frames its output.
const SHELL: &str = include_str!("capture.sh");
/// The awk program that turns the record stream into frame lines.
const AWK: &str = include_str!("frame.awk");

/// The POSIX sh script of the shell method.
///
/// It expects the shell variable `CURTAIN_NONCE` (set on a line before it) and skips every
/// `environ` when `CURTAIN_NO_ENVIRON` is `1`. Run it as `sh -c "$SCRIPT"` without a terminal,
/// or type it into an interactive shell: every line is under 4000 bytes, none starts with `~`,
/// none holds a `!` or a tab, and the frame markers never appear in its text (they are built
/// from pieces), so that an echo of the script cannot be taken for its output. Its standard
/// error never reaches the terminal, and it reads nothing from its standard input.
pub fn script() -> String {
    format!("cx_awk='{AWK}'\n{SHELL}")
}

/// SHA-256 of [`script`], recorded in the archives it produced.
pub fn script_sha256() -> String {
    use sha2::{Digest, Sha256};
    curtain_model::to_hex(&Sha256::digest(script().as_bytes()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_script_can_be_typed_into_a_terminal() {
        let s = super::script();
        assert!(!super::AWK.contains('\''), "the awk program is single-quoted in the script");
        for (i, line) in s.lines().enumerate() {
            assert!(line.len() < 4000, "line {} is {} bytes", i + 1, line.len());
            assert!(!line.starts_with('~'), "line {} starts with ~", i + 1);
            assert!(!line.contains('!'), "line {} holds a ! (history expansion)", i + 1);
            assert!(!line.contains('\t'), "line {} holds a tab (completion)", i + 1);
            assert!(line.is_ascii(), "line {} is not ASCII", i + 1);
        }
        assert!(!s.contains("CURTAIN-FRAME"), "a marker in the script's text");
    }
}
