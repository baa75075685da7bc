//! Key bindings as data. `assets/keymap.toml` (embedded) maps a key in a context (a mode, a
//! view or a tab) to an action name; [`Keymap::translate`] turns a key press into an
//! [`Action`] by looking through the current contexts, most specific first. In text-input
//! contexts an unbound printable key is typed ([`Action::Input`]).

use std::collections::BTreeMap;
use std::fmt;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::Action;

pub const DEFAULT_KEYMAP: &str = include_str!("../../assets/keymap.toml");

/// Where a binding applies. Declared in lookup-and-help order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Context {
    Global,
    Data,
    Experiments,
    Compare,
    Registry,
    Endpoints,
    Monitoring,
    Jobs,
    Help,
    Dialog,
    Input,
}

impl Context {
    pub const ALL: [Context; 11] = [
        Context::Global,
        Context::Data,
        Context::Experiments,
        Context::Compare,
        Context::Registry,
        Context::Endpoints,
        Context::Monitoring,
        Context::Jobs,
        Context::Help,
        Context::Dialog,
        Context::Input,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Context::Global => "global",
            Context::Data => "data",
            Context::Experiments => "experiments",
            Context::Compare => "compare",
            Context::Registry => "registry",
            Context::Endpoints => "endpoints",
            Context::Monitoring => "monitoring",
            Context::Jobs => "jobs",
            Context::Help => "help",
            Context::Dialog => "dialog",
            Context::Input => "input",
        }
    }

    fn from_name(s: &str) -> Option<Context> {
        Context::ALL.into_iter().find(|c| c.name() == s)
    }
}

/// A key as written in the keymap: a code and the ctrl/alt modifiers (shift is part of the
/// character: `G` is shift-g).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub code: Code,
    pub ctrl: bool,
    pub alt: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    Char(char),
    Enter,
    Esc,
    Tab,
    BackTab,
    Space,
    Backspace,
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    Home,
    End,
    F(u8),
}

const NAMED: &[(&str, Code)] = &[
    ("enter", Code::Enter),
    ("esc", Code::Esc),
    ("tab", Code::Tab),
    ("backtab", Code::BackTab),
    ("space", Code::Space),
    ("backspace", Code::Backspace),
    ("up", Code::Up),
    ("down", Code::Down),
    ("left", Code::Left),
    ("right", Code::Right),
    ("pageup", Code::PageUp),
    ("pagedown", Code::PageDown),
    ("home", Code::Home),
    ("end", Code::End),
];

impl Key {
    pub fn parse(s: &str) -> Result<Key, String> {
        let mut rest = s;
        let (mut ctrl, mut alt) = (false, false);
        loop {
            if let Some(r) = rest.strip_prefix("ctrl-").filter(|r| !r.is_empty()) {
                ctrl = true;
                rest = r;
            } else if let Some(r) = rest.strip_prefix("alt-").filter(|r| !r.is_empty()) {
                alt = true;
                rest = r;
            } else {
                break;
            }
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) => Code::Char(c),
            _ => {
                if let Some((_, code)) = NAMED.iter().find(|(n, _)| *n == rest) {
                    *code
                } else if let Some(n) = rest
                    .strip_prefix('f')
                    .and_then(|n| n.parse::<u8>().ok())
                    .filter(|n| (1..=12).contains(n))
                {
                    Code::F(n)
                } else {
                    return Err(format!(
                        "unknown key `{s}`: use a character, enter, esc, tab, backtab, space, \
                         backspace, arrows, pageup, pagedown, home, end or f1..f12, \
                         optionally prefixed ctrl- or alt-"
                    ));
                }
            }
        };
        Ok(Key { code, ctrl, alt })
    }

    /// The keymap key of a terminal key press, if it has one.
    pub fn from_event(ev: &KeyEvent) -> Option<Key> {
        let code = match ev.code {
            KeyCode::Char(' ') => Code::Space,
            KeyCode::Char(c) => Code::Char(c),
            KeyCode::Enter => Code::Enter,
            KeyCode::Esc => Code::Esc,
            KeyCode::Tab => Code::Tab,
            KeyCode::BackTab => Code::BackTab,
            KeyCode::Backspace => Code::Backspace,
            KeyCode::Up => Code::Up,
            KeyCode::Down => Code::Down,
            KeyCode::Left => Code::Left,
            KeyCode::Right => Code::Right,
            KeyCode::PageUp => Code::PageUp,
            KeyCode::PageDown => Code::PageDown,
            KeyCode::Home => Code::Home,
            KeyCode::End => Code::End,
            KeyCode::F(n) => Code::F(n),
            _ => return None,
        };
        Some(Key {
            code,
            ctrl: ev.modifiers.contains(KeyModifiers::CONTROL),
            alt: ev.modifiers.contains(KeyModifiers::ALT),
        })
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("ctrl-")?;
        }
        if self.alt {
            f.write_str("alt-")?;
        }
        match self.code {
            Code::Char(c) => write!(f, "{c}"),
            Code::F(n) => write!(f, "f{n}"),
            other => {
                let name = NAMED
                    .iter()
                    .find(|(_, c)| *c == other)
                    .map_or("?", |(n, _)| n);
                f.write_str(name)
            }
        }
    }
}

