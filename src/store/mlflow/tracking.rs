//! [`TrackingStore`] on an MLflow server.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{
    MAX_METRICS_PER_BATCH, MAX_PARAMS_TAGS_PER_BATCH, MlflowStore, RUN_TAG_PREFIX, RUNS_PAGE,
    SOURCE_RUN_TAG, double, double_json, int, key_value_list, key_values,
};
use crate::clock::now_ms;
use crate::data::DataVersion;
use crate::error::{Error, Result};
use crate::store::query::{self, Query};
use crate::store::{
    Artifact, DataVersionSummary, Environment, Experiment, MIN_PREFIX_LEN, MetricPoint, NewRun,
    RunDetail, RunFilter, RunPage, RunStatus, RunSummary, TrackingStore, pid_alive,
};

const TAG_DATA_VERSION: &str = "cerebro.run.data_version";
const TAG_ENVIRONMENT: &str = "cerebro.run.environment";
const TAG_PID: &str = "cerebro.run.pid";
const TAG_HOST: &str = "cerebro.run.host";
const TAG_HEARTBEAT: &str = "cerebro.run.heartbeat";
const TAG_ERROR: &str = "cerebro.run.error";
const TAG_SOURCE: &str = "cerebro.run.source";
const TAG_ARTIFACTS: &str = "cerebro.run.artifacts";
const TAG_MODEL_KIND: &str = "cerebro.run.model_kind";
/// The model kind as a plain tag (what `cerebro train` sets on every run).
const TAG_MODEL_KIND_USER: &str = "cerebro.model_kind";
pub(crate) const TAG_DATA_VERSION_RECORD: &str = "cerebro.run.data_version_record";
const TAG_GIT_COMMIT: &str = "mlflow.source.git.commit";
const TAG_GIT_BRANCH: &str = "mlflow.source.git.branch";
const TAG_USER: &str = "mlflow.user";

/// A run as MLflow returns it (`{info, data}`), parsed.
pub(crate) struct RemoteRun {
    pub run_id: String,
    pub experiment_id: String,
    pub name: String,
    pub status: RunStatus,
    pub start_time: i64,
    pub end_time: Option<i64>,
    /// Latest value per key.
    pub metrics: BTreeMap<String, f64>,
    pub params: BTreeMap<String, String>,
    /// Every tag, internal ones included.
    pub tags: BTreeMap<String, String>,
}

