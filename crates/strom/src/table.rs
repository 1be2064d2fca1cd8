//! Plain-text tables as Kafka's command-line tools print them: left-aligned
//! columns as wide as their widest cell, two spaces apart, no trailing
//! whitespace.

#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table whose first row is `header`.
    pub fn with_header(header: &[&str]) -> Table {
        let mut t = Table::default();
        t.row(header.iter().map(|h| h.to_string()).collect());
        t
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut widths = vec![0; columns];
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                if i + 1 < row.len() {
                    let pad = widths[i] - cell.chars().count();
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `-` for what is unknown or empty, as Kafka's tools print it.
pub fn or_dash<T: ToString>(value: Option<T>) -> String {
    match value.map(|v| v.to_string()) {
        Some(s) if !s.is_empty() => s,
        _ => "-".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let mut t = Table::with_header(&["GROUP", "STATE"]);
        t.row(vec!["a-long-group-name".into(), "Empty".into()]);
        t.row(vec!["g".into(), "PreparingRebalance".into()]);
        assert_eq!(
            t.render(),
            "GROUP              STATE\n\
             a-long-group-name  Empty\n\
             g                  PreparingRebalance\n"
        );
    }

    #[test]
    fn no_trailing_whitespace_even_with_empty_last_cells() {
        let mut t = Table::with_header(&["A", "B", "C"]);
        t.row(vec!["1".into(), "".into(), "".into()]);
        t.row(vec!["22".into()]);
        assert_eq!(t.render(), "A   B  C\n1\n22\n");
    }

    #[test]
    fn widths_count_characters_not_bytes() {
        let mut t = Table::with_header(&["TOPIC", "P"]);
        t.row(vec!["zählung".into(), "0".into()]);
        assert_eq!(t.render(), "TOPIC    P\nzählung  0\n");
    }

    #[test]
    fn unknown_values_print_as_a_dash() {
        assert_eq!(or_dash(Some(5)), "5");
        assert_eq!(or_dash(None::<i64>), "-");
        assert_eq!(or_dash(Some("")), "-");
    }
}
