//! The corpus: one file read into memory and split into items (lines).
//!
//! Lines are split on bytes, not on a `&str`, because a line may be invalid
//! UTF-8; checking that is the encoding workers' job (and an error they report
//! through their scheduler). The split mirrors `str::lines()`.

use crate::encoder::Item;
use std::path::Path;

pub struct Corpus {
    data: Vec<u8>,
    /// Byte range of each line within `data`, terminators excluded.
    lines: Vec<(usize, usize)>,
}

/// Line spans as `str::lines()` would yield them: split at `\n`, drop one
/// `\r` right before a `\n`, no empty final line after a trailing newline; a
/// final `\r` with no `\n` after it stays part of the line.
pub fn split_lines(data: &[u8]) -> Vec<(usize, usize)> {
    let mut lines = Vec::new();
    let mut start = 0;
    for (i, &b) in data.iter().enumerate() {
        if b == b'\n' {
            let end = if i > start && data[i - 1] == b'\r' { i - 1 } else { i };
            lines.push((start, end));
            start = i + 1;
        }
    }
    if start < data.len() {
        lines.push((start, data.len()));
    }
    lines
}

impl Corpus {
    pub fn load(path: &Path) -> Result<Corpus, String> {
        let data = std::fs::read(path).map_err(|e| {
            format!("cannot read corpus {}: {e}; pass --corpus FILE with a readable text file", path.display())
        })?;
        let corpus = Corpus::from_bytes(data)?;
        if corpus.lines.is_empty() {
            return Err(format!(
                "corpus {} is empty; pass --corpus FILE with at least one line of text",
                path.display()
            ));
        }
        Ok(corpus)
    }

    pub fn from_bytes(data: Vec<u8>) -> Result<Corpus, String> {
        let lines = split_lines(&data);
        // Token offsets are u32 (as upstream's are per item in practice).
        if let Some(n) = lines.iter().position(|&(a, b)| b - a > u32::MAX as usize) {
            return Err(format!("corpus line {} is longer than 4 GiB; split it into shorter lines", n + 1));
        }
        Ok(Corpus { data, lines })
    }

    /// All items in file order, numbered from 1.
    pub fn items(&self) -> Vec<Item<'_>> {
        self.lines.iter().enumerate().map(|(i, &(a, b))| Item { line: i + 1, bytes: &self.data[a..b] }).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) {
        let got: Vec<&str> = split_lines(text.as_bytes()).iter().map(|&(a, b)| &text[a..b]).collect();
        let want: Vec<&str> = text.lines().collect();
        assert_eq!(got, want, "{text:?}");
    }

    #[test]
    fn splits_like_str_lines() {
        for t in ["", "a", "a\n", "a\nb", "a\r\nb\r\n", "\n", "\n\n", "\r\n", "a\rb\n", "a\r\r\n", "a\n\nb\n"] {
            check(t);
        }
        // A final `\r` with no `\n` after it stays (as in current Rust; very old
        // releases of `str::lines` stripped it, so this is spelled out here).
        assert_eq!(split_lines(b"a\r"), vec![(0, 2)]);
        assert_eq!(split_lines(b"x\n\r"), vec![(0, 1), (2, 3)]);
        assert_eq!(split_lines(b"\r"), vec![(0, 1)]);
        assert_eq!(split_lines(b"a\n"), vec![(0, 1)]);
    }

    #[test]
    fn invalid_utf8_lines_are_kept_as_bytes() {
        let c = Corpus::from_bytes(b"ok\n\xff\xfe\r\nend".to_vec()).unwrap();
        let items = c.items();
        assert_eq!(items.len(), 3);
        assert_eq!(items[1].bytes, b"\xff\xfe");
        assert_eq!(items[1].line, 2);
        assert_eq!(items[2].bytes, b"end");
    }
}
