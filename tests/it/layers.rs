//! The shape of the crate: the core never touches the terminal, and no two core files import each
//! other, directly or around a loop. Both read the source tree; neither needs the binary.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The core (everything but `src/cli`, `src/tui` and `src/main.rs`) never touches the terminal.
#[test]
fn the_core_never_imports_ratatui_or_crossterm() {
    let src = crate::common::repo().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let front_ends = [src.join("cli"), src.join("tui"), src.join("main.rs")];
    let mut offenders = Vec::new();
    for f in files
        .iter()
        .filter(|f| !front_ends.iter().any(|p| f.starts_with(p)))
    {
        let text = std::fs::read_to_string(f).unwrap();
        if text.contains("ratatui") || text.contains("crossterm") {
            offenders.push(f.display().to_string());
        }
    }
    assert!(
        offenders.is_empty(),
        "the core imports the terminal: {offenders:?}"
    );
}

/// Core files (paths relative to `src`, `/`-separated) and the core files each one imports.
///
/// An import is a `crate::…` path (in a `use` tree or inline), a `super::…` path, or a path
/// through a child module the file declares (`mod plan;` then `plan::…`). The path names the
/// file of its longest prefix that is a file (`a/b.rs` or `a/b/mod.rs`). Unit tests (from the
/// first `#[cfg(test)]` on) and `//` comments are left out, and so is a child naming an item of a
/// module that contains it (Rust's ordinary re-export pattern, not a layering edge). The same
/// rules as `../shared/tools/module_cycles.py`.
fn import_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut paths = Vec::new();
    rust_files(src, &mut paths);
    let mut files = BTreeMap::new();
    for p in paths {
        let rel = p
            .strip_prefix(src)
            .unwrap()
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        let top = rel.split('/').next().unwrap().to_string();
        if ["cli", "tui", "main.rs"].contains(&top.as_str()) {
            continue;
        }
        files.insert(rel, p);
    }
    let target = |segs: &[String]| -> Option<String> {
        (1..=segs.len()).rev().find_map(|n| {
            let base = segs[..n].join("/");
            [format!("{base}.rs"), format!("{base}/mod.rs")]
                .into_iter()
                .find(|c| files.contains_key(c))
        })
    };
    let mut edges = BTreeMap::new();
    for (rel, path) in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let text = text.split("#[cfg(test)]").next().unwrap();
        let text: String = text
            .lines()
            .map(|l| l.find("//").map_or(l, |i| &l[..i]))
            .collect::<Vec<_>>()
            .join("\n");
        let mut here: Vec<String> = rel
            .trim_end_matches(".rs")
            .split('/')
            .map(String::from)
            .collect();
        if here.last().is_some_and(|s| s == "mod") {
            here.pop();
        }
        let mut imported = Vec::new();
        for at in occurrences(&text, "crate::") {
            imported.extend(use_tree(&text[at + "crate::".len()..], &[]));
        }
        let parent = &here[..here.len().saturating_sub(1)];
        for at in occurrences(&text, "super::") {
            imported.extend(use_tree(&text[at + "super::".len()..], parent));
        }
        for child in declared_children(&text) {
            let mut prefix = here.clone();
            prefix.push(child.clone());
            let needle = format!("{child}::");
            for at in occurrences(&text, &needle) {
                let before = text[..at].strip_suffix("self::").unwrap_or(&text[..at]);
                if before.ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':') {
                    continue;
                }
                imported.extend(use_tree(&text[at + needle.len()..], &prefix));
            }
        }
        let out: BTreeSet<String> = imported
            .iter()
            .filter_map(|segs| target(segs))
            .filter(|t| t != rel && !contains(t, rel))
            .collect();
        edges.insert(rel.clone(), out);
    }
    edges
}

/// Byte offsets where `needle` starts as a path root (not inside a longer identifier).
fn occurrences(text: &str, needle: &str) -> Vec<usize> {
    text.match_indices(needle)
        .map(|(i, _)| i)
        .filter(|&i| !text[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '$'))
        .collect()
}

/// The paths a use tree (or an inline path) starting at `s` names, each prefixed by `prefix`:
/// `a::b::{c, d::{e, f}}` gives `a/b/c`, `a/b/d/e` and `a/b/d/f`.
fn use_tree(s: &str, prefix: &[String]) -> Vec<Vec<String>> {
    let mut segs = prefix.to_vec();
    let mut rest = s;
    loop {
        let rest_trim = rest.trim_start();
        if let Some(group) = rest_trim.strip_prefix('{') {
            let mut depth = 1;
            let mut end = group.len();
            let mut items = Vec::new();
            let mut start = 0;
            for (i, ch) in group.char_indices() {
                match ch {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = i;
                            break;
                        }
                    }
                    ',' if depth == 1 => {
                        items.push(&group[start..i]);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            items.push(&group[start..end]);
            return items
                .into_iter()
                .filter(|item| !item.trim().is_empty())
                .flat_map(|item| use_tree(item, &segs))
                .collect();
        }
        let len = rest_trim
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest_trim.len());
        if len == 0 {
            break;
        }
        segs.push(rest_trim[..len].to_string());
        match rest_trim[len..].strip_prefix("::") {
            Some(more) => rest = more,
            None => break,
        }
    }
    vec![segs]
}

