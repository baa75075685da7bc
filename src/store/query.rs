//! The run filter language: MLflow's `search_runs` filter syntax plus what MLflow lacks (`or`,
//! parentheses, `not`, `in (...)` on every field, numeric comparison of params and tags).
//!
//! ```text
//! metrics.roc_auc > 0.7 and (params.max_depth >= 6 or tags.`cerebro.demo` = 'true')
//! attributes.status in ('FINISHED', 'FAILED') and params.criterion ilike 'GIN%'
//! ```
//!
//! Grammar (keywords are case-insensitive; `and` binds tighter than `or`, `not` tighter still):
//! ```text
//! expr      := conj ("or" conj)*
//! conj      := unary ("and" unary)*
//! unary     := "not" unary | "(" expr ")" | predicate
//! predicate := field op literal | field ["not"] "in" "(" literal ("," literal)* ")"
//!            | field ["not"] ("like" | "ilike") string | field "is" ["not"] "null"
//! field     := entity "." key | attribute
//! entity    := metric(s) | param(s) | parameter(s) | tag(s) | attribute(s) | attr | run
//! key       := word (dots allowed: tags.cerebro.demo) | `back ticks` | "double quotes"
//! op        := "=" | "!=" | "<>" | "<" | "<=" | ">" | ">="
//! literal   := number | 'single' or "double" quoted string ('' inside doubles a quote)
//! ```
//!
//! Semantics follow SQL's (and so MLflow's SQL store): a run that lacks the field, or whose
//! metric is NaN, has the value NULL; a comparison with NULL is *unknown*, `not unknown` is
//! unknown, `and`/`or` follow Kleene's three-valued logic, and a run matches only when the whole
//! expression is true. So `metrics.x != 1` does not match runs without `x`, and neither does
//! `not metrics.x = 1`; `is null` / `is not null` test presence. `like` is case-sensitive with `%`
//! (any run of characters) and `_` (one character), `ilike` ignores case. A param or tag compared
//! with a number (`params.max_depth >= 6`) is read as a number; a value that is not one is NULL.
//!
//! Three consumers share one parse: [`Query::matches`] evaluates in memory (the TUI's `/`, the
//! MLflow backend's remainder), [`Query::to_sql`] compiles to a `WHERE` clause over the SQLite
//! store's tables (with the `cerebro_like` and `cerebro_number` functions that
//! [`register_sql_functions`] installs, so both paths run this module's code for LIKE and number
//! reading), and [`Query::mlflow_pushdown`] picks the top-level `and` clauses MLflow's own
//! search understands.
//!
//! The parser is hand-written (a tokenizer and a recursive descent over the six rules above,
//! about 300 lines) rather than built on a parser crate: the grammar is tiny, every error must
//! name the 1-based column and what was expected there, and the table of tests in this module
//! covers every rule and error.

use std::cmp::Ordering;
use std::fmt;

use super::{RunStatus, RunSummary};

/// A filter that did not parse: what is wrong and the 1-based character column where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct QueryError {
    pub column: usize,
    pub message: String,
}

/// A run attribute (`attributes.<name>`; MLflow's names, plus `experiment`, `model_kind` and
/// `data_version`, which only cerebro knows and which are evaluated locally on MLflow).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attribute {
    RunId,
    RunName,
    Status,
    /// Unix milliseconds (alias `created`).
    StartTime,
    /// Unix milliseconds.
    EndTime,
    Experiment,
    ModelKind,
    DataVersion,
}

impl Attribute {
    /// Every attribute with the names it is written as (the first is canonical).
    const NAMES: [(Attribute, &'static [&'static str]); 8] = [
        (Attribute::RunId, &["run_id"]),
        (Attribute::RunName, &["run_name", "run name", "name"]),
        (Attribute::Status, &["status"]),
        (Attribute::StartTime, &["start_time", "created"]),
        (Attribute::EndTime, &["end_time"]),
        (Attribute::Experiment, &["experiment", "experiment_name"]),
        (Attribute::ModelKind, &["model_kind", "kind"]),
        (Attribute::DataVersion, &["data_version"]),
    ];

    fn parse(name: &str) -> Option<Attribute> {
        let lower = name.to_ascii_lowercase();
        Self::NAMES
            .iter()
            .find(|(_, names)| names.contains(&lower.as_str()))
            .map(|(a, _)| *a)
    }

    /// The canonical name (`start_time`, `run_name`...).
    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(a, _)| *a == self)
            .map_or("", |(_, n)| n[0])
    }

    fn is_numeric(self) -> bool {
        matches!(self, Attribute::StartTime | Attribute::EndTime)
    }

    /// Whether MLflow's run search knows this attribute.
    fn in_mlflow(self) -> bool {
        matches!(
            self,
            Attribute::RunId
                | Attribute::RunName
                | Attribute::Status
                | Attribute::StartTime
                | Attribute::EndTime
        )
    }
}

/// What a predicate looks at.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    Metric(String),
    Param(String),
    Tag(String),
    Attribute(Attribute),
}

impl Field {
    fn is_numeric(&self) -> bool {
        match self {
            Field::Metric(_) => true,
            Field::Attribute(a) => a.is_numeric(),
            _ => false,
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (entity, key) = match self {
            Field::Metric(k) => ("metrics", k.as_str()),
            Field::Param(k) => ("params", k.as_str()),
            Field::Tag(k) => ("tags", k.as_str()),
            Field::Attribute(a) => ("attributes", a.name()),
        };
        write!(f, "{entity}.{}", quote_key(key))
    }
}

/// A key as MLflow reads it back: bare when it is a plain word, else in backticks.
fn quote_key(key: &str) -> String {
    if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    {
        key.to_string()
    } else {
        format!("`{key}`")
    }
}

/// A numeric comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    fn holds(self, ord: Ordering) -> bool {
        match self {
            CmpOp::Eq => ord == Ordering::Equal,
            CmpOp::Ne => ord != Ordering::Equal,
            CmpOp::Lt => ord == Ordering::Less,
            CmpOp::Le => ord != Ordering::Greater,
            CmpOp::Gt => ord == Ordering::Greater,
            CmpOp::Ge => ord != Ordering::Less,
        }
    }
}

/// The test a predicate applies to its field's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// A number comparison (the field read as a number).
    Number(CmpOp, f64),
    /// Text equality (`=`) or inequality (`!=`); only `Eq` and `Ne`.
    Text(CmpOp, String),
    Like {
        pattern: String,
        case_insensitive: bool,
        negated: bool,
    },
    InText {
        values: Vec<String>,
        negated: bool,
    },
    InNumber {
        values: Vec<f64>,
        negated: bool,
    },
    /// `is null` (`negated`: `is not null`).
    Null {
        negated: bool,
    },
}

/// A parsed filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Predicate(Field, Test),
}

/// A parsed filter: see the module documentation.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub expr: Expr,
}

/// A run as a filter sees it. Implemented for [`RunSummary`]; anything that can answer these
/// lookups can be filtered.
pub trait RunFields {
    /// The latest value of a metric; `None` when absent (NaN counts as absent).
    fn metric(&self, key: &str) -> Option<f64>;
    fn param(&self, key: &str) -> Option<&str>;
    fn tag(&self, key: &str) -> Option<&str>;
    fn attribute_text(&self, attribute: Attribute) -> Option<&str>;
    fn attribute_number(&self, attribute: Attribute) -> Option<f64>;
}

