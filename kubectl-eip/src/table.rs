//! Tables as `kubectl get` prints them: upper-case headers, cells separated by at least
//! three spaces, no borders, the last column not padded (Go's text/tabwriter with
//! kubectl's settings: min width 6, padding 3); ages as kubectl's `HumanDuration`; colour
//! only on a terminal and never with `NO_COLOR`.

use std::io::{IsTerminal as _, Write};
use std::time::Duration;

use tabwriter::TabWriter;

/// Renders rows (the header first, unless `None`) as kubectl's tabwriter would.
pub fn render(header: Option<&[&str]>, rows: &[Vec<String>]) -> String {
    // Go's minwidth counts the padding (a cell is max(6, width + 3) wide); this port adds
    // the padding after the minimum, so 3 + 3 is kubectl's 6.
    let mut tw = TabWriter::new(Vec::new()).minwidth(3).padding(3);
    let mut write = |cells: &mut dyn Iterator<Item = &str>| {
        let line: Vec<&str> = cells.collect();
        // A cell must not contain a tab or a newline, or the columns break.
        let clean: Vec<String> = line.iter().map(|c| c.replace(['\t', '\n'], " ")).collect();
        let _ = writeln!(tw, "{}", clean.join("\t"));
    };
    if let Some(h) = header {
        write(&mut h.iter().copied());
    }
    for r in rows {
        write(&mut r.iter().map(String::as_str));
    }
    let bytes = tw.into_inner().unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `kubectl`'s age: `0s`..`119s`, `2m`..`9m59s`, `10m`..`179m`, `3h`..`7h59m`, `8h`..`47h`,
/// `2d`..`7d23h`, `8d`..`729d`, `2y`..`7y364d`, then whole years (k8s.io/apimachinery
/// `duration.HumanDuration`). A time a little in the future (clock skew) is `0s`.
pub fn human_duration(d: Duration) -> String {
    let seconds = d.as_secs();
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// The age of something created at `t`, as kubectl prints it (`<unknown>` without a time).
pub fn age(t: Option<&jiff::Timestamp>, now: jiff::Timestamp) -> String {
    match t {
        None => "<unknown>".to_owned(),
        Some(t) => {
            let secs = now.as_second() - t.as_second();
            if secs < -1 {
                "<invalid>".to_owned()
            } else {
                human_duration(Duration::from_secs(secs.max(0) as u64))
            }
        }
    }
}

/// Whether output may be coloured: stdout is a terminal and `NO_COLOR` is unset or empty.
pub fn colour_stdout() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// A colour for a word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paint {
    /// Good.
    Green,
    /// Needs a look.
    Yellow,
    /// Broken.
    Red,
}

/// `text` in `paint` when `on`, as ANSI SGR codes (tabwriter measures without them).
pub fn paint(text: &str, paint: Paint, on: bool) -> String {
    if !on {
        return text.to_owned();
    }
    let code = match paint {
        Paint::Green => "32",
        Paint::Yellow => "33",
        Paint::Red => "31",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_as_kubectl_prints_them() {
        let cases = [
            (0, "0s"),
            (5, "5s"),
            (119, "119s"),
            (120, "2m"),
            (192, "3m12s"),
            (599, "9m59s"),
            (600, "10m"),
            (179 * 60 + 59, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 61, "3h1m"),
            (8 * 3600, "8h"),
            (47 * 3600, "47h"),
            (2 * 86400 + 4 * 3600, "2d4h"),
            (3 * 86400, "3d"),
            (8 * 86400, "8d"),
            (729 * 86400, "729d"),
            (730 * 86400, "2y"),
            (731 * 86400, "2y1d"),
            (8 * 365 * 86400, "8y"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(Duration::from_secs(secs)), want, "{secs}s");
        }
        let now = jiff::Timestamp::from_second(1000).expect("ts");
        let t = |s| jiff::Timestamp::from_second(s).expect("ts");
        assert_eq!(age(Some(&t(1001)), now), "0s", "a second of skew");
        assert_eq!(age(Some(&t(1005)), now), "<invalid>");
        assert_eq!(age(None, now), "<unknown>");
    }

    #[test]
    fn tables_align_like_kubectl() {
        let rows = vec![
            vec!["web-0".to_owned(), "node-1".to_owned(), "5s".to_owned()],
            vec![
                "a-much-longer-name".to_owned(),
                "n".to_owned(),
                "2d4h".to_owned(),
            ],
        ];
        assert_eq!(
            render(Some(&["NAME", "NODE", "AGE"]), &rows),
            "\
NAME                 NODE     AGE
web-0                node-1   5s
a-much-longer-name   n        2d4h
"
        );
        assert_eq!(render(None, &rows[..1]), "web-0   node-1   5s\n");
        // kubectl's minimum: a column is at least 6 wide, padding included
        let narrow = vec![vec!["a".to_owned(), "b".to_owned()]];
        assert_eq!(render(Some(&["X", "Y"]), &narrow), "X     Y\na     b\n");
    }

    #[test]
    fn colour_does_not_move_columns() {
        let rows = vec![
            vec![paint("Bound", Paint::Green, true), "x".to_owned()],
            vec!["Pending".to_owned(), "y".to_owned()],
        ];
        let out = render(None, &rows);
        assert_eq!(out, "\x1b[32mBound\x1b[0m     x\nPending   y\n");
        assert_eq!(paint("ok", Paint::Red, false), "ok");
    }
}
