//! Which field is in which column: the layout of a flow log's lines, from the header line of an S3
//! file, from a format string as AWS takes it (`${version} ${account-id} ...`), or AWS's default
//! (the 14 fields of version 2). Column positions are never assumed beyond that default: AWS lets a
//! custom format name any fields in any order.

use crate::record::{Field, FlowRecord};

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
        // (a leading time, a bad value, whitespace other than spaces) is read again by the
        // careful path, which says why. The record keeps the line; each field is where its value
        // lies in it. AWS writes one space between values: the spaces are found eight bytes at a
        // time ([`spaces`]), where a search per value (`memchr`, SIMD but with a start-up cost
        // for each call) took a sixth of the time for values of a few bytes.
        let b = line.as_bytes();
        let mut r = FlowRecord::with_line(line);
        let mut columns = self.columns.iter();
        // Where the next value starts (runs of spaces are one separator).
        let mut from = 0;
        let mut value = |r: &mut FlowRecord, start: usize, end: usize| -> bool {
            match columns.next() {
                Some(Column::Known(f)) => r.set_split(*f, start, end - start).is_ok(),
                Some(Column::Extra(name)) => {
                    r.set_extra(name, &line[start..end]);
                    true
                }
                None => false,
            }
        };
        let words = b.chunks_exact(8);
        let tail = words.remainder();
        let mut last = [b'x'; 8];
        last[..tail.len()].copy_from_slice(tail);
        for (k, word) in words.map(|w| w.try_into().expect("eight bytes")).chain([last]).enumerate() {
            let w = u64::from_le_bytes(word);
            let mut sp = spaces(w);
            if below_bang(w) != sp {
                return self.parse_line_slowly(line);
            }
            while sp != 0 {
                let at = k * 8 + (sp.trailing_zeros() / 8) as usize;
                sp &= sp - 1;
                if at > from && !value(&mut r, from, at) {
                    return self.parse_line_slowly(line);
                }
                from = at + 1;
            }
        }
        if from < b.len() && !value(&mut r, from, b.len()) {
            return self.parse_line_slowly(line);
        }
        if columns.next().is_some() {
            return self.parse_line_slowly(line);
        }
        Ok(r)
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
                Column::Extra(name) => r.set_extra(name, v),
            }
        }
        Ok(r)
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The bytes of a word (eight bytes, the first lowest) that are spaces: the high bit of each.
/// Exact per byte: the sums stay within their byte (at most 0x7f + 0x7f), so no carry crosses.
fn spaces(w: u64) -> u64 {
    let x = w ^ (ONES * b' ' as u64);
    !(((x & !HIGH) + !HIGH) | x) & HIGH
}

/// The bytes of a word below `!`: spaces, other whitespace, control bytes; the high bit of
/// each. A byte's low seven bits plus 0x5f reach 0x80 when they are at least 0x21.
fn below_bang(w: u64) -> u64 {
    !(((w & !HIGH) + ONES * (0x80 - 0x21)) | w) & HIGH
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

    /// The word-at-a-time tests against the byte-by-byte ones, for every byte in every place.
    #[test]
    fn spaces_and_bytes_below_bang_by_the_word() {
        for byte in 0..=255u8 {
            for place in 0..8 {
                let mut word = *b"a\xff-0~ \x7fZ";
                word[place] = byte;
                let w = u64::from_le_bytes(word);
                let (mut sp, mut below) = (0, 0);
                for (i, &c) in word.iter().enumerate() {
                    sp |= u64::from(c == b' ') << (i * 8 + 7);
                    below |= u64::from(c < b'!') << (i * 8 + 7);
                }
                assert_eq!((spaces(w), below_bang(w)), (sp, below), "{word:?}");
            }
        }
    }

    /// Values for each column of `layout`, each one valid for its field.
    fn valid_values(layout: &Layout) -> Vec<proptest::strategy::BoxedStrategy<String>> {
        use proptest::prelude::*;
        let int = |c: &Column| matches!(c, Column::Known(f) if f.is_int());
        layout
            .columns
            .iter()
            .map(|c| {
                if int(c) {
                    prop_oneof![Just("-".to_string()), "[0-9]{1,2}"].boxed()
                } else {
                    prop_oneof![Just("-".to_string()), "[a-zA-Z0-9:.-]{1,12}", "[^\\s\\x00-\\x20]{1,4}"].boxed()
                }
            })
            .collect()
    }

    proptest::proptest! {
        /// The one-pass parse gives what the careful one gives, or hands the line to it: valid
        /// records, and the same with one value changed to anything, one more or one fewer, one
        /// separator another run of spaces or another byte below `!` (the v5 layout of 29
        /// fields, and one with unknown fields).
        #[test]
        fn the_fast_parse_is_the_careful_one(
            extra in proptest::bool::ANY,
            values in valid_values(&v5()),
            change in proptest::option::of((0..31usize, "-|[0-9]{1,22}|\\PC{0,6}")),
            odd in proptest::option::of((0..29usize, "[ ]{2,3}|[\t\r\x0b\x0c\x00]")),
            lead in "[ ]{0,1}",
        ) {
            let (mut values, changed) = (values, change.is_some());
            match change {
                Some((i, v)) if i < values.len() => values[i] = v,
                Some((29, v)) => values.push(v),
                Some(_) => {
                    values.pop();
                }
                None => {}
            }
            let mut line = lead;
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    line.push_str(odd.as_ref().filter(|(at, _)| *at == i).map_or(" ", |(_, s)| s.as_str()));
                }
                line.push_str(v);
            }
            let layout = if extra { v5_with_new_fields() } else { v5() };
            let fast = layout.parse_line(&line);
            proptest::prop_assert_eq!(&fast, &layout.parse_line_slowly(&line), "{:?}", line);
            if !changed && odd.is_none() {
                proptest::prop_assert!(fast.is_ok(), "{:?}", line);
            }
        }
    }

    fn v5() -> Layout {
        Layout::from_header(
            "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end \
             action log-status vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr region az-id \
             sublocation-type sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path",
        )
        .unwrap()
    }

    /// Version 5 with two fields AWS does not define in place of two it does.
    fn v5_with_new_fields() -> Layout {
        let header = v5().to_format().replace("${vpc-id}", "${new-one}").replace("${az-id}", "${new-two}");
        let layout = Layout::parse_format(&header).unwrap();
        assert!(layout.columns.contains(&Column::Extra("new-two".into())));
        layout
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
