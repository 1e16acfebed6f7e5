//! The side-by-side table: built from both guests' reports, printed,
//! written as JSON (`target/bench/results.json`) and as the "Kernel
//! benchmarks" section of `docs/performance.md`.

use super::cases::{Row, ROWS};
use super::measurement::{GuestReport, Measurement};
use serde::Serialize;

/// The heading of our section in `docs/performance.md`. Other sections of
/// that file (other benchmarks) are left as they are.
pub const SECTION_HEADING: &str = "## Kernel benchmarks";

/// One side of one row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Cell {
    /// The guest reported the case.
    Measured(Measurement),
    /// Our side cannot run the case yet (the reason).
    Pending {
        /// Why.
        reason: String,
    },
    /// The case has no counterpart on this side.
    NotApplicable,
    /// The guest should have reported the case and did not.
    Missing,
}

impl Cell {
    fn measurement(&self) -> Option<&Measurement> {
        match self {
            Cell::Measured(m) => Some(m),
            _ => None,
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone, Serialize)]
pub struct TableRow {
    /// What is measured.
    pub title: String,
    /// Our case name and what it runs.
    pub ours_case: String,
    /// What our side runs.
    pub ours_runs: String,
    /// The Linux case name, if any.
    pub linux_case: Option<String>,
    /// What the Linux side runs.
    pub linux_runs: Option<String>,
    /// Our result.
    pub ours: Cell,
    /// Linux's result.
    pub linux: Cell,
    /// Our median divided by Linux's (below 1: we run fewer instructions).
    pub ratio: Option<f64>,
    /// Bytes moved per sample, when it makes sense.
    pub bytes: Option<u64>,
    /// A problem with the row (iteration counts differ, a case is missing).
    pub problem: Option<String>,
}

/// The whole comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    /// Rows in order.
    pub rows: Vec<TableRow>,
}

impl Table {
    /// Pairs both guests' results row by row.
    pub fn build(ours: &GuestReport, linux: &GuestReport) -> Table {
        Table {
            rows: ROWS.iter().map(|row| table_row(row, ours, linux)).collect(),
        }
    }

    /// Problems found while pairing (missing cases, unequal iteration
    /// counts).
    pub fn problems(&self) -> Vec<String> {
        self.rows
            .iter()
            .filter_map(|row| {
                row.problem
                    .as_ref()
                    .map(|problem| format!("{}: {problem}", row.title))
            })
            .collect()
    }

    /// The table as aligned plain text.
    pub fn to_text(&self) -> String {
        let header = ["case", "ours", "Linux", "ours/Linux"];
        let cells: Vec<[String; 4]> = self
            .rows
            .iter()
            .map(|row| {
                [
                    row.title.clone(),
                    cell_text(&row.ours, row.bytes),
                    cell_text(&row.linux, row.bytes),
                    ratio_text(row.ratio),
                ]
            })
            .collect();
        let mut widths = header.map(str::len);
        for row in &cells {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let mut line = |cells: [&str; 4]| {
            let text = format!(
                "{:<w0$}  {:>w1$}  {:>w2$}  {:>w3$}",
                cells[0],
                cells[1],
                cells[2],
                cells[3],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3]
            );
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(header);
        let rule = widths.map(|w| "-".repeat(w));
        line([&rule[0], &rule[1], &rule[2], &rule[3]]);
        for row in &cells {
            line([&row[0], &row[1], &row[2], &row[3]]);
        }
        out
    }

    /// The table as Markdown.
    pub fn to_markdown(&self) -> String {
        let mut out = String::from("| case | ours | Linux | ours / Linux |\n|---|--:|--:|--:|\n");
        for row in &self.rows {
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                row.title,
                cell_text(&row.ours, row.bytes),
                cell_text(&row.linux, row.bytes),
                ratio_text(row.ratio)
            ));
        }
        out
    }

    /// What each side runs, row by row, as a Markdown list.
    pub fn cases_markdown(&self) -> String {
        let mut out = String::new();
        for row in &self.rows {
            out.push_str(&format!(
                "- **{}** — ours (`{}`): {}; Linux{}\n",
                row.title,
                row.ours_case,
                row.ours_runs,
                match (&row.linux_case, &row.linux_runs) {
                    (Some(case), Some(runs)) => format!(" (`{case}`): {runs}."),
                    _ => ": no peer.".into(),
                }
            ));
        }
        out
    }
}

