//! Bad input: a clear one-line error naming the file and place, a non-zero exit, and no
//! half-written state (no data version, no run).

use crate::common::{Workspace, small_config, small_csv};

/// Asserts `data prepare` fails with every `needles` in stderr and left nothing recorded.
fn prepare_fails(ws: &Workspace, needles: &[&str]) -> String {
    let err = ws.fails(&["data", "prepare"]);
    for n in needles {
        assert!(err.contains(n), "expected `{n}` in:\n{err}");
    }
    assert_eq!(err.trim().lines().count(), 1, "one-line error:\n{err}");
    assert_eq!(ws.count("data_versions"), 0);
    assert_eq!(ws.count("runs"), 0);
    err
}

#[test]
fn missing_file() {
    let ws = Workspace::with_config(&small_config(""));
    prepare_fails(&ws, &["data.csv", "No such file"]);
}

#[test]
fn empty_file() {
    let ws = Workspace::with_config(&small_config(""));
    ws.write("data.csv", b"");
    prepare_fails(&ws, &["data.csv", "empty"]);
}

#[test]
fn header_only_file() {
    let ws = Workspace::with_config(&small_config(""));
    ws.write("data.csv", b"id,num,cat,y\n");
    prepare_fails(&ws, &["data.csv", "no data rows"]);
}

#[test]
fn ragged_row_names_its_line() {
    let ws = Workspace::with_config(&small_config(""));
    let mut csv = small_csv(50);
    csv.push_str("50,1.0,a\n");
    ws.write("data.csv", csv.as_bytes());
    prepare_fails(&ws, &["data.csv:52", "3 fields where the header has 4"]);
}

#[test]
fn non_utf8_names_line_and_column() {
    let ws = Workspace::with_config(&small_config(""));
    let mut bytes = small_csv(10).into_bytes();
    // Line 4 is "2,<num>,c,<y>"; put a Latin-1 byte in the category.
    let text = String::from_utf8(bytes.clone()).unwrap();
    let line4_start: usize = text.lines().take(3).map(|l| l.len() + 1).sum();
    let comma = text[line4_start..].find(",c,").unwrap() + line4_start + 1;
    bytes[comma] = 0xE9;
    ws.write("data.csv", &bytes);
    let col = comma - line4_start + 1;
    prepare_fails(&ws, &[&format!("data.csv:4:{col}"), "UTF-8"]);
}

#[test]
fn cr_only_line_endings_load_like_lf() {
    let lf = Workspace::with_config(&small_config(""));
    lf.write("data.csv", small_csv(60).as_bytes());
    let cr = Workspace::with_config(&small_config(""));
    cr.write("data.csv", small_csv(60).replace('\n', "\r").as_bytes());
    let a = lf.json(&["data", "prepare", "--json"]);
    let b = cr.json(&["data", "prepare", "--json"]);
    assert_eq!(a["raw_rows"], 60);
    // Same content, same data version.
    assert_eq!(a["data_version"], b["data_version"]);
}

#[test]
fn crlf_line_endings_load_like_lf() {
    let lf = Workspace::with_config(&small_config(""));
    lf.write("data.csv", small_csv(60).as_bytes());
    let crlf = Workspace::with_config(&small_config(""));
    crlf.write("data.csv", small_csv(60).replace('\n', "\r\n").as_bytes());
    assert_eq!(
        lf.json(&["data", "prepare", "--json"])["data_version"],
        crlf.json(&["data", "prepare", "--json"])["data_version"]
    );
}

#[test]
fn target_column_that_does_not_exist() {
    let ws =
        Workspace::with_config(&small_config("").replace("target = \"y\"", "target = \"alive\""));
    ws.write("data.csv", small_csv(20).as_bytes());
    prepare_fails(&ws, &["config.toml:4:1", "`alive` is not a column"]);
}

#[test]
fn target_with_one_class_only() {
    let ws = Workspace::with_config(&small_config(""));
    let csv = small_csv(20).replace(",no\n", ",yes\n");
    ws.write("data.csv", csv.as_bytes());
    prepare_fails(&ws, &["config.toml", "one class only"]);
}

#[test]
fn config_key_typo_names_place_and_hint() {
    let ws = Workspace::with_config(&small_config("[split]\ntest_fracton = 0.3\n"));
    ws.write("data.csv", small_csv(20).as_bytes());
    let err = prepare_fails(
        &ws,
        &[
            "config.toml:9:1",
            "test_fracton",
            "did you mean `test_fraction`?",
        ],
    );
    assert!(
        !ws.path().join(".cerebro").exists(),
        "no store for a bad config: {err}"
    );
}

#[test]
fn feature_naming_a_missing_column() {
    let ws = Workspace::with_config(&small_config("").replace("[\"num\"]", "[\"num\", \"nmu2\"]"));
    ws.write("data.csv", small_csv(20).as_bytes());
    prepare_fails(&ws, &["config.toml:6:1", "`nmu2` is not a column"]);
}

#[test]
fn numeric_feature_with_text_names_line() {
    let ws = Workspace::with_config(&small_config(""));
    let csv = small_csv(20).replacen("\n3,", "\n3,x", 1);
    ws.write("data.csv", csv.as_bytes());
    prepare_fails(&ws, &["data.csv:5", "column `num`", "as a number"]);
}

#[test]
fn unknown_model_kind_and_param() {
    let ws = Workspace::with_config(&small_config(""));
    ws.write("data.csv", small_csv(60).as_bytes());
    let err = ws.fails(&["train", "--model", "svm"]);
    assert!(err.contains("unknown model kind `svm`"), "{err}");
    let err = ws.fails(&["train", "--model", "tree", "--set", "max_dept=3"]);
    assert!(err.contains("did you mean `max_depth`?"), "{err}");
    assert_eq!(ws.count("runs"), 0);
}
