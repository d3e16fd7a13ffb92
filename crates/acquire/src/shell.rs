//! The shell method as `curtain acquire` runs it: curtain-shellcap's script sent through the
//! channel, its frame received and checked, the archive built here from what arrived.

use crate::channel::{Session, Wait};
use crate::run::{fatal, transient, Failed, Progress, ShellMethod};
use curtain_archive::output::NewFile;
use curtain_shellcap::{Fed, ReceiveError, Receiver};
use std::io;
use std::time::Instant;

/// curtain-shellcap's script and receiver.
pub struct Shell;

fn failed(e: ReceiveError) -> Failed {
    match e {
        // The target lacks what the script needs (od, awk): another attempt changes nothing.
        ReceiveError::Refused(_) => fatal(e.to_string()),
        _ => transient(e.to_string()),
    }
}

impl ShellMethod for Shell {
    fn script(&self) -> String {
        curtain_shellcap::script()
    }

    fn receive(
        &self,
        s: &mut Session,
        nonce: &str,
        deadline: Instant,
        path: &str,
        acquisition: &curtain_model::Acquisition,
        progress: &dyn Progress,
    ) -> Result<(String, u64), Failed> {
        let mut r = Receiver::new(nonce);
        loop {
            match s.next_chunk(deadline) {
                Ok(c) => match r.feed(&c).map_err(failed)? {
                    Fed::Done => break,
                    Fed::More => progress.bytes(r.bytes()),
                },
                Err(Wait::Eof) => break,
                Err(Wait::Interrupted) => return Err(fatal("interrupted (Ctrl-C)")),
                Err(w) => return Err(transient(format!("reading /proc with sh: {w} after {} bytes", r.bytes()))),
            }
        }
        let capture = r.finish().map_err(failed)?;
        let out = NewFile::create(path, &[]).map_err(|e| fatal(format!("{path}: {e}")))?;
        let (w, sha, bytes) =
            curtain_shellcap::build_archive(&capture, acquisition.clone(), io::BufWriter::with_capacity(1 << 16, out))
                .map_err(|e| fatal(format!("{path}: {e}")))?;
        let f = w.into_inner().map_err(|e| fatal(format!("{path}: {}", e.error())))?;
        f.commit().map_err(|e| fatal(format!("{path}: {e}")))?;
        Ok((sha, bytes))
    }
}
