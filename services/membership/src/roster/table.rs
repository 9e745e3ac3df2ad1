//! One CSV file of a roster, read as a stream of rows.
//!
//! Everything that can be wrong with a file is reported, never panicked on:
//! a missing or empty file, a header without the required columns, a file
//! larger than [`Limits::max_file_bytes`] or with more rows than
//! [`Limits::max_rows`] (a [`FileError`]: the file cannot be imported), and
//! rows with the wrong number of fields or bytes that are not UTF-8 (a
//! [`Rejection`] naming the row; the other rows go on). Rows are decoded
//! field by field from `csv` byte records, so one bad byte costs one row, not
//! the file. A UTF-8 byte-order mark before the header is accepted.
//!
//! Columns are found by name (trimmed, case-insensitive); extra columns are
//! ignored, so files with extension columns (`metadata.*`) read as well.

use std::{
    collections::HashMap,
    fmt,
    io::{self, Read},
};

use sha2::{Digest, Sha256};

use super::{FileError, Limits, Rejection, RowRef};

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The header of a table: its column names and where each is.
#[derive(Debug)]
pub struct Header {
    file: String,
    index: HashMap<String, usize>,
    id_column: String,
}

/// One data row whose every field decoded and whose length matches the header.
#[derive(Debug)]
pub struct Row<'h> {
    header: &'h Header,
    pub at: RowRef,
    values: Vec<String>,
}

impl Row<'_> {
    /// The trimmed value of `column`; `""` when the file has no such column.
    pub fn get(&self, column: &str) -> &str {
        self.header
            .index
            .get(&column.to_ascii_lowercase())
            .and_then(|&i| self.values.get(i))
            .map(|s| s.trim())
            .unwrap_or("")
    }

    /// The row's id (its `sourcedId` / `external_id`), trimmed.
    pub fn id(&self) -> &str {
        self.get(&self.header.id_column)
    }

    /// A rejection of this row for `reason`.
    pub fn reject(&self, reason: impl Into<String>) -> Rejection {
        let id = self.id();
        Rejection {
            file: self.header.file.clone(),
            row: self.at.row,
            line: self.at.line,
            id: (!id.is_empty()).then(|| id.to_string()),
            reason: reason.into(),
        }
    }
}

/// What a reader of a table learns besides its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRead {
    /// Data rows read (the header not counted), good or rejected.
    pub rows: u64,
    /// SHA-256 of the file's bytes.
    pub digest: [u8; 32],
}

/// The marker inside the I/O error raised when a file passes its size limit.
#[derive(Debug)]
struct TooLarge;

impl fmt::Display for TooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("file larger than its limit")
    }
}

impl std::error::Error for TooLarge {}

/// Counts and hashes what passes, and fails once more than `left` bytes came.
struct Guarded<R> {
    inner: R,
    left: u64,
    hasher: Sha256,
}

impl<R: Read> Read for Guarded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            // At the limit: only the end of the file may follow.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::other(TooLarge)),
            };
        }
        let max = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        self.left -= n as u64;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// `1536` → `1.5 KiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["bytes", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Reads `file` row by row. Rows that decode go to `each` as `Ok`; rows that
