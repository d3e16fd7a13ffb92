//! The AWS side of curtain, for the asset register: history (EventBridge task state changes,
//! CloudTrail) read into facts, and the live inventory of accounts and regions through the SDK.

#![forbid(unsafe_code)]

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "aws")]
pub mod ec2;
#[cfg(feature = "aws")]
pub mod exec;
#[doc(hidden)]
pub mod fuzzing;
pub mod ingest;
pub mod sync;
pub mod xml;