impl RunFields for RunSummary {
    fn metric(&self, key: &str) -> Option<f64> {
        self.metrics.get(key).copied().filter(|v| !v.is_nan())
    }
    fn param(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str)
    }
    fn tag(&self, key: &str) -> Option<&str> {
        self.tags.get(key).map(String::as_str)
    }
    fn attribute_text(&self, attribute: Attribute) -> Option<&str> {
        match attribute {
            Attribute::RunId => Some(&self.run_id),
            Attribute::RunName => Some(&self.name),
            Attribute::Status => Some(self.status.as_str()),
            Attribute::Experiment => Some(&self.experiment),
            Attribute::ModelKind => Some(&self.model_kind),
            Attribute::DataVersion => self.data_version.as_deref(),
            Attribute::StartTime | Attribute::EndTime => None,
        }
    }
    fn attribute_number(&self, attribute: Attribute) -> Option<f64> {
        match attribute {
            Attribute::StartTime => Some(self.start_time as f64),
            Attribute::EndTime => self.end_time.map(|t| t as f64),
            _ => None,
        }
    }
}

/// A value read as a number the way the filter does everywhere (Rust's `f64` syntax, trimmed;
/// NaN is no number).
pub fn read_number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|v| !v.is_nan())
}

/// SQL `LIKE` as MLflow documents it: `%` matches any run of characters, `_` one character, and
/// everything else itself (case-sensitive unless `case_insensitive`).
pub fn like(text: &str, pattern: &str, case_insensitive: bool) -> bool {
    let fold = |s: &str| -> Vec<char> {
        if case_insensitive {
            s.chars().flat_map(char::to_lowercase).collect()
        } else {
            s.chars().collect()
        }
    };
    let (t, p) = (fold(text), fold(pattern));
    // Iterative wildcard matching with one backtrack point (the last `%`): linear in practice.
    let (mut ti, mut pi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '_' || (p[pi] != '%' && p[pi] == t[ti])) {
            ti += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '%')
}

impl Query {
    /// Parses `source`; an empty or blank filter is an error (there is nothing to match).
    pub fn parse(source: &str) -> Result<Query, QueryError> {
        let tokens = tokenize(source)?;
        let mut p = Parser {
            tokens,
            pos: 0,
            end_column: source.chars().count() + 1,
        };
        if p.tokens.is_empty() {
            return Err(QueryError {
                column: 1,
                message: "the filter is empty".into(),
            });
        }
        let expr = p.expr()?;
        if let Some(t) = p.peek() {
            return Err(QueryError {
                column: t.column,
                message: format!(
                    "expected `and`, `or` or the end of the filter, found {}",
                    t.kind.describe()
                ),
            });
        }
        Ok(Query { expr })
    }

    /// Whether `run` matches (the expression is true, not false or unknown).
    pub fn matches(&self, run: &impl RunFields) -> bool {
        eval(&self.expr, run) == Some(true)
    }

    /// Every field the expression reads, in order of appearance.
    pub fn fields(&self) -> Vec<&Field> {
        fn walk<'a>(e: &'a Expr, out: &mut Vec<&'a Field>) {
            match e {
                Expr::And(a, b) | Expr::Or(a, b) => {
                    walk(a, out);
                    walk(b, out);
                }
                Expr::Not(a) => walk(a, out),
                Expr::Predicate(f, _) => out.push(f),
            }
        }
        let mut out = Vec::new();
        walk(&self.expr, &mut out);
        out
    }

    /// The part of the filter an MLflow server can evaluate itself: the top-level `and` clauses
    /// that MLflow's search syntax expresses, joined with `and` (`None` when there are none).
    /// Whatever is pushed down is implied by the whole filter, so a caller filters the server's
    /// answer with [`Query::matches`] and gets exactly the runs the whole filter selects; it is
    /// [`Pushdown::complete`] when nothing is left to evaluate locally.
    pub fn mlflow_pushdown(&self) -> Pushdown {
        let mut conjuncts = Vec::new();
        flatten_and(&self.expr, &mut conjuncts);
        let total = conjuncts.len();
        let pushed: Vec<String> = conjuncts.into_iter().filter_map(mlflow_clause).collect();
        Pushdown {
            complete: pushed.len() == total,
            filter: (!pushed.is_empty()).then(|| pushed.join(" and ")),
        }
    }

    /// A SQL condition over the SQLite store's `runs r JOIN experiments e` with its bound
    /// values, in the order of the `?` placeholders. Metric values come from `latest_metrics`
    /// (NULL for NaN), params and tags from their tables.
    ///
    /// A predicate on a metric, param or tag outside any `not` becomes a semi-join,
    /// `r.run_id IN (SELECT run_id FROM params WHERE key = ? AND <test on value>)`, which SQLite
    /// evaluates once into a temporary index instead of one primary-key lookup per run and
    /// field; `is null` becomes `NOT IN` over the runs that have the key. It answers false where
    /// the filter says unknown (a missing key), which is the same result for a `WHERE` over
    /// `and`/`or` alone: those are monotone in Kleene's logic, so an expression is true exactly
    /// when it is true with every unknown read as false. Under a `not` the difference matters,
    /// so there each field is a scalar subquery (NULL when missing) and SQL's three-valued logic
    /// is the filter's.
    pub fn to_sql(&self) -> (String, Vec<SqlValue>) {
        let mut sql = String::new();
        let mut args = Vec::new();
        sql_expr(&self.expr, true, &mut sql, &mut args);
        (sql, args)
    }
}

/// The MLflow-side part of a filter: see [`Query::mlflow_pushdown`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushdown {
    /// An MLflow search filter, or `None` to push nothing.
    pub filter: Option<String>,
    /// The pushed filter is the whole filter.
    pub complete: bool,
}

/// A value bound into [`Query::to_sql`]'s SQL.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Text(String),
    Real(f64),
    Integer(i64),
}

