//! Column alignment with the semantics of Go's text/tabwriter, which docker uses for
//! every table it prints: cells end at `\t`, a column is as wide as its widest cell
//! in a block of consecutive lines that have that column, plus padding.

/// A tabwriter's settings (Go's `tabwriter.NewWriter(out, minwidth, tabwidth,
/// padding, padchar, 0)` with flags 0 and a non-tab pad character).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TabWriter {
    /// Minimal cell width, padding included.
    pub min_width: usize,
    /// Added to the widest cell of a column.
    pub padding: usize,
    pub pad_char: char,
}

impl TabWriter {
    /// docker's settings: `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`.
    pub const DOCKER: TabWriter = TabWriter {
        min_width: 10,
        padding: 3,
        pad_char: ' ',
    };

    /// Aligns `text`: every `\t`-terminated cell is padded to its column's width; the
    /// last cell of a line (not tab-terminated) is written as it is.
    pub fn format(&self, text: &str) -> String {
        let lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
        let mut out = String::with_capacity(text.len() * 2);
        let mut widths = Vec::new();
        self.block(&lines, &mut widths, 0, lines.len(), &mut out);
        out
    }

    /// Go's `format`: finds the blocks of lines that have a cell in column
    /// `widths.len()`, sizes that column per block, and recurses to the next column.
    fn block(
        &self,
        lines: &[Vec<&str>],
        widths: &mut Vec<usize>,
        mut line0: usize,
        line1: usize,
        out: &mut String,
    ) {
        let column = widths.len();
        let mut this = line0;
        while this < line1 {
            if column + 1 >= lines[this].len() {
                this += 1;
                continue;
            }
            self.write_lines(lines, widths, line0, this, out);
            line0 = this;
            let mut width = self.min_width;
            while this < line1 && column + 1 < lines[this].len() {
                width = width.max(lines[this][column].chars().count() + self.padding);
                this += 1;
            }
            widths.push(width);
            self.block(lines, widths, line0, this, out);
            widths.pop();
            line0 = this;
        }
        self.write_lines(lines, widths, line0, line1, out);
    }

    fn write_lines(
        &self,
        lines: &[Vec<&str>],
        widths: &[usize],
        line0: usize,
        line1: usize,
        out: &mut String,
    ) {
        for (i, line) in lines.iter().enumerate().take(line1).skip(line0) {
            for (j, cell) in line.iter().enumerate() {
                out.push_str(cell);
                if j < widths.len() && j + 1 < line.len() {
                    let n = widths[j].saturating_sub(cell.chars().count());
                    (0..n).for_each(|_| out.push(self.pad_char));
                }
            }
            if i + 1 < lines.len() {
                out.push('\n');
            }
        }
    }
}

/// Aligns `text` as docker's tables are aligned ([`TabWriter::DOCKER`]).
pub fn align(text: &str) -> String {
    TabWriter::DOCKER.format(text)
}
