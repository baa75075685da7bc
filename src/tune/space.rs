//! The search space of a tune: one distribution per hyper-parameter, written as
//!
//! ```text
//! max_depth=int(2,10)                 integers 2..=10, uniform
//! n_estimators=int(50,2000,log)       integers, uniform in log space
//! learning_rate=float(0.005,0.3,log)  reals, uniform in log space
//! subsample=float(0.5,1)              reals, uniform
//! criterion=choice(gini,entropy)      one of the values, uniform
//! ```
//!
//! These are Optuna's `suggest_int`, `suggest_float` and `suggest_categorical` distributions
//! (`IntDistribution`, `FloatDistribution`, `CategoricalDistribution`), with the same meaning of
//! `log`. A bad spec is a [`SpaceError`] naming the 1-based column of the text where it goes wrong
//! and what was expected there, as the run filter's errors do.

use std::fmt;

/// A spec that did not parse: the 1-based character column and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct SpaceError {
    pub column: usize,
    pub message: String,
}

/// The distribution of one parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Distribution {
    /// Integers `low..=high`; with `log`, uniform in `ln` (both bounds at least 1).
    Int { low: i64, high: i64, log: bool },
    /// Reals in `[low, high]`; with `log`, uniform in `ln` (both bounds above 0).
    Float { low: f64, high: f64, log: bool },
    /// One of the values (kept as written).
    Choice(Vec<String>),
}

impl Distribution {
    /// The value `x` of the internal representation (integers and reals as themselves, a choice
    /// as its index) as the text a run's param takes.
    pub fn external(&self, x: f64) -> String {
        match self {
            Distribution::Int { .. } => format!("{}", x.round() as i64),
            Distribution::Float { .. } => format!("{x}"),
            Distribution::Choice(values) => values[(x as usize).min(values.len() - 1)].clone(),
        }
    }

    /// The internal representation of a param value (the inverse of [`Distribution::external`]);
    /// `None` when the text is not a value of this distribution.
    pub fn internal(&self, text: &str) -> Option<f64> {
        match self {
            Distribution::Int { low, high, .. } => text
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|v| (low..=high).contains(&v))
                .map(|v| v as f64),
            Distribution::Float { low, high, .. } => text
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|v| *v >= *low && *v <= *high),
            Distribution::Choice(values) => values.iter().position(|v| v == text).map(|i| i as f64),
        }
    }

    /// Every value this distribution can take at its edges (bounds, or each choice), as run
    /// params: a tune checks each against the model kind before its first trial.
    pub fn extremes(&self) -> Vec<String> {
        match self {
            Distribution::Int { low, high, .. } => vec![low.to_string(), high.to_string()],
            Distribution::Float { low, high, .. } => vec![format!("{low}"), format!("{high}")],
            Distribution::Choice(values) => values.clone(),
        }
    }
}

impl fmt::Display for Distribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let log = |l: bool| if l { ",log" } else { "" };
        match self {
            Distribution::Int { low, high, log: l } => write!(f, "int({low},{high}{})", log(*l)),
            Distribution::Float { low, high, log: l } => {
                write!(f, "float({low:?},{high:?}{})", log(*l))
            }
            Distribution::Choice(values) => write!(f, "choice({})", values.join(",")),
        }
    }
}

/// One searched parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: String,
    pub distribution: Distribution,
}

/// The whole space, in the order the parameters were given.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Space {
    pub params: Vec<Param>,
}

impl Space {
    /// Parses `name=distribution` specs (one per `--space`); a name given twice is an error.
    /// Errors carry the index of the bad spec and the column inside it.
    pub fn parse<S: AsRef<str>>(specs: &[S]) -> Result<Space, (usize, SpaceError)> {
        let mut params: Vec<Param> = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            let p = parse_param(spec.as_ref()).map_err(|e| (i, e))?;
            if params.iter().any(|q| q.name == p.name) {
                return Err((
                    i,
                    SpaceError {
                        column: 1,
                        message: format!("`{}` is searched twice", p.name),
                    },
                ));
            }
            params.push(p);
        }
        Ok(Space { params })
    }

    /// Parses one `name = distribution` pair whose name is given apart (a TOML table of
    /// distributions, `space = { max_depth = "int(2,10)" }`); columns count in `text`.
    pub fn parse_distribution(text: &str) -> Result<Distribution, SpaceError> {
        let mut p = Cursor::new(text);
        let d = p.distribution()?;
        p.end()?;
        Ok(d)
    }

    pub fn len(&self) -> usize {
        self.params.len()
    }

    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    /// `name=distribution` per parameter, as the parent run records the space.
    pub fn specs(&self) -> Vec<(String, String)> {
        self.params
            .iter()
            .map(|p| (p.name.clone(), p.distribution.to_string()))
            .collect()
    }
}

