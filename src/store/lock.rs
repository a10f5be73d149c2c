//! [`DirLock`]: one process per SQLite database. SQLite itself would let a second hub open the
//! same file and both would publish the same changes; an exclusive advisory lock on a file
//! beside the database, held for the store's lifetime, refuses the second one up front.
//!
//! The lock is `flock`-style (std's `File::try_lock`): released by the OS when the process
//! ends however it ends, so a crash never leaves a stale lock behind. The file holds the pid
//! of its holder, for the error message only.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::StoreError;

/// An exclusive lock on `path`, held until dropped.
#[derive(Debug)]
pub struct DirLock {
    path: PathBuf,
    _file: File,
}

impl DirLock {
    /// Takes the lock without waiting; [`StoreError::Locked`] if another holder has it.
    pub fn acquire(path: &Path) -> Result<Self, StoreError> {
        let io = |source| StoreError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false) // the holder's pid stays readable for the message
            .open(path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Locked {
                    lock: path.to_owned(),
                    holder: read_holder(&mut file),
                });
            }
            Err(std::fs::TryLockError::Error(source)) => return Err(io(source)),
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(Self {
            path: path.to_owned(),
            _file: file,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn read_holder(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db.lock");
        let first = DirLock::acquire(&path).expect("first lock");
        match DirLock::acquire(&path) {
            Err(StoreError::Locked { lock, holder }) => {
                assert_eq!(lock, path);
                assert_eq!(holder, Some(std::process::id()));
            }
            other => panic!("expected Locked, got {other:?}"),
        }
        drop(first);
        DirLock::acquire(&path).expect("free again once dropped");
    }
}
