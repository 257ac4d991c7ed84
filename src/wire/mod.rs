//! Sans-IO codecs: bytes in, records out (check, then parse). No sockets here.
//!
//! Facts: ../shared/reference/zookeeper-formats.md part A.

pub mod records;