/// do not (wrong field count, not UTF-8) go to `each` as `Err` with the reason,
/// so the caller sees every row and its id either way. `required` columns
/// must all be in the header; `id_column` names rows in rejections.
pub fn read_table<R: Read>(
    file: &str,
    reader: R,
    len: Option<u64>,
    required: &[&str],
    id_column: &str,
    limits: &Limits,
    mut each: impl FnMut(Result<Row<'_>, Rejection>),
) -> Result<TableRead, FileError> {
    let limit = |size: Option<u64>| FileError {
        file: file.to_string(),
        message: format!(
            "is {}larger than the limit of {} (raise it with --max-file-size if this is right)",
            size.map(|n| format!("{}, ", human_bytes(n)))
                .unwrap_or_default(),
            human_bytes(limits.max_file_bytes)
        ),
    };
    if let Some(len) = len
        && len > limits.max_file_bytes
    {
        return Err(limit(Some(len)));
    }
    let io_error = |e: csv::Error| -> FileError {
        if let csv::ErrorKind::Io(io) = e.kind()
            && io.get_ref().is_some_and(|inner| inner.is::<TooLarge>())
        {
            return limit(None);
        }
        FileError {
            file: file.to_string(),
            message: format!("cannot be read: {e}"),
        }
    };

    let guarded = Guarded {
        inner: reader,
        left: limits.max_file_bytes,
        hasher: Sha256::new(),
    };
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(guarded);
    let mut record = csv::ByteRecord::new();

    if !csv.read_byte_record(&mut record).map_err(io_error)? {
        return Err(FileError {
            file: file.to_string(),
            message: "is empty: the first line must be the header row".into(),
        });
    }
    let mut names = Vec::with_capacity(record.len());
    for (i, field) in record.iter().enumerate() {
        let field = if i == 0 {
            field.strip_prefix(BOM).unwrap_or(field)
        } else {
            field
        };
        let name = std::str::from_utf8(field).map_err(|_| FileError {
            file: file.to_string(),
            message: "the header row is not UTF-8 text".into(),
        })?;
        names.push(name.trim().to_string());
    }
    let mut index = HashMap::new();
    for (i, name) in names.iter().enumerate() {
        if name.is_empty() {
            continue;
        }
        if index.insert(name.to_ascii_lowercase(), i).is_some() {
            return Err(FileError {
                file: file.to_string(),
                message: format!("the header names column {name:?} twice"),
            });
        }
    }
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|c| !index.contains_key(&c.to_ascii_lowercase()))
        .collect();
    if !missing.is_empty() {
        return Err(FileError {
            file: file.to_string(),
            message: format!(
                "the header lacks column{} {} (it has: {})",
                if missing.len() == 1 { "" } else { "s" },
                missing.join(", "),
                names.join(", ")
            ),
        });
    }
    let header = Header {
        file: file.to_string(),
        index,
        id_column: id_column.to_string(),
    };
    let id_index = header.index.get(&id_column.to_ascii_lowercase()).copied();

    let mut rows = 0u64;
    while csv.read_byte_record(&mut record).map_err(io_error)? {
        rows += 1;
        if rows > limits.max_rows {
            return Err(FileError {
                file: file.to_string(),
                message: format!(
                    "has more than {} rows (raise the limit with --max-rows if this is right)",
                    limits.max_rows
                ),
            });
        }
        let at = RowRef {
            file: file.to_string(),
            row: rows + 1,
            line: record.position().map_or(0, |p| p.line()),
        };
        let lossy_id = id_index
            .and_then(|i| record.get(i))
            .map(|f| String::from_utf8_lossy(f).trim().to_string())
            .filter(|s| !s.is_empty());
        let rejection = |reason: String| Rejection {
            file: file.to_string(),
            row: at.row,
            line: at.line,
            id: lossy_id.clone(),
            reason,
        };
        if record.len() != names.len() {
            each(Err(rejection(format!(
                "has {} fields; the header has {}",
                record.len(),
                names.len()
            ))));
            continue;
        }
        let mut values = Vec::with_capacity(record.len());
        let mut bad = None;
        for (i, field) in record.iter().enumerate() {
            match std::str::from_utf8(field) {
                Ok(s) => values.push(s.to_string()),
                Err(e) => {
                    let byte = field.get(e.valid_up_to()).copied().unwrap_or(0);
                    bad = Some(format!(
                        "{} is not UTF-8 text (byte 0x{byte:02X}; Latin-1 or Windows-1252?): \
                         save the file as UTF-8",
                        names.get(i).map_or("a field", String::as_str)
                    ));
                    break;
                }
            }
        }
        match bad {
            Some(reason) => each(Err(rejection(reason))),
            None => each(Ok(Row {
                header: &header,
                at,
                values,
            })),
        }
    }
    let digest = csv.into_inner().hasher.finalize().into();
    Ok(TableRead { rows, digest })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What reading gave: the result, the good rows as `(row, "id|name")`, the rejections.
    type Read = (
        Result<TableRead, FileError>,
        Vec<(u64, String)>,
        Vec<Rejection>,
    );

    fn read(bytes: &[u8], required: &[&str], limits: &Limits) -> Read {
        let mut good = vec![];
        let mut bad = vec![];
        let result = read_table(
            "t.csv",
            bytes,
            None,
            required,
            "id",
            limits,
            |row| match row {
                Ok(row) => good.push((row.at.row, format!("{}|{}", row.id(), row.get("Name")))),
                Err(r) => bad.push(r),
            },
        );
        (result, good, bad)
    }

    #[test]
    fn rows_are_read_by_column_name_with_a_bom_and_quoted_newlines() {
        let (result, good, bad) = read(
            b"\xEF\xBB\xBFid,NAME,extra\n1, Ana ,x\n\"2\",\"Bo\nChen\",y\n3,Cy,z\n",
            &["id", "name"],
            &Limits::default(),
        );
        assert_eq!(result.unwrap().rows, 3);
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(
            good,
            [
                (2, "1|Ana".into()),
                (3, "2|Bo\nChen".into()),
                (4, "3|Cy".into())
            ]
        );
    }

    #[test]
    fn bad_rows_are_rejected_and_the_rest_read() {
        let (result, good, bad) = read(
            b"id,name\n1,Ana\n2,Jos\xE9\n3\n4,Di,extra\n5,Eve\n",
            &["id", "name"],
            &Limits::default(),
        );
        assert_eq!(result.unwrap().rows, 5);
        assert_eq!(good.iter().map(|g| g.0).collect::<Vec<_>>(), [2, 6]);
        let reasons: Vec<(u64, Option<&str>, &str)> = bad
            .iter()
            .map(|r| (r.row, r.id.as_deref(), r.reason.as_str()))
            .collect();
        assert_eq!(reasons[0].0, 3);
        assert_eq!(reasons[0].1, Some("2"));
        assert!(
            reasons[0]
                .2
                .starts_with("name is not UTF-8 text (byte 0xE9")
        );
        assert_eq!(reasons[1], (4, Some("3"), "has 1 fields; the header has 2"));
        assert_eq!(reasons[2], (5, Some("4"), "has 3 fields; the header has 2"));
    }

    #[test]
    fn file_problems_are_file_errors() {
        let limits = Limits::default();
        let missing = read(b"id,given\n1,a\n", &["id", "name", "email"], &limits)
            .0
            .unwrap_err();
        assert_eq!(
            missing.message,
            "the header lacks columns name, email (it has: id, given)"
        );
        let empty = read(b"", &["id"], &limits).0.unwrap_err();
        assert!(empty.message.starts_with("is empty"), "{empty:?}");
        let twice = read(b"id,Id\n", &["id"], &limits).0.unwrap_err();
        assert!(twice.message.contains("twice"), "{twice:?}");

        let small = Limits {
            max_file_bytes: 20,
            max_rows: 2,
        };
        let big = read(b"id,name\n1,Ana\n2,Bo\n3,Cy\n", &["id"], &small)
            .0
            .unwrap_err();
        assert!(
            big.message
                .starts_with("is larger than the limit of 20 bytes"),
            "{big:?}"
        );
        let exact = read(b"id,name\n1,Ana\n2,Bo\n", &["id"], &small).0.unwrap();
        assert_eq!(exact.rows, 2);
        let many = read(b"id\n1\n2\n3\n", &["id"], &small).0.unwrap_err();
        assert!(many.message.starts_with("has more than 2 rows"), "{many:?}");
        let declared =
            read_table("t.csv", &b""[..], Some(3 << 30), &[], "id", &limits, |_| {}).unwrap_err();
        assert!(
            declared.message.starts_with("is 3.0 GiB, larger than"),
            "{declared:?}"
        );
    }

    #[test]
    fn the_digest_covers_every_byte() {
        let a = read(b"id\n1\n", &["id"], &Limits::default()).0.unwrap();
        let b = read(b"id\n2\n", &["id"], &Limits::default()).0.unwrap();
        assert_ne!(a.digest, b.digest);
        assert_eq!(
            a.digest,
            <[u8; 32]>::from(Sha256::digest(b"id\n1\n")),
            "the hash of the file as it is on disk"
        );
    }
}
