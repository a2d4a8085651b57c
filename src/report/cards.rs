//! The stacked layout of credentials: one card per credential, one field per line ("key:
//! value"), for the credentials that a table could not show within the width with every
//! value in full.
//!
//! A secret or a user name is never split over lines nor cut: a value that does not fit
//! after its key gets a line of its own, starting in the first column, so that nothing but
//! the terminal's own wrapping can happen to it (and a terminal copies a wrapped line back
//! as one line, without a leading space). Values come escaped (`text::escape`) from the
//! caller; the only escape sequences a card writes are its own colours.

use crate::report::table::TableOptions;
use comfy_table::{Cell, Color, Table};
use std::fmt::Write as _;
use unicode_width::UnicodeWidthStr;

/// The title rule runs to the width, but no further than this: a card is narrow, and a rule
/// across a 200-column terminal is noise. Also the width assumed without one (cards are
/// only chosen when a width is given).
const RULE_MAX: usize = 80;

/// Display width in terminal columns (wide characters count two).
pub(crate) fn width_of(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// The widest line of a cell.
fn cell_width(c: &Cell) -> usize {
    c.content().lines().map(width_of).max().unwrap_or(0)
}

/// Columns a table takes with every cell on one line, from its columns' content widths:
/// one space of padding on either side of each, and a border character left, right and
/// between columns (the report's condensed preset).
pub(crate) fn table_width(columns: &[usize]) -> usize {
    columns.iter().map(|&w| w.max(1) + 2).sum::<usize>() + columns.len() + 1
}

/// True when `t` is wider than `opts.width` with every cell on one line (comfy-table then
/// wraps some).
pub(crate) fn overflows(t: &Table, opts: &TableOptions) -> bool {
    let columns: Vec<usize> = t
        .column_max_content_widths()
        .iter()
        .map(|&w| usize::from(w))
        .collect();
    opts.width
        .is_some_and(|w| table_width(&columns) > usize::from(w))
}

/// Where the rows of a table go when no cell may be wrapped nor cut.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Split {
    /// For each row: true when it is in the table, false when it becomes a card.
    pub(crate) in_table: Vec<bool>,
    /// The width the table needs with every row (all in the table), or with only its
    /// narrowest row (some rows are cards).
    pub(crate) needed: usize,
    /// The least content width of each column for the rows in the table: its widest value,
    /// or the longest word of its header (a header may wrap at its spaces, never a value).
    pub(crate) columns: Vec<usize>,
}

impl Split {
    /// True when every row is in the table.
    pub(crate) fn all_in_table(&self) -> bool {
        self.in_table.iter().all(|&t| t)
    }
    /// True when no row is in the table.
    pub(crate) fn none_in_table(&self) -> bool {
        !self.in_table.iter().any(|&t| t)
    }
}

/// Chooses the rows a table can show with every cell whole on one line within
/// `opts.width` (headers may wrap at their spaces); the others are for cards. Every row,
/// when the whole table fits (always, without a width); otherwise the rows are taken
/// narrowest first while the table still fits, so that one long hash does not turn the
/// whole table into cards.
pub(crate) fn split(header: &[&str], rows: &[Vec<Cell>], opts: &TableOptions) -> Split {
    let head: Vec<usize> = header
        .iter()
        .map(|h| h.split(' ').map(width_of).max().unwrap_or(0))
        .collect();
    let widths: Vec<Vec<usize>> = rows
        .iter()
        .map(|r| r.iter().map(cell_width).collect())
        .collect();
    let merge = |a: &[usize], b: &[usize]| -> Vec<usize> {
        a.iter().zip(b).map(|(x, y)| (*x).max(*y)).collect()
    };
    let all = widths.iter().fold(head.clone(), |acc, w| merge(&acc, w));
    let limit = match opts.width.map(usize::from) {
        Some(limit) if table_width(&all) > limit => limit,
        _ => {
            return Split {
                in_table: vec![true; rows.len()],
                needed: table_width(&all),
                columns: all,
            }
        }
    };
    let alone: Vec<usize> = widths
        .iter()
        .map(|w| table_width(&merge(&head, w)))
        .collect();
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&i| alone[i]);
    let mut in_table = vec![false; rows.len()];
    let mut current = head;
    for i in order {
        let with = merge(&current, &widths[i]);
        if table_width(&with) <= limit {
            current = with;
            in_table[i] = true;
        }
    }
    Split {
        in_table,
        needed: alone.iter().copied().min().unwrap_or(0),
        columns: current,
    }
}

/// `s` in `color` when colour is on, with the sequences comfy-table writes for the tables
/// (red, green and yellow; any other colour leaves `s` plain).
pub(crate) fn paint(s: &str, color: Color, opts: &TableOptions) -> String {
    let code = match color {
        Color::Red => 9,
        Color::Green => 10,
        Color::Yellow => 11,
        _ => return s.to_string(),
    };
    if opts.color {
        format!("\x1b[38;5;{code}m{s}\x1b[39m")
    } else {
        s.to_string()
    }
}

