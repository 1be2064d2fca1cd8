//! The binary reader and writer of Kafka's generated message format, shared by the
//! `__consumer_offsets` record schemas (`records`) and the consumer embedded protocol
//! (`consumer_protocol`). The encodings are described byte by byte in `records`' module
//! documentation; non-flexible messages (the consumer protocol, record keys, old value
//! versions) are the same format without varints and tagged fields.
//!
//! Reading never panics: every read is bounded by the bytes remaining, array counts are
//! checked against them before anything is allocated, negative lengths other than `-1`
//! (null) are errors. Writing cannot fail: lengths are clamped to what their prefix can
//! express (see `MAX_STRING_LEN`).

use std::marker::PhantomData;

use bytes::Bytes;
use uuid::Uuid;

/// The longest string, in bytes, that a message can hold (Kafka's int16 limit, applied by
/// Kafka to compact strings too).
pub const MAX_STRING_LEN: usize = i16::MAX as usize;

/// How a decoding error is built: each user of [`Reader`] has its own error type, naming
/// its message (`name`), the version and the field that failed.
pub(crate) trait DecodeError {
    /// The buffer ended inside a field.
    fn truncated(name: &'static str, version: i16, field: &'static str) -> Self;
    /// A length or count is negative (other than null), longer than the bytes remaining,
    /// or longer than the type allows.
    fn invalid_length(name: &'static str, version: i16, field: &'static str, length: i64) -> Self;
    /// A non-nullable field was encoded as null.
    fn unexpected_null(name: &'static str, version: i16, field: &'static str) -> Self;
    /// A string is not valid UTF-8.
    fn invalid_utf8(name: &'static str, version: i16, field: &'static str) -> Self;
    /// An unsigned varint is longer than 5 bytes or does not fit in 32 bits.
    fn invalid_varint(name: &'static str, version: i16, field: &'static str) -> Self;
}

/// A bounds-checked cursor over one message, in non-flexible or flexible mode. `E` is the
/// caller's error type; errors name the message (`name`), its version and the field.
pub(crate) struct Reader<'a, E> {
    buf: &'a [u8],
    name: &'static str,
    version: i16,
    flexible: bool,
    error: PhantomData<E>,
}

impl<'a, E: DecodeError> Reader<'a, E> {
    pub(crate) fn new(buf: &'a [u8], name: &'static str, version: i16, flexible: bool) -> Self {
        Reader {
            buf,
            name,
            version,
            flexible,
            error: PhantomData,
        }
    }

    /// The version this reader decodes.
    pub(crate) fn version(&self) -> i16 {
        self.version
    }

