//! The odd replica out: snapshots of containers that should be the same (the tasks of one ECS
//! service, every container of one image across hosts) compared with each other, and what only
//! a minority of them has reported. A replica that runs a process, listens on a port or talks to
//! a peer that the others do not is the one to look at first; no detector has to know what it is.
//!
//! Archives are grouped by ECS task definition family and container, else by image digest, or
//! taken as one group when the caller says so. What differs by nature between replicas (pids,
//! ephemeral ports, ids, their own addresses) is normalised away before counting
//! ([`normalise`], [`features`]). With two archives there is no majority to stand out from:
//! their differences are listed, each under the archive that has it.

mod features;
mod normalise;
#[cfg(test)]
mod tests;

pub use normalise::normalise;

use crate::Index;
use features::{features, Features};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// What kind of feature an outlier is. The order is the order of the report: what runs first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeatureKind {
    /// An executable by content: `path sha256:hex`.
    Exe,
    /// A process name (comm).
    Process,
    /// A command line, arguments joined by spaces.
    Cmdline,
    /// A uid processes run as (real or effective).
    User,
    /// A listening port: `tcp/8080`, `udp/53`, `raw/1`.
    Listen,
    /// The address and port of a connection this side opened: `203.0.113.9:4444`.
    Peer,
    /// The remote port of a connection this side opened: `tcp/4444`.
    RemotePort,
    /// A file mapped from a deleted or memfd path.
    Mapped,
}

impl FeatureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FeatureKind::Exe => "exe",
            FeatureKind::Process => "process",
            FeatureKind::Cmdline => "cmdline",
            FeatureKind::User => "user",
            FeatureKind::Listen => "listen",
            FeatureKind::Peer => "peer",
            FeatureKind::RemotePort => "remote-port",
            FeatureKind::Mapped => "mapped",
        }
    }
}

/// A process a feature was seen in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SeenIn {
    pub pid: u32,
    pub comm: String,
}

/// A feature only a minority of a group's archives has, in one of them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Outlier {
    /// The archive's name, as the caller gave it.
    pub archive: String,
    pub kind: FeatureKind,
    /// The value as the target had it (not normalised, not escaped). When processes had several
    /// values that normalise alike, the first in byte order.
    pub value: String,
    /// How many of the group's archives have it (this one included), of how many.
    pub shared_by: usize,
    pub of: usize,
    /// The processes it was seen in; empty for a socket no visible process holds.
    pub processes: Vec<SeenIn>,
}

/// A feature one of two archives has and the other has not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub archive: String,
    pub kind: FeatureKind,
    pub value: String,
    pub processes: Vec<SeenIn>,
}

/// Archives that should be the same, and what sets some of them apart.
#[derive(Clone, Debug, Serialize)]
pub struct Group {
    /// What they have in common: `ecs:<family>/<container>`, `image:<digest or image>`, or
    /// `all` when taken as one group.
    pub key: String,
    /// Their names, in the order given.
    pub archives: Vec<String>,
    /// Fewest sharing first, then by archive, kind and value. Empty when `two_only`.
    pub outliers: Vec<Outlier>,
    /// Two archives only: no majority to stand out from, `differences` says what differs.
    pub two_only: bool,
    /// With two archives, what each has that the other has not: by archive (in the order given),
    /// then kind, then normalised value.
    pub differences: Vec<Difference>,
}

/// An archive compared with no other: nothing shares its key (the key it had is given), or it
/// has none (no ECS identity, no image known).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Ungrouped {
    pub archive: String,
    pub key: Option<String>,
}

/// Every group with its outliers, and the archives left out.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub groups: Vec<Group>,
    pub ungrouped: Vec<Ungrouped>,
    /// How many outliers in all the groups (differences of two-archive groups not counted).
    pub outliers: usize,
}

impl Comparison {
    /// Whether anything stands out: an outlier in a group, or a difference between the two
    /// archives of a two-archive group (as `diff` says two snapshots differ). The CLI exits 1
    /// when it does.
    pub fn has_outliers(&self) -> bool {
        self.outliers > 0 || self.groups.iter().any(|g| !g.differences.is_empty())
    }
}

/// The task definition family and container the collector ran in: the replicas of one
/// service's container.
fn family_key(ix: &Index) -> Option<String> {
    let e = ix.snap.manifest.ecs.as_ref()?;
    let family = e.family.as_deref().filter(|f| !f.is_empty())?;
    Some(match e.container_name.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => format!("ecs:{family}/{c}"),
        None => format!("ecs:{family}"),
    })
}

