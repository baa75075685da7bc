//! The course's preprocessing (assets/examples/course-marvel-characters.toml) on a small file
//! with the Kaggle file's columns, generated here.

use crate::common::{Workspace, repo};

fn course_csv(rows: usize) -> String {
    let origins = [
        "Human",
        "Mutant",
        "Asgardian god",
        "Alien from Kree",
        "Magic user (human)",
        "",
        "Robot built by Stark",
        "Mutate",
    ];
    let mut s = String::from(
        "PageID,Name,Universe,Teams,Origin,Identity,Gender,Marital_Status,Height,Weight,Alive\n",
    );
    for i in 0..rows {
        let origin = origins[i % origins.len()];
        let teams = if i % 3 == 0 { "Avengers" } else { "" };
        let universe = if i % 50 == 7 {
            "Earth-1610"
        } else {
            "Earth-616"
        };
        let identity = ["Public", "Secret", "", "Known to Authorities"][i % 4];
        let gender = ["Male", "Female", "", "Agender"][i % 7 % 4];
        let marital = ["Single", "Married", "Widow", ""][i % 5 % 4];
        let height = if i % 9 == 0 {
            String::new()
        } else {
            format!("{}", 150 + i % 60)
        };
        let weight = if i % 11 == 0 {
            String::new()
        } else {
            format!("{}", 50 + i % 80)
        };
        let alive = if i % 97 == 0 {
            "Unknown"
        } else if (i % 3 == 0) || (i % 5 == 1) || origin.contains("god") {
            "Alive"
        } else {
            "Dead"
        };
        s.push_str(&format!(
            "{i},Hero {i},{universe},{teams},{origin},{identity},{gender},{marital},{height},{weight},{alive}\n"
        ));
    }
    s
}

#[test]
fn the_course_preprocessing_runs_and_trains() {
    let config =
        std::fs::read_to_string(repo().join("assets/examples/course-marvel-characters.toml"))
            .unwrap();
    let ws = Workspace::with_config(&config);
    ws.write("marvel_characters_dataset.csv", course_csv(400).as_bytes());
    let report = ws.json(&["data", "prepare", "--json"]);
    let steps: Vec<&str> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert!(
        steps.contains(&"keyword_bucket") && steps.contains(&"group_rare"),
        "{steps:?}"
    );
    // Rows 0, 97, 194, 291, 388 have an unknown target.
    assert_eq!(
        report["train_rows"].as_u64().unwrap() + report["test_rows"].as_u64().unwrap(),
        395
    );
    let profile = ws.json(&["data", "profile", "--prepared", "--json"]);
    let col = |name: &str| {
        profile["columns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing"))
            .clone()
    };
    let top = |name: &str| -> Vec<String> {
        col(name)["top"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t[0].as_str().unwrap().to_string())
            .collect()
    };
    // Rare universes grouped, identities limited to the allowed list, origins bucketed.
    let universes = top("Universe");
    assert!(
        universes.iter().any(|u| u == "Other") && !universes.iter().any(|u| u == "Earth-1610"),
        "{universes:?}"
    );
    let identities = top("Identity");
    assert!(
        identities.iter().any(|u| u == "Other")
            && !identities.iter().any(|u| u == "Known to Authorities"),
        "{identities:?}"
    );
    let origins = top("Origin");
    for o in ["Human", "Mutant", "Asgardian", "Alien", "Robot"] {
        assert!(
            origins.iter().any(|x| x == o),
            "{o} missing from {origins:?}"
        );
    }
    assert_eq!(col("Height")["nulls"], 0);
    let out = ws.json(&["train", "--json", "--model", "tree", "--set", "max_depth=4"]);
    assert_eq!(out[0]["status"], "FINISHED", "{out}");
}