/// The cases a guest reported that no row shows (breakdowns, the pair
/// overhead), in the order printed.
pub fn unpaired(report: &GuestReport, side: Side) -> Vec<&Measurement> {
    report
        .measurements
        .iter()
        .filter(|m| {
            !ROWS.iter().any(|row| match side {
                Side::Ours => row.ours.0 == m.name,
                Side::Linux => row.linux.is_some_and(|l| l.0 == m.name),
            })
        })
        .collect()
}

/// Which guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Our kernel.
    Ours,
    /// The Linux peer.
    Linux,
}

/// Unpaired cases as Markdown table rows (`| case | median (min) |`).
pub fn unpaired_markdown(measurements: &[&Measurement]) -> String {
    let mut out = String::from("| case | median (min) |\n|---|--:|\n");
    for m in measurements {
        out.push_str(&format!(
            "| `{}` | {} (min {}) |\n",
            m.name,
            group_digits(m.median),
            group_digits(m.min)
        ));
    }
    out
}

/// The goals issue 6 sets (benchmark goals, not test assertions): our
/// case, the Linux case, and the largest allowed ratio of their medians.
pub const TARGETS: &[(&str, &str, &str, f64)] = &[
    (
        "null syscall no more than Linux's getpid",
        "null_syscall",
        "null_syscall",
        1.0,
    ),
    (
        "channel call round trip (0 B) at most half of Linux's pipe round trip",
        "call_roundtrip_0",
        "pipe_roundtrip_1",
        0.5,
    ),
    (
        "the same between two threads of one process",
        "thread_roundtrip_0",
        "pipe_roundtrip_1",
        0.5,
    ),
    (
        "issue 18: channel call round trip (0 B) at most a quarter of Linux's pipe round trip",
        "call_roundtrip_0",
        "pipe_roundtrip_1",
        0.25,
    ),
    (
        "issue 18: IDL echo round trip at most 0.35 of Linux's pipe round trip",
        "idl_echo_roundtrip",
        "pipe_roundtrip_1",
        0.35,
    ),
    (
        "issue 18: null syscall at most 0.3 of Linux's getpid",
        "null_syscall",
        "null_syscall",
        0.3,
    ),
];

impl Table {
    /// The targets, each with whether it is met, as a Markdown list.
    pub fn targets_markdown(&self, ours: &GuestReport, linux: &GuestReport) -> String {
        let mut out = String::new();
        for &(goal, ours_case, linux_case, max_ratio) in TARGETS {
            let budget = linux.get(linux_case).map(|l| l.median as f64 * max_ratio);
            let status = match (ours.get(ours_case), budget) {
                (Some(m), Some(budget)) => format!(
                    "ours {} vs at most {}: {}",
                    group_digits(m.median),
                    group_digits(budget as u64),
                    if (m.median as f64) <= budget {
                        "met"
                    } else {
                        "not met"
                    }
                ),
                (None, Some(budget)) => format!(
                    "pending; the budget is {} instructions",
                    group_digits(budget as u64)
                ),
                (_, None) => "no Linux figure".into(),
            };
            out.push_str(&format!("- {goal}: {status}.\n"));
        }
        out
    }
}

