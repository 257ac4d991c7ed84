//! Jute primitives (reference A.2): a bounds-checked reader over a byte slice and a writer over any
//! [`BufMut`] (`Vec<u8>`, `BytesMut`), the [`Record`] trait, and `jute_record!`, which implements
//! [`Record`] for a struct that is a plain sequence of fields.
//!
//! Every integer is big-endian. `ustring`, `buffer` and `vector` carry an `int` length in front;
//! -1 means null. The reader never trusts a length: it checks it against the bytes that remain
//! before it allocates, so a hostile length can cost at most what the input already cost.
//!
//! Where this reader is stricter than Java's `BinaryInputArchive` (see `spec/wire.md`): a string
//! must be valid UTF-8 (Java substitutes U+FFFD), and a length below -1 is an error (Java treats a
//! negative vector count as empty and rejects negative string lengths).

use bytes::BufMut;

use crate::wire::DecodeError;

/// Encoded size of a jute `int`.
pub const INT_LEN: usize = 4;
/// Encoded size of a jute `long`.
pub const LONG_LEN: usize = 8;
/// Encoded size of a jute `boolean`.
pub const BOOL_LEN: usize = 1;

/// A record with a jute encoding: fields back to back in declaration order, no tag, no padding.
pub trait Record: Sized {
    /// Appends the record's fields to `w`.
    fn encode<B: BufMut>(&self, w: &mut JuteWriter<'_, B>);

    /// Reads the record's fields from `r`, consuming exactly its bytes.
    fn decode(r: &mut JuteReader<'_>) -> Result<Self, DecodeError>;

    /// Fewest bytes any encoding of this record occupies; bounds vector preallocation.
    const MIN_LEN: usize;

    /// The record's encoding as a fresh vector (convenience for tests and tools).
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut JuteWriter::new(&mut out));
        out
    }

    /// Decodes one record from the start of `bytes`, ignoring any bytes after it (as ZooKeeper
    /// does with a request body longer than its record).
    fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::decode(&mut JuteReader::new(bytes))
    }
}

/// Bounds-checked cursor over jute-encoded bytes. No method panics on any input.
#[derive(Clone, Debug)]
pub struct JuteReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> JuteReader<'a> {
    /// A reader positioned at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        JuteReader { buf, pos: 0 }
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The unconsumed bytes (without consuming them).
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Consumes exactly `n` bytes.
    pub fn read_bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let remaining = self.remaining();
        if n > remaining {
            return Err(DecodeError::Truncated {
                needed: n,
                remaining,
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn read_array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.read_bytes(N)?);
        Ok(out)
    }

    /// Reads a jute `byte`.
    pub fn read_byte(&mut self) -> Result<i8, DecodeError> {
        Ok(i8::from_be_bytes(self.read_array::<1>()?))
    }

    /// Reads a jute `boolean`: one byte, any non-zero value is true (Java `readBoolean`).
    pub fn read_bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.read_array::<1>()?[0] != 0)
    }

    /// Reads a jute `int` (big-endian i32).
    pub fn read_int(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.read_array::<4>()?))
    }

    /// Reads a jute `long` (big-endian i64).
    pub fn read_long(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.read_array::<8>()?))
    }

    /// Reads a length prefix: `None` for -1 (null), the length otherwise; below -1 is an error.
    fn read_len(&mut self) -> Result<Option<usize>, DecodeError> {
        let len = self.read_int()?;
        if len == -1 {
            return Ok(None);
        }
        usize::try_from(len)
            .map(Some)
            .map_err(|_| DecodeError::InvalidLength(len))
    }

    /// Reads a jute `buffer` as a borrowed slice; `None` for null (length -1).
    pub fn read_buffer_slice(&mut self) -> Result<Option<&'a [u8]>, DecodeError> {
        match self.read_len()? {
            None => Ok(None),
            Some(len) => self.read_bytes(len).map(Some),
        }
    }

    /// Reads a jute `buffer`; `None` for null (length -1).
    pub fn read_buffer(&mut self) -> Result<Option<Vec<u8>>, DecodeError> {
        Ok(self.read_buffer_slice()?.map(<[u8]>::to_vec))
    }

    /// Reads a jute `ustring`; `None` for null (length -1). Invalid UTF-8 is an error.
    pub fn read_ustring(&mut self) -> Result<Option<String>, DecodeError> {
        match self.read_buffer_slice()? {
            None => Ok(None),
            Some(bytes) => std::str::from_utf8(bytes)
                .map(|s| Some(s.to_owned()))
                .map_err(|_| DecodeError::InvalidUtf8),
        }
    }

    /// Reads a `ustring` that the record does not allow to be null; `field` names it in the error.
    pub fn read_string(&mut self, field: &'static str) -> Result<String, DecodeError> {
        self.read_ustring()?
            .ok_or(DecodeError::UnexpectedNull(field))
    }

    /// Reads a jute `vector<T>`; `None` for null (count -1).
    ///
    /// `min_elem_len` is the fewest bytes one element can occupy (at least 1 is assumed): a count
    /// whose elements could not fit in the remaining bytes is rejected before anything is
    /// allocated, so a huge count never allocates.
    pub fn read_vector<T, F>(
        &mut self,
        min_elem_len: usize,
        mut read_elem: F,
    ) -> Result<Option<Vec<T>>, DecodeError>
    where
        F: FnMut(&mut Self) -> Result<T, DecodeError>,
    {
        let Some(count) = self.read_len()? else {
            return Ok(None);
        };
        let needed = count.saturating_mul(min_elem_len.max(1));
        let remaining = self.remaining();
        if needed > remaining {
            return Err(DecodeError::Truncated { needed, remaining });
        }
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            out.push(read_elem(self)?);
        }
        Ok(Some(out))
    }

    /// Reads a `vector<R>` of records; null decodes as empty (see `spec/wire.md`: no record on
    /// the client wire gives a null vector a meaning distinct from an empty one).
    pub fn read_records<R: Record>(&mut self) -> Result<Vec<R>, DecodeError> {
        Ok(self.read_vector(R::MIN_LEN, R::decode)?.unwrap_or_default())
    }

    /// Reads a `vector<ustring>` whose elements may not be null; a null vector decodes as empty.
    pub fn read_strings(&mut self, field: &'static str) -> Result<Vec<String>, DecodeError> {
        Ok(self
            .read_vector(INT_LEN, |r| r.read_string(field))?
            .unwrap_or_default())
    }
}

