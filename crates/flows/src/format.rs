//! Which field is in which column: the layout of a flow log's lines, from the header line of an S3
//! file, from a format string as AWS takes it (`${version} ${account-id} ...`), or AWS's default
//! (the 14 fields of version 2). Column positions are never assumed beyond that default: AWS lets a
//! custom format name any fields in any order.

use crate::record::{Field, FlowRecord, Text};

/// One column of a layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Column {
    Known(Field),
    /// A name AWS does not define (yet): its values are kept as text.
    Extra(String),
}

/// The fields of a line, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub columns: Vec<Column>,
}

/// The default format: every version 2 field in AWS's order.
pub const DEFAULT_FORMAT: &str = "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} \
${dstport} ${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}";

/// A field name as AWS spells them: lower case letters, digits, `-` (and `_` in Parquet and
/// Athena), starting with a letter.
fn is_name(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_lowercase()
        && b.iter().all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_')
}

fn column(name: &str) -> Column {
    match Field::from_name(name) {
        Some(f) => Column::Known(f),
        None => Column::Extra(name.to_string()),
    }
}

impl Default for Layout {
    fn default() -> Layout {
        Layout::v2()
    }
}

impl Layout {
    /// AWS's default format.
    pub fn v2() -> Layout {
        Layout { columns: Field::ALL.iter().copied().filter(|f| f.version() == 2).map(Column::Known).collect() }
    }

    /// A format string as AWS takes it: `${field}` tokens separated by spaces, at least one.
    pub fn parse_format(s: &str) -> Result<Layout, String> {
        let mut columns = Vec::new();
        for tok in s.split_ascii_whitespace() {
            let name = tok
                .strip_prefix("${")
                .and_then(|t| t.strip_suffix('}'))
                .ok_or_else(|| format!("{tok:?} is not a ${{field}} token"))?;
            if !is_name(name) {
                return Err(format!("{name:?} is not a field name"));
            }
            let c = column(name);
            if columns.contains(&c) {
                return Err(format!("{name:?} is named twice"));
            }
            columns.push(c);
        }
        if columns.is_empty() {
            return Err("the format names no field".into());
        }
        Ok(Layout { columns })
    }

    /// The layout a header line gives, or `None` when the line is not a header: every token a
    /// field name, at least one of them one AWS defines, none twice. A record's values never
    /// pass (a version, an account, an address, an action in capitals).
    pub fn from_header(line: &str) -> Option<Layout> {
        let mut columns = Vec::new();
        let mut known = false;
        for tok in line.split_ascii_whitespace() {
            if !is_name(tok) {
                return None;
            }
            let c = column(tok);
            known |= matches!(c, Column::Known(_));
            if columns.contains(&c) {
                return None;
            }
            columns.push(c);
        }
        (known && !columns.is_empty()).then_some(Layout { columns })
    }

    /// The format string that gives this layout.
    pub fn to_format(&self) -> String {
        let names: Vec<String> = self
            .columns
            .iter()
            .map(|c| match c {
                Column::Known(f) => format!("${{{}}}", f.name()),
                Column::Extra(n) => format!("${{{n}}}"),
            })
            .collect();
        names.join(" ")
    }

    /// One line into a record. A CloudWatch Logs export puts the event's time before each
    /// record (`2026-01-01T10:00:00.000Z 2 1234...`): one leading RFC 3339 token more than the
    /// layout has is skipped.
    pub fn parse_line(&self, line: &str) -> Result<FlowRecord, String> {
        // One pass for the common line: as many values as columns, each one valid. Anything else
        // (a leading time, a bad value) is read again by the careful path, which says why.
        // The record keeps the line; each field is where its value lies in it. AWS writes one
        // space between values: those are found with `memchr` (many bytes at a time). A line
        // with other whitespace goes the careful way, which takes any.
        let b = line.as_bytes();
        if memchr::memchr3(b'\t', b'\n', b'\r', b).is_some() || memchr::memchr(b'\x0c', b).is_some() {
            return self.parse_line_slowly(line);
        }
        let mut r = FlowRecord::with_line(line);
        let mut spaces = memchr::memchr_iter(b' ', b);
        let mut i = 0;
        // The start and end of the next value (runs of spaces are one separator).
        let mut next = || -> Option<(usize, usize)> {
            while i < b.len() {
                let start = i;
                let end = spaces.next().unwrap_or(b.len());
                i = end + 1;
                if end > start {
                    return Some((start, end));
                }
            }
            None
        };
        let mut ok = true;
        for c in &self.columns {
            let Some((start, end)) = next() else {
                ok = false;
                break;
            };
            let set = match c {
                Column::Known(f) => r.set_at(*f, start, end - start).is_ok(),
                Column::Extra(name) => {
                    let v = &line[start..end];
                    r.extra.push((name.clone(), (v != "-").then(|| Text::new(v))));
                    true
                }
            };
            if !set {
                ok = false;
                break;
            }
        }
        if ok && next().is_none() {
            return Ok(r);
        }
        self.parse_line_slowly(line)
    }

