//! "Did you mean …?" suggestions for misspelled names.

/// The closest candidate to `name`, if one is close enough to be a likely
/// typo: edit distance at most a third of the name's length (at least 1),
/// compared case-insensitively so `uint32` finds `UInt32` too.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let wanted = name.to_ascii_lowercase();
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| (edit_distance(&wanted, &c.to_ascii_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, c.len().abs_diff(name.len()), *c))
        .map(|(_, c)| format!("did you mean `{c}`?"))
}

/// Edit distance over characters where swapping two neighbours counts as
/// one edit (optimal string alignment), so `unit32` is 1 from `uint32`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "ab"), 2);
        assert_eq!(edit_distance("unit32", "uint32"), 1);
    }

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            did_you_mean("unit32", ["int32", "uint32", "string"]).as_deref(),
            Some("did you mean `uint32`?")
        );
        assert_eq!(did_you_mean("Foo", ["Completely"]), None);
    }
}