/// Appends jute encodings to a [`BufMut`] (`Vec<u8>`, `BytesMut`). Writing cannot fail.
#[derive(Debug)]
pub struct JuteWriter<'a, B: BufMut> {
    buf: &'a mut B,
}

impl<'a, B: BufMut> JuteWriter<'a, B> {
    /// A writer appending to `buf`.
    pub fn new(buf: &'a mut B) -> Self {
        JuteWriter { buf }
    }

    /// The buffer being written to.
    pub fn buf(&mut self) -> &mut B {
        self.buf
    }

    /// Writes a jute `byte`.
    pub fn write_byte(&mut self, v: i8) {
        self.buf.put_i8(v);
    }

    /// Writes a jute `boolean` as 0 or 1.
    pub fn write_bool(&mut self, v: bool) {
        self.buf.put_u8(u8::from(v));
    }

    /// Writes a jute `int`.
    pub fn write_int(&mut self, v: i32) {
        self.buf.put_i32(v);
    }

    /// Writes a jute `long`.
    pub fn write_long(&mut self, v: i64) {
        self.buf.put_i64(v);
    }

    /// Writes a length prefix.
    ///
    /// # Panics
    ///
    /// If `len` exceeds `i32::MAX`: jute cannot express it and no ZooKeeper peer accepts a frame
    /// that large, so producing one is a bug in the caller.
    fn write_len(&mut self, len: usize) {
        let len = i32::try_from(len).expect("jute length exceeds i32::MAX");
        self.buf.put_i32(len);
    }

    /// Writes a jute `buffer`; `None` writes the null length -1.
    pub fn write_buffer(&mut self, v: Option<&[u8]>) {
        match v {
            None => self.buf.put_i32(-1),
            Some(bytes) => {
                self.write_len(bytes.len());
                self.buf.put_slice(bytes);
            }
        }
    }

    /// Writes a non-null jute `buffer`.
    pub fn write_bytes(&mut self, v: &[u8]) {
        self.write_buffer(Some(v));
    }

    /// Writes a jute `ustring`; `None` writes the null length -1.
    pub fn write_ustring(&mut self, v: Option<&str>) {
        self.write_buffer(v.map(str::as_bytes));
    }

    /// Writes a non-null jute `ustring`.
    pub fn write_string(&mut self, v: &str) {
        self.write_buffer(Some(v.as_bytes()));
    }