fn table_row(row: &Row, ours: &GuestReport, linux: &GuestReport) -> TableRow {
    let (ours_case, ours_runs) = row.ours;
    let ours_cell = match (ours.get(ours_case), row.pending) {
        (Some(m), _) => Cell::Measured(m.clone()),
        (None, Some(reason)) => Cell::Pending {
            reason: reason.into(),
        },
        (None, None) => Cell::Missing,
    };
    let linux_cell = match row.linux {
        Some((case, _)) => linux
            .get(case)
            .map_or(Cell::Missing, |m| Cell::Measured(m.clone())),
        None => Cell::NotApplicable,
    };
    let mut problem = None;
    if ours_cell == Cell::Missing {
        problem = Some(format!("our guest did not report {ours_case}"));
    }
    if linux_cell == Cell::Missing {
        problem = Some(format!(
            "the Linux peer did not report {}",
            row.linux.map_or("", |l| l.0)
        ));
    }
    let ratio = match (ours_cell.measurement(), linux_cell.measurement()) {
        (Some(a), Some(b)) if a.iters != b.iters => {
            problem = Some(format!(
                "iteration counts differ: {} (ours) vs {} (Linux); make them equal",
                a.iters, b.iters
            ));
            None
        }
        (Some(a), Some(b)) if b.median > 0 => Some(a.median as f64 / b.median as f64),
        _ => None,
    };
    TableRow {
        title: row.title.into(),
        ours_case: ours_case.into(),
        ours_runs: ours_runs.into(),
        linux_case: row.linux.map(|l| l.0.into()),
        linux_runs: row.linux.map(|l| l.1.into()),
        ours: ours_cell,
        linux: linux_cell,
        ratio,
        bytes: row.bytes,
        problem,
    }
}