impl RemoteRun {
    pub(crate) fn parse(run: &Value) -> RemoteRun {
        let info = &run["info"];
        let data = &run["data"];
        let tags = key_values(&data["tags"]);
        let status = match info["status"].as_str().unwrap_or("RUNNING") {
            "FINISHED" => RunStatus::Finished,
            "FAILED" => RunStatus::Failed,
            "KILLED" => RunStatus::Killed,
            // RUNNING and SCHEDULED.
            _ => RunStatus::Running,
        };
        let metrics = data["metrics"]
            .as_array()
            .map(|ms| {
                ms.iter()
                    .filter_map(|m| Some((m["key"].as_str()?.to_string(), double(&m["value"]))))
                    .collect()
            })
            .unwrap_or_default();
        let name = info["run_name"]
            .as_str()
            .map(str::to_string)
            .or_else(|| tags.get("mlflow.runName").cloned())
            .unwrap_or_default();
        RemoteRun {
            run_id: info["run_id"].as_str().unwrap_or_default().to_string(),
            experiment_id: info["experiment_id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            name,
            status,
            start_time: int(&info["start_time"]).unwrap_or(0),
            end_time: int(&info["end_time"]).filter(|&t| t > 0 && status.is_terminal()),
            metrics,
            params: key_values(&data["params"]),
            tags,
        }
    }

    pub(crate) fn summary(&self, experiment: String) -> RunSummary {
        RunSummary {
            run_id: self.run_id.clone(),
            experiment,
            name: self.name.clone(),
            model_kind: self
                .tags
                .get(TAG_MODEL_KIND)
                .or_else(|| self.tags.get(TAG_MODEL_KIND_USER))
                .cloned()
                .unwrap_or_default(),
            status: self.status,
            start_time: self.start_time,
            end_time: self.end_time,
            duration_ms: self.end_time.map(|e| e - self.start_time),
            data_version: self.tags.get(TAG_DATA_VERSION).cloned(),
            metrics: self.metrics.clone(),
            params: self.params.clone(),
            // Every tag a filter may name, without the bookkeeping that carries whole records.
            tags: self
                .tags
                .iter()
                .filter(|(k, _)| !k.starts_with(RUN_TAG_PREFIX))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// The tags a user set: without cerebro's bookkeeping and MLflow's system tags.
    pub(crate) fn user_tags(&self) -> BTreeMap<String, String> {
        self.tags
            .iter()
            .filter(|(k, _)| {
                !k.starts_with(RUN_TAG_PREFIX) && !k.starts_with("mlflow.") && *k != SOURCE_RUN_TAG
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    pub(crate) fn artifacts(&self) -> Vec<Artifact> {
        self.tags
            .get(TAG_ARTIFACTS)
            .and_then(|a| serde_json::from_str::<Vec<Artifact>>(a).ok())
            .unwrap_or_default()
    }

    pub(crate) fn detail(&self, experiment: String) -> RunDetail {
        let tag = |k: &str| self.tags.get(k).cloned();
        let environment = tag(TAG_ENVIRONMENT)
            .and_then(|e| serde_json::from_str::<Environment>(&e).ok())
            .unwrap_or_else(|| Environment {
                user: tag(TAG_USER).unwrap_or_default(),
                git_commit: tag(TAG_GIT_COMMIT),
                git_branch: tag(TAG_GIT_BRANCH),
                ..Environment::default()
            });
        let mut artifacts = self.artifacts();
        artifacts.sort_by(|a, b| a.name.cmp(&b.name));
        RunDetail {
            summary: self.summary(experiment),
            tags: self.user_tags(),
            environment,
            artifacts,
            error: tag(TAG_ERROR),
            pid: tag(TAG_PID).and_then(|p| p.parse().ok()),
            host: tag(TAG_HOST).unwrap_or_default(),
            last_heartbeat: tag(TAG_HEARTBEAT).and_then(|h| h.parse().ok()),
            source: tag(TAG_SOURCE),
        }
    }
}

/// The run tags cerebro writes for a new run (user tags, then its bookkeeping).
pub(crate) fn tags_of_new_run(
    new: &NewRun,
    host: &str,
    now: i64,
) -> Result<BTreeMap<String, String>> {
    let mut tags = new.tags.clone();
    tags.insert(TAG_MODEL_KIND.into(), new.model_kind.clone());
    tags.insert(
        TAG_ENVIRONMENT.into(),
        serde_json::to_string(&new.environment)?,
    );
    tags.insert(TAG_PID.into(), new.pid.to_string());
    tags.insert(TAG_HOST.into(), host.to_string());
    tags.insert(TAG_HEARTBEAT.into(), now.to_string());
    tags.insert(TAG_USER.into(), new.environment.user.clone());
    tags.insert("mlflow.source.name".into(), "cerebro".into());
    if let Some(dv) = &new.data_version {
        tags.insert(TAG_DATA_VERSION.into(), dv.clone());
    }
    if let Some(src) = &new.source {
        tags.insert(TAG_SOURCE.into(), src.clone());
    }
    if let Some(c) = &new.environment.git_commit {
        tags.insert(TAG_GIT_COMMIT.into(), c.clone());
    }
    if let Some(b) = &new.environment.git_branch {
        tags.insert(TAG_GIT_BRANCH.into(), b.clone());
    }
    Ok(tags)
}

/// The run tags that carry a whole run (as `cerebro sync export` writes it): its tags, then
/// cerebro's bookkeeping for the fields MLflow lacks.
pub(crate) fn tags_of_detail(d: &RunDetail) -> Result<BTreeMap<String, String>> {
    let s = &d.summary;
    let mut tags = d.tags.clone();
    tags.insert(TAG_MODEL_KIND.into(), s.model_kind.clone());
    tags.insert(
        TAG_ENVIRONMENT.into(),
        serde_json::to_string(&d.environment)?,
    );
    tags.insert(TAG_HOST.into(), d.host.clone());
    tags.insert(TAG_USER.into(), d.environment.user.clone());
    tags.insert("mlflow.source.name".into(), "cerebro".into());
    let optional = [
        (TAG_PID, d.pid.map(|p| p.to_string())),
        (TAG_HEARTBEAT, d.last_heartbeat.map(|h| h.to_string())),
        (TAG_DATA_VERSION, s.data_version.clone()),
        (TAG_SOURCE, d.source.clone()),
        (TAG_ERROR, d.error.clone()),
        (TAG_GIT_COMMIT, d.environment.git_commit.clone()),
        (TAG_GIT_BRANCH, d.environment.git_branch.clone()),
    ];
    for (k, v) in optional {
        if let Some(v) = v {
            tags.insert(k.into(), v);
        }
    }
    if !d.artifacts.is_empty() {
        tags.insert(TAG_ARTIFACTS.into(), serde_json::to_string(&d.artifacts)?);
    }
    Ok(tags)
}

impl MlflowStore {
    /// The name of experiment `id`, asking the server once per id.
    pub(crate) fn experiment_name(&self, id: &str) -> Result<String> {
        if let Some(name) = self
            .experiments
            .lock()
            .ok()
            .and_then(|m| m.get(id).cloned())
        {
            return Ok(name);
        }
        let e = self
            .client
            .get("experiments/get", &[("experiment_id", id)])
            .map_err(|e| self.err("experiment", id, e))?;
        let name = e["experiment"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if let Ok(mut m) = self.experiments.lock() {
            m.insert(id.to_string(), name.clone());
        }
        Ok(name)
    }

    /// The id of experiment `name`, if it exists.
    pub(crate) fn experiment_id(&self, name: &str) -> Result<Option<String>> {
        match self
            .client
            .get("experiments/get-by-name", &[("experiment_name", name)])
        {
            Ok(e) => {
                let id = e["experiment"]["experiment_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                if let Ok(mut m) = self.experiments.lock() {
                    m.insert(id.clone(), name.to_string());
                }
                Ok(Some(id))
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(self.err("experiment", name, e)),
        }
    }

    /// Every active experiment as `(id, name, creation time)`, paged.
    pub(crate) fn search_experiments(&self) -> Result<Vec<(String, String, i64)>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut body = json!({"max_results": 1000, "view_type": "ACTIVE_ONLY"});
            if let Some(t) = &token {
                body["page_token"] = json!(t);
            }
            let page = self
                .client
                .post("experiments/search", &body)
                .map_err(|e| self.err("experiments", "search", e))?;
            for e in page["experiments"].as_array().into_iter().flatten() {
                let id = e["experiment_id"].as_str().unwrap_or_default().to_string();
                let name = e["name"].as_str().unwrap_or_default().to_string();
                out.push((id, name, int(&e["creation_time"]).unwrap_or(0)));
            }
            token = page["next_page_token"]
                .as_str()
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        if let Ok(mut m) = self.experiments.lock() {
            for (id, name, _) in &out {
                m.insert(id.clone(), name.clone());
            }
        }
        Ok(out)
    }

    /// One page of `runs/search` in `experiment_ids`, newest first.
    pub(crate) fn search_runs_page(
        &self,
        experiment_ids: &[String],
        filter: &str,
        max_results: usize,
        page_token: Option<&str>,
    ) -> Result<(Vec<RemoteRun>, Option<String>)> {
        self.search_runs_ordered(experiment_ids, filter, &[], max_results, page_token)
    }

    /// One page of `runs/search` ordered by `order_by` (MLflow's syntax), then newest first.
    pub(crate) fn search_runs_ordered(
        &self,
        experiment_ids: &[String],
        filter: &str,
        order_by: &[String],
        max_results: usize,
        page_token: Option<&str>,
    ) -> Result<(Vec<RemoteRun>, Option<String>)> {
        let mut order: Vec<String> = order_by.to_vec();
        order.push("attributes.start_time DESC".into());
        let mut body = json!({
            "experiment_ids": experiment_ids,
            "filter": filter,
            "run_view_type": "ACTIVE_ONLY",
            "max_results": max_results,
            "order_by": order,
        });
        if let Some(t) = page_token {
            body["page_token"] = json!(t);
        }
        let page = self
            .client
            .post("runs/search", &body)
            .map_err(|e| self.err("runs", "search", e))?;
        let runs = page["runs"]
            .as_array()
            .map(|rs| rs.iter().map(RemoteRun::parse).collect())
            .unwrap_or_default();
        let next = page["next_page_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        Ok((runs, next))
    }

    /// Every run matching `filter` (an MLflow search filter) in `experiment_ids`, paged.
    pub(crate) fn search_runs_all(
        &self,
        experiment_ids: &[String],
        filter: &str,
        limit: Option<usize>,
    ) -> Result<Vec<RemoteRun>> {
        let mut out = Vec::new();
        if experiment_ids.is_empty() {
            return Ok(out);
        }
        let mut token: Option<String> = None;
        loop {
            let want = limit.map_or(RUNS_PAGE, |l| l.saturating_sub(out.len()).min(RUNS_PAGE));
            if want == 0 {
                break;
            }
            let (runs, next) =
                self.search_runs_page(experiment_ids, filter, want, token.as_deref())?;
            out.extend(runs);
            token = next;
            if token.is_none() {
                break;
            }
        }
        Ok(out)
    }

    fn experiment_ids_for(&self, filter: &RunFilter) -> Result<Vec<String>> {
        match &filter.experiment {
            Some(name) => {
                Ok(vec![self.experiment_id(name)?.ok_or_else(|| {
                    Error::not_found("experiment", name.as_str())
                })?])
            }
            None => Ok(self
                .search_experiments()?
                .into_iter()
                .map(|(id, _, _)| id)
                .collect()),
        }
    }

    pub(crate) fn remote_run(&self, run_id: &str) -> Result<RemoteRun> {
        match self.client.get("runs/get", &[("run_id", run_id)]) {
            Ok(v) => Ok(RemoteRun::parse(&v["run"])),
            Err(e) if e.is_not_found() || e.code() == Some("INVALID_PARAMETER_VALUE") => {
                if run_id.len() < 32 {
                    Err(Error::invalid(format!(
                        "run `{run_id}` not found on {}: an MLflow backend needs the full 32-character run id",
                        self.client.uri()
                    )))
                } else {
                    Err(Error::not_found("run", run_id))
                }
            }
            Err(e) => Err(self.err("run", run_id, e)),
        }
    }

    /// The run whose id starts with `prefix` (at least [`MIN_PREFIX_LEN`] hex characters).
    fn run_by_prefix(&self, prefix: &str) -> Result<RemoteRun> {
        if prefix.len() < MIN_PREFIX_LEN || !prefix.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(Error::invalid(format!(
                "`{prefix}` is not a run id or a prefix of one ({MIN_PREFIX_LEN}+ hex characters)"
            )));
        }
        let ids: Vec<String> = self
            .search_experiments()?
            .into_iter()
            .map(|(id, _, _)| id)
            .collect();
        let filter = format!("attributes.run_id LIKE '{}%'", prefix.to_ascii_lowercase());
        let (mut runs, _) = self.search_runs_page(&ids, &filter, 10, None)?;
        match runs.len() {
            0 => Err(Error::not_found("run", prefix)),
            1 => Ok(runs.remove(0)),
            _ => Err(Error::invalid(format!(
                "run prefix `{prefix}` is ambiguous: {}",
                runs.iter()
                    .map(|r| r.run_id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// `runs/log-batch` in MLflow's batch limits.
    pub(crate) fn log_batch(
        &self,
        run_id: &str,
        params: &BTreeMap<String, String>,
        tags: &BTreeMap<String, String>,
        metrics: &[MetricPoint],
    ) -> Result<()> {
        let params: Vec<_> = params.iter().collect();
        let tags: Vec<_> = tags.iter().collect();
        for chunk in params.chunks(MAX_PARAMS_TAGS_PER_BATCH) {
            self.post_batch(
                run_id,
                json!({"params": key_value_list(chunk.iter().copied())}),
            )?;
        }
        for chunk in tags.chunks(MAX_PARAMS_TAGS_PER_BATCH) {
            self.post_batch(
                run_id,
                json!({"tags": key_value_list(chunk.iter().copied())}),
            )?;
        }
        for chunk in metrics.chunks(MAX_METRICS_PER_BATCH) {
            let ms: Vec<Value> = chunk
                .iter()
                .map(|m| {
                    json!({"key": m.key, "value": double_json(m.value),
                           "timestamp": m.timestamp, "step": m.step})
                })
                .collect();
            self.post_batch(run_id, json!({"metrics": ms}))?;
        }
        Ok(())
    }

    fn post_batch(&self, run_id: &str, mut body: Value) -> Result<()> {
        body["run_id"] = json!(run_id);
        self.client
            .post("runs/log-batch", &body)
            .map(|_| ())
            .map_err(|e| self.err("run", run_id, e))
    }

    fn set_tag(&self, run_id: &str, key: &str, value: &str) -> Result<()> {
        self.client
            .post(
                "runs/set-tag",
                &json!({"run_id": run_id, "key": key, "value": value}),
            )
            .map(|_| ())
            .map_err(|e| self.err("run", run_id, e))
    }

    fn running(&self, run_id: &str) -> Result<RemoteRun> {
        let run = self.remote_run(run_id)?;
        if run.status != RunStatus::Running {
            return Err(Error::invalid(format!(
                "run {run_id} is {}, not RUNNING",
                run.status.as_str()
            )));
        }
        Ok(run)
    }

    /// Creates a run with the given start time and tags (and no params yet); returns its id.
    pub(crate) fn create_remote_run(
        &self,
        experiment_id: &str,
        name: &str,
        start_time: i64,
        tags: &BTreeMap<String, String>,
    ) -> Result<String> {
        let run = self
            .client
            .post(
                "runs/create",
                &json!({
                    "experiment_id": experiment_id,
                    "run_name": name,
                    "start_time": start_time,
                    "tags": key_value_list(tags.iter()),
                }),
            )
            .map_err(|e| self.err("run", name, e))?;
        let id = run["run"]["info"]["run_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if id.is_empty() {
            return Err(Error::invalid(format!(
                "MLflow server {} created run `{name}` but returned no run id",
                self.client.uri()
            )));
        }
        Ok(id)
    }

    /// Sets a run's terminal status and end time.
    pub(crate) fn update_run(&self, run_id: &str, status: RunStatus, end_time: i64) -> Result<()> {
        self.client
            .post(
                "runs/update",
                &json!({"run_id": run_id, "status": status.as_str(), "end_time": end_time}),
            )
            .map(|_| ())
            .map_err(|e| self.err("run", run_id, e))
    }

    /// Runs of MLflow filter `filter` across every experiment.
    pub(crate) fn runs_where(&self, filter: &str) -> Result<Vec<RemoteRun>> {
        let ids: Vec<String> = self
            .search_experiments()?
            .into_iter()
            .map(|(id, _, _)| id)
            .collect();
        self.search_runs_all(&ids, filter, None)
    }

    fn summaries(&self, runs: Vec<RemoteRun>) -> Result<Vec<RunSummary>> {
        runs.into_iter()
            .map(|r| Ok(r.summary(self.experiment_name(&r.experiment_id)?)))
            .collect()
    }
}

/// What of `filter` the server evaluates: its status, and the clauses of the filter expression
/// MLflow's search understands (see [`crate::store::query::Query::mlflow_pushdown`]); and
/// whether that is the whole filter.
fn server_filter(filter: &RunFilter, query: Option<&Query>) -> (String, bool) {
    let mut clauses = Vec::new();
    if let Some(s) = filter.status {
        clauses.push(format!("attributes.status = '{}'", s.as_str()));
    }
    let mut complete = true;
    if let Some(q) = query {
        let pushed = q.mlflow_pushdown();
        complete = pushed.complete;
        clauses.extend(pushed.filter);
    }
    (clauses.join(" and "), complete)
}

impl TrackingStore for MlflowStore {
    fn get_or_create_experiment(&mut self, name: &str) -> Result<i64> {
        let id = match self.experiment_id(name)? {
            Some(id) => id,
            None => match self
                .client
                .post("experiments/create", &json!({"name": name}))
            {
                Ok(v) => v["experiment_id"].as_str().unwrap_or_default().to_string(),
                // Created by someone else meanwhile.
                Err(e) if e.is_already_exists() => self
                    .experiment_id(name)?
                    .ok_or_else(|| Error::not_found("experiment", name))?,
                Err(e) => return Err(self.err("experiment", name, e)),
            },
        };
        experiment_number(&id)
    }

    fn list_experiments(&self) -> Result<Vec<Experiment>> {
        let mut out = Vec::new();
        for (id, name, created_at) in self.search_experiments()? {
            // MLflow has no run count: page through the experiment's runs.
            let runs = self.search_runs_all(std::slice::from_ref(&id), "", None)?;
            out.push(Experiment {
                id: experiment_number(&id)?,
                name,
                created_at,
                run_count: runs.len() as i64,
            });
        }
        out.sort_by_key(|e| (e.created_at, e.id));
        Ok(out)
    }

    fn create_run(&mut self, new: &NewRun) -> Result<String> {
        let experiment = self.get_or_create_experiment(&new.experiment)?;
        let now = now_ms();
        let tags = tags_of_new_run(new, &self.host, now)?;
        let run_id = self.create_remote_run(&experiment.to_string(), &new.name, now, &tags)?;
        self.log_batch(&run_id, &new.params, &BTreeMap::new(), &[])?;
        Ok(run_id)
    }

    fn heartbeat(&mut self, run_id: &str) -> Result<()> {
        self.running(run_id)?;
        self.set_tag(run_id, TAG_HEARTBEAT, &now_ms().to_string())
    }

    fn log_params(&mut self, run_id: &str, params: &BTreeMap<String, String>) -> Result<()> {
        self.log_batch(run_id, params, &BTreeMap::new(), &[])
    }

    fn set_tags(&mut self, run_id: &str, tags: &BTreeMap<String, String>) -> Result<()> {
        self.log_batch(run_id, &BTreeMap::new(), tags, &[])
    }

    fn log_metrics(&mut self, run_id: &str, points: &[MetricPoint]) -> Result<()> {
        self.log_batch(run_id, &BTreeMap::new(), &BTreeMap::new(), points)
    }

    fn log_artifact(&mut self, run_id: &str, artifact: &Artifact) -> Result<()> {
        let bytes = self.local.artifacts().get(&artifact.digest)?;
        self.upload_artifact(run_id, &artifact.name, &bytes)?;
        let run = self.remote_run(run_id)?;
        let mut list = run.artifacts();
        list.retain(|a| a.name != artifact.name);
        list.push(artifact.clone());
        list.sort_by(|a, b| a.name.cmp(&b.name));
        self.set_tag(run_id, TAG_ARTIFACTS, &serde_json::to_string(&list)?)
    }

    fn finish_run(&mut self, run_id: &str, status: RunStatus, error: Option<&str>) -> Result<()> {
        if !status.is_terminal() {
            return Err(Error::invalid(
                "a run can only be finished with a terminal status",
            ));
        }
        self.running(run_id)?;
        if let Some(e) = error {
            self.set_tag(run_id, TAG_ERROR, e)?;
        }
        self.update_run(run_id, status, now_ms())
    }

    fn get_run(&self, id_or_prefix: &str) -> Result<RunDetail> {
        let id = id_or_prefix.trim();
        let run = if id.len() < 32 {
            self.run_by_prefix(id)?
        } else {
            self.remote_run(id)?
        };
        let experiment = self.experiment_name(&run.experiment_id)?;
        Ok(run.detail(experiment))
    }

    /// The server evaluates what it can of the filter (the pushed-down clauses); the whole
    /// expression is then checked here, so the answer is the SQLite store's for the same runs.
    /// With an ordering or a filter the server cannot finish, every pushed-down match is read
    /// and ordered and limited here.
    fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunSummary>> {
        let (query, order) = filter.parsed()?;
        let ids = self.experiment_ids_for(filter)?;
        let (server, complete) = server_filter(filter, query.as_ref());
        let server_limit = if complete && order.is_none() {
            filter.limit
        } else {
            None
        };
        let runs = self.search_runs_all(&ids, &server, server_limit)?;
        let runs = self.summaries(runs)?;
        Ok(query::select(
            runs,
            query.as_ref(),
            order.as_ref(),
            filter.limit,
        ))
    }

    fn list_runs_page(
        &self,
        filter: &RunFilter,
        page_size: usize,
        page_token: Option<&str>,
    ) -> Result<RunPage> {
        let ids = self.experiment_ids_for(filter)?;
        if ids.is_empty() {
            return Ok(RunPage {
                runs: Vec::new(),
                next_page_token: None,
            });
        }
        // A page is the server's page of the pushed-down filter, narrowed here by the rest (so
        // it may hold fewer runs than asked for); the server orders it.
        let (query, order) = filter.parsed()?;
        let (server, _) = server_filter(filter, query.as_ref());
        let order_by = order.map(|o| o.mlflow_order_by()).unwrap_or_default();
        let size = page_size.clamp(1, 50_000);
        let (runs, next) = self.search_runs_ordered(&ids, &server, &order_by, size, page_token)?;
        Ok(RunPage {
            runs: query::select(self.summaries(runs)?, query.as_ref(), None, None),
            next_page_token: next,
        })
    }

    fn metric_history(&self, run_id: &str, key: &str) -> Result<Vec<MetricPoint>> {
        let mut out: Vec<MetricPoint> = self
            .client
            .get_all(
                "metrics/get-history",
                &[
                    ("run_id", run_id),
                    ("metric_key", key),
                    ("max_results", "25000"),
                ],
                "metrics",
            )
            .map_err(|e| self.err("run", run_id, e))?
            .iter()
            .map(|m| MetricPoint {
                key: key.to_string(),
                value: double(&m["value"]),
                step: int(&m["step"]).unwrap_or(0),
                timestamp: int(&m["timestamp"]).unwrap_or(0),
            })
            .collect();
        out.sort_by_key(|p| (p.step, p.timestamp));
        Ok(out)
    }

    fn record_data_version(&mut self, dv: &DataVersion) -> Result<bool> {
        self.local.record_data_version(dv)
    }

    fn get_data_version(&self, id_or_prefix: &str) -> Result<DataVersion> {
        self.local.get_data_version(id_or_prefix)
    }

    fn list_data_versions(&self) -> Result<Vec<DataVersionSummary>> {
        let mut versions = self.local.list_data_versions()?;
        if versions.is_empty() {
            return Ok(versions);
        }
        // Which runs used each version lives on the server.
        let mut by_version: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
        for run in self.runs_where(&format!("tags.\"{TAG_DATA_VERSION}\" != ''"))? {
            if let Some(dv) = run.tags.get(TAG_DATA_VERSION) {
                by_version
                    .entry(dv.clone())
                    .or_default()
                    .push((run.start_time, run.run_id.clone()));
            }
        }
        for v in &mut versions {
            let mut runs = by_version.remove(&v.version.id).unwrap_or_default();
            runs.sort();
            v.runs = runs.into_iter().map(|(_, id)| id).collect();
        }
        Ok(versions)
    }

    fn reap_dead_runs(&mut self, stale_after_ms: i64) -> Result<Vec<(String, RunStatus)>> {
        let now = now_ms();
        let mut reaped = Vec::new();
        let filter = format!("attributes.status = 'RUNNING' and tags.\"{TAG_HOST}\" != ''");
        for run in self.runs_where(&filter)? {
            let host = run.tags.get(TAG_HOST).map(String::as_str).unwrap_or("");
            let pid = run.tags.get(TAG_PID).and_then(|p| p.parse::<u32>().ok());
            let beat = run
                .tags
                .get(TAG_HEARTBEAT)
                .and_then(|h| h.parse::<i64>().ok())
                .unwrap_or(run.start_time);
            let silence = now.saturating_sub(beat);
            let (status, error) = match pid {
                Some(pid) if host == self.host && !pid_alive(pid) => (
                    RunStatus::Killed,
                    format!("process {pid} exited without finishing the run"),
                ),
                _ if silence > stale_after_ms => (
                    RunStatus::Failed,
                    format!("no heartbeat for {} s", silence / 1000),
                ),
                _ => continue,
            };
            self.set_tag(&run.run_id, TAG_ERROR, &error)?;
            self.update_run(&run.run_id, status, now.max(run.start_time))?;
            reaped.push((run.run_id, status));
        }
        Ok(reaped)
    }
}

/// MLflow experiment ids are numeric strings on the open-source server and on Databricks.
fn experiment_number(id: &str) -> Result<i64> {
    id.parse().map_err(|_| {
        Error::invalid(format!(
            "MLflow experiment id `{id}` is not a number, which cerebro needs"
        ))
    })
}