fn parse_param(spec: &str) -> Result<Param, SpaceError> {
    let mut p = Cursor::new(spec);
    p.skip_spaces();
    let start = p.column();
    let name = p.take_while(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if name.is_empty() {
        return Err(p.error_at(start, "expected a parameter name like `max_depth`"));
    }
    p.skip_spaces();
    if !p.eat('=') {
        return Err(p.expected("`=` after the parameter name"));
    }
    let distribution = p.distribution()?;
    p.end()?;
    Ok(Param {
        name: name.to_string(),
        distribution,
    })
}

/// A character cursor that knows its 1-based column.
struct Cursor<'a> {
    chars: Vec<(usize, char)>,
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Cursor<'a> {
        Cursor {
            chars: text.char_indices().collect(),
            text,
            pos: 0,
        }
    }

    fn column(&self) -> usize {
        self.pos + 1
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).map(|(_, c)| *c)
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
        let start = self.byte(self.pos);
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        &self.text[start..self.byte(self.pos)]
    }

    fn byte(&self, pos: usize) -> usize {
        self.chars.get(pos).map_or(self.text.len(), |(b, _)| *b)
    }

    fn error_at(&self, column: usize, message: impl Into<String>) -> SpaceError {
        SpaceError {
            column,
            message: message.into(),
        }
    }

    fn found(&self) -> String {
        match self.peek() {
            Some(c) => format!("`{c}`"),
            None => "the end".to_string(),
        }
    }

    fn expected(&self, what: &str) -> SpaceError {
        self.error_at(
            self.column(),
            format!("expected {what}, found {}", self.found()),
        )
    }

    fn end(&mut self) -> Result<(), SpaceError> {
        self.skip_spaces();
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.expected("the end of the spec")),
        }
    }

    /// `int(...)`, `float(...)` or `choice(...)`.
    fn distribution(&mut self) -> Result<Distribution, SpaceError> {
        self.skip_spaces();
        let start = self.column();
        let kind = self.take_while(|c| c.is_ascii_alphabetic());
        let lower = kind.to_ascii_lowercase();
        if !matches!(lower.as_str(), "int" | "float" | "choice") {
            let what = if kind.is_empty() {
                self.found()
            } else {
                format!("`{kind}`")
            };
            return Err(self.error_at(
                start,
                format!("expected int(low,high), float(low,high) or choice(a,b,...), found {what}"),
            ));
        }
        self.skip_spaces();
        if !self.eat('(') {
            return Err(self.expected(&format!("`(` after `{kind}`")));
        }
        // The items between the parentheses, each with the column it starts at.
        let mut items: Vec<(usize, String)> = Vec::new();
        loop {
            self.skip_spaces();
            let col = self.column();
            let item = self
                .take_while(|c| c != ',' && c != ')')
                .trim_end()
                .to_string();
            items.push((col, item));
            if self.eat(',') {
                continue;
            }
            if self.eat(')') {
                break;
            }
            return Err(self.expected("`,` or `)`"));
        }
        let close = self.column() - 1;
        if lower == "choice" {
            let mut values = Vec::new();
            for (col, v) in items {
                let v = unquote(&v);
                if v.is_empty() {
                    return Err(self.error_at(col, "expected a value, found nothing"));
                }
                if values.contains(&v) {
                    return Err(self.error_at(col, format!("`{v}` is listed twice")));
                }
                values.push(v);
            }
            return Ok(Distribution::Choice(values));
        }
        if items.len() < 2 || items.len() > 3 {
            return Err(self.error_at(
                close,
                format!(
                    "{lower}(low,high) or {lower}(low,high,log) takes 2 or 3 arguments, found {}",
                    items.len()
                ),
            ));
        }
        let log = match items.get(2) {
            None => false,
            Some((_, s)) if s.eq_ignore_ascii_case("log") => true,
            Some((col, s)) => {
                return Err(self.error_at(*col, format!("expected `log`, found `{s}`")));
            }
        };
        let (low_col, low_text) = &items[0];
        let (high_col, high_text) = &items[1];
        if lower == "int" {
            let int = |col: usize, s: &str, which: &str| {
                s.parse::<i64>().map_err(|_| {
                    self.error_at(
                        col,
                        format!("expected an integer {which} bound, found `{s}`"),
                    )
                })
            };
            let low = int(*low_col, low_text, "low")?;
            let high = int(*high_col, high_text, "high")?;
            if high < low {
                return Err(self.error_at(
                    *high_col,
                    format!("the high bound {high} is below the low bound {low}"),
                ));
            }
            if log && low < 1 {
                return Err(self.error_at(
                    *low_col,
                    format!("a log scale needs a low bound of at least 1, found {low}"),
                ));
            }
            Ok(Distribution::Int { low, high, log })
        } else {
            let float = |col: usize, s: &str, which: &str| {
                s.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| {
                        self.error_at(
                            col,
                            format!("expected a number as {which} bound, found `{s}`"),
                        )
                    })
            };
            let low = float(*low_col, low_text, "the low")?;
            let high = float(*high_col, high_text, "the high")?;
            if high < low {
                return Err(self.error_at(
                    *high_col,
                    format!("the high bound {high} is below the low bound {low}"),
                ));
            }
            if log && low <= 0.0 {
                return Err(self.error_at(
                    *low_col,
                    format!("a log scale needs a low bound above 0, found {low}"),
                ));
            }
            Ok(Distribution::Float { low, high, log })
        }
    }
}

