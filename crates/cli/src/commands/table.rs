//! A plain text table as the CLI prints one: a header of capitals, each
//! column as wide as its widest cell, the last one not padded.

/// Formats `header` and `rows` as lines, columns two spaces apart.
pub fn lines(header: &[&str], rows: &[Vec<String>]) -> Vec<String> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    std::iter::once(&header)
        .chain(rows)
        .map(|row| {
            let last = row.len().saturating_sub(1);
            let cells: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(i, cell)| {
                    if i == last {
                        cell.clone()
                    } else {
                        format!("{cell:<width$}", width = widths[i])
                    }
                })
                .collect();
            cells.join("  ").trim_end().to_owned()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let rows = vec![
            vec![
                "shop/web".into(),
                "0.0.0.0:80,0.0.0.0:443".into(),
                "r2".into(),
            ],
            vec!["shop/db".into(), "(no proxy)".into(), "r1".into()],
        ];
        assert_eq!(
            lines(&["SERVICE", "LISTENS", "LIVE"], &rows),
            vec![
                "SERVICE   LISTENS                 LIVE",
                "shop/web  0.0.0.0:80,0.0.0.0:443  r2",
                "shop/db   (no proxy)              r1",
            ]
        );
    }

    #[test]
    fn an_empty_last_cell_leaves_no_trailing_space() {
        let rows = vec![vec!["a".into(), String::new()]];
        assert_eq!(lines(&["X", "NOTE"], &rows), vec!["X  NOTE", "a"]);
    }
}
