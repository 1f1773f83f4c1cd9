//! Rows in PostgreSQL's binary `COPY` format ("Binary Format" of the `COPY`
//! reference): a signature and two zero words, then per row its field count and per
//! field its length (-1 for NULL) and bytes, then -1. Text is its UTF-8 bytes,
//! `int8` eight bytes big-endian, `bool` one byte.

use crate::StoreError;

/// The signature, the flags (no OIDs) and the header extension's length (none).
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// Rows being encoded.
pub(crate) struct Rows {
    data: Vec<u8>,
    /// A field too long for its length word: the copy is refused, not cut.
    too_long: bool,
}

impl Rows {
    /// Room for `rows` rows of about `row_len` bytes each.
    pub(crate) fn new(rows: usize, row_len: usize) -> Self {
        let mut data = Vec::with_capacity(HEADER.len() + rows.saturating_mul(row_len) + 2);
        data.extend_from_slice(HEADER);
        Self {
            data,
            too_long: false,
        }
    }

    /// Starts a row of `fields` fields.
    pub(crate) fn row(&mut self, fields: i16) {
        self.data.extend_from_slice(&fields.to_be_bytes());
    }

    /// A text field, or NULL.
    pub(crate) fn text(&mut self, text: Option<&str>) {
        self.field(text.map(str::as_bytes));
    }

    /// An `int8` field, or NULL.
    pub(crate) fn int8(&mut self, n: Option<i64>) {
        self.field(n.map(i64::to_be_bytes).as_ref().map(|bytes| bytes.as_slice()));
    }

    /// A `bool` field.
    pub(crate) fn bool(&mut self, value: bool) {
        self.field(Some(&[u8::from(value)]));
    }

    fn field(&mut self, bytes: Option<&[u8]>) {
        let Some(bytes) = bytes else {
            self.data.extend_from_slice(&(-1i32).to_be_bytes());
            return;
        };
        let Ok(len) = i32::try_from(bytes.len()) else {
            self.too_long = true;
            return;
        };
        self.data.extend_from_slice(&len.to_be_bytes());
        self.data.extend_from_slice(bytes);
    }

    /// The encoded rows with the trailer, or an error if a field could not be encoded.
    pub(crate) fn finish(mut self) -> Result<Vec<u8>, StoreError> {
        if self.too_long {
            return Err(StoreError::FieldTooLong);
        }
        self.data.extend_from_slice(&(-1i16).to_be_bytes());
        Ok(self.data)
    }
}

/// The error of a write to a `COPY`: the client's own error, which it wraps.
pub(crate) fn error(error: std::io::Error) -> StoreError {
    match error
        .into_inner()
        .map(|inner| inner.downcast::<postgres::Error>())
    {
        Some(Ok(error)) => StoreError::Postgres(*error),
        Some(Err(other)) => StoreError::Copy(other.to_string()),
        None => StoreError::Copy("the connection refused the rows".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_encoded_as_the_copy_reference_says() {
        let mut rows = Rows::new(1, 16);
        rows.row(4);
        rows.text(Some("é"));
        rows.text(None);
        rows.int8(Some(-2));
        rows.bool(true);
        let data = rows.finish().unwrap();
        let mut expected = b"PGCOPY\n\xff\r\n\0".to_vec();
        expected.extend([0, 0, 0, 0, 0, 0, 0, 0]);
        expected.extend([0, 4]);
        expected.extend([0, 0, 0, 2, 0xc3, 0xa9]);
        expected.extend([0xff, 0xff, 0xff, 0xff]);
        expected.extend([0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]);
        expected.extend([0, 0, 0, 1, 1]);
        expected.extend([0xff, 0xff]);
        assert_eq!(data, expected);
    }
}
