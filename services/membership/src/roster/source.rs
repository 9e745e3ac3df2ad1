//! Where the files of a roster come from: a directory on disk (the CLI) or
//! bytes already in memory (tests; an upload). The parsers read through
//! [`RosterFiles`] and never touch paths themselves.

use std::{
    collections::BTreeMap,
    fs::File,
    io::{self, Read},
    path::{Path, PathBuf},
};

/// One file, opened: a reader and, when known, its length (checked against
/// the size limit before a byte is read).
pub struct RosterFile {
    pub reader: Box<dyn Read + Send>,
    pub len: Option<u64>,
}

/// A set of named files.
pub trait RosterFiles {
    /// The file called `name`, or `None` when the set has none.
    fn open(&self, name: &str) -> io::Result<Option<RosterFile>>;
}

/// The files of one directory, e.g. an unpacked OneRoster export.
#[derive(Debug, Clone)]
pub struct Directory(PathBuf);

impl Directory {
    /// Refers to `path`, which must be a directory.
    pub fn new(path: &Path) -> io::Result<Self> {
        if path.is_dir() {
            Ok(Self(path.to_path_buf()))
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} is not a directory", path.display()),
            ))
        }
    }
}

impl RosterFiles for Directory {
    fn open(&self, name: &str) -> io::Result<Option<RosterFile>> {
        match File::open(self.0.join(name)) {
            Ok(file) => {
                let len = file.metadata().ok().map(|m| m.len());
                Ok(Some(RosterFile {
                    reader: Box::new(file),
                    len,
                }))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Files held in memory, by name.
#[derive(Debug, Clone, Default)]
pub struct InMemory(pub BTreeMap<String, Vec<u8>>);

impl InMemory {
    pub fn with(mut self, name: &str, bytes: impl Into<Vec<u8>>) -> Self {
        self.0.insert(name.to_string(), bytes.into());
        self
    }
}

impl RosterFiles for InMemory {
    fn open(&self, name: &str) -> io::Result<Option<RosterFile>> {
        Ok(self.0.get(name).map(|bytes| RosterFile {
            len: Some(bytes.len() as u64),
            reader: Box::new(io::Cursor::new(bytes.clone())),
        }))
    }
}
