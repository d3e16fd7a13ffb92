//! A program run from a world-writable or volatile folder (/tmp, /var/tmp, /dev/shm, /run) or
//! from a hidden directory: where downloaded tools land. Per-user toolchains (~/.cargo,
//! ~/.pyenv...) are hidden folders too, and are where a developer's programs are meant to be.

use super::*;

pub(crate) const ENGINE: Engine = Engine {
    kind: "writable-dir-exe",
    run,
    lists: &[
        ListSpec { name: "dirs", kind: ListKind::Prefix, about: "world-writable or volatile folders" },
        ListSpec {
            name: "toolchain_dirs",
            kind: ListKind::Exact,
            about: "hidden folders that per-user toolchains install programs into",
        },
    ],
    needs_lists: false,
};

/// Why a file's folder is suspicious, if it is: one of the writable folders, or a hidden folder
/// other than a per-user toolchain's (`~/.cargo/bin`, `~/.pyenv/shims`). The lists are this
/// rule's, so that ld-preload's library folders are judged the same way.
pub(crate) fn suspicious_dir<'r>(path: &str, rules: &'r Rules) -> Option<&'r str> {
    let rule = rules.get(ENGINE.kind)?;
    if let Some(v) = rule.text("dirs").iter().find(|v| path.starts_with(v.as_str())) {
        return Some(v);
    }
    let toolchain = rule.text("toolchain_dirs");
    let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    dir.split('/')
        .any(|c| c.starts_with('.') && c != "." && c != ".." && !toolchain.iter().any(|t| t == c))
        .then_some("a hidden directory")
}

fn run(d: &Rule, rules: &Rules, ix: &Index) -> Vec<Finding> {
    candidates(ix)
        .filter_map(|p| {
            let e = p.exe.as_ref()?;
            if e.memfd {
                return None;
            }
            let path = e.path.to_lossy();
            let path = path.strip_suffix(" (deleted)").unwrap_or(&path);
            let why = suspicious_dir(path, rules)?;
            let summary = format!(
                "pid {} ({}) runs {} from {why}",
                p.pid,
                short(p.comm_bytes(), 32),
                short(path.as_bytes(), 120)
            );
            Some(finding(d, p, d.severity, summary, vec![ev_process(p), ev_link(p, "exe")]))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::testkit::*;

    #[test]
    fn fires_on_tmp_shm_and_hidden() {
        // A hidden folder inside a toolchain's is still hidden.
        for exe in [
            "/tmp/x",
            "/dev/shm/.k/miner",
            "/home/app/.cache/.x/bin",
            "/var/tmp/a (deleted)",
            "/home/app/.local/.x/bin",
        ] {
            let f = check("writable-dir-exe", &snapshot(vec![process(9, 1, "x", exe)], vec![], vec![]));
            assert_eq!(f.len(), 1, "{exe}");
        }
    }

    #[test]
    fn look_alikes_do_not_fire() {
        // Per-user toolchains keep their programs in hidden folders of the home directory.
        for exe in [
            "/usr/bin/tmpreaper",
            "/opt/tmp-tools/bin/x",
            "/app/server",
            "/runner/bin/x",
            "/home/dev/.pyenv/versions/3.12.1/bin/python3.12",
            "/root/.cargo/bin/cargo",
            "/home/dev/.local/bin/poetry",
            "/home/dev/.nvm/versions/node/v20.11.0/bin/node",
            "/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/rustc",
        ] {
            assert!(
                check("writable-dir-exe", &snapshot(vec![process(9, 1, "x", exe)], vec![], vec![])).is_empty(),
                "{exe}"
            );
        }
    }
}
