//! A tiny private big-endian jute writer/reader for txn records and snapshots.
//!
//! Deliberately independent of `wire::jute` (built in parallel); the encoding is jute's
//! (formats sheet A.2): int/long big-endian, buffer/ustring = int length + bytes, -1 = null,
//! vector = int count + elements. Readers never panic: every shortfall is a `CodecError`.

use crate::wire::records::{Acl, Id};

/// Why bytes could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// Fewer bytes than the record needs.
    #[error("truncated at offset {offset}: need {need} more bytes")]
    Truncated {
        /// Where the read started.
        offset: usize,
        /// How many bytes were missing.
        need: usize,
    },
    /// A length field that is negative (other than -1 null) or larger than the input.
    #[error("bad length {len} at offset {offset}")]
    BadLength {
        /// The length read.
        len: i32,
        /// Where it was read.
        offset: usize,
    },
    /// A string that is not UTF-8.
    #[error("invalid UTF-8 at offset {offset}")]
    BadUtf8 {
        /// Where the string started.
        offset: usize,
    },
    /// A null where the record does not allow one.
    #[error("unexpected null at offset {offset}")]
    UnexpectedNull {
        /// Where it was read.
        offset: usize,
    },
}

/// Appends jute primitives to a byte vector.
#[derive(Default)]
pub(crate) struct Writer {
    pub(crate) buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn new() -> Writer {
        Writer { buf: Vec::new() }
    }
    pub(crate) fn int(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn long(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn boolean(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }
    pub(crate) fn buffer(&mut self, v: Option<&[u8]>) {
        match v {
            None => self.int(-1),
            Some(b) => {
                self.int(b.len() as i32);
                self.buf.extend_from_slice(b);
            }
        }
    }
    pub(crate) fn string(&mut self, s: &str) {
        self.buffer(Some(s.as_bytes()));
    }
    pub(crate) fn acls(&mut self, acl: &[Acl]) {
        self.int(acl.len() as i32);
        for a in acl {
            self.int(a.perms);
            self.string(&a.id.scheme);
            self.string(&a.id.id);
        }
    }
}

/// Reads jute primitives from a byte slice.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    pub(crate) fn position(&self) -> usize {
        self.pos
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if self.remaining() < n {
            return Err(CodecError::Truncated {
                offset: self.pos,
                need: n - self.remaining(),
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    pub(crate) fn int(&mut self) -> Result<i32, CodecError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub(crate) fn long(&mut self) -> Result<i64, CodecError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }
    pub(crate) fn boolean(&mut self) -> Result<bool, CodecError> {
        Ok(self.take(1)?[0] != 0)
    }
    /// A length-prefixed count or size: -1 → `None`; other negatives or sizes that cannot
    /// fit in the remaining input (each element needs at least `min_elem` bytes) are rejected.
    fn length(&mut self, min_elem: usize) -> Result<Option<usize>, CodecError> {
        let offset = self.pos;
        let len = self.int()?;
        if len == -1 {
            return Ok(None);
        }
        let bad = CodecError::BadLength { len, offset };
        let n = usize::try_from(len).map_err(|_| bad.clone())?;
        if n.saturating_mul(min_elem.max(1)) > self.remaining() && min_elem > 0 {
            return Err(bad);
        }
        Ok(Some(n))
    }
    pub(crate) fn buffer(&mut self) -> Result<Option<Vec<u8>>, CodecError> {
        match self.length(1)? {
            None => Ok(None),
            Some(n) => Ok(Some(self.take(n)?.to_vec())),
        }
    }
    pub(crate) fn string(&mut self) -> Result<String, CodecError> {
        let offset = self.pos;
        let bytes = self
            .buffer()?
            .ok_or(CodecError::UnexpectedNull { offset })?;
        String::from_utf8(bytes).map_err(|_| CodecError::BadUtf8 { offset })
    }
    /// A vector count; null (-1) reads as empty. Each element needs at least `min_elem` bytes.
    pub(crate) fn count(&mut self, min_elem: usize) -> Result<usize, CodecError> {
        Ok(self.length(min_elem)?.unwrap_or(0))
    }
    pub(crate) fn acls(&mut self) -> Result<Vec<Acl>, CodecError> {
        let n = self.count(12)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let perms = self.int()?;
            let scheme = self.string()?;
            let id = self.string()?;
            out.push(Acl {
                perms,
                id: Id { scheme, id },
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_round_trip() {
        let mut w = Writer::new();
        w.int(-5);
        w.long(1 << 40);
        w.boolean(true);
        w.buffer(None);
        w.string("/a");
        w.acls(&Acl::open_unsafe());
        let mut r = Reader::new(&w.buf);
        assert_eq!(r.int(), Ok(-5));
        assert_eq!(r.long(), Ok(1 << 40));
        assert_eq!(r.boolean(), Ok(true));
        assert_eq!(r.buffer(), Ok(None));
        assert_eq!(r.string(), Ok("/a".to_string()));
        assert_eq!(r.acls(), Ok(Acl::open_unsafe()));
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn rejects_bad_lengths() {
        let mut r = Reader::new(&[0, 0, 0, 9, 1]);
        assert!(matches!(r.buffer(), Err(CodecError::BadLength { .. })));
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xfe]);
        assert!(matches!(r.buffer(), Err(CodecError::BadLength { .. })));
        let mut r = Reader::new(&[0, 0]);
        assert!(matches!(r.int(), Err(CodecError::Truncated { .. })));
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(r.string(), Err(CodecError::UnexpectedNull { .. })));
    }
}
