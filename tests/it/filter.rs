//! The run filter language on real stores: the SQLite store's compiled SQL selects exactly the
//! runs the in-memory evaluator does, an MLflow server (with the push-down) selects the same runs
//! as the SQLite store, and `cerebro runs list --filter` prints them or points at the mistake.

use std::collections::BTreeMap;

use cerebro::store::mlflow::MlflowTarget;
use cerebro::store::query::{Query, select};
use cerebro::store::{
    Backend, MetricPoint, NewRun, RunFilter, RunStatus, SqliteStore, TrackingStore, open_backend,
};

use crate::common::{Workspace, small_config, small_csv};

/// A run to log: name, final status, metrics, params, tags.
type Spec = (
    &'static str,
    RunStatus,
    &'static [(&'static str, f64)],
    &'static [(&'static str, &'static str)],
    &'static [(&'static str, &'static str)],
);

/// Runs with every kind of value a filter meets: metrics missing or NaN, numeric and text
/// params, dotted tags, each status. Returns their names, oldest first.
fn populate(store: &mut dyn Backend) -> Vec<String> {
    let runs: Vec<Spec> = vec![
        (
            "gbt-a",
            RunStatus::Finished,
            &[("roc_auc", 0.71), ("tp", 63.0)],
            &[("max_depth", "8"), ("criterion", "gini")],
            &[("cerebro.demo", "true")],
        ),
        (
            "gbt-b",
            RunStatus::Finished,
            &[("roc_auc", 0.65), ("tp", 60.0)],
            &[("max_depth", "4"), ("criterion", "entropy")],
            &[],
        ),
        (
            "tree-c",
            RunStatus::Failed,
            &[("roc_auc", 0.80)],
            &[("max_depth", "10"), ("criterion", "Gini")],
            &[("cerebro.demo", "false"), ("note", "Best one")],
        ),
        (
            "tree-d",
            RunStatus::Finished,
            &[("tp", 12.0)],
            &[("max_depth", "6")],
            &[("note", "baseline")],
        ),
        (
            "forest-e",
            RunStatus::Killed,
            &[("roc_auc", 0.5), ("log_loss", 0.69)],
            &[("criterion", "gini")],
            &[],
        ),
        (
            "logistic-f",
            RunStatus::Finished,
            &[("roc_auc", 0.62), ("log_loss", 0.6)],
            &[("alpha", "1.0")],
            &[("cerebro.demo", "true")],
        ),
    ];
    let mut names = Vec::new();
    for (i, (name, status, metrics, params, tags)) in runs.into_iter().enumerate() {
        let id = store
            .create_run(&NewRun {
                experiment: "filters".into(),
                name: name.into(),
                model_kind: name.split('-').next().unwrap().into(),
                params: params
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                tags: tags
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<BTreeMap<_, _>>(),
                environment: Default::default(),
                data_version: None,
                pid: std::process::id(),
                source: None,
            })
            .unwrap();
        let points: Vec<MetricPoint> = metrics
            .iter()
            .map(|(k, v)| MetricPoint {
                key: k.to_string(),
                value: *v,
                step: 0,
                timestamp: 1_700_000_000_000 + i as i64,
            })
            .collect();
        store.log_metrics(&id, &points).unwrap();
        store
            .finish_run(&id, status, (status != RunStatus::Finished).then_some("x"))
            .unwrap();
        names.push(name.to_string());
        // Distinct start times, so "newest first" is one order on both backends.
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    names
}

/// Filters in MLflow's own syntax (what the push-down sends to a server).
const MLFLOW_SUBSET: &[&str] = &[
    "metrics.roc_auc > 0.7",
    "metrics.roc_auc <= 0.65",
    "metrics.tp = 63",
    "metrics.roc_auc != 0.5",
    "params.max_depth = '8'",
    "params.criterion != 'gini'",
    "params.criterion LIKE 'gi%'",
    "params.criterion ILIKE 'gi%'",
    "tags.cerebro.demo = 'true'",
    "tags.`cerebro.demo` = 'true' and metrics.roc_auc > 0.6",
    "tags.note ILIKE '%BEST%'",
    "tags.note IS NULL",
    "params.alpha IS NOT NULL",
    "attributes.status = 'FINISHED'",
    "attributes.status != 'FINISHED' and metrics.roc_auc >= 0.5",
    "attributes.run_name LIKE 'gbt%'",
    "attributes.start_time > 0",
    "metrics.roc_auc > 0.6 and params.max_depth = '8' and tags.cerebro.demo = 'true' and attributes.status = 'FINISHED'",
];

/// What MLflow cannot say, evaluated locally (partly pushed down).
const EXTENDED: &[&str] = &[
    "metrics.roc_auc > 0.7 or tags.note = 'baseline'",
    "(params.max_depth >= 6 or params.alpha = 1) and attributes.status = 'FINISHED'",
    "not metrics.roc_auc > 0.6",
    "attributes.status IN ('FAILED', 'KILLED')",
    "params.max_depth in (4, 6, 10)",
    "params.criterion not in ('gini')",
    "attributes.model_kind = 'tree' and metrics.roc_auc is null",
    "metrics.log_loss is not null and not (params.criterion = 'gini')",
    "tags.cerebro.demo = 'true' and metrics.roc_auc > 0.6 or attributes.status = 'KILLED'",
    // Missing keys outside and inside a `not` (the SQL is a semi-join only outside one).
    "not (tags.note = 'baseline' or metrics.roc_auc > 0.7)",
    "tags.note is null or params.alpha is not null",
    "not params.alpha is null and not metrics.roc_auc is null",
    "params.max_depth > 5 or not tags.note like '%e%'",
    "(metrics.roc_auc > 0.6 or params.criterion in ('gini')) and not params.max_depth in (4)",
];

fn names(store: &dyn Backend, filter: &str) -> Vec<String> {
    store
        .list_runs(&RunFilter {
            experiment: Some("filters".into()),
            filter: Some(filter.into()),
            ..RunFilter::default()
        })
        .unwrap_or_else(|e| panic!("{filter}: {e}"))
        .into_iter()
        .map(|r| r.name)
        .collect()
}

#[test]
fn sqlite_sql_selects_what_the_in_memory_filter_selects() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(dir.path()).unwrap();
    populate(&mut store);
    let all = store.list_runs(&RunFilter::default()).unwrap();
    for filter in MLFLOW_SUBSET.iter().chain(EXTENDED) {
        let q = Query::parse(filter).unwrap();
        let expected: Vec<String> = select(all.clone(), Some(&q), None, None)
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(names(&store, filter), expected, "{filter}");
    }
    // Spot checks of the semantics, by hand.
    assert_eq!(names(&store, "metrics.roc_auc > 0.7"), ["tree-c", "gbt-a"]);
    assert_eq!(
        names(&store, "metrics.roc_auc > 0.7 or tags.note = 'baseline'"),
        ["tree-d", "tree-c", "gbt-a"]
    );
    assert_eq!(
        names(&store, "params.max_depth in (4, 6, 10)"),
        ["tree-d", "tree-c", "gbt-b"]
    );
    // An ordering and a limit.
    let top: Vec<String> = store
        .list_runs(&RunFilter {
            filter: Some("metrics.roc_auc is not null".into()),
            order_by: Some("metrics.roc_auc DESC".into()),
            limit: Some(3),
            ..RunFilter::default()
        })
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(top, ["tree-c", "gbt-a", "gbt-b"]);
    let e = store
        .list_runs(&RunFilter {
            filter: Some("metrics.roc_auc >".into()),
            ..RunFilter::default()
        })
        .unwrap_err();
    assert!(e.to_string().contains("column 18"), "{e}");
}