/// The image the collector's container runs: its digest when known (a tag moves), else the
/// image reference; from the ECS metadata endpoint, else from what `curtain acquire` knew of the
/// target (docker's image id, the pod's image id).
fn image_key(ix: &Index) -> Option<String> {
    let m = &ix.snap.manifest;
    let from_ecs = m.ecs.as_ref().and_then(|e| {
        let from_task = || {
            let me = e.docker_id.as_deref()?;
            e.containers.iter().find(|c| c.docker_id.as_deref() == Some(me))?.image_digest.clone()
        };
        e.image_digest.clone().or_else(from_task).or_else(|| e.image.clone())
    });
    let from_acquisition =
        || m.acquisition.as_ref().and_then(|a| a.target.image_digest.clone().or_else(|| a.target.image.clone()));
    from_ecs.or_else(from_acquisition).filter(|i| !i.is_empty()).map(|i| format!("image:{i}"))
}

/// Compares the archives that belong together: grouped by ECS task definition family and
/// container, the rest by image; an archive that shares neither with another is left out, in
/// `ungrouped`.
pub fn compare(snaps: &[(&str, &Index)]) -> Comparison {
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut placed: BTreeSet<usize> = BTreeSet::new();
    for key_of in [family_key, image_key] {
        let mut by_key: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, (_, ix)) in snaps.iter().enumerate() {
            if !placed.contains(&i) {
                if let Some(k) = key_of(ix) {
                    by_key.entry(k).or_default().push(i);
                }
            }
        }
        for (k, members) in by_key.into_iter().filter(|(_, m)| m.len() >= 2) {
            placed.extend(&members);
            groups.insert(k, members);
        }
    }
    let ungrouped = (0..snaps.len())
        .filter(|i| !placed.contains(i))
        .map(|i| Ungrouped {
            archive: snaps[i].0.to_string(),
            key: family_key(snaps[i].1).or_else(|| image_key(snaps[i].1)),
        })
        .collect();
    build(snaps, groups, ungrouped)
}

/// Compares every archive with every other, whatever their identity says (replicas collected
/// without ECS metadata, or the caller knows better).
pub fn compare_as_one_group(snaps: &[(&str, &Index)]) -> Comparison {
    let mut groups = BTreeMap::new();
    let mut ungrouped = Vec::new();
    match snaps {
        [] => {}
        [(name, _)] => ungrouped.push(Ungrouped { archive: name.to_string(), key: Some("all".into()) }),
        _ => {
            groups.insert("all".to_string(), (0..snaps.len()).collect());
        }
    }
    build(snaps, groups, ungrouped)
}

fn build(snaps: &[(&str, &Index)], groups: BTreeMap<String, Vec<usize>>, ungrouped: Vec<Ungrouped>) -> Comparison {
    let groups: Vec<Group> = groups
        .into_iter()
        .map(|(key, members)| {
            let each: Vec<(&str, Features)> = members.iter().map(|&i| (snaps[i].0, features(snaps[i].1))).collect();
            compare_group(key, &each)
        })
        .collect();
    let outliers = groups.iter().map(|g| g.outliers.len()).sum();
    Comparison { groups, ungrouped, outliers }
}

fn seen_in(s: &features::Seen) -> Vec<SeenIn> {
    s.processes.iter().map(|(&pid, comm)| SeenIn { pid, comm: comm.clone() }).collect()
}

/// One group: each feature counted over its archives; what fewer than half have is an outlier.
fn compare_group(key: String, members: &[(&str, Features)]) -> Group {
    let of = members.len();
    let mut shared: BTreeMap<&(FeatureKind, String), usize> = BTreeMap::new();
    for (_, f) in members {
        for k in f.keys() {
            *shared.entry(k).or_default() += 1;
        }
    }
    let two_only = of == 2;
    let mut outliers = Vec::new();
    let mut differences = Vec::new();
    for (ai, (archive, f)) in members.iter().enumerate() {
        for (k, seen) in f {
            let n = shared[k];
            let value = seen.raw.iter().next().cloned().unwrap_or_default();
            if two_only && n == 1 {
                differences.push(Difference {
                    archive: archive.to_string(),
                    kind: k.0,
                    value,
                    processes: seen_in(seen),
                });
            } else if !two_only && n * 2 < of {
                let o = Outlier {
                    archive: archive.to_string(),
                    kind: k.0,
                    value,
                    shared_by: n,
                    of,
                    processes: seen_in(seen),
                };
                outliers.push((n, ai, o));
            }
        }
    }
    outliers.sort_by(|a, b| (a.0, a.1, a.2.kind, &a.2.value).cmp(&(b.0, b.1, b.2.kind, &b.2.value)));
    Group {
        key,
        archives: members.iter().map(|(a, _)| a.to_string()).collect(),
        outliers: outliers.into_iter().map(|(_, _, o)| o).collect(),
        two_only,
        differences,
    }
}
