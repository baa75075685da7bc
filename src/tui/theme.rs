//! Named styles from `assets/theme.toml` (embedded). Only the 16 ANSI colours are accepted, so
//! the UI looks the same on any terminal; with `NO_COLOR` set (https://no-color.org) colours are
//! dropped and only modifiers (bold, reversed, ...) remain, which is why selection is shown by
//! reversing, never by colour alone.

use std::collections::BTreeMap;

use ratatui::style::{Color, Modifier, Style};

pub const DEFAULT_THEME: &str = include_str!("../../assets/theme.toml");

#[derive(Debug, Clone, Default)]
pub struct Theme {
    styles: BTreeMap<String, Style>,
}

const COLORS: &[(&str, Color)] = &[
    ("reset", Color::Reset),
    ("black", Color::Black),
    ("red", Color::Red),
    ("green", Color::Green),
    ("yellow", Color::Yellow),
    ("blue", Color::Blue),
    ("magenta", Color::Magenta),
    ("cyan", Color::Cyan),
    ("gray", Color::Gray),
    ("darkgray", Color::DarkGray),
    ("lightred", Color::LightRed),
    ("lightgreen", Color::LightGreen),
    ("lightyellow", Color::LightYellow),
    ("lightblue", Color::LightBlue),
    ("lightmagenta", Color::LightMagenta),
    ("lightcyan", Color::LightCyan),
    ("white", Color::White),
];

const MODIFIERS: &[(&str, Modifier)] = &[
    ("bold", Modifier::BOLD),
    ("dim", Modifier::DIM),
    ("italic", Modifier::ITALIC),
    ("underlined", Modifier::UNDERLINED),
    ("reversed", Modifier::REVERSED),
];

fn color(name: &str) -> Result<Color, String> {
    COLORS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, c)| *c)
        .ok_or_else(|| format!("theme: unknown colour `{name}` (use one of the 16 ANSI names)"))
}

impl Theme {
    /// The embedded theme with `overrides` (`[tui.theme]` of the config: style name -> `fg`,
    /// `bg`, `modifiers`) replacing the styles they name, honouring `NO_COLOR`.
    pub fn with_overrides(overrides: &toml::Table) -> Result<Theme, String> {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        if overrides.is_empty() {
            return Theme::parse(DEFAULT_THEME, no_color);
        }
        let mut table: toml::Table =
            toml::from_str(DEFAULT_THEME).map_err(|e| format!("theme: {e}"))?;
        if let Some(styles) = table.get_mut("styles").and_then(|s| s.as_table_mut()) {
            styles.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let merged = toml::to_string(&table).map_err(|e| format!("theme: {e}"))?;
        Theme::parse(&merged, no_color)
    }

    pub fn parse(source: &str, no_color: bool) -> Result<Theme, String> {
        let table: toml::Table = toml::from_str(source).map_err(|e| format!("theme: {e}"))?;
        let mut styles = BTreeMap::new();
        let Some(entries) = table.get("styles").and_then(|s| s.as_table()) else {
            return Err("theme: missing [styles]".into());
        };
        for (name, spec) in entries {
            let spec = spec
                .as_table()
                .ok_or_else(|| format!("theme: `{name}` must be a table"))?;
            let mut style = Style::default();
            for (k, v) in spec {
                match k.as_str() {
                    "fg" | "bg" => {
                        let c = color(v.as_str().ok_or("theme: colours are strings")?)?;
                        if !no_color {
                            style = if k == "fg" { style.fg(c) } else { style.bg(c) };
                        }
                    }
                    "modifiers" => {
                        for m in v.as_array().ok_or("theme: modifiers is a list")? {
                            let m = m.as_str().unwrap_or_default();
                            let (_, modifier) =
                                MODIFIERS.iter().find(|(n, _)| *n == m).ok_or_else(|| {
                                    format!("theme: unknown modifier `{m}` in `{name}`")
                                })?;
                            style = style.add_modifier(*modifier);
                        }
                    }
                    other => return Err(format!("theme: unknown key `{other}` in `{name}`")),
                }
            }
            styles.insert(name.clone(), style);
        }
        Ok(Theme { styles })
    }

    /// The style called `name` (plain if the theme does not define it).
    pub fn get(&self, name: &str) -> Style {
        self.styles.get(name).copied().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_theme_parses_with_and_without_colour() {
        let t = Theme::parse(DEFAULT_THEME, false).unwrap();
        assert_eq!(t.get("failed").fg, Some(Color::Red));
        let plain = Theme::parse(DEFAULT_THEME, true).unwrap();
        assert_eq!(plain.get("failed").fg, None);
        assert!(
            plain
                .get("selected")
                .add_modifier
                .contains(Modifier::REVERSED)
        );
        assert_eq!(t.get("no-such-style"), Style::default());
    }

    #[test]
    fn config_overrides_replace_the_styles_they_name() {
        let o: toml::Table = toml::from_str("fail = { fg = \"magenta\" }").unwrap();
        let t = Theme::with_overrides(&o).unwrap();
        if std::env::var_os("NO_COLOR").is_none() {
            assert_eq!(t.get("fail").fg, Some(Color::Magenta));
            assert_eq!(
                t.get("pass").fg,
                Theme::parse(DEFAULT_THEME, false).unwrap().get("pass").fg
            );
        }
        let bad: toml::Table = toml::from_str("fail = { fg = \"pink\" }").unwrap();
        assert!(
            Theme::with_overrides(&bad)
                .unwrap_err()
                .contains("unknown colour `pink`")
        );
    }

    #[test]
    fn only_ansi_colours_are_accepted() {
        let e = Theme::parse("[styles]\nx = { fg = \"#ff0000\" }\n", false).unwrap_err();
        assert!(e.contains("unknown colour"), "{e}");
    }
}