#[test]
fn an_mlflow_server_selects_the_same_runs_as_the_sqlite_store() {
    let Some(server) = crate::mlflow::Server::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut local = SqliteStore::open(&dir.path().join("local")).unwrap();
    let mut remote = open_backend(
        &dir.path().join("remote"),
        Some(&MlflowTarget {
            uri: server.uri.clone(),
            token: None,
        }),
    )
    .unwrap();
    populate(&mut local);
    populate(remote.as_mut());
    for filter in MLFLOW_SUBSET {
        let q = Query::parse(filter).unwrap();
        assert!(q.mlflow_pushdown().complete, "pushed down whole: {filter}");
        assert_eq!(
            names(remote.as_ref(), filter),
            names(&local, filter),
            "{filter}"
        );
    }
    for filter in EXTENDED {
        assert_eq!(
            names(remote.as_ref(), filter),
            names(&local, filter),
            "{filter}"
        );
    }
    // Ordered and limited on the server's side of the call as well.
    let order = RunFilter {
        experiment: Some("filters".into()),
        filter: Some("metrics.roc_auc > 0.55".into()),
        order_by: Some("metrics.roc_auc DESC".into()),
        limit: Some(2),
        ..RunFilter::default()
    };
    let by = |s: &dyn Backend| -> Vec<String> {
        s.list_runs(&order)
            .unwrap()
            .into_iter()
            .map(|r| r.name)
            .collect()
    };
    assert_eq!(by(remote.as_ref()), ["tree-c", "gbt-a"]);
    assert_eq!(by(&local), ["tree-c", "gbt-a"]);
}