/// Kleene three-valued evaluation: `None` is unknown.
fn eval(e: &Expr, run: &impl RunFields) -> Option<bool> {
    match e {
        Expr::And(a, b) => match eval(a, run) {
            Some(false) => Some(false),
            left => match (left, eval(b, run)) {
                (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
        },
        Expr::Or(a, b) => match eval(a, run) {
            Some(true) => Some(true),
            left => match (left, eval(b, run)) {
                (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
        },
        Expr::Not(a) => eval(a, run).map(|v| !v),
        Expr::Predicate(field, test) => predicate(field, test, run),
    }
}

/// The text of `field` on `run` (`None` for numeric fields).
fn field_text<'r>(field: &Field, run: &'r impl RunFields) -> Option<&'r str> {
    match field {
        Field::Param(k) => run.param(k),
        Field::Tag(k) => run.tag(k),
        Field::Attribute(a) => run.attribute_text(*a),
        Field::Metric(_) => None,
    }
}

/// `field` on `run` read as a number (text through [`read_number`]).
fn field_number(field: &Field, run: &impl RunFields) -> Option<f64> {
    match field {
        Field::Metric(k) => run.metric(k),
        Field::Attribute(a) if a.is_numeric() => run.attribute_number(*a),
        _ => field_text(field, run).and_then(read_number),
    }
}

fn predicate(field: &Field, test: &Test, run: &impl RunFields) -> Option<bool> {
    apply(
        test,
        field.is_numeric(),
        || field_text(field, run),
        || field_number(field, run),
    )
}

/// `test` on a field's value: its text and its number, each computed only when the test needs
/// it; `None` is unknown (the value is missing).
fn apply<'t>(
    test: &Test,
    numeric_field: bool,
    text: impl Fn() -> Option<&'t str>,
    number: impl Fn() -> Option<f64>,
) -> Option<bool> {
    match test {
        Test::Number(op, v) => number().map(|x| op.holds(x.total_cmp(v))),
        Test::Text(op, v) => text().map(|x| op.holds(x.cmp(v.as_str()))),
        Test::Like {
            pattern,
            case_insensitive,
            negated,
        } => text().map(|x| like(x, pattern, *case_insensitive) != *negated),
        Test::InText { values, negated } => {
            text().map(|x| values.iter().any(|v| v == x) != *negated)
        }
        Test::InNumber { values, negated } => number().map(|x| values.contains(&x) != *negated),
        Test::Null { negated } => {
            let present = if numeric_field {
                number().is_some()
            } else {
                text().is_some()
            };
            Some(present == *negated)
        }
    }
}

/// Filters evaluated column by column over one fixed list of runs, for a front end that filters
/// the same runs again on every keystroke (the TUI's `/`). Each field a filter names is read from
/// the runs once into a column (its text, and its number: params parsed once, not per
/// keystroke), kept for later filters, and forgotten by [`RunColumns::clear`] when the runs
/// change. Selects exactly the runs [`Query::matches`] does: both read a value through the same
/// test ([`apply`]) and combine with the same Kleene logic.
#[derive(Debug, Default, Clone)]
pub struct RunColumns {
    /// The number of runs the columns were read from.
    len: usize,
    columns: Vec<(Field, Column)>,
}

#[derive(Debug, Clone)]
struct Column {
    /// Empty for numeric fields (they have no text).
    text: Vec<Option<Box<str>>>,
    number: Vec<Option<f64>>,
}

/// Kleene values in a column evaluation.
const FALSE: u8 = 0;
const TRUE: u8 = 1;
const UNKNOWN: u8 = 2;

impl RunColumns {
    /// Forgets every column: the runs changed.
    pub fn clear(&mut self) {
        self.columns.clear();
        self.len = 0;
    }

    /// The indices (ascending) of the runs `query` matches. `runs` must be the runs the columns
    /// were read from since the last [`RunColumns::clear`] (a different length clears them).
    pub fn select(&mut self, query: &Query, runs: &[RunSummary]) -> Vec<usize> {
        if self.len != runs.len() {
            self.clear();
            self.len = runs.len();
        }
        for field in query.fields() {
            if !self.columns.iter().any(|(f, _)| f == field) {
                let text = if field.is_numeric() {
                    Vec::new()
                } else {
                    runs.iter()
                        .map(|r| field_text(field, r).map(Box::from))
                        .collect()
                };
                let number = runs.iter().map(|r| field_number(field, r)).collect();
                self.columns.push((field.clone(), Column { text, number }));
            }
        }
        self.eval(&query.expr)
            .iter()
            .enumerate()
            .filter(|(_, v)| **v == TRUE)
            .map(|(i, _)| i)
            .collect()
    }

    fn eval(&self, e: &Expr) -> Vec<u8> {
        match e {
            Expr::And(a, b) => {
                let mut left = self.eval(a);
                for (l, r) in left.iter_mut().zip(self.eval(b)) {
                    *l = match (*l, r) {
                        (FALSE, _) | (_, FALSE) => FALSE,
                        (TRUE, TRUE) => TRUE,
                        _ => UNKNOWN,
                    };
                }
                left
            }
            Expr::Or(a, b) => {
                let mut left = self.eval(a);
                for (l, r) in left.iter_mut().zip(self.eval(b)) {
                    *l = match (*l, r) {
                        (TRUE, _) | (_, TRUE) => TRUE,
                        (FALSE, FALSE) => FALSE,
                        _ => UNKNOWN,
                    };
                }
                left
            }
            Expr::Not(a) => {
                let mut v = self.eval(a);
                for x in &mut v {
                    *x = match *x {
                        TRUE => FALSE,
                        FALSE => TRUE,
                        u => u,
                    };
                }
                v
            }
            Expr::Predicate(field, test) => {
                let (_, col) = self
                    .columns
                    .iter()
                    .find(|(f, _)| f == field)
                    .expect("select reads every field first");
                let numeric = field.is_numeric();
                (0..self.len)
                    .map(|i| {
                        let text = || col.text.get(i).and_then(|t| t.as_deref());
                        match apply(test, numeric, text, || col.number[i]) {
                            Some(true) => TRUE,
                            Some(false) => FALSE,
                            None => UNKNOWN,
                        }
                    })
                    .collect()
            }
        }
    }
}

fn flatten_and<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>) {
    if let Expr::And(a, b) = e {
        flatten_and(a, out);
        flatten_and(b, out);
    } else {
        out.push(e);
    }
}

/// One top-level clause in MLflow's syntax, if MLflow evaluates it as this module does.
fn mlflow_clause(e: &Expr) -> Option<String> {
    let Expr::Predicate(field, test) = e else {
        return None;
    };
    let string = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let lhs = field.to_string();
    match (field, test) {
        (Field::Metric(_), Test::Number(op, v)) if v.is_finite() => {
            Some(format!("{lhs} {} {v:?}", op.symbol()))
        }
        (Field::Attribute(a), Test::Number(op, v)) if a.is_numeric() && v.is_finite() => {
            Some(format!("{lhs} {} {}", op.symbol(), *v as i64))
        }
        (Field::Param(_) | Field::Tag(_), Test::Text(op, v)) => {
            Some(format!("{lhs} {} {}", op.symbol(), string(v)))
        }
        (Field::Attribute(a), Test::Text(op, v)) if a.in_mlflow() => {
            Some(format!("{lhs} {} {}", op.symbol(), string(v)))
        }
        (
            Field::Param(_) | Field::Tag(_),
            Test::Like {
                pattern,
                case_insensitive,
                negated: false,
            },
        ) => Some(format!(
            "{lhs} {} {}",
            if *case_insensitive { "ILIKE" } else { "LIKE" },
            string(pattern)
        )),
        (
            Field::Attribute(a),
            Test::Like {
                pattern,
                case_insensitive,
                negated: false,
            },
        ) if a.in_mlflow() && !a.is_numeric() => Some(format!(
            "{lhs} {} {}",
            if *case_insensitive { "ILIKE" } else { "LIKE" },
            string(pattern)
        )),
        // MLflow takes lists for `run_id` only.
        (Field::Attribute(a), Test::InText { values, negated }) if *a == Attribute::RunId => {
            let list: Vec<String> = values.iter().map(|v| string(v)).collect();
            Some(format!(
                "{lhs} {}IN ({})",
                if *negated { "NOT " } else { "" },
                list.join(", ")
            ))
        }
        (Field::Param(_) | Field::Tag(_), Test::Null { negated }) => Some(format!(
            "{lhs} IS {}NULL",
            if *negated { "NOT " } else { "" }
        )),
        _ => None,
    }
}

/// `positive`: no `not` above `e` (see [`Query::to_sql`]).
fn sql_expr(e: &Expr, positive: bool, sql: &mut String, args: &mut Vec<SqlValue>) {
    match e {
        Expr::And(a, b) | Expr::Or(a, b) => {
            sql.push('(');
            sql_expr(a, positive, sql, args);
            sql.push_str(if matches!(e, Expr::And(..)) {
                " AND "
            } else {
                " OR "
            });
            sql_expr(b, positive, sql, args);
            sql.push(')');
        }
        Expr::Not(a) => {
            sql.push_str("(NOT ");
            sql_expr(a, false, sql, args);
            sql.push(')');
        }
        Expr::Predicate(field, test) => match (positive, keyed_table(field)) {
            (true, Some((table, key))) => sql_semi_join(table, key, field, test, sql, args),
            _ => sql_predicate(field, test, sql, args),
        },
    }
}

/// The table and key of a metric, param or tag.
fn keyed_table(field: &Field) -> Option<(&'static str, &str)> {
    match field {
        Field::Metric(k) => Some(("latest_metrics", k)),
        Field::Param(k) => Some(("params", k)),
        Field::Tag(k) => Some(("tags", k)),
        Field::Attribute(_) => None,
    }
}