/// One binding, kept in file order for help and footers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub key: Key,
    pub action: String,
}

#[derive(Debug, Clone, Default)]
pub struct Keymap {
    bindings: BTreeMap<Context, Vec<Binding>>,
}

impl Keymap {
    /// The embedded defaults.
    pub fn default_keymap() -> Keymap {
        Keymap::parse(DEFAULT_KEYMAP).expect("assets/keymap.toml is valid")
    }

    /// The defaults with `overrides` (`[tui.keys]` of the config: context -> key -> action)
    /// laid over them: a key bound in both takes the override's action.
    pub fn with_overrides(overrides: &toml::Table) -> Result<Keymap, String> {
        if overrides.is_empty() {
            return Ok(Keymap::default_keymap());
        }
        let mut table: toml::Table =
            toml::from_str(DEFAULT_KEYMAP).map_err(|e| format!("keymap: {e}"))?;
        for (ctx, entries) in overrides {
            let entries = entries
                .as_table()
                .ok_or_else(|| format!("keymap: [{ctx}] must be a table of key = action"))?;
            let slot = table
                .entry(ctx.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let Some(t) = slot.as_table_mut() {
                t.extend(entries.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
        let merged = toml::to_string(&table).map_err(|e| format!("keymap: {e}"))?;
        Keymap::parse(&merged)
    }

    /// Parses a keymap file; errors name the context, key or action that is wrong.
    pub fn parse(source: &str) -> Result<Keymap, String> {
        let table: toml::Table = toml::from_str(source).map_err(|e| format!("keymap: {e}"))?;
        let mut bindings: BTreeMap<Context, Vec<Binding>> = BTreeMap::new();
        for (ctx_name, entries) in &table {
            let ctx = Context::from_name(ctx_name).ok_or_else(|| {
                let names: Vec<&str> = Context::ALL.iter().map(|c| c.name()).collect();
                format!(
                    "keymap: unknown context [{ctx_name}] (one of {})",
                    names.join(", ")
                )
            })?;
            let entries = entries
                .as_table()
                .ok_or_else(|| format!("keymap: [{ctx_name}] must be a table of key = action"))?;
            let list = bindings.entry(ctx).or_default();
            for (key, action) in entries {
                let key = Key::parse(key).map_err(|e| format!("keymap [{ctx_name}]: {e}"))?;
                let action = action.as_str().ok_or_else(|| {
                    format!("keymap [{ctx_name}] `{key}`: the action must be a string")
                })?;
                if Action::from_name(action).is_none() {
                    return Err(format!(
                        "keymap [{ctx_name}] `{key}`: unknown action `{action}`"
                    ));
                }
                list.retain(|b| b.key != key);
                list.push(Binding {
                    key,
                    action: action.to_string(),
                });
            }
        }
        // Help and footers list bindings in the order actions are declared, not by key.
        let rank = |name: &str| {
            super::action::BINDABLE
                .iter()
                .position(|(n, _, _)| *n == name)
                .unwrap_or(usize::MAX)
        };
        for list in bindings.values_mut() {
            // Plain keys before ctrl/alt ones, so footers show `q`, not `ctrl-c`.
            list.sort_by_key(|b| (rank(&b.action), b.key.ctrl || b.key.alt, b.key));
        }
        Ok(Keymap { bindings })
    }

    pub fn bindings(&self, ctx: Context) -> &[Binding] {
        self.bindings.get(&ctx).map_or(&[], Vec::as_slice)
    }

    /// The first key bound to `action` in `ctx`, for footers.
    pub fn key_for(&self, ctx: Context, action: &str) -> Option<Key> {
        self.bindings(ctx)
            .iter()
            .find(|b| b.action == action)
            .map(|b| b.key)
    }

    pub fn lookup(&self, contexts: &[Context], key: Key) -> Option<Action> {
        contexts.iter().find_map(|ctx| {
            self.bindings(*ctx)
                .iter()
                .find(|b| b.key == key)
                .and_then(|b| Action::from_name(&b.action))
        })
    }

    /// The action of a key press in `contexts` (most specific first).
    pub fn translate(&self, contexts: &[Context], ev: &KeyEvent) -> Option<Action> {
        let key = Key::from_event(ev)?;
        if let Some(action) = self.lookup(contexts, key) {
            return Some(action);
        }
        let typing = contexts.contains(&Context::Input);
        match key.code {
            Code::Char(c) if typing && !key.ctrl && !key.alt => Some(Action::Input(c)),
            Code::Space if typing && !key.ctrl && !key.alt => Some(Action::Input(' ')),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn keys_parse_and_print_back() {
        for s in [
            "q", "G", "?", "ctrl-c", "alt-x", "enter", "backtab", "f5", "space", "-",
        ] {
            assert_eq!(Key::parse(s).unwrap().to_string(), s);
        }
        assert!(Key::parse("hyper-q").is_err());
        assert!(Key::parse("f13").is_err());
    }

    #[test]
    fn the_default_keymap_parses_and_binds_the_documented_keys() {
        let km = Keymap::default_keymap();
        let g = [Context::Global];
        let q = press(KeyCode::Char('q'), KeyModifiers::NONE);
        assert!(matches!(km.translate(&g, &q), Some(Action::Quit)));
        let two = press(KeyCode::Char('2'), KeyModifiers::NONE);
        assert!(matches!(
            km.translate(&g, &two),
            Some(Action::TabExperiments)
        ));
        let exp = [Context::Experiments, Context::Global];
        let space = press(KeyCode::Char(' '), KeyModifiers::NONE);
        assert!(matches!(km.translate(&exp, &space), Some(Action::Mark)));
        let shift_r = press(KeyCode::Char('R'), KeyModifiers::SHIFT);
        assert!(matches!(
            km.translate(&exp, &shift_r),
            Some(Action::Reproduce)
        ));
        let ctrl_c = press(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert!(matches!(km.translate(&g, &ctrl_c), Some(Action::Quit)));
    }

    #[test]
    fn text_input_types_unbound_keys_and_hides_global_bindings() {
        let km = Keymap::default_keymap();
        let input = [Context::Input];
        let q = press(KeyCode::Char('q'), KeyModifiers::NONE);
        assert!(matches!(km.translate(&input, &q), Some(Action::Input('q'))));
        let enter = press(KeyCode::Enter, KeyModifiers::NONE);
        assert!(matches!(km.translate(&input, &enter), Some(Action::Submit)));
        let tab = press(KeyCode::Tab, KeyModifiers::NONE);
        assert!(matches!(km.translate(&input, &tab), Some(Action::Complete)));
        // Outside text input an unbound key does nothing.
        let z = press(KeyCode::Char('z'), KeyModifiers::NONE);
        assert!(km.translate(&[Context::Global], &z).is_none());
    }

    #[test]
    fn specific_contexts_win_and_later_entries_rebind() {
        let km = Keymap::parse(
            "[global]\n\"x\" = \"quit\"\n[jobs]\n\"x\" = \"cancel_job\"\n\"x\" = \"help\"\n",
        );
        // Duplicate keys are a TOML error, which is reported.
        assert!(km.is_err());
        let km =
            Keymap::parse("[global]\n\"x\" = \"quit\"\n[jobs]\n\"x\" = \"cancel_job\"\n").unwrap();
        let x = press(KeyCode::Char('x'), KeyModifiers::NONE);
        assert!(matches!(
            km.translate(&[Context::Jobs, Context::Global], &x),
            Some(Action::CancelJob)
        ));
        assert!(matches!(
            km.translate(&[Context::Data, Context::Global], &x),
            Some(Action::Quit)
        ));
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let e = Keymap::parse("[nowhere]\n\"x\" = \"quit\"\n").unwrap_err();
        assert!(e.contains("unknown context [nowhere]"), "{e}");
        let e = Keymap::parse("[global]\n\"x\" = \"fly\"\n").unwrap_err();
        assert!(e.contains("unknown action `fly`"), "{e}");
        let e = Keymap::parse("[global]\n\"meta-x\" = \"quit\"\n").unwrap_err();
        assert!(e.contains("unknown key `meta-x`"), "{e}");
    }

    #[test]
    fn config_overrides_rebind_keys_and_keep_the_rest() {
        let o: toml::Table =
            toml::from_str("[global]\n\"x\" = \"quit\"\n[experiments]\n\"s\" = \"train\"\n")
                .unwrap();
        let k = Keymap::with_overrides(&o).unwrap();
        let key = |s: &str| Key::parse(s).unwrap();
        assert!(matches!(
            k.lookup(&[Context::Global], key("x")),
            Some(Action::Quit)
        ));
        assert!(matches!(
            k.lookup(&[Context::Global], key("q")),
            Some(Action::Quit)
        ));
        assert!(matches!(
            k.lookup(&[Context::Experiments], key("s")),
            Some(Action::Train)
        ));
        let bad: toml::Table = toml::from_str("[global]\n\"x\" = \"explode\"\n").unwrap();
        let e = Keymap::with_overrides(&bad).unwrap_err();
        assert!(e.contains("unknown action `explode`"), "{e}");
        let bad: toml::Table = toml::from_str("[nowhere]\n\"x\" = \"quit\"\n").unwrap();
        assert!(
            Keymap::with_overrides(&bad)
                .unwrap_err()
                .contains("unknown context")
        );
    }
}