#[test]
fn runs_list_filters_orders_and_points_at_mistakes() {
    let ws = Workspace::with_config(&small_config(""));
    ws.write("data.csv", small_csv(200).as_bytes());
    ws.ok(&[
        "train",
        "--model",
        "tree",
        "--max-parallel",
        "1",
        "--sweep",
        "max_depth=1,2,3,4",
    ]);
    let listed = ws.json(&[
        "runs",
        "list",
        "--json",
        "--filter",
        "params.max_depth <= 2 or params.max_depth = '4'",
        "--order-by",
        "params.max_depth DESC",
    ]);
    let depths: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["params"]["max_depth"].as_str().unwrap())
        .collect();
    assert_eq!(depths, ["4", "2", "1"]);
    // The text table gains a column for what the filter names.
    let table = ws.ok(&["runs", "list", "--filter", "params.max_depth in (3)"]);
    assert!(
        table.lines().next().unwrap().contains("max_depth"),
        "{table}"
    );
    assert_eq!(table.lines().count(), 2, "{table}");
    let err = ws.fails(&["runs", "list", "--filter", "params.max_depth >= 2 and"]);
    assert!(
        err.contains("--filter column 26: expected a field"),
        "{err}"
    );
    assert!(err.contains("params.max_depth >= 2 and\n"), "{err}");
    assert!(err.contains(&format!("{}^", " ".repeat(27))), "{err}");
}

#[test]
fn runs_importance_ranks_the_param_that_moves_the_metric() {
    let ws = Workspace::with_config(&small_config(""));
    ws.write("data.csv", small_csv(300).as_bytes());
    ws.ok(&[
        "train",
        "--model",
        "tree",
        "--sweep",
        "max_depth=1,2,3,6",
        "--sweep",
        "criterion=gini,entropy",
    ]);
    let report = ws.json(&["runs", "importance", "--metric", "roc_auc", "--json"]);
    assert_eq!(report["runs"], 8);
    let params = report["params"].as_array().unwrap();
    assert_eq!(params[0]["param"], "max_depth", "{report}");
    assert!(params[0]["importance"].as_f64().unwrap() > 0.5, "{report}");
    // Only the swept params vary.
    let names: Vec<&str> = params
        .iter()
        .map(|p| p["param"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{report}");
    let text = ws.ok(&[
        "runs",
        "importance",
        "--filter",
        "params.criterion = 'gini'",
    ]);
    assert!(text.contains("over 4 runs"), "{text}");
    let err = ws.fails(&["runs", "importance", "--filter", "params.max_depth <= 1"]);
    assert!(err.contains("at least 4"), "{err}");
}