/// A keyed predicate outside any `not` as a semi-join (see [`Query::to_sql`]).
fn sql_semi_join(
    table: &str,
    key: &str,
    field: &Field,
    test: &Test,
    sql: &mut String,
    args: &mut Vec<SqlValue>,
) {
    args.push(SqlValue::Text(key.to_string()));
    if let Test::Null { negated } = test {
        // NaN metrics are stored as NULL and count as missing.
        let defined = if field.is_numeric() {
            " AND x.value IS NOT NULL"
        } else {
            ""
        };
        sql.push_str(&format!(
            "(r.run_id {}IN (SELECT x.run_id FROM {table} x WHERE x.key = ?{defined}))",
            if *negated { "" } else { "NOT " }
        ));
        return;
    }
    sql.push_str(&format!(
        "(r.run_id IN (SELECT x.run_id FROM {table} x WHERE x.key = ? AND "
    ));
    let numeric = if field.is_numeric() {
        "x.value".to_string()
    } else {
        "cerebro_number(x.value)".to_string()
    };
    sql_test("x.value", &numeric, test, sql, args);
    sql.push_str("))");
}

/// The SQL value of a field (see [`Query::to_sql`]).
fn sql_field(field: &Field, args: &mut Vec<SqlValue>) -> String {
    let sub = |table: &str, args: &mut Vec<SqlValue>, key: &str| {
        args.push(SqlValue::Text(key.to_string()));
        format!("(SELECT x.value FROM {table} x WHERE x.run_id = r.run_id AND x.key = ?)")
    };
    match field {
        Field::Metric(k) => sub("latest_metrics", args, k),
        Field::Param(k) => sub("params", args, k),
        Field::Tag(k) => sub("tags", args, k),
        Field::Attribute(a) => match a {
            Attribute::RunId => "r.run_id",
            Attribute::RunName => "r.name",
            Attribute::Status => "r.status",
            Attribute::StartTime => "r.start_time",
            Attribute::EndTime => "r.end_time",
            Attribute::Experiment => "e.name",
            Attribute::ModelKind => "r.model_kind",
            Attribute::DataVersion => "r.data_version",
        }
        .to_string(),
    }
}

fn sql_predicate(field: &Field, test: &Test, sql: &mut String, args: &mut Vec<SqlValue>) {
    let value = sql_field(field, args);
    // Params and tags compared with numbers are read with the filter's own number reader.
    let numeric = if field.is_numeric() {
        value.clone()
    } else {
        format!("cerebro_number({value})")
    };
    sql_test(&value, &numeric, test, sql, args);
}

/// `test` on a field whose SQL value is `value` (`numeric` when read as a number).
fn sql_test(value: &str, numeric: &str, test: &Test, sql: &mut String, args: &mut Vec<SqlValue>) {
    let placeholders = |n: usize| vec!["?"; n].join(", ");
    match test {
        Test::Number(op, v) => {
            sql.push_str(&format!("({numeric} {} ?)", op.symbol()));
            args.push(SqlValue::Real(*v));
        }
        Test::Text(op, v) => {
            sql.push_str(&format!("({value} {} ?)", op.symbol()));
            args.push(SqlValue::Text(v.clone()));
        }
        Test::Like {
            pattern,
            case_insensitive,
            negated,
        } => {
            sql.push_str(&format!(
                "({}cerebro_like({value}, ?, ?))",
                if *negated { "NOT " } else { "" }
            ));
            args.push(SqlValue::Text(pattern.clone()));
            args.push(SqlValue::Integer(i64::from(*case_insensitive)));
        }
        Test::InText { values, negated } => {
            sql.push_str(&format!(
                "({value} {}IN ({}))",
                if *negated { "NOT " } else { "" },
                placeholders(values.len())
            ));
            args.extend(values.iter().cloned().map(SqlValue::Text));
        }
        Test::InNumber { values, negated } => {
            sql.push_str(&format!(
                "({numeric} {}IN ({}))",
                if *negated { "NOT " } else { "" },
                placeholders(values.len())
            ));
            args.extend(values.iter().copied().map(SqlValue::Real));
        }
        Test::Null { negated } => {
            sql.push_str(&format!(
                "({value} IS {}NULL)",
                if *negated { "NOT " } else { "" }
            ));
        }
    }
}

/// Installs `cerebro_like(text, pattern, case_insensitive)` and `cerebro_number(text)` on a
/// connection, the SQL faces of [`like`] and [`read_number`] that [`Query::to_sql`] calls. Both
/// return NULL for a NULL input.
pub fn register_sql_functions(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("cerebro_like", 3, flags, |ctx| {
        let text: Option<String> = ctx.get(0)?;
        let pattern: String = ctx.get(1)?;
        let ci: i64 = ctx.get(2)?;
        Ok(text.map(|t| like(&t, &pattern, ci != 0)))
    })?;
    conn.create_scalar_function("cerebro_number", 1, flags, |ctx| {
        let text: Option<String> = ctx.get(0)?;
        Ok(text.as_deref().and_then(read_number))
    })
}

/// One key of an ordering: a field and its direction.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderKey {
    pub field: Field,
    pub descending: bool,
}

/// An ordering of runs (`--order-by "metrics.roc_auc DESC, params.max_depth"`), as MLflow's
/// `order_by`: keys in priority order, ascending unless `DESC`. Runs without a value come last
/// in either direction; ties fall back to the newest start first, then the run id. Params and
/// tags order numbers by value before other text.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderBy {
    pub keys: Vec<OrderKey>,
}

impl OrderBy {
    /// Parses comma-separated `field [ASC|DESC]` keys; errors name the column.
    pub fn parse(source: &str) -> Result<OrderBy, QueryError> {
        let tokens = tokenize(source)?;
        let mut p = Parser {
            tokens,
            pos: 0,
            end_column: source.chars().count() + 1,
        };
        let mut keys = Vec::new();
        loop {
            let field = p.field()?;
            let descending = match p.peek().map(|t| &t.kind) {
                Some(Tok::Word(w)) if w.eq_ignore_ascii_case("desc") => {
                    p.pos += 1;
                    true
                }
                Some(Tok::Word(w)) if w.eq_ignore_ascii_case("asc") => {
                    p.pos += 1;
                    false
                }
                _ => false,
            };
            keys.push(OrderKey { field, descending });
            match p.next() {
                None => break,
                Some(t) if t.kind == Tok::Comma => {}
                Some(t) => {
                    return Err(QueryError {
                        column: t.column,
                        message: format!(
                            "expected `ASC`, `DESC`, `,` or the end, found {}",
                            t.kind.describe()
                        ),
                    });
                }
            }
        }
        Ok(OrderBy { keys })
    }

    /// Compares two runs by the keys, then newest start first, then run id.
    pub fn compare(&self, a: &RunSummary, b: &RunSummary) -> Ordering {
        for key in &self.keys {
            let ord = match (sort_value(&key.field, a), sort_value(&key.field, b)) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(x), Some(y)) => {
                    let o = x.cmp(&y);
                    if key.descending { o.reverse() } else { o }
                }
            };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        b.start_time
            .cmp(&a.start_time)
            .then_with(|| a.run_id.cmp(&b.run_id))
    }

    /// Sorts runs in place (stable).
    pub fn sort(&self, runs: &mut [RunSummary]) {
        runs.sort_by(|a, b| self.compare(a, b));
    }

    /// The ordering in MLflow's `order_by` syntax, one entry per key.
    pub fn mlflow_order_by(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| format!("{} {}", k.field, if k.descending { "DESC" } else { "ASC" }))
            .collect()
    }
}

