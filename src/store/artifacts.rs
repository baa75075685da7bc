//! Content-addressed artifact storage: each blob lives once, under the SHA-256 of its bytes, at
//! `<store root>/artifacts/sha256/<first 2 hex>/<remaining 62 hex>`. Identical models or reports
//! logged by many runs cost one file, a stored file never changes, and a reader can always check
//! that it got what was written.
//!
//! Writes go to a temporary file in the destination folder and are renamed into place, so a blob
//! is either absent or complete, even if the process dies mid-write or two writers race.

use std::fmt::Write as _;
use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Name of the artifact folder inside the store root.
const DIR_NAME: &str = "artifacts";
const ALGORITHM: &str = "sha256";

/// The artifact folder of a store.
#[derive(Debug, Clone)]
pub struct ArtifactStore {
    /// `<store root>/artifacts`.
    dir: PathBuf,
}

impl ArtifactStore {
    /// The artifact folder under `store_root`, created if missing.
    pub fn open(store_root: &Path) -> Result<Self> {
        let dir = store_root.join(DIR_NAME);
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(ArtifactStore { dir })
    }

    /// The folder holding the blobs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stores `bytes` and returns their digest (`"sha256:<hex>"`) and their path relative to the
    /// store root (with `/` separators). Storing the same bytes again does nothing.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<(String, String)> {
        let hex = sha256_hex(bytes);
        let digest = format!("{ALGORITHM}:{hex}");
        let relative = format!("{DIR_NAME}/{ALGORITHM}/{}/{}", &hex[..2], &hex[2..]);
        let path = self.blob_path(&hex);
        if path.is_file() {
            return Ok((digest, relative));
        }

        let parent = path.parent().expect("blob paths have a parent folder");
        fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        // Unique per writer, so concurrent writers of the same blob never share a temp file.
        let tmp = parent.join(format!(
            ".{}.{}-{:08x}.tmp",
            &hex[2..],
            std::process::id(),
            rand::random::<u32>()
        ));
        let written = (|| {
            let mut file = fs::File::create(&tmp)?;
            file.write_all(bytes)?;
            // Flush to disk before the rename publishes the name, or a crash could leave a
            // complete-looking name over incomplete content.
            file.sync_all()
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(Error::io(&tmp, e));
        }
        if let Err(e) = fs::rename(&tmp, &path) {
            let _ = fs::remove_file(&tmp);
            return Err(Error::io(&path, e));
        }
        Ok((digest, relative))
    }

    /// The bytes stored under `digest`, checked against it.
    pub fn get(&self, digest: &str) -> Result<Vec<u8>> {
        let hex = parse_digest(digest)?;
        let path = self.blob_path(hex);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(Error::not_found("artifact", digest));
            }
            Err(e) => return Err(Error::io(&path, e)),
        };
        let actual = sha256_hex(&bytes);
        if actual != hex {
            return Err(Error::invalid(format!(
                "artifact {digest} is corrupt: {} holds content with digest {ALGORITHM}:{actual}",
                path.display()
            )));
        }
        Ok(bytes)
    }

    /// Where the blob for `digest` lives (whether or not it exists). A malformed digest maps to a
    /// path that is never written, so callers cannot be led outside the artifact folder.
    pub fn path_of(&self, digest: &str) -> PathBuf {
        match parse_digest(digest) {
            Ok(hex) => self.blob_path(hex),
            Err(_) => self.dir.join(ALGORITHM).join("invalid-digest"),
        }
    }

    /// Whether a blob for `digest` is stored (false for a malformed digest).
    pub fn exists(&self, digest: &str) -> bool {
        parse_digest(digest).is_ok_and(|hex| self.blob_path(hex).is_file())
    }

    fn blob_path(&self, hex: &str) -> PathBuf {
        self.dir.join(ALGORITHM).join(&hex[..2]).join(&hex[2..])
    }
}

/// The hex part of a well-formed `"sha256:<64 lowercase hex>"` digest.
fn parse_digest(digest: &str) -> Result<&str> {
    digest
        .strip_prefix("sha256:")
        .filter(|hex| {
            hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
        .ok_or_else(|| {
            Error::invalid(format!(
                "malformed artifact digest {digest:?}; expected \"sha256:\" and 64 lowercase hex digits"
            ))
        })
}

fn sha256_hex(bytes: &[u8]) -> String {
    let mut hex = String::with_capacity(64);
    for byte in Sha256::digest(bytes) {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_content_addressed_and_idempotent() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ArtifactStore::open(tmp.path()).unwrap();
        let (digest, rel) = store.put_bytes(b"hello").unwrap();
        assert_eq!(
            digest,
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(
            rel,
            "artifacts/sha256/2c/f24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert!(tmp.path().join(&rel).is_file());
        assert_eq!(store.path_of(&digest), tmp.path().join(&rel));
        assert!(store.exists(&digest));
        assert_eq!(store.get(&digest).unwrap(), b"hello");

        // Same bytes again: same answer, one file, no temp files left behind.
        assert_eq!(store.put_bytes(b"hello").unwrap(), (digest.clone(), rel));
        let folder = store.path_of(&digest).parent().unwrap().to_path_buf();
        assert_eq!(fs::read_dir(folder).unwrap().count(), 1);
    }

    #[test]
    fn missing_malformed_and_corrupt_blobs_are_reported() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ArtifactStore::open(tmp.path()).unwrap();
        let missing = format!("sha256:{}", "ab".repeat(32));
        assert!(!store.exists(&missing));
        assert!(matches!(
            store.get(&missing),
            Err(Error::NotFound { what: "artifact", name }) if name == missing
        ));

        assert!(matches!(
            store.get("sha256:../../etc"),
            Err(Error::Invalid(_))
        ));
        assert!(!store.exists("md5:abc"));
        assert!(store.path_of("sha256:../x").starts_with(store.dir()));

        let (digest, _) = store.put_bytes(b"model").unwrap();
        fs::write(store.path_of(&digest), b"tampered").unwrap();
        assert!(matches!(store.get(&digest), Err(Error::Invalid(msg)) if msg.contains("corrupt")));
    }
}