/// One credential as a card: a title rule with its short facts, then one "key: value" line
/// per field.
#[derive(Debug, Default)]
pub(crate) struct Card {
    /// The short facts of the title (session, mechanism, result...), each with its colour.
    title: Vec<(String, Option<Color>)>,
    /// Keys and escaped values, in order.
    fields: Vec<(&'static str, String)>,
}

impl Card {
    /// Adds a fact to the title.
    pub(crate) fn title(mut self, fact: impl Into<String>, color: Option<Color>) -> Self {
        self.title.push((fact.into(), color));
        self
    }

    /// Adds a field; `value` must already be escaped.
    pub(crate) fn field(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.fields.push((key, value.into()));
        self
    }

    /// Writes the card: `── s1 · PLAIN · accepted ────`, then the fields indented by two
    /// spaces with their values aligned; a value too wide for its key's line goes on the
    /// next line, alone and from the first column.
    pub(crate) fn write(&self, out: &mut String, opts: &TableOptions) {
        let width = opts.width.map_or(RULE_MAX, usize::from);
        let plain: Vec<&str> = self.title.iter().map(|(s, _)| s.as_str()).collect();
        let title_width = width_of(&plain.join(" · "));
        let title: Vec<String> = self
            .title
            .iter()
            .map(|(s, c)| match c {
                Some(c) => paint(s, *c, opts),
                None => s.clone(),
            })
            .collect();
        let _ = write!(out, "── {}", title.join(" · "));
        // The rule runs to the width when there is room for at least a short one.
        let used = 3 + title_width + 1;
        let rule = width.min(RULE_MAX);
        if used + 2 <= rule {
            out.push(' ');
            out.push_str(&"─".repeat(rule - used));
        }
        out.push('\n');
        let key_width = self
            .fields
            .iter()
            .map(|(k, _)| k.len() + 1)
            .max()
            .unwrap_or(0);
        for (key, value) in &self.fields {
            let key = format!("{key}:");
            if 2 + key_width + 2 + width_of(value) <= width {
                let _ = writeln!(out, "  {key:<key_width$}  {value}");
            } else {
                let _ = writeln!(out, "  {key}\n{value}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use comfy_table::presets::UTF8_FULL_CONDENSED;

    fn opts(width: Option<u16>, color: bool) -> TableOptions {
        TableOptions { width, color }
    }

    #[test]
    fn table_width_is_the_rendered_width() {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED).force_no_tty();
        t.set_header(vec!["a", "longer header"]);
        t.add_row(vec!["测试 wide", "x\n→ two lines"]);
        let rendered = t.to_string();
        let widest = rendered.lines().map(width_of).max().unwrap();
        let columns: Vec<usize> = t
            .column_max_content_widths()
            .iter()
            .map(|&w| usize::from(w))
            .collect();
        assert_eq!(table_width(&columns), widest);
    }

    #[test]
    fn rows_too_wide_go_to_cards_the_others_stay() {
        let header = ["user", "secret"];
        let rows: Vec<Vec<Cell>> = [("ana", "pw"), ("ben", &"h".repeat(60)[..]), ("cyd", "pw2")]
            .iter()
            .map(|(u, s)| vec![Cell::new(u), Cell::new(s)])
            .collect();
        // Whole: 4 + 60 + 4 + 3 columns.
        let all = split(&header, &rows, &opts(Some(71), false));
        assert!(all.all_in_table());
        let some = split(&header, &rows, &opts(Some(40), false));
        assert_eq!(some.in_table, vec![true, false, true]);
        assert_eq!(some.needed, 17);
        let none = split(&header, &rows, &opts(Some(15), false));
        assert!(none.none_in_table());
        assert!(split(&header, &rows, &opts(None, false)).all_in_table());
    }

    #[test]
    fn long_values_get_a_line_of_their_own() {
        let long = "x".repeat(100);
        let card = Card::default()
            .title("s1", None)
            .title("PLAIN", None)
            .title("accepted", Some(Color::Green))
            .field("username", "ana@sample.test")
            .field("password", long.clone());
        let mut out = String::new();
        card.write(&mut out, &opts(Some(40), false));
        assert_eq!(
            out,
            format!(
                "── s1 · PLAIN · accepted ───────────────\n  \
                 username:  ana@sample.test\n  password:\n{long}\n"
            )
        );
        let mut wide = String::new();
        card.write(&mut wide, &opts(Some(120), true));
        assert!(wide.contains(&format!("  password:  {long}\n")), "{wide}");
        assert!(wide.contains("\x1b[38;5;10maccepted\x1b[39m"), "{wide}");
    }
}
