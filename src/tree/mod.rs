//! placeholder: filled by the tree work.
