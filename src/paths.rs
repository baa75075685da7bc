//! Paths built from names and references that users or files supply (an endpoint name, a data
//! version id, a file named in an import manifest): joined under their root and checked to stay
//! there, so that `..`, `.`, an absolute path or a separator in a name can never make cerebro
//! read or write outside the folder it meant.
//!
//! The check is lexical (on the path's components), not on the resolved file system: a root or
//! a folder under it that the user made a symlink stays theirs to point anywhere.

use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// `root/name`, where `name` must be one plain path component: not empty, not `.` or `..`,
/// without `/` (or `\`) and without NUL. `what` names the value in the error ("endpoint name").
pub fn child(root: &Path, name: &str, what: &str) -> Result<PathBuf> {
    let plain = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && matches!(
            Path::new(name).components().collect::<Vec<_>>().as_slice(),
            [Component::Normal(_)]
        );
    if !plain {
        return Err(Error::invalid(format!(
            "{what} `{name}` cannot name a folder under {}: use a plain name (not empty, not `.` or `..`, no `/`)",
            root.display()
        )));
    }
    Ok(root.join(name))
}

/// `root/rel`, where `rel` must be relative and made only of plain components (`.` is
/// skipped; `..`, a root or a drive prefix is refused), so the result stays under `root`.
pub fn join_under(root: &Path, rel: &Path, what: &str) -> Result<PathBuf> {
    let mut out = root.to_path_buf();
    for c in rel.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(Error::invalid(format!(
                    "{what} `{}` points outside {}: only a relative path under it is allowed",
                    rel.display(),
                    root.display()
                )));
            }
        }
    }
    if out == root {
        return Err(Error::invalid(format!(
            "{what} `{}` names no file under {}",
            rel.display(),
            root.display()
        )));
    }
    debug_assert!(out.starts_with(root));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_plain_component() {
        let root = Path::new("/w/data/inference");
        assert_eq!(
            child(root, "characters", "endpoint name").unwrap(),
            root.join("characters")
        );
        assert!(child(root, "a.b-c_1", "x").is_ok());
        assert!(child(root, ".hidden", "x").is_ok());
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/../../b",
            "a/b",
            "/abs",
            "a\\b",
            "x\0y",
        ] {
            let e = child(root, bad, "endpoint name").unwrap_err().to_string();
            assert!(e.contains("plain name"), "{bad}: {e}");
        }
    }

    #[test]
    fn relative_paths_stay_under_their_root() {
        let root = Path::new("/w/import");
        assert_eq!(
            join_under(root, Path::new("./model.json"), "file").unwrap(),
            root.join("model.json")
        );
        assert_eq!(
            join_under(root, Path::new("a/b.json"), "file").unwrap(),
            root.join("a/b.json")
        );
        for bad in ["../x", "a/../../x", "/etc/passwd", ".", ""] {
            assert!(join_under(root, Path::new(bad), "file").is_err(), "{bad}");
        }
    }
}
