//! What the archive tests share: a folder of their own, and a real collection of this machine's
//! /proc to start from.
#![allow(dead_code)]

use curtain_archive::Compression;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A fresh folder, removed when dropped.
pub struct Dir(pub PathBuf);

impl Dir {
    pub fn new(tag: &str) -> Dir {
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let d = std::env::temp_dir().join(format!("curtain-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir(&d).unwrap();
        Dir(d)
    }
    pub fn path(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
    pub fn listing(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Collects this machine's /proc into `path`, without asking any metadata endpoint.
pub fn collect(path: &str, compression: Compression) {
    let opts = curtain_collect::Options {
        compression,
        // Not a URL: recorded as an error, nothing asked on the network.
        ecs_uri: Some("off".into()),
        jobs: Some(1),
        ..Default::default()
    };
    let f = std::fs::File::create(path).unwrap();
    let (_, mut out) = curtain_collect::collect(&opts, std::io::BufWriter::new(f)).unwrap();
    out.flush().unwrap();
}

pub fn sha256(path: &str) -> String {
    use sha2::Digest;
    curtain_model::to_hex(&sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

/// Where the bytes of the first non-empty `raw/proc/` file are in a plain tar.
pub fn first_raw_file(bytes: &[u8]) -> (String, usize) {
    for e in tar::Archive::new(bytes).entries().unwrap() {
        let e = e.unwrap();
        let p = e.path().unwrap().to_string_lossy().into_owned();
        if p.starts_with("raw/proc/") && e.header().entry_type() == tar::EntryType::Regular && e.size() > 0 {
            return (p, e.raw_file_position() as usize);
        }
    }
    panic!("no raw file")
}

pub fn exists(p: &str) -> bool {
    Path::new(p).exists()
}
