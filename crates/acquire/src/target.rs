//! What is acquired, and the command that reaches it.

use curtain_model::AcquisitionTarget;

/// One container to snapshot.
#[derive(Debug, Clone)]
pub struct Target {
    /// The archive's file name without its extension, unique in the acquisition: what a person
    /// tells the targets apart by.
    pub label: String,
    pub identity: AcquisitionTarget,
    pub way: Way,
}

/// The channel into a target.
#[derive(Debug, Clone)]
pub enum Way {
    Docker {
        container: String,
    },
    Kubectl {
        namespace: Option<String>,
        pod: String,
        container: Option<String>,
    },
    /// ECS Exec: always over a terminal.
    EcsExec {
        cluster: String,
        task: String,
        container: String,
        region: Option<String>,
    },
}

/// The programs each channel goes through, as the user has them.
#[derive(Debug, Clone)]
pub struct Tools {
    pub docker: String,
    pub kubectl: String,
    pub aws: String,
}

impl Default for Tools {
    fn default() -> Self {
        Tools { docker: "docker".into(), kubectl: "kubectl".into(), aws: "aws".into() }
    }
}

impl Way {
    /// Whether this channel always has a terminal.
    pub fn always_tty(&self) -> bool {
        matches!(self, Way::EcsExec { .. })
    }

    /// The transport's name in the records: `docker`, `docker-tty`, `kubectl`, `kubectl-tty`,
    /// `ecs-exec`.
    pub fn transport(&self, tty: bool) -> &'static str {
        match (self, tty) {
            (Way::Docker { .. }, false) => "docker",
            (Way::Docker { .. }, true) => "docker-tty",
            (Way::Kubectl { .. }, false) => "kubectl",
            (Way::Kubectl { .. }, true) => "kubectl-tty",
            (Way::EcsExec { .. }, _) => "ecs-exec",
        }
    }

    /// `argv` run in the target without a terminal, its standard input and output piped.
    pub fn exec(&self, tools: &Tools, argv: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = match self {
            Way::Docker { container } => vec![tools.docker.clone(), "exec".into(), "-i".into(), container.clone()],
            Way::Kubectl { namespace, pod, container } => {
                let mut v = vec![tools.kubectl.clone(), "exec".into(), "-i".into()];
                kube_target(&mut v, namespace, pod, container);
                v
            }
            Way::EcsExec { .. } => return self.session(tools),
        };
        v.extend(argv.iter().map(|s| s.to_string()));
        v
    }

    /// An interactive `sh` in the target, over a terminal.
    pub fn session(&self, tools: &Tools) -> Vec<String> {
        let mut v: Vec<String> = match self {
            Way::Docker { container } => vec![tools.docker.clone(), "exec".into(), "-it".into(), container.clone()],
            Way::Kubectl { namespace, pod, container } => {
                let mut v = vec![tools.kubectl.clone(), "exec".into(), "-it".into()];
                kube_target(&mut v, namespace, pod, container);
                v
            }
            Way::EcsExec { cluster, task, container, region } => {
                let mut v = vec![tools.aws.clone(), "ecs".into(), "execute-command".into()];
                for (k, val) in [("--cluster", cluster), ("--task", task), ("--container", container)] {
                    v.push(k.into());
                    v.push(val.clone());
                }
                v.extend(["--interactive".into(), "--command".into(), "sh".into()]);
                if let Some(r) = region {
                    v.extend(["--region".into(), r.clone()]);
                }
                return v;
            }
        };
        v.push("sh".into());
        v
    }
}

fn kube_target(v: &mut Vec<String>, namespace: &Option<String>, pod: &str, container: &Option<String>) {
    if let Some(n) = namespace {
        v.extend(["-n".into(), n.clone()]);
    }
    v.push(pod.to_string());
    if let Some(c) = container {
        v.extend(["-c".into(), c.clone()]);
    }
    v.push("--".into());
}

/// A file name part from any name: letters, digits, `.`, `-` and `_` kept, anything else `_`,
/// never empty, never a dot file.
pub fn file_part(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
        .take(100)
        .collect();
    if out.is_empty() || out.starts_with('.') {
        out.insert(0, '_');
    }
    out
}

/// Labels made unique by a counter suffix where two targets would share a name.
pub fn dedupe(targets: &mut [Target]) {
    let mut seen = std::collections::HashMap::<String, u32>::new();
    for t in targets.iter_mut() {
        let n = seen.entry(t.label.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            t.label = format!("{}-{}", t.label, n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_the_target_are_safe_file_names() {
        assert_eq!(file_part("../../etc/passwd"), "_.._.._etc_passwd");
        assert_eq!(file_part(""), "_");
        assert_eq!(file_part("web/9f3c_app"), "web_9f3c_app");
    }

    #[test]
    fn ecs_exec_runs_a_bare_shell() {
        let w = Way::EcsExec { cluster: "c".into(), task: "t".into(), container: "app".into(), region: None };
        let argv = w.session(&Tools::default());
        assert_eq!(
            argv.join(" "),
            "aws ecs execute-command --cluster c --task t --container app --interactive --command sh"
        );
        assert!(w.always_tty());
    }
}
