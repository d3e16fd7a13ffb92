//! The columns of the tables curtain writes as Parquet (the register's intervals, tasks and
//! containers), declared once: `parquet_out` writes them and `athena` declares them to Athena,
//! so a column is never spelt two ways. docs/FLOWS.md lists them.

/// A column's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Text,
    Int,
    Bool,
}

/// The columns of the address intervals (`intervals.parquet`), in order. docs/FLOWS.md.
pub const INTERVAL_COLUMNS: &[(&str, Kind)] = &[
    ("seq", Kind::Int),
    ("ip", Kind::Text),
    ("from_ns", Kind::Int),
    ("to_ns", Kind::Int),
    ("from_s", Kind::Int),
    ("to_s", Kind::Int),
    ("from_time", Kind::Text),
    ("to_time", Kind::Text),
    ("kind", Kind::Text),
    ("ip_kind", Kind::Text),
    ("account", Kind::Text),
    ("region", Kind::Text),
    ("cluster", Kind::Text),
    ("service", Kind::Text),
    ("task_arn", Kind::Text),
    ("task_definition", Kind::Text),
    ("launch_type", Kind::Text),
    ("network_mode", Kind::Text),
    ("containers", Kind::Text),
    ("eni", Kind::Text),
    ("attachment", Kind::Text),
    ("container_instance", Kind::Text),
    ("ec2_instance", Kind::Text),
    ("certainty", Kind::Text),
    ("sources", Kind::Text),
    ("owner_kind", Kind::Text),
    ("owner_id", Kind::Text),
];

/// The columns of the tasks (`tasks.parquet`), in order.
pub const TASK_COLUMNS: &[(&str, Kind)] = &[
    ("task_arn", Kind::Text),
    ("account", Kind::Text),
    ("region", Kind::Text),
    ("cluster", Kind::Text),
    ("service", Kind::Text),
    ("task_group", Kind::Text),
    ("task_definition", Kind::Text),
    ("launch_type", Kind::Text),
    ("availability_zone", Kind::Text),
    ("last_status", Kind::Text),
    ("created_s", Kind::Int),
    ("started_s", Kind::Int),
    ("stopped_s", Kind::Int),
    ("first_seen_s", Kind::Int),
    ("last_seen_s", Kind::Int),
    ("container_instance", Kind::Text),
    ("containers", Kind::Text),
    ("sources", Kind::Text),
];

/// The columns of the tasks' containers (`containers.parquet`), in order.
pub const CONTAINER_COLUMNS: &[(&str, Kind)] = &[
    ("task_arn", Kind::Text),
    ("name", Kind::Text),
    ("image", Kind::Text),
    ("image_digest", Kind::Text),
    ("runtime_id", Kind::Text),
    ("last_status", Kind::Text),
];