    fn parse_line_slowly(&self, line: &str) -> Result<FlowRecord, String> {
        let n = line.split_ascii_whitespace().count();
        let mut toks = line.split_ascii_whitespace();
        if n == self.columns.len() + 1 {
            let first = toks.next().unwrap_or_default();
            if curtain_model::parse_rfc3339_ns(first).is_none() {
                return Err(format!("{n} fields where the format has {}", self.columns.len()));
            }
        } else if n != self.columns.len() {
            return Err(format!("{n} fields where the format has {}", self.columns.len()));
        }
        let mut r = FlowRecord::with_line(line);
        for (c, v) in self.columns.iter().zip(toks) {
            match c {
                Column::Known(f) => r
                    .set_at(*f, v.as_ptr() as usize - line.as_ptr() as usize, v.len())
                    .map_err(|e| format!("{}: {e}: {:?}", f.name(), clip(v)))?,
                Column::Extra(name) => r.extra.push((name.clone(), (v != "-").then(|| Text::new(v)))),
            }
        }
        Ok(r)
    }
}

/// A value quoted in a reason, cut to a readable length.
pub(crate) fn clip(v: &str) -> String {
    match v.char_indices().nth(64) {
        Some((i, _)) => format!("{}...", &v[..i]),
        None => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values apart by one space (found many bytes at a time) or by any run of ASCII whitespace
    /// (byte by byte) give the same record; a value is never cut at another whitespace.
    #[test]
    fn any_whitespace_between_values_gives_the_same_record() {
        let l = Layout::v2();
        let one = l
            .parse_line("2 123456789010 eni-1 10.0.0.1 10.0.0.2 443 49152 6 10 840 1700000000 1700000060 ACCEPT OK")
            .unwrap();
        for line in [
            "2  123456789010 eni-1 10.0.0.1 10.0.0.2 443 49152 6 10 840 1700000000 1700000060 ACCEPT OK ",
            " 2\t123456789010 eni-1\r10.0.0.1 10.0.0.2 443 49152 6 10 840 1700000000 1700000060 ACCEPT\x0cOK",
        ] {
            assert_eq!(l.parse_line(line).unwrap(), one, "{line:?}");
        }
        assert_eq!(one.interface_id(), Some("eni-1"));
        assert_eq!((one.srcport(), one.start()), (Some(443), Some(1_700_000_000)));
        assert!(l.parse_line("2 123456789010 eni-1\t10.0.0.1").is_err(), "too few values");
    }

    #[test]
    fn default_format_is_v2() {
        assert_eq!(Layout::parse_format(DEFAULT_FORMAT).unwrap(), Layout::v2());
        assert_eq!(Layout::v2().to_format(), DEFAULT_FORMAT);
    }

    #[test]
    fn headers_and_values() {
        assert!(Layout::from_header("version account-id interface-id srcaddr").is_some());
        assert!(Layout::from_header("version account_id new-field").is_some());
        assert!(Layout::from_header("2 123456789010 eni-1 10.0.0.1").is_none());
        assert!(Layout::from_header("vpc-abc subnet-abc ingress").is_none());
        assert!(Layout::from_header("version version").is_none());
        assert!(
            Layout::parse_format("${version} ${nope-field}").unwrap().columns[1] == Column::Extra("nope-field".into())
        );
        assert!(Layout::parse_format("version account-id").is_err());
        assert!(Layout::parse_format("").is_err());
    }
}