/// A sortable value: numbers before text, numbers by value.
#[derive(Debug, PartialEq, PartialOrd)]
enum SortValue<'a> {
    Number(f64),
    Text(&'a str),
}

impl Ord for SortValue<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (SortValue::Number(a), SortValue::Number(b)) => a.total_cmp(b),
            (SortValue::Number(_), SortValue::Text(_)) => Ordering::Less,
            (SortValue::Text(_), SortValue::Number(_)) => Ordering::Greater,
            (SortValue::Text(a), SortValue::Text(b)) => a.cmp(b),
        }
    }
}
impl Eq for SortValue<'_> {}

fn sort_value<'a>(field: &Field, run: &'a RunSummary) -> Option<SortValue<'a>> {
    let text = |t: Option<&'a str>| {
        t.map(|t| match read_number(t) {
            Some(n) => SortValue::Number(n),
            None => SortValue::Text(t),
        })
    };
    match field {
        Field::Metric(k) => run.metric(k).map(SortValue::Number),
        Field::Param(k) => text(run.param(k)),
        Field::Tag(k) => text(run.tag(k)),
        Field::Attribute(a) if a.is_numeric() => run.attribute_number(*a).map(SortValue::Number),
        Field::Attribute(a) => run.attribute_text(*a).map(SortValue::Text),
    }
}

/// Whether `/` input is meant as a filter expression rather than a plain search: it has a
/// comparison (`=`, `<`, `>`, `!=`) or one of the words `like`, `ilike`, `in`, `is` after a
/// field. Plain words keep the substring match.
pub fn looks_like_expression(text: &str) -> bool {
    if text.contains(['=', '<', '>']) {
        return true;
    }
    let words: Vec<String> = text
        .split_whitespace()
        .map(|w| w.to_ascii_lowercase())
        .collect();
    words.windows(2).any(|w| {
        w[0].contains('.') && matches!(w[1].as_str(), "like" | "ilike" | "in" | "is" | "not")
    })
}

// ---------------------------------------------------------------------------------------------
// Tokenizer and parser.

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// A bare word: keyword, field or key (dots, `_`, `-`, `/`, `:` allowed inside).
    Word(String),
    /// A key in backticks.
    Backtick(String),
    /// A quoted string, and whether its quotes were double (which may also quote a key).
    Str(String, bool),
    Number(f64),
    Op(CmpOp),
    LParen,
    RParen,
    Comma,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Word(w) => format!("`{w}`"),
            Tok::Backtick(k) => format!("`{k}`"),
            Tok::Str(s, _) => format!("the string '{s}'"),
            Tok::Number(n) => format!("the number {n}"),
            Tok::Op(op) => format!("`{}`", op.symbol()),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::Comma => "`,`".into(),
        }
    }

    fn is_keyword(&self, kw: &str) -> bool {
        matches!(self, Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }
}

#[derive(Debug, Clone)]
struct Token {
    kind: Tok,
    /// 1-based character column of the token's first character.
    column: usize,
    /// Whether whitespace separates it from the token before.
    spaced: bool,
}