/// The child modules a file declares with `mod NAME;` (not inline `mod NAME { … }`).
fn declared_children(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let mut l = line.trim_start();
            if let Some(rest) = l.strip_prefix("pub") {
                l = rest.trim_start();
                if l.starts_with('(') {
                    l = l[l.find(')')? + 1..].trim_start();
                }
            }
            let name = l.strip_prefix("mod ")?.trim().strip_suffix(';')?.trim();
            (!name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_'))
                .then(|| name.to_string())
        })
        .collect()
}

/// Whether `module_file` (a `mod.rs` or `NAME.rs`) is the file of a module containing `file`.
fn contains(module_file: &str, file: &str) -> bool {
    let mut dir = Path::new(file).parent();
    while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
        let d_str = d.to_string_lossy();
        if module_file == format!("{d_str}/mod.rs") || module_file == format!("{d_str}.rs") {
            return true;
        }
        dir = d.parent();
    }
    false
}

/// The strongly connected components of more than one file (Tarjan), each sorted.
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Tarjan<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, v: &'a str) {
            let i = self.index.len();
            self.index.insert(v, i);
            self.low.insert(v, i);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in &self.edges[v] {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if self.on_stack.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    component.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.out.push(component);
                }
            }
        }
    }
    let mut t = Tarjan {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in edges.keys() {
        if !t.index.contains_key(v.as_str()) {
            t.visit(v);
        }
    }
    t.out
}

/// Layers point down: no core file imports another that (through any chain) imports it back.
/// A cycle means a helper or a type sits in the wrong module; move it to the lowest layer that
/// needs it (ARCHITECTURE.md has the layers).
#[test]
fn core_modules_import_each_other_without_cycles() {
    let edges = import_graph(&crate::common::repo().join("src"));
    assert!(
        edges.len() > 40 && edges.contains_key("store/mod.rs") && edges.contains_key("lib.rs"),
        "the core files were not found: {:?}",
        edges.keys().collect::<Vec<_>>()
    );
    let found = cycles(&edges);
    let described: Vec<String> = found
        .iter()
        .map(|c| {
            let inside: Vec<String> = c
                .iter()
                .flat_map(|f| {
                    edges[f]
                        .iter()
                        .filter(|t| c.contains(t))
                        .map(move |t| format!("{f} -> {t}"))
                })
                .collect();
            format!("cycle of {} files: {}", c.len(), inside.join(", "))
        })
        .collect();
    assert!(found.is_empty(), "{}", described.join("\n"));
}

/// The cycle check itself finds a cycle: two modules naming each other (one through a grouped
/// `use`, one through an inline path and `super::`), and it ignores a child naming its parent.
#[test]
fn the_cycle_check_finds_a_planted_cycle_and_ignores_child_to_parent() {
    let dir = tempfile::tempdir().unwrap();
    let write = |rel: &str, text: &str| {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write("lib.rs", "pub mod a;\npub mod b;\npub mod c;\n");
    write("a.rs", "use crate::{b::{inner::Thing, Other}, c};\n");
    write(
        "b/mod.rs",
        "pub mod inner;\npub use inner::Thing;\npub struct Other;\n",
    );
    write(
        "b/inner.rs",
        "pub struct Thing;\nfn f() { super::Other; crate::a::g() }\n",
    );
    write(
        "c.rs",
        "// crate::a::g in a comment is no import\npub fn h() {}\n#[cfg(test)]\nmod tests { use crate::a; }\n",
    );
    let edges = import_graph(dir.path());
    assert_eq!(
        edges["a.rs"],
        BTreeSet::from(["b/inner.rs".to_string(), "b/mod.rs".into(), "c.rs".into()])
    );
    assert_eq!(
        edges["b/mod.rs"],
        BTreeSet::from(["b/inner.rs".to_string()])
    );
    assert_eq!(edges["b/inner.rs"], BTreeSet::from(["a.rs".to_string()]));
    assert!(edges["c.rs"].is_empty(), "{:?}", edges["c.rs"]);
    // a -> b/inner -> a, and a -> b/mod -> b/inner -> a: one component of three files.
    assert_eq!(
        cycles(&edges),
        vec![vec![
            "a.rs".to_string(),
            "b/inner.rs".into(),
            "b/mod.rs".into()
        ]]
    );
}
