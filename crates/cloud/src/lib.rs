//! The AWS side of curtain, for the asset register. This part reads history (EventBridge task
//! state changes, CloudTrail) into facts; the live inventory sync talks to the APIs.

pub mod ingest;
