//! `Shared<T>`: a part of the world's state that successor states share until they change it,
//! with its hash computed once.
//!
//! Most transitions change one server (a delivery, a flush) and leave the others, the links they
//! do not touch and often the ghost as they were. Cloning a state then copies a few reference
//! counts instead of every log, link and map, and the fingerprint of a successor re-hashes only
//! the parts that changed: each `Shared` hashes as the 64-bit hash of its value, computed on first
//! use and cleared by [`Shared::make_mut`]. What is explored does not change: two states are equal,
//! and hash alike, exactly when their values are (verification.md §4, "Compact state").

use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

/// A value shared between states until one of them changes it.
pub struct Shared<T>(Arc<Inner<T>>);

struct Inner<T> {
    value: T,
    hash: OnceLock<u64>,
}

impl<T: Clone> Clone for Inner<T> {
    fn clone(&self) -> Self {
        Inner {
            value: self.value.clone(),
            hash: OnceLock::new(),
        }
    }
}

impl<T> Shared<T> {
    /// Wraps `value`.
    pub fn new(value: T) -> Shared<T> {
        Shared(Arc::new(Inner {
            value,
            hash: OnceLock::new(),
        }))
    }
}

impl<T: Clone> Shared<T> {
    /// The value, to change: copied first if another state shares it; its cached hash is
    /// dropped either way.
    pub fn make_mut(&mut self) -> &mut T {
        let inner = Arc::make_mut(&mut self.0);
        inner.hash = OnceLock::new();
        &mut inner.value
    }
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(Arc::clone(&self.0))
    }
}

impl<T> Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0.value
    }
}

impl<T: Hash> Hash for Shared<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let h = *self.0.hash.get_or_init(|| {
            // Fixed seeds: the same value hashes alike in every state and every thread of a run
            // (the seeds are Stateright's own, for its fingerprints).
            ahash::RandomState::with_seeds(123_456_789_987_654_321, 98_765_432_123_456_789, 0, 0)
                .hash_one(&self.0.value)
        });
        state.write_u64(h);
    }
}

impl<T: PartialEq> PartialEq for Shared<T> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.value == other.0.value
    }
}

impl<T: Eq> Eq for Shared<T> {}

impl<T: fmt::Debug> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.value.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash_of<T: Hash>(v: &T) -> u64 {
        let mut h = std::hash::DefaultHasher::new();
        v.hash(&mut h);
        h.finish()
    }

    #[test]
    fn a_change_is_seen_by_the_hash_and_not_by_the_other_copy() {
        let a = Shared::new(vec![1, 2]);
        let mut b = a.clone();
        assert_eq!(hash_of(&a), hash_of(&b));
        b.make_mut().push(3);
        assert_eq!(
            *a,
            vec![1, 2],
            "the copy that was not changed keeps its value"
        );
        assert_ne!(hash_of(&a), hash_of(&b));
        assert_ne!(a, b);
        b.make_mut().pop();
        assert_eq!(hash_of(&a), hash_of(&b), "equal values hash alike again");
        assert_eq!(a, b);
    }

    #[test]
    fn a_value_changed_in_place_is_re_hashed() {
        let mut a = Shared::new(7u32);
        let before = hash_of(&a);
        *a.make_mut() = 8;
        assert_ne!(before, hash_of(&a));
        assert_eq!(hash_of(&a), hash_of(&Shared::new(8u32)));
    }
}
