//! Measures a terminal channel for docs/BENCHMARKS.md (scripts/bench-acquire): the bytes per
//! second a command's output arrives at through a pty (`raw`), and the payload bytes per second
//! of a frame received and checked through the same channel (`frame NONCE`).
//!
//!     channel_throughput raw -- docker exec -t C cat /tmp/ascii
//!     channel_throughput frame NONCE -- docker exec -t C cat /tmp/framed

use curtain_acquire::channel::{Session, Wait};
use curtain_archive::frame::{Fed, FrameReader};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dash = args.iter().position(|a| a == "--").expect("-- COMMAND");
    let (mode, cmd) = (&args[..dash], &args[dash + 1..]);
    let deadline = Instant::now() + Duration::from_secs(600);
    let t = Instant::now();
    let mut s = Session::spawn(cmd, true).expect("spawn");
    let (bytes, channel) = match mode.first().map(String::as_str) {
        Some("raw") => {
            let mut n = 0u64;
            loop {
                match s.next_chunk(deadline) {
                    Ok(c) => n += c.len() as u64,
                    Err(Wait::Eof) => break,
                    Err(e) => panic!("{e}"),
                }
            }
            (n, n)
        }
        Some("frame") => {
            let mut r = FrameReader::new(&mode[1], std::io::sink());
            let end = loop {
                match s.next_chunk(deadline) {
                    Ok(c) => {
                        if let Fed::Done(end) = r.feed(&c).expect("a whole frame") {
                            break end;
                        }
                    }
                    Err(e) => panic!("{e} after {} bytes", r.bytes()),
                }
            };
            (end.bytes, s.received)
        }
        _ => panic!("raw or frame NONCE"),
    };
    let secs = t.elapsed().as_secs_f64();
    println!("{bytes} {channel} {secs:.3}");
}