    /// Writes a jute `vector<T>` with `write_elem` for each element.
    pub fn write_vector<T, F>(&mut self, items: &[T], mut write_elem: F)
    where
        F: FnMut(&mut Self, &T),
    {
        self.write_len(items.len());
        for item in items {
            write_elem(self, item);
        }
    }

    /// Writes a `vector<R>` of records.
    pub fn write_records<R: Record>(&mut self, items: &[R]) {
        self.write_vector(items, |w, r| r.encode(w));
    }

    /// Writes a `vector<ustring>`.
    pub fn write_strings(&mut self, items: &[String]) {
        self.write_vector(items, |w, s| w.write_string(s));
    }
}

/// Declares a struct whose jute encoding is its fields back to back in declaration order (the
/// shape of most records in ZooKeeper's `zookeeper.jute`) and implements [`Record`] for it:
/// `encode`, `decode`, and `MIN_LEN` as the sum of the fields' smallest encodings.
///
/// Each field names its jute type after `as`; the name also fixes what a null decodes to:
///
/// | after `as` | Rust type | jute type | a null (length -1) decodes as |
/// |---|---|---|---|
/// | `int`, `long`, `boolean` | `i32`, `i64`, `bool` | same | — |
/// | `ustring("Rec.field")` | `String` | `ustring` | error [`DecodeError::UnexpectedNull`] |
/// | `ustring_or_empty` | `String` | `ustring` | `""` |
/// | `ustring_opt` | `Option<String>` | `ustring` | `None` |
/// | `buffer_opt` | `Option<Vec<u8>>` | `buffer` | `None` |
/// | `buffer_or_empty` | `Vec<u8>` | `buffer` | empty |
/// | `vector_ustring("field")` | `Vec<String>` | `vector<ustring>` | empty; a null element: error |
/// | `vector_record` | `Vec<R>`, `R: Record` | `vector<R>` | empty |
/// | `record` | `R: Record` | a nested record | — |
///
/// The literal after `ustring` and `vector_ustring` is the field name that error carries.
///
/// Records that are not a plain field sequence (a trailing field that may be absent, a list
/// ended by a terminator) implement [`Record`] by hand.
///
/// [`DecodeError::UnexpectedNull`]: crate::wire::DecodeError::UnexpectedNull
macro_rules! jute_record {
    (@encode $w:ident, $v:expr, int) => { $w.write_int($v) };
    (@encode $w:ident, $v:expr, long) => { $w.write_long($v) };
    (@encode $w:ident, $v:expr, boolean) => { $w.write_bool($v) };
    (@encode $w:ident, $v:expr, ustring) => { $w.write_string(&$v) };
    (@encode $w:ident, $v:expr, ustring_or_empty) => { $w.write_string(&$v) };
    (@encode $w:ident, $v:expr, ustring_opt) => { $w.write_ustring($v.as_deref()) };
    (@encode $w:ident, $v:expr, buffer_opt) => { $w.write_buffer($v.as_deref()) };
    (@encode $w:ident, $v:expr, buffer_or_empty) => { $w.write_bytes(&$v) };
    (@encode $w:ident, $v:expr, vector_ustring) => { $w.write_strings(&$v) };
    (@encode $w:ident, $v:expr, vector_record) => { $w.write_records(&$v) };
    (@encode $w:ident, $v:expr, record) => { $crate::wire::jute::Record::encode(&$v, $w) };

    (@decode $r:ident, $ty:ty, int) => { $r.read_int()? };
    (@decode $r:ident, $ty:ty, long) => { $r.read_long()? };
    (@decode $r:ident, $ty:ty, boolean) => { $r.read_bool()? };
    (@decode $r:ident, $ty:ty, ustring($field:literal)) => { $r.read_string($field)? };
    (@decode $r:ident, $ty:ty, ustring_or_empty) => { $r.read_ustring()?.unwrap_or_default() };
    (@decode $r:ident, $ty:ty, ustring_opt) => { $r.read_ustring()? };
    (@decode $r:ident, $ty:ty, buffer_opt) => { $r.read_buffer()? };
    (@decode $r:ident, $ty:ty, buffer_or_empty) => { $r.read_buffer()?.unwrap_or_default() };
    (@decode $r:ident, $ty:ty, vector_ustring($field:literal)) => { $r.read_strings($field)? };
    (@decode $r:ident, $ty:ty, vector_record) => { $r.read_records()? };
    (@decode $r:ident, $ty:ty, record) => {
        <$ty as $crate::wire::jute::Record>::decode($r)?
    };

    (@min_len $ty:ty, int) => { $crate::wire::jute::INT_LEN };
    (@min_len $ty:ty, long) => { $crate::wire::jute::LONG_LEN };
    (@min_len $ty:ty, boolean) => { $crate::wire::jute::BOOL_LEN };
    (@min_len $ty:ty, record) => { <$ty as $crate::wire::jute::Record>::MIN_LEN };
    // Every other kind is length-prefixed: an empty one is its `int` length alone.
    (@min_len $ty:ty, $kind:ident) => { $crate::wire::jute::INT_LEN };

    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $(
                $(#[$field_meta:meta])*
                $field_vis:vis $field:ident : $ty:ty as $kind:ident $(($null_name:literal))?
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $(
                $(#[$field_meta])*
                $field_vis $field: $ty,
            )*
        }

        impl $crate::wire::jute::Record for $name {
            const MIN_LEN: usize = 0 $(+ $crate::wire::jute::jute_record!(@min_len $ty, $kind))*;

            fn encode<B: ::bytes::BufMut>(&self, w: &mut $crate::wire::jute::JuteWriter<'_, B>) {
                $( $crate::wire::jute::jute_record!(@encode w, self.$field, $kind); )*
            }

            fn decode(
                r: &mut $crate::wire::jute::JuteReader<'_>,
            ) -> Result<Self, $crate::wire::DecodeError> {
                // Struct expression fields are evaluated in the order written: declaration order.
                Ok($name {
                    $( $field: $crate::wire::jute::jute_record!(
                        @decode r, $ty, $kind $(($null_name))?
                    ), )*
                })
            }
        }
    };
}
pub(crate) use jute_record;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_are_big_endian() {
        let mut out = Vec::new();
        let mut w = JuteWriter::new(&mut out);
        w.write_int(0x0102_0304);
        w.write_long(-2);
        w.write_bool(true);
        w.write_bool(false);
        assert_eq!(
            out,
            [1, 2, 3, 4, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE, 1, 0]
        );
        let mut r = JuteReader::new(&out);
        assert_eq!(r.read_int(), Ok(0x0102_0304));
        assert_eq!(r.read_long(), Ok(-2));
        assert_eq!(r.read_bool(), Ok(true));
        assert_eq!(r.read_bool(), Ok(false));
        assert_eq!(r.remaining(), 0);
        assert_eq!(
            r.read_int(),
            Err(DecodeError::Truncated {
                needed: 4,
                remaining: 0
            })
        );
    }

    #[test]
    fn any_non_zero_byte_is_true() {
        assert_eq!(JuteReader::new(&[7]).read_bool(), Ok(true));
    }

    #[test]
    fn null_and_empty_are_distinct() {
        let mut out = Vec::new();
        let mut w = JuteWriter::new(&mut out);
        w.write_buffer(None);
        w.write_buffer(Some(&[]));
        w.write_ustring(None);
        w.write_string("é");
        assert_eq!(
            out,
            [255, 255, 255, 255, 0, 0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 2, 0xC3, 0xA9]
        );
        let mut r = JuteReader::new(&out);
        assert_eq!(r.read_buffer(), Ok(None));
        assert_eq!(r.read_buffer(), Ok(Some(vec![])));
        assert_eq!(
            r.read_string("path"),
            Err(DecodeError::UnexpectedNull("path"))
        );
        assert_eq!(r.read_ustring(), Ok(Some("é".to_owned())));
    }

    #[test]
    fn bad_lengths_are_errors() {
        assert_eq!(
            JuteReader::new(&[255, 255, 255, 254]).read_buffer(),
            Err(DecodeError::InvalidLength(-2))
        );
        assert_eq!(
            JuteReader::new(&[0, 0, 0, 5, 1, 2]).read_buffer(),
            Err(DecodeError::Truncated {
                needed: 5,
                remaining: 2
            })
        );
        assert_eq!(
            JuteReader::new(&[0, 0, 0, 2, 0xC3, 0x28]).read_ustring(),
            Err(DecodeError::InvalidUtf8)
        );
    }

    #[test]
    fn huge_vector_count_is_rejected_before_allocating() {
        let bytes = [0x7F, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0];
        let got = JuteReader::new(&bytes).read_vector(INT_LEN, |r| r.read_int());
        assert_eq!(
            got,
            Err(DecodeError::Truncated {
                needed: 0x7FFF_FFFF * 4,
                remaining: 4
            })
        );
    }

    #[test]
    fn vectors_round_trip_and_null_is_none() {
        let mut out = Vec::new();
        let mut w = JuteWriter::new(&mut out);
        w.write_strings(&["a".to_owned(), "bc".to_owned()]);
        w.write_int(-1);
        let mut r = JuteReader::new(&out);
        assert_eq!(
            r.read_strings("children"),
            Ok(vec!["a".to_owned(), "bc".to_owned()])
        );
        assert_eq!(r.read_vector(INT_LEN, |r| r.read_int()), Ok(None));
    }

    jute_record! {
        /// A nested record for the test below.
        #[derive(Debug, Default, PartialEq)]
        struct Pair {
            x: i32 as int,
            y: bool as boolean,
        }
    }

    jute_record! {
        /// One field of every kind `jute_record!` knows.
        #[derive(Debug, Default, PartialEq)]
        struct AllKinds {
            i: i32 as int,
            l: i64 as long,
            b: bool as boolean,
            s: String as ustring("AllKinds.s"),
            s_or_empty: String as ustring_or_empty,
            s_opt: Option<String> as ustring_opt,
            buf_opt: Option<Vec<u8>> as buffer_opt,
            buf_or_empty: Vec<u8> as buffer_or_empty,
            names: Vec<String> as vector_ustring("AllKinds.names"),
            pairs: Vec<Pair> as vector_record,
            pair: Pair as record,
        }
    }

    #[test]
    fn jute_record_encodes_fields_in_declaration_order() {
        let value = AllKinds {
            i: 1,
            l: 2,
            b: true,
            s: "s".into(),
            s_or_empty: "e".into(),
            s_opt: Some("o".into()),
            buf_opt: Some(vec![7]),
            buf_or_empty: vec![8],
            names: vec!["n".into()],
            pairs: vec![Pair { x: 3, y: false }],
            pair: Pair { x: 4, y: true },
        };
        #[rustfmt::skip]
        let expected: Vec<u8> = [
            &[0, 0, 0, 1][..],
            &[0, 0, 0, 0, 0, 0, 0, 2],
            &[1],
            &[0, 0, 0, 1, b's'],
            &[0, 0, 0, 1, b'e'],
            &[0, 0, 0, 1, b'o'],
            &[0, 0, 0, 1, 7],
            &[0, 0, 0, 1, 8],
            &[0, 0, 0, 1, 0, 0, 0, 1, b'n'],
            &[0, 0, 0, 1, 0, 0, 0, 3, 0],
            &[0, 0, 0, 4, 1],
        ]
        .concat();
        assert_eq!(value.to_bytes(), expected);
        assert_eq!(AllKinds::from_bytes(&expected), Ok(value));
    }

    #[test]
    fn jute_record_min_len_is_the_empty_encoding() {
        // 4 + 8 + 1, seven length prefixes, and the nested Pair's 4 + 1.
        assert_eq!(AllKinds::MIN_LEN, 46);
        assert_eq!(AllKinds::default().to_bytes().len(), AllKinds::MIN_LEN);
        assert_eq!(Pair::MIN_LEN, 5);
    }

    #[test]
    fn jute_record_null_rules_follow_the_kind() {
        let null = (-1i32).to_be_bytes();
        #[rustfmt::skip]
        let bytes: Vec<u8> = [
            &[0u8; 4 + 8 + 1][..],
            &[0, 0, 0, 0],
            &null, &null, &null, &null, &null, &null,
            &[0, 0, 0, 0, 0],
        ]
        .concat();
        assert_eq!(AllKinds::from_bytes(&bytes), Ok(AllKinds::default()));
        let mut null_s = bytes.clone();
        null_s[13..17].copy_from_slice(&null);
        assert_eq!(
            AllKinds::from_bytes(&null_s),
            Err(DecodeError::UnexpectedNull("AllKinds.s"))
        );
        let mut null_name = bytes[..33].to_vec();
        null_name.extend_from_slice(&[0, 0, 0, 1]);
        null_name.extend_from_slice(&null);
        assert_eq!(
            AllKinds::from_bytes(&null_name),
            Err(DecodeError::UnexpectedNull("AllKinds.names"))
        );
    }
}
