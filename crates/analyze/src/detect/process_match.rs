//! The `process` kind of a responder's own rule: a process whose name, command line or executable
//! matches one of the rule's lists. It is how an indicator from an advisory or another incident
//! (a tool's name, a telling argument, a drop folder) becomes a detector without a new build.

use super::*;

pub(crate) const ENGINE: Engine = Engine {
    kind: "process",
    run,
    lists: &[
        ListSpec { name: "names", kind: ListKind::Family, about: "comm, executable or argv[0] names" },
        ListSpec { name: "not_names", kind: ListKind::Family, about: "names that never fire" },
        ListSpec { name: "cmdline", kind: ListKind::Substring, about: "pieces of the command line" },
        ListSpec { name: "exe", kind: ListKind::Path, about: "executable paths" },
    ],
    needs_lists: true,
};

fn run(d: &Rule, _rules: &Rules, ix: &Index) -> Vec<Finding> {
    let (known, not_known) = (d.text("names"), d.text("not_names"));
    let mut out = Vec::new();
    for p in candidates(ix) {
        let names = names(p);
        if names.iter().any(|n| not_known.iter().any(|k| family_match(n, k))) {
            continue;
        }
        let mut why = Vec::new();
        if let Some(n) = names.iter().find(|n| known.iter().any(|k| family_match(n, k))) {
            why.push(format!("named {}", short(n.as_bytes(), 32)));
        }
        let cmd = cmdline(p).to_ascii_lowercase();
        if let Some(a) = d.text("cmdline").iter().find(|a| cmd.contains(&a.to_ascii_lowercase())) {
            why.push(format!("command line has {a}"));
        }
        if let Some(e) = &p.exe {
            let path = e.path.to_lossy();
            let path = path.strip_suffix(" (deleted)").unwrap_or(&path);
            let hit =
                d.text("exe").iter().find(|x| if x.ends_with('/') { path.starts_with(x.as_str()) } else { path == *x });
            if let Some(x) = hit {
                why.push(format!("runs {} (listed {x})", short(path.as_bytes(), 120)));
            }
        }
        if why.is_empty() {
            continue;
        }
        let summary = format!("pid {} ({}): {}", p.pid, short(p.comm_bytes(), 32), why.join("; "));
        out.push(finding(d, p, d.severity, summary, vec![ev_process(p), ev_raw(p, "cmdline"), ev_link(p, "exe")]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;

    const RULE: &str = r#"
id = "acme-backdoor"
kind = "process"
title = "The ACME backdoor"
attack = ["T1543"]
severity = "critical"
doc = "Seen in incident 42: the backdoor and its loader."
[lists]
names = ["acmebd"]
not_names = ["acmebd-cleaner"]
cmdline = ["--beacon="]
exe = ["/var/lib/.cache/", "/usr/local/bin/loader"]
"#;

    #[test]
    fn a_responders_process_rule_fires_on_name_argument_or_path() {
        let rules = rules_with(&[("acme.toml", RULE)]).unwrap();
        let by_name = process(10, 1, "acmebd_v2", "/opt/acmebd_v2");
        let by_arg = with_args(process(11, 1, "java", "/usr/bin/java"), &["java", "-jar", "x.jar", "--BEACON=1.2.3.4"]);
        let by_dir = process(12, 1, "x", "/var/lib/.cache/x (deleted)");
        let by_file = process(13, 1, "loader", "/usr/local/bin/loader");
        let f = check_with(&rules, "acme-backdoor", &snapshot(vec![by_name, by_arg, by_dir, by_file], vec![], vec![]));
        let got: Vec<_> = f.iter().map(|f| (f.pid.unwrap(), f.severity)).collect();
        assert_eq!(
            got,
            [(10, Severity::Critical), (11, Severity::Critical), (12, Severity::Critical), (13, Severity::Critical)]
        );
        assert!(f[0].summary.contains("named acmebd_v2"), "{}", f[0].summary);
        assert!(f[1].summary.contains("command line has --beacon="), "{}", f[1].summary);
        assert_eq!(f[0].attack, ["T1543"]);
    }

    #[test]
    fn look_alikes_of_a_responders_process_rule_do_not_fire() {
        let rules = rules_with(&[("acme.toml", RULE)]).unwrap();
        let ps = vec![
            process(20, 1, "acmebdx", "/opt/acmebdx"),
            process(21, 1, "acmebd-cleaner", "/opt/acmebd-cleaner"),
            process(22, 1, "x", "/var/lib/cache/x"),
            process(23, 1, "loader2", "/usr/local/bin/loader2"),
        ];
        assert!(check_with(&rules, "acme-backdoor", &snapshot(ps, vec![], vec![])).is_empty());
    }
}
