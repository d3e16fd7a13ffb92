//! The detectors that read CloudTrail, not a snapshot: `curtain hunt` runs their logic
//! (crates/hunt); here they are bound to their rule files so that the registry, `curtain
//! detectors` and docs/DETECTORS.md cover them as they cover the process detectors. On a snapshot
//! they find nothing.

use super::Engine;
use crate::index::Index;
use crate::rules::{Rule, Rules};
use curtain_model::Finding;

fn none(_: &Rule, _: &Rules, _: &Index) -> Vec<Finding> {
    Vec::new()
}

macro_rules! cloud {
    ($name:ident, $id:literal) => {
        pub(crate) const $name: Engine = Engine { kind: $id, run: none, lists: &[], needs_lists: false };
    };
}

cloud!(TASK_CREDENTIALS, "task-credentials-elsewhere");
cloud!(EXECUTE_COMMAND, "ecs-execute-command");
cloud!(RUN_TASK_OVERRIDE, "ecs-run-task-override");
cloud!(PRIVILEGED_DEFINITION, "ecs-privileged-task-definition");
cloud!(UNUSUAL_DEPLOYER, "ecs-unusual-deployer");

/// The CloudTrail detectors, in the order `curtain hunt` reports them.
pub(crate) const ALL: &[&Engine] =
    &[&TASK_CREDENTIALS, &EXECUTE_COMMAND, &RUN_TASK_OVERRIDE, &PRIVILEGED_DEFINITION, &UNUSUAL_DEPLOYER];