    /// A reader over a nested slice (a tagged field's bytes), same context.
    pub(crate) fn sub(&self, buf: &'a [u8]) -> Reader<'a, E> {
        Reader::new(buf, self.name, self.version, self.flexible)
    }

    fn truncated(&self, field: &'static str) -> E {
        E::truncated(self.name, self.version, field)
    }

    fn invalid_length(&self, field: &'static str, length: i64) -> E {
        E::invalid_length(self.name, self.version, field, length)
    }

    fn unexpected_null(&self, field: &'static str) -> E {
        E::unexpected_null(self.name, self.version, field)
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], E> {
        if n > self.buf.len() {
            return Err(self.truncated(field));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn fixed<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], E> {
        let s = self.take(N, field)?;
        <[u8; N]>::try_from(s).map_err(|_| self.truncated(field))
    }

    pub(crate) fn i8(&mut self, field: &'static str) -> Result<i8, E> {
        Ok(i8::from_be_bytes(self.fixed(field)?))
    }

    pub(crate) fn i16(&mut self, field: &'static str) -> Result<i16, E> {
        Ok(i16::from_be_bytes(self.fixed(field)?))
    }

    pub(crate) fn i32(&mut self, field: &'static str) -> Result<i32, E> {
        Ok(i32::from_be_bytes(self.fixed(field)?))
    }

    pub(crate) fn i64(&mut self, field: &'static str) -> Result<i64, E> {
        Ok(i64::from_be_bytes(self.fixed(field)?))
    }

    pub(crate) fn uuid(&mut self, field: &'static str) -> Result<Uuid, E> {
        Ok(Uuid::from_bytes(self.fixed(field)?))
    }

    pub(crate) fn uvarint(&mut self, field: &'static str) -> Result<u32, E> {
        let mut value: u32 = 0;
        for i in 0..5u32 {
            let [b] = self.fixed::<1>(field)?;
            let part = u32::from(b & 0x7f);
            if i == 4 && part > 0x0f {
                break;
            }
            value |= part << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(E::invalid_varint(self.name, self.version, field))
    }

    /// The length prefix of a string: `None` for null.
    fn string_len(&mut self, field: &'static str) -> Result<Option<usize>, E> {
        let len = if self.flexible {
            match self.uvarint(field)? {
                0 => return Ok(None),
                n => u64::from(n - 1),
            }
        } else {
            match self.i16(field)? {
                -1 => return Ok(None),
                n if n < 0 => return Err(self.invalid_length(field, i64::from(n))),
                n => n as u64,
            }
        };
        if len > MAX_STRING_LEN as u64 {
            return Err(self.invalid_length(field, len as i64));
        }
        Ok(Some(len as usize))
    }

    /// The length prefix of bytes or of an array: `None` for null.
    pub(crate) fn long_len(&mut self, field: &'static str) -> Result<Option<usize>, E> {
        if self.flexible {
            match self.uvarint(field)? {
                0 => Ok(None),
                n => Ok(Some((n - 1) as usize)),
            }
        } else {
            match self.i32(field)? {
                -1 => Ok(None),
                n if n < 0 => Err(self.invalid_length(field, i64::from(n))),
                n => Ok(Some(n as usize)),
            }
        }
    }

    pub(crate) fn nullable_string(&mut self, field: &'static str) -> Result<Option<String>, E> {
        let Some(len) = self.string_len(field)? else {
            return Ok(None);
        };
        let raw = self.take(len, field)?;
        match std::str::from_utf8(raw) {
            Ok(s) => Ok(Some(s.to_owned())),
            Err(_) => Err(E::invalid_utf8(self.name, self.version, field)),
        }
    }

    pub(crate) fn string(&mut self, field: &'static str) -> Result<String, E> {
        match self.nullable_string(field)? {
            Some(s) => Ok(s),
            None => Err(self.unexpected_null(field)),
        }
    }

    pub(crate) fn nullable_bytes(&mut self, field: &'static str) -> Result<Option<Bytes>, E> {
        match self.long_len(field)? {
            Some(len) => Ok(Some(Bytes::copy_from_slice(self.take(len, field)?))),
            None => Ok(None),
        }
    }

    pub(crate) fn bytes(&mut self, field: &'static str) -> Result<Bytes, E> {
        match self.long_len(field)? {
            Some(len) => Ok(Bytes::copy_from_slice(self.take(len, field)?)),
            None => Err(self.unexpected_null(field)),
        }
    }

    /// The count of a non-nullable array whose elements take at least
    /// `min_elem` bytes each; a count the remaining bytes cannot hold is an
    /// error, so callers may allocate `count` elements up front.
    pub(crate) fn array_len(&mut self, field: &'static str, min_elem: usize) -> Result<usize, E> {
        let Some(n) = self.long_len(field)? else {
            return Err(self.unexpected_null(field));
        };
        if n.saturating_mul(min_elem.max(1)) > self.buf.len() {
            return Err(self.invalid_length(field, n as i64));
        }
        Ok(n)
    }

    pub(crate) fn i32_array(&mut self, field: &'static str) -> Result<Vec<i32>, E> {
        let n = self.array_len(field, 4)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.i32(field)?);
        }
        Ok(out)
    }

    pub(crate) fn string_array(&mut self, field: &'static str) -> Result<Vec<String>, E> {
        let min = if self.flexible { 1 } else { 2 };
        let n = self.array_len(field, min)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.string(field)?);
        }
        Ok(out)
    }

    pub(crate) fn struct_array<T>(
        &mut self,
        field: &'static str,
        min_elem: usize,
        mut read: impl FnMut(&mut Self) -> Result<T, E>,
    ) -> Result<Vec<T>, E> {
        let n = self.array_len(field, min_elem)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(read(self)?);
        }
        Ok(out)
    }

    /// Reads the tagged-field section (flexible versions only), handing each
    /// field's tag and bytes to `known`; unknown tags are for `known` to
    /// ignore. A no-op in non-flexible versions.
    pub(crate) fn tagged_fields(
        &mut self,
        field: &'static str,
        mut known: impl FnMut(&Self, u32, &'a [u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        if !self.flexible {
            return Ok(());
        }
        let count = self.uvarint(field)?;
        // Each field takes at least two bytes, so a bogus count runs out of
        // input (and errors) after at most len/2 iterations.
        for _ in 0..count {
            let tag = self.uvarint(field)?;
            let size = self.uvarint(field)? as usize;
            let data = self.take(size, field)?;
            known(self, tag, data)?;
        }
        Ok(())
    }

    pub(crate) fn skip_tagged_fields(&mut self, field: &'static str) -> Result<(), E> {
        self.tagged_fields(field, |_, _, _| Ok(()))
    }
}