fn tokenize(source: &str) -> Result<Vec<Token>, QueryError> {
    let chars: Vec<char> = source.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut spaced = true;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        if c.is_whitespace() {
            spaced = true;
            i += 1;
            continue;
        }
        let err = |message: String| QueryError { column, message };
        let kind = match c {
            '(' => {
                i += 1;
                Tok::LParen
            }
            ')' => {
                i += 1;
                Tok::RParen
            }
            ',' => {
                i += 1;
                Tok::Comma
            }
            '=' => {
                i += if chars.get(i + 1) == Some(&'=') { 2 } else { 1 };
                Tok::Op(CmpOp::Eq)
            }
            '!' if chars.get(i + 1) == Some(&'=') => {
                i += 2;
                Tok::Op(CmpOp::Ne)
            }
            '<' => match chars.get(i + 1) {
                Some('=') => {
                    i += 2;
                    Tok::Op(CmpOp::Le)
                }
                Some('>') => {
                    i += 2;
                    Tok::Op(CmpOp::Ne)
                }
                _ => {
                    i += 1;
                    Tok::Op(CmpOp::Lt)
                }
            },
            '>' => {
                if chars.get(i + 1) == Some(&'=') {
                    i += 2;
                    Tok::Op(CmpOp::Ge)
                } else {
                    i += 1;
                    Tok::Op(CmpOp::Gt)
                }
            }
            '\'' | '"' | '`' => {
                let quote = c;
                let mut text = String::new();
                let mut j = i + 1;
                loop {
                    match chars.get(j) {
                        None => {
                            return Err(err(format!(
                                "unterminated {} (no closing {quote})",
                                if quote == '`' { "key" } else { "string" }
                            )));
                        }
                        Some(&q) if q == quote && chars.get(j + 1) == Some(&quote) => {
                            text.push(quote);
                            j += 2;
                        }
                        Some(&q) if q == quote => {
                            j += 1;
                            break;
                        }
                        Some('\\') if chars.get(j + 1) == Some(&quote) => {
                            text.push(quote);
                            j += 2;
                        }
                        Some(&other) => {
                            text.push(other);
                            j += 1;
                        }
                    }
                }
                i = j;
                match quote {
                    '`' => Tok::Backtick(text),
                    '"' => Tok::Str(text, true),
                    _ => Tok::Str(text, false),
                }
            }
            c if c.is_ascii_digit()
                || ((c == '-' || c == '+' || c == '.')
                    && chars
                        .get(i + 1)
                        .is_some_and(|n| n.is_ascii_digit() || *n == '.')) =>
            {
                let mut j = i + 1;
                while j < chars.len()
                    && (chars[j].is_ascii_alphanumeric()
                        || chars[j] == '.'
                        || ((chars[j] == '-' || chars[j] == '+')
                            && matches!(chars[j - 1], 'e' | 'E')))
                {
                    j += 1;
                }
                let text: String = chars[i..j].iter().collect();
                let n = text
                    .parse::<f64>()
                    .map_err(|_| err(format!("`{text}` is not a number")))?;
                i = j;
                Tok::Number(n)
            }
            c if c.is_alphabetic() || c == '_' => {
                let mut j = i + 1;
                while j < chars.len()
                    && (chars[j].is_alphanumeric()
                        || matches!(chars[j], '_' | '.' | '-' | '/' | ':'))
                {
                    j += 1;
                }
                let text: String = chars[i..j].iter().collect();
                i = j;
                Tok::Word(text)
            }
            other => return Err(err(format!("unexpected character `{other}`"))),
        };
        out.push(Token {
            kind,
            column,
            spaced,
        });
        spaced = false;
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// The column just past the end, where "unexpected end" errors point.
    end_column: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn at_keyword(&self, kw: &str) -> bool {
        self.peek().is_some_and(|t| t.kind.is_keyword(kw))
    }

    /// The next token, or an error naming what was expected at the end.
    fn expect(&mut self, what: &str) -> Result<Token, QueryError> {
        self.next().ok_or_else(|| QueryError {
            column: self.end_column,
            message: format!("expected {what}, found the end of the filter"),
        })
    }

    fn expr(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.conj()?;
        while self.at_keyword("or") {
            self.pos += 1;
            let right = self.conj()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn conj(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.unary()?;
        while self.at_keyword("and") {
            self.pos += 1;
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, QueryError> {
        if self.at_keyword("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.peek().is_some_and(|t| t.kind == Tok::LParen) {
            let open = self.next().map_or(0, |t| t.column);
            let inner = self.expr()?;
            return match self.next() {
                Some(t) if t.kind == Tok::RParen => Ok(inner),
                Some(t) => Err(QueryError {
                    column: t.column,
                    message: format!(
                        "expected `)` to close the `(` at column {open}, found {}",
                        t.kind.describe()
                    ),
                }),
                None => Err(QueryError {
                    column: self.end_column,
                    message: format!("expected `)` to close the `(` at column {open}"),
                }),
            };
        }
        self.predicate()
    }

    /// `entity.key` (with the key bare, in backticks or double quotes) or a bare attribute.
    fn field(&mut self) -> Result<Field, QueryError> {
        let t = self.expect("a field such as metrics.roc_auc")?;
        let Tok::Word(word) = &t.kind else {
            return Err(QueryError {
                column: t.column,
                message: format!(
                    "expected a field such as metrics.roc_auc, params.max_depth, tags.note or \
                     attributes.status, found {}",
                    t.kind.describe()
                ),
            });
        };
        if ["and", "or", "not", "in", "like", "ilike", "is", "null"]
            .iter()
            .any(|k| word.eq_ignore_ascii_case(k))
        {
            return Err(QueryError {
                column: t.column,
                message: format!("expected a field, found the keyword `{word}`"),
            });
        }
        let (entity, mut key) = match word.split_once('.') {
            Some((e, k)) => (Some(e.to_string()), k.to_string()),
            None => (None, word.clone()),
        };
        // `entity.` followed directly by a quoted key.
        if entity.is_some() && key.is_empty() {
            match self.peek() {
                Some(Token {
                    kind: Tok::Backtick(k) | Tok::Str(k, true),
                    spaced: false,
                    ..
                }) => {
                    key = k.clone();
                    self.pos += 1;
                }
                _ => {
                    return Err(QueryError {
                        column: t.column + word.chars().count(),
                        message: format!(
                            "expected a key after `{word}` (quote keys with special characters \
                             in backticks: {word}`my key`)"
                        ),
                    });
                }
            }
        }
        let Some(entity) = entity else {
            return Attribute::parse(&key)
                .map(Field::Attribute)
                .ok_or_else(|| QueryError {
                    column: t.column,
                    message: format!(
                        "`{key}` is not a field: write metrics.{key}, params.{key}, tags.{key} \
                         or attributes.<name>"
                    ),
                });
        };
        match entity.to_ascii_lowercase().as_str() {
            "metric" | "metrics" => Ok(Field::Metric(key)),
            "param" | "params" | "parameter" | "parameters" => Ok(Field::Param(key)),
            "tag" | "tags" => Ok(Field::Tag(key)),
            "attribute" | "attributes" | "attr" | "run" => Attribute::parse(&key)
                .map(Field::Attribute)
                .ok_or_else(|| QueryError {
                    column: t.column + entity.chars().count() + 1,
                    message: format!(
                        "unknown attribute `{key}` (one of run_id, run_name, status, start_time, \
                         end_time, experiment, model_kind, data_version)"
                    ),
                }),
            "dataset" | "datasets" => Err(QueryError {
                column: t.column,
                message: "cerebro runs have no MLflow datasets; filter on \
                          attributes.data_version instead"
                    .into(),
            }),
            other => Err(QueryError {
                column: t.column,
                message: format!(
                    "unknown entity `{other}` (one of metrics, params, tags, attributes)"
                ),
            }),
        }
    }

    fn predicate(&mut self) -> Result<Expr, QueryError> {
        let start = self.peek().map_or(self.end_column, |t| t.column);
        let field = self.field()?;
        let t = self.expect("a comparison (=, !=, <, <=, >, >=, like, ilike, in, is)")?;
        let negated = t.kind.is_keyword("not");
        let t = if negated {
            self.expect("`in`, `like` or `ilike` after `not`")?
        } else {
            t
        };
        let type_error = |column: usize, message: String| QueryError { column, message };
        let test = match &t.kind {
            Tok::Op(op) if !negated => {
                let v = self.expect("a value")?;
                match (&v.kind, field.is_numeric()) {
                    (Tok::Number(n), _) => Test::Number(*op, *n),
                    (Tok::Str(s, _), false) => {
                        if !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                            return Err(type_error(
                                v.column,
                                format!(
                                    "`{}` orders numbers: compare {field} with a number, not a \
                                     string",
                                    op.symbol()
                                ),
                            ));
                        }
                        Test::Text(*op, normalise(&field, s))
                    }
                    (Tok::Str(s, _), true) => {
                        return Err(type_error(
                            v.column,
                            format!("{field} is a number: compare it with a number, not '{s}'"),
                        ));
                    }
                    (other, _) => {
                        return Err(type_error(
                            v.column,
                            format!(
                                "expected a number or a quoted string, found {}",
                                other.describe()
                            ),
                        ));
                    }
                }
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("like") || w.eq_ignore_ascii_case("ilike") => {
                let case_insensitive = w.eq_ignore_ascii_case("ilike");
                if field.is_numeric() {
                    return Err(type_error(
                        t.column,
                        format!("{field} is a number: `{w}` applies to text"),
                    ));
                }
                let v = self.expect("a quoted pattern")?;
                let Tok::Str(pattern, _) = &v.kind else {
                    return Err(type_error(
                        v.column,
                        format!(
                            "expected a quoted pattern such as 'gbt%', found {}",
                            v.kind.describe()
                        ),
                    ));
                };
                Test::Like {
                    pattern: pattern.clone(),
                    case_insensitive,
                    negated,
                }
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("in") => self.list(&field, negated)?,
            Tok::Word(w) if w.eq_ignore_ascii_case("is") && !negated => {
                let not = self.at_keyword("not");
                if not {
                    self.pos += 1;
                }
                let n = self.expect("`null`")?;
                if !n.kind.is_keyword("null") {
                    return Err(QueryError {
                        column: n.column,
                        message: format!("expected `null`, found {}", n.kind.describe()),
                    });
                }
                Test::Null { negated: not }
            }
            other => {
                return Err(QueryError {
                    column: t.column,
                    message: format!(
                        "expected {} after {field} (which starts at column {start}), found {}",
                        if negated {
                            "`in`, `like` or `ilike`"
                        } else {
                            "a comparison (=, !=, <, <=, >, >=, like, ilike, in, is null)"
                        },
                        other.describe()
                    ),
                });
            }
        };
        Ok(Expr::Predicate(field, test))
    }

    /// `( literal, ... )` after `in`: all numbers or all strings.
    fn list(&mut self, field: &Field, negated: bool) -> Result<Test, QueryError> {
        let open = self.expect("`(`")?;
        if open.kind != Tok::LParen {
            return Err(QueryError {
                column: open.column,
                message: format!(
                    "expected `(` to open the list, found {}",
                    open.kind.describe()
                ),
            });
        }
        let mut numbers = Vec::new();
        let mut texts = Vec::new();
        loop {
            let v = self.expect("a value")?;
            match &v.kind {
                Tok::Number(n) if texts.is_empty() => numbers.push(*n),
                Tok::Str(s, _) if numbers.is_empty() && !field.is_numeric() => {
                    texts.push(normalise(field, s));
                }
                Tok::Str(s, _) if field.is_numeric() => {
                    return Err(QueryError {
                        column: v.column,
                        message: format!("{field} is a number: list numbers, not '{s}'"),
                    });
                }
                Tok::Number(_) | Tok::Str(..) => {
                    return Err(QueryError {
                        column: v.column,
                        message: "a list holds numbers or strings, not both".into(),
                    });
                }
                other => {
                    return Err(QueryError {
                        column: v.column,
                        message: format!(
                            "expected a number or a quoted string, found {}",
                            other.describe()
                        ),
                    });
                }
            }
            let sep = self.expect("`,` or `)`")?;
            match sep.kind {
                Tok::Comma => {}
                Tok::RParen => break,
                other => {
                    return Err(QueryError {
                        column: sep.column,
                        message: format!("expected `,` or `)`, found {}", other.describe()),
                    });
                }
            }
        }
        Ok(if numbers.is_empty() {
            Test::InText {
                values: texts,
                negated,
            }
        } else {
            Test::InNumber {
                values: numbers,
                negated,
            }
        })
    }
}

/// Status values are matched in MLflow's upper case whatever case they were typed in.
fn normalise(field: &Field, value: &str) -> String {
    match field {
        Field::Attribute(Attribute::Status) => value
            .parse::<RunStatus>()
            .map_or_else(|_| value.to_string(), |s| s.as_str().to_string()),
        _ => value.to_string(),
    }
}

/// Runs matching `query` among `runs`, sorted by `order` when given (else in the given order),
/// at most `limit` of them: the in-memory path of every front end and of the MLflow backend's
/// local remainder.
pub fn select(
    runs: Vec<RunSummary>,
    query: Option<&Query>,
    order: Option<&OrderBy>,
    limit: Option<usize>,
) -> Vec<RunSummary> {
    let mut out: Vec<RunSummary> = match query {
        Some(q) => runs.into_iter().filter(|r| q.matches(r)).collect(),
        None => runs,
    };
    if let Some(o) = order {
        o.sort(&mut out);
    }
    if let Some(l) = limit {
        out.truncate(l);
    }
    out
}

/// Convenience for tests and front ends: parse errors as the crate's error, with the filter.
pub fn parse_filter(source: &str) -> crate::error::Result<Query> {
    Query::parse(source).map_err(|e| crate::error::Error::invalid(format!("--filter {e}")))
}

/// As [`parse_filter`] for an ordering.
pub fn parse_order_by(source: &str) -> crate::error::Result<OrderBy> {
    OrderBy::parse(source).map_err(|e| crate::error::Error::invalid(format!("--order-by {e}")))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn run(id: &str, auc: Option<f64>, depth: &str, tags: &[(&str, &str)]) -> RunSummary {
        let mut metrics = BTreeMap::new();
        if let Some(a) = auc {
            metrics.insert("roc_auc".to_string(), a);
        }
        metrics.insert("tp".to_string(), 63.0);
        let mut params = BTreeMap::new();
        if !depth.is_empty() {
            params.insert("max_depth".to_string(), depth.to_string());
        }
        params.insert("criterion".to_string(), "gini".to_string());
        RunSummary {
            run_id: id.to_string(),
            experiment: "marvel".into(),
            name: format!("gbt {id}"),
            model_kind: "gbt".into(),
            status: if id.starts_with('f') {
                RunStatus::Failed
            } else {
                RunStatus::Finished
            },
            start_time: 1_700_000_000_000,
            end_time: Some(1_700_000_060_000),
            duration_ms: Some(60_000),
            data_version: Some("abcd1234".into()),
            metrics,
            params,
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn runs() -> Vec<RunSummary> {
        vec![
            run("a1", Some(0.71), "8", &[("cerebro.demo", "true")]),
            run("a2", Some(0.65), "4", &[]),
            run("a3", Some(f64::NAN), "10", &[("note", "Best one")]),
            run("a4", None, "", &[]),
            run("f5", Some(0.80), "6", &[("cerebro.demo", "false")]),
        ]
    }

    /// The runs `filter` matches, checked to be the same run by run and column by column.
    fn ids(filter: &str) -> Vec<String> {
        let q = Query::parse(filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
        let all = runs();
        let by_run: Vec<String> = all
            .iter()
            .filter(|r| q.matches(*r))
            .map(|r| r.run_id.clone())
            .collect();
        let by_column: Vec<String> = RunColumns::default()
            .select(&q, &all)
            .into_iter()
            .map(|i| all[i].run_id.clone())
            .collect();
        assert_eq!(by_column, by_run, "{filter}: columns and runs disagree");
        by_run
    }

    #[test]
    fn run_columns_keep_their_fields_until_cleared() {
        let all = runs();
        let mut columns = RunColumns::default();
        let deep = Query::parse("params.max_depth >= 8").unwrap();
        assert_eq!(columns.select(&deep, &all), vec![0, 2]);
        // A second filter reuses the max_depth column and adds its other field.
        let q = Query::parse("params.max_depth >= 8 or tags.cerebro.demo = 'false'").unwrap();
        assert_eq!(columns.select(&q, &all), vec![0, 2, 4]);
        assert_eq!(columns.columns.len(), 2);
        // Other runs of another length: read again.
        assert_eq!(columns.select(&deep, &all[1..]), vec![1]);
        // Same length after a change: the caller clears.
        let mut changed = all.clone();
        changed[0].params.insert("max_depth".into(), "2".into());
        columns.clear();
        assert_eq!(columns.select(&deep, &changed), vec![2]);
    }

    #[test]
    fn every_operator_on_a_table_of_cases() {
        let cases: &[(&str, &[&str])] = &[
            ("metrics.roc_auc > 0.7", &["a1", "f5"]),
            ("metrics.roc_auc >= 0.71", &["a1", "f5"]),
            ("metrics.roc_auc < 0.7", &["a2"]),
            ("metrics.roc_auc <= 0.65", &["a2"]),
            ("metrics.roc_auc = 0.65", &["a2"]),
            // NaN and missing metrics match no comparison, `!=` included.
            ("metrics.roc_auc != 0.65", &["a1", "f5"]),
            ("metrics.roc_auc <> 0.65", &["a1", "f5"]),
            ("metrics.roc_auc is null", &["a3", "a4"]),
            ("metrics.roc_auc is not null", &["a1", "a2", "f5"]),
            ("metrics.roc_auc in (0.65, 0.8)", &["a2", "f5"]),
            ("metrics.roc_auc not in (0.65, 0.8)", &["a1"]),
            ("metrics.tp = 63", &["a1", "a2", "a3", "a4", "f5"]),
            // Params: text by default, numbers when compared with a number.
            ("params.max_depth = '8'", &["a1"]),
            ("params.max_depth = 8.0", &["a1"]),
            ("params.max_depth != '8'", &["a2", "a3", "f5"]),
            ("params.max_depth >= 6", &["a1", "a3", "f5"]),
            ("params.max_depth < 6", &["a2"]),
            ("params.max_depth in ('4', '6')", &["a2", "f5"]),
            ("params.max_depth in (4, 10)", &["a2", "a3"]),
            ("params.max_depth not in ('4', '6')", &["a1", "a3"]),
            ("params.max_depth is null", &["a4"]),
            (
                "params.criterion like 'gi%'",
                &["a1", "a2", "a3", "a4", "f5"],
            ),
            ("params.criterion like 'GI%'", &[]),
            (
                "params.criterion ilike 'GI_I'",
                &["a1", "a2", "a3", "a4", "f5"],
            ),
            ("params.criterion not like 'g%'", &[]),
            // Tags, with dotted, backticked and double-quoted keys.
            ("tags.cerebro.demo = 'true'", &["a1"]),
            ("tags.`cerebro.demo` = 'true'", &["a1"]),
            ("tags.\"cerebro.demo\" != 'true'", &["f5"]),
            ("tags.note ilike '%best%'", &["a3"]),
            ("tags.note is not null", &["a3"]),
            // Attributes.
            ("attributes.status = 'FAILED'", &["f5"]),
            ("attributes.status = 'failed'", &["f5"]),
            ("status != 'FAILED'", &["a1", "a2", "a3", "a4"]),
            (
                "attributes.status in ('FINISHED')",
                &["a1", "a2", "a3", "a4"],
            ),
            ("attributes.run_id like 'a%'", &["a1", "a2", "a3", "a4"]),
            ("attributes.run_name = 'gbt a2'", &["a2"]),
            ("attributes.`run name` = 'gbt a2'", &["a2"]),
            (
                "attributes.start_time >= 1700000000000",
                &["a1", "a2", "a3", "a4", "f5"],
            ),
            ("attr.end_time > 1700000060000", &[]),
            (
                "run.experiment = 'marvel' and run.model_kind = 'gbt' and attributes.data_version like 'abcd%' and metrics.roc_auc > 0.79",
                &["f5"],
            ),
            // Logic: precedence (and before or), parentheses, not, case of keywords.
            (
                "metrics.roc_auc > 0.7 and params.max_depth = '8' and tags.cerebro.demo = 'true' and attributes.status = 'FINISHED'",
                &["a1"],
            ),
            (
                "params.max_depth = '4' or params.max_depth = '6' and metrics.roc_auc > 0.9",
                &["a2"],
            ),
            (
                "(params.max_depth = '4' or params.max_depth = '6') and metrics.roc_auc > 0.7",
                &["f5"],
            ),
            (
                "params.max_depth = '4' OR tags.note IS NOT NULL",
                &["a2", "a3"],
            ),
            ("not metrics.roc_auc > 0.7", &["a2"]),
            (
                "not (metrics.roc_auc > 0.7 or params.max_depth = '10')",
                &["a2"],
            ),
            ("NOT NOT params.max_depth = '4'", &["a2"]),
            // Kleene: unknown or true is true, unknown and false is false.
            (
                "metrics.roc_auc > 0.7 or params.max_depth = '10'",
                &["a1", "a3", "f5"],
            ),
            // a3: NaN > 0.7 is unknown, '10' = '4' false: unknown and false is false, so `not` is
            // true; a4 lacks both, so it stays unknown.
            (
                "not (metrics.roc_auc > 0.7 and params.max_depth = '4')",
                &["a1", "a2", "a3", "f5"],
            ),
        ];
        for (filter, want) in cases {
            assert_eq!(ids(filter), *want, "{filter}");
        }
    }

    #[test]
    fn errors_name_the_column() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 1, "empty"),
            ("metrics.roc_auc >", 18, "expected a value"),
            ("metrics.roc_auc 0.7", 17, "expected a comparison"),
            ("metrics.roc_auc > 'high'", 19, "is a number"),
            ("metrics.roc_auc like 'a%'", 17, "applies to text"),
            ("params.x > 'a'", 12, "orders numbers"),
            ("bogus.x = 1", 1, "unknown entity `bogus`"),
            (
                "attributes.colour = 'red'",
                12,
                "unknown attribute `colour`",
            ),
            ("roc_auc > 0.7", 1, "not a field: write metrics.roc_auc"),
            (
                "(metrics.a > 1",
                15,
                "expected `)` to close the `(` at column 1",
            ),
            ("metrics.a > 1 metrics.b > 2", 15, "expected `and`, `or`"),
            ("metrics.a > 1 and", 18, "expected a field"),
            ("metrics.a > 1 and or", 19, "keyword `or`"),
            ("tags.note = 'open", 13, "unterminated string"),
            ("params.x in ('a', 1)", 19, "not both"),
            ("params.x in 'a'", 13, "expected `(`"),
            ("params.x is 1", 13, "expected `null`"),
            (
                "metrics.a > 1 & metrics.b < 2",
                15,
                "unexpected character `&`",
            ),
            ("tags. = 'x'", 6, "expected a key after `tags.`"),
            ("datasets.name = 'x'", 1, "no MLflow datasets"),
            ("params.x not = '1'", 14, "`in`, `like` or `ilike`"),
            (
                "metrics.é > 1 and métrics.x > 1",
                19,
                "unknown entity `métrics`",
            ),
        ];
        for (filter, column, message) in cases {
            let e = Query::parse(filter).expect_err(filter);
            assert_eq!(e.column, *column, "{filter}: {e}");
            assert!(e.message.contains(message), "{filter}: {e}");
        }
    }

    #[test]
    fn like_handles_wildcards_and_case() {
        assert!(like("gradient", "g%t", false));
        assert!(like("gradient", "%dien%", false));
        assert!(like("gradient", "gr_dient", false));
        assert!(!like("gradient", "gr_ient", false));
        assert!(like("", "%", false));
        assert!(!like("", "_", false));
        assert!(like("aXbXc", "a%b%c", false));
        assert!(!like("Gini", "gini", false));
        assert!(like("Gini", "gINI", true));
        assert!(like("a%b", "a%b", false));
    }

    #[test]
    fn order_by_sorts_missing_last_and_breaks_ties() {
        let order = OrderBy::parse("metrics.roc_auc DESC").unwrap();
        let mut rs = runs();
        order.sort(&mut rs);
        let got: Vec<&str> = rs.iter().map(|r| r.run_id.as_str()).collect();
        assert_eq!(got, ["f5", "a1", "a2", "a3", "a4"]);
        let order = OrderBy::parse("params.max_depth asc, attributes.run_id desc").unwrap();
        order.sort(&mut rs);
        let got: Vec<&str> = rs.iter().map(|r| r.run_id.as_str()).collect();
        // Numbers by value (4 < 6 < 8 < 10), the run without the param last.
        assert_eq!(got, ["a2", "f5", "a1", "a3", "a4"]);
        let e = OrderBy::parse("metrics.roc_auc DOWN").unwrap_err();
        assert_eq!(e.column, 17);
    }

    #[test]
    fn pushdown_keeps_what_mlflow_understands() {
        let q = Query::parse(
            "metrics.roc_auc > 0.7 and params.max_depth = '8' and tags.cerebro.demo = 'true' \
             and attributes.status = 'finished'",
        )
        .unwrap();
        let p = q.mlflow_pushdown();
        assert!(p.complete);
        assert_eq!(
            p.filter.as_deref(),
            Some(
                "metrics.roc_auc > 0.7 and params.max_depth = '8' and tags.cerebro.demo = 'true' \
                 and attributes.status = 'FINISHED'"
            )
        );
        let q = Query::parse("params.max_depth >= 6 and tags.`a b` like 'x%'").unwrap();
        let p = q.mlflow_pushdown();
        assert!(!p.complete);
        assert_eq!(p.filter.as_deref(), Some("tags.`a b` LIKE 'x%'"));
        let q = Query::parse("metrics.a > 1 or metrics.b > 1").unwrap();
        assert_eq!(
            q.mlflow_pushdown(),
            Pushdown {
                filter: None,
                complete: false
            }
        );
    }

    #[test]
    fn plain_words_are_not_expressions() {
        assert!(!looks_like_expression("gbt"));
        assert!(!looks_like_expression("e-2 demo"));
        assert!(looks_like_expression("metrics.roc_auc>0.7"));
        assert!(looks_like_expression("params.criterion like 'g%'"));
        assert!(looks_like_expression("attributes.status in ('FAILED')"));
        assert!(!looks_like_expression("in the name"));
    }

    #[test]
    fn sql_binds_every_value_in_order() {
        let q = Query::parse("metrics.roc_auc > 0.7 and params.criterion ilike 'g%'").unwrap();
        let (sql, args) = q.to_sql();
        assert_eq!(sql.matches('?').count(), args.len());
        assert_eq!(
            args,
            vec![
                SqlValue::Text("roc_auc".into()),
                SqlValue::Real(0.7),
                SqlValue::Text("criterion".into()),
                SqlValue::Text("g%".into()),
                SqlValue::Integer(1),
            ]
        );
    }
}