/// `1234567` as `1,234,567`.
pub fn group_digits(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn cell_text(cell: &Cell, bytes: Option<u64>) -> String {
    match cell {
        Cell::Measured(m) if m.iters == 1 => group_digits(m.median),
        Cell::Measured(m) => {
            let mut text = format!("{} (min {})", group_digits(m.median), group_digits(m.min));
            if let Some(bytes) = bytes.filter(|_| m.median > 0) {
                text.push_str(&format!(", {:.2} B/instr", bytes as f64 / m.median as f64));
            }
            text
        }
        Cell::Pending { reason } => format!("pending ({reason})"),
        Cell::NotApplicable => "n/a".into(),
        Cell::Missing => "MISSING".into(),
    }
}

fn ratio_text(ratio: Option<f64>) -> String {
    ratio.map_or("—".into(), |r| format!("{r:.2}"))
}

/// Replaces the section that starts with `heading` (up to the next
/// heading of the same or a higher level) in `document` by `section`, or
/// appends `section` if there is none. Everything else is kept as it is.
pub fn replace_section(document: &str, heading: &str, section: &str) -> String {
    let level = heading.chars().take_while(|&c| c == '#').count();
    let is_boundary = |line: &str| {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        hashes > 0 && hashes <= level && line[hashes..].starts_with(' ')
    };
    let mut section = section.trim_end().to_string();
    section.push('\n');
    let lines: Vec<&str> = document.split_inclusive('\n').collect();
    let Some(start) = lines.iter().position(|l| l.trim_end() == heading) else {
        let mut out = document.trim_end().to_string();
        if !out.is_empty() {
            out.push_str("\n\n");
        }
        out.push_str(&section);
        return out;
    };
    let end = lines[start + 1..]
        .iter()
        .position(|l| is_boundary(l))
        .map_or(lines.len(), |i| start + 1 + i);
    let mut out: String = lines[..start].concat();
    out.push_str(&section);
    if end < lines.len() {
        out.push('\n');
        out.push_str(&lines[end..].concat());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(name: &str, iters: u64, median: u64, min: u64) -> Measurement {
        Measurement {
            name: name.into(),
            iters,
            median,
            min,
        }
    }

    fn report(measurements: Vec<Measurement>) -> GuestReport {
        GuestReport {
            measurements,
            errors: vec![],
            finished: true,
        }
    }

    #[test]
    fn pairs_cases_and_computes_ratios() {
        let ours = report(vec![
            measured("boot", 1, 100, 100),
            measured("null_syscall", 10000, 150, 140),
        ]);
        let linux = report(vec![
            measured("boot", 1, 400, 400),
            measured("null_syscall", 10000, 600, 590),
            measured("pipe_roundtrip_1", 1000, 9000, 8000),
        ]);
        let table = Table::build(&ours, &linux);
        let row = |title: &str| {
            table
                .rows
                .iter()
                .find(|r| r.title.starts_with(title))
                .unwrap()
        };
        assert_eq!(row("null syscall").ratio, Some(0.25));
        assert_eq!(row("boot: reset").ratio, Some(0.25));
        let pipe = row("IPC round trip, two processes, 0 B (vs pipe");
        assert_eq!(
            pipe.ours,
            Cell::Pending {
                reason: "needs kernel objects".into()
            }
        );
        assert_eq!(pipe.ratio, None);
        assert_eq!(row("boot: kernel clock").linux, Cell::Missing);
        // Our boot_kernel and the memcpy cases are missing on both sides.
        let problems = table.problems();
        assert!(problems.iter().any(|p| p.contains("boot_kernel")));
        assert!(problems.iter().any(|p| p.contains("memcpy_64k")));
        let text = table.to_text();
        assert!(text.contains("pending (needs kernel objects)"));
        assert!(text.contains("150 (min 140)"));
        assert!(table
            .to_markdown()
            .contains("| null syscall | 150 (min 140) | 600 (min 590) | 0.25 |"));
    }

    #[test]
    fn targets_say_whether_they_are_met() {
        let ours = report(vec![measured("null_syscall", 10, 150, 140)]);
        let linux = report(vec![
            measured("null_syscall", 10, 100, 90),
            measured("pipe_roundtrip_1", 10, 10000, 9000),
        ]);
        let text = Table::build(&ours, &linux).targets_markdown(&ours, &linux);
        assert!(text.contains("ours 150 vs at most 100: not met"), "{text}");
        assert!(
            text.contains("pending; the budget is 5,000 instructions"),
            "{text}"
        );
    }

    #[test]
    fn unequal_iteration_counts_give_no_ratio() {
        let ours = report(vec![measured("null_syscall", 100, 150, 140)]);
        let linux = report(vec![measured("null_syscall", 10000, 600, 590)]);
        let table = Table::build(&ours, &linux);
        let row = table
            .rows
            .iter()
            .find(|r| r.title == "null syscall")
            .unwrap();
        assert_eq!(row.ratio, None);
        assert!(row
            .problem
            .as_deref()
            .unwrap()
            .contains("iteration counts differ"));
    }

    #[test]
    fn bytes_per_instruction() {
        assert_eq!(
            cell_text(
                &Cell::Measured(measured("memcpy_64k", 10, 32768, 32000)),
                Some(65536)
            ),
            "32,768 (min 32,000), 2.00 B/instr"
        );
    }

    #[test]
    fn lists_cases_no_row_shows() {
        let ours = report(vec![
            measured("tsc_overhead", 10, 4, 4),
            measured("null_syscall", 10, 150, 140),
            measured("roundtrip_0_step_write", 10, 900, 800),
        ]);
        let names: Vec<_> = unpaired(&ours, Side::Ours)
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(names, ["tsc_overhead", "roundtrip_0_step_write"]);
        assert!(unpaired_markdown(&unpaired(&ours, Side::Ours))
            .contains("| `roundtrip_0_step_write` | 900 (min 800) |"));
    }

    #[test]
    fn groups_digits() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(999), "999");
        assert_eq!(group_digits(1000), "1,000");
        assert_eq!(group_digits(123456789), "123,456,789");
    }

    #[test]
    fn appends_a_missing_section() {
        assert_eq!(
            replace_section("", SECTION_HEADING, "## Kernel benchmarks\n\nnew"),
            "## Kernel benchmarks\n\nnew\n"
        );
        assert_eq!(
            replace_section(
                "# Performance\n\n## idlc\n\nfast\n",
                SECTION_HEADING,
                "## Kernel benchmarks\n\nnew\n"
            ),
            "# Performance\n\n## idlc\n\nfast\n\n## Kernel benchmarks\n\nnew\n"
        );
    }

    #[test]
    fn replaces_only_its_own_section() {
        let document = "# Performance\n\n## Kernel benchmarks\n\nold\n\n### detail\n\nold too\n\n## idlc\n\nkeep\n";
        assert_eq!(
            replace_section(document, SECTION_HEADING, "## Kernel benchmarks\n\nnew\n"),
            "# Performance\n\n## Kernel benchmarks\n\nnew\n\n## idlc\n\nkeep\n"
        );
        let last = "# Performance\n\n## idlc\n\nkeep\n\n## Kernel benchmarks\n\nold\n";
        assert_eq!(
            replace_section(last, SECTION_HEADING, "## Kernel benchmarks\n\nnew"),
            "# Performance\n\n## idlc\n\nkeep\n\n## Kernel benchmarks\n\nnew\n"
        );
    }
}