/// Truncates `s` to at most `max` bytes at a character boundary.
pub(crate) fn clamp_str(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

/// Builds one message, in non-flexible or flexible mode.
pub(crate) struct Writer {
    buf: Vec<u8>,
    flexible: bool,
}

impl Writer {
    pub(crate) fn new(version: i16, flexible: bool) -> Self {
        let mut w = Writer {
            buf: Vec::with_capacity(64),
            flexible,
        };
        w.i16(version);
        w
    }

    /// A writer for a nested part (a tagged field's bytes), no version prefix.
    pub(crate) fn nested(flexible: bool) -> Self {
        Writer {
            buf: Vec::new(),
            flexible,
        }
    }

    pub(crate) fn i8(&mut self, v: i8) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn i16(&mut self, v: i16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn uuid(&mut self, v: &Uuid) {
        self.buf.extend_from_slice(v.as_bytes());
    }

    pub(crate) fn uvarint(&mut self, mut v: u32) {
        while v >= 0x80 {
            self.buf.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    pub(crate) fn nullable_string(&mut self, s: Option<&str>) {
        match s {
            None if self.flexible => self.uvarint(0),
            None => self.i16(-1),
            Some(s) => {
                let s = clamp_str(s, MAX_STRING_LEN);
                if self.flexible {
                    self.uvarint(s.len() as u32 + 1);
                } else {
                    self.i16(s.len() as i16);
                }
                self.buf.extend_from_slice(s.as_bytes());
            }
        }
    }

    pub(crate) fn string(&mut self, s: &str) {
        self.nullable_string(Some(s));
    }

    /// Writes an array or bytes length and returns how many elements/bytes
    /// may follow (the length clamped to what the prefix can express).
    pub(crate) fn long_len(&mut self, n: usize) -> usize {
        if self.flexible {
            let n = n.min(u32::MAX as usize - 1);
            self.uvarint(n as u32 + 1);
            n
        } else {
            let n = n.min(i32::MAX as usize);
            self.i32(n as i32);
            n
        }
    }

    pub(crate) fn nullable_bytes(&mut self, b: Option<&[u8]>) {
        match b {
            None if self.flexible => self.uvarint(0),
            None => self.i32(-1),
            Some(b) => self.bytes(b),
        }
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) {
        let n = self.long_len(b.len());
        self.buf.extend_from_slice(b.get(..n).unwrap_or(b));
    }

    pub(crate) fn i32_array(&mut self, v: &[i32]) {
        let n = self.long_len(v.len());
        for x in v.iter().take(n) {
            self.i32(*x);
        }
    }

    pub(crate) fn string_array(&mut self, v: &[String]) {
        let n = self.long_len(v.len());
        for s in v.iter().take(n) {
            self.string(s);
        }
    }

    pub(crate) fn struct_array<T>(&mut self, v: &[T], mut write: impl FnMut(&mut Self, &T)) {
        let n = self.long_len(v.len());
        for x in v.iter().take(n) {
            write(self, x);
        }
    }

    /// Writes a tagged-field section (flexible versions only); `fields` must
    /// be in ascending tag order.
    pub(crate) fn tagged_fields(&mut self, fields: &[(u32, Vec<u8>)]) {
        if !self.flexible {
            return;
        }
        self.uvarint(fields.len() as u32);
        for (tag, data) in fields {
            self.uvarint(*tag);
            self.uvarint(data.len() as u32);
            self.buf.extend_from_slice(data);
        }
    }

    /// Writes an empty tagged-field section (flexible versions only).
    pub(crate) fn no_tagged_fields(&mut self) {
        self.tagged_fields(&[]);
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.buf
    }
}
