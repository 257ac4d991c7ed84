//! placeholder: filled by the storage work.