fn unquote(s: &str) -> String {
    let t = s.trim();
    for q in ['\'', '"'] {
        if t.len() >= 2 && t.starts_with(q) && t.ends_with(q) {
            return t[1..t.len() - 1].to_string();
        }
    }
    t.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(spec: &str) -> Result<Param, SpaceError> {
        Space::parse(&[spec])
            .map(|s| s.params[0].clone())
            .map_err(|e| e.1)
    }

    #[test]
    fn the_three_kinds_parse() {
        assert_eq!(
            one("max_depth=int(2,10)").unwrap(),
            Param {
                name: "max_depth".into(),
                distribution: Distribution::Int {
                    low: 2,
                    high: 10,
                    log: false
                }
            }
        );
        assert_eq!(
            one(" learning_rate = float(0.005, 0.3, log) ")
                .unwrap()
                .distribution,
            Distribution::Float {
                low: 0.005,
                high: 0.3,
                log: true
            }
        );
        assert_eq!(
            one("criterion=choice(gini, 'entropy')")
                .unwrap()
                .distribution,
            Distribution::Choice(vec!["gini".into(), "entropy".into()])
        );
        assert_eq!(
            one("n=int(1,100,LOG)").unwrap().distribution.to_string(),
            "int(1,100,log)"
        );
        assert_eq!(
            one("lr=float(0.01,1)").unwrap().distribution.to_string(),
            "float(0.01,1.0)"
        );
    }

    #[test]
    fn errors_name_the_column_and_what_was_expected() {
        let cases: [(&str, usize, &str); 12] = [
            ("=int(1,2)", 1, "expected a parameter name"),
            (
                "max_depth int(1,2)",
                11,
                "expected `=` after the parameter name, found `i`",
            ),
            ("max_depth=range(1,2)", 11, "found `range`"),
            (
                "max_depth=int 1,2",
                15,
                "expected `(` after `int`, found `1`",
            ),
            (
                "max_depth=int(2,x)",
                17,
                "expected an integer high bound, found `x`",
            ),
            (
                "max_depth=int(2.5,4)",
                15,
                "expected an integer low bound, found `2.5`",
            ),
            (
                "max_depth=int(9,4)",
                17,
                "the high bound 4 is below the low bound 9",
            ),
            (
                "lr=float(0,1,log)",
                10,
                "a log scale needs a low bound above 0",
            ),
            ("lr=float(0.1,1,lin)", 16, "expected `log`, found `lin`"),
            ("lr=float(0.1)", 13, "takes 2 or 3 arguments, found 1"),
            ("c=choice(gini,gini)", 15, "`gini` is listed twice"),
            (
                "max_depth=int(2,4) x",
                20,
                "expected the end of the spec, found `x`",
            ),
        ];
        for (spec, column, message) in cases {
            let e = one(spec).unwrap_err();
            assert_eq!(e.column, column, "{spec}: {e}");
            assert!(e.message.contains(message), "{spec}: {e}");
        }
        let e = one("max_depth=int(2,4").unwrap_err();
        assert_eq!(
            e.to_string(),
            "column 18: expected `,` or `)`, found the end"
        );
        let (i, e) = Space::parse(&["a=int(1,2)", "a=int(3,4)"]).unwrap_err();
        assert_eq!((i, e.message.as_str()), (1, "`a` is searched twice"));
    }

    #[test]
    fn values_go_between_internal_and_external_forms() {
        let d = Distribution::Choice(vec!["gini".into(), "entropy".into()]);
        assert_eq!(d.external(1.0), "entropy");
        assert_eq!(d.internal("gini"), Some(0.0));
        let i = Distribution::Int {
            low: 2,
            high: 10,
            log: false,
        };
        assert_eq!(i.external(6.9999), "7");
        assert_eq!(i.internal("11"), None);
        let f = Distribution::Float {
            low: 0.1,
            high: 0.5,
            log: false,
        };
        assert_eq!(f.internal(&f.external(0.123)), Some(0.123));
        assert_eq!(f.extremes(), ["0.1", "0.5"]);
    }
}
