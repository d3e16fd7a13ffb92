//! RFC 3339 UTC timestamps with nanoseconds, written by hand: the collector must stay small and
//! only ever needs UTC, so a date library would be weight without use.

/// `2026-11-29T12:34:56.123456789Z` for `ns` nanoseconds since the Unix epoch.
pub fn format_rfc3339_ns(ns: u64) -> String {
    let mut out = Vec::with_capacity(30);
    write_rfc3339_ns(&mut out, ns);
    // Only ASCII digits and separators were written.
    String::from_utf8(out).expect("ASCII")
}

/// [`format_rfc3339_ns`] appended to `out`, without an allocation (a row per process has one).
pub fn write_rfc3339_ns(out: &mut Vec<u8>, ns: u64) {
    let secs = ns / 1_000_000_000;
    write_parts(out, (secs / 86_400) as i64, secs % 86_400, ns % 1_000_000_000);
}

/// `ns` nanoseconds from the epoch, negative before 1970 (the register stores SQLite's signed
/// integers): printed as the instant it is, never clamped to 1970.
pub fn format_rfc3339_signed_ns(ns: i64) -> String {
    let mut out = Vec::with_capacity(30);
    let secs = ns.div_euclid(1_000_000_000);
    write_parts(&mut out, secs.div_euclid(86_400), secs.rem_euclid(86_400) as u64, ns.rem_euclid(1_000_000_000) as u64);
    String::from_utf8(out).expect("ASCII")
}

/// Every instant of i64 and u64 nanoseconds falls in the years 1677 to 2554: four digits.
fn write_parts(out: &mut Vec<u8>, days: i64, rem: u64, nanos: u64) {
    let (y, m, d) = civil_from_days(days);
    let digits = |out: &mut Vec<u8>, v: u64, width: u32| {
        for i in (0..width).rev() {
            out.push(b'0' + ((v / 10u64.pow(i)) % 10) as u8);
        }
    };
    digits(out, y as u64, 4);
    out.push(b'-');
    digits(out, m as u64, 2);
    out.push(b'-');
    digits(out, d as u64, 2);
    out.push(b'T');
    digits(out, rem / 3600, 2);
    out.push(b':');
    digits(out, (rem / 60) % 60, 2);
    out.push(b':');
    digits(out, rem % 60, 2);
    out.push(b'.');
    digits(out, nanos, 9);
    out.push(b'Z');
}

/// The latest instant every store of curtain keeps exactly: SQLite's signed 64-bit nanoseconds
/// end on 2262-04-11. Later times are refused as input, never wrapped.
pub const MAX_TIME_NS: u64 = i64::MAX as u64;

/// Nanoseconds since the epoch of an RFC 3339 time (`Z` or a `±HH:MM` offset; fraction
/// optional). `None` when it is not one, or is outside 1970 to [`MAX_TIME_NS`] (2262): refused,
/// never wrapped.
pub fn parse_rfc3339_ns(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        if !t.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos: i64 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 9 {
                nanos = nanos * 10 + (b[i] - b'0') as i64;
            }
            i += 1;
        }
        let digits = (i - start).min(9);
        if digits == 0 {
            return None;
        }
        nanos *= 10i64.pow(9 - digits as u32);
    }
    let offset = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        c @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let v = num(i + 1..i + 3)? * 3600 + num(i + 4..i + 6)? * 60;
            if *c == b'+' {
                v
            } else {
                -v
            }
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo as u32, d as u32) * 86_400 + h * 3600 + mi * 60 + se - offset;
    let ns = u64::try_from(secs).ok()?.checked_mul(1_000_000_000)?.checked_add(nanos as u64)?;
    (ns <= MAX_TIME_NS).then_some(ns)
}

// Days since 1970-01-01 to a proleptic Gregorian date (the well-known era-based algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_rfc3339_ns(0), "1970-01-01T00:00:00.000000000Z");
        // 2000-02-29 (a leap day of a century leap year) 12:00:00.5
        assert_eq!(format_rfc3339_ns(951_825_600_500_000_000), "2000-02-29T12:00:00.500000000Z");
        assert_eq!(format_rfc3339_ns(1_798_502_400_000_000_001), "2026-12-29T00:00:00.000000001Z");
        assert_eq!(format_rfc3339_ns(u64::MAX), "2554-07-21T23:34:33.709551615Z");
    }

    #[test]
    fn parses_what_it_formats_and_offsets() {
        for ns in [0u64, 951_825_600_500_000_000, 1_798_502_400_123_456_789] {
            assert_eq!(parse_rfc3339_ns(&format_rfc3339_ns(ns)), Some(ns));
        }
        assert_eq!(parse_rfc3339_ns("2026-11-29T13:00:00+01:00"), parse_rfc3339_ns("2026-11-29T12:00:00Z"));
        assert_eq!(
            parse_rfc3339_ns("2026-11-29T12:00:00.1Z"),
            Some(parse_rfc3339_ns("2026-11-29T12:00:00Z").unwrap() + 100_000_000)
        );
        assert_eq!(parse_rfc3339_ns("2026-13-29T12:00:00Z"), None);
        assert_eq!(parse_rfc3339_ns("yesterday"), None);
        assert_eq!(parse_rfc3339_ns("2026-11-29T12:00:00"), None);
    }

    #[test]
    fn times_outside_the_range_are_refused_never_wrapped() {
        // The last instant kept, and the first past it.
        assert_eq!(parse_rfc3339_ns("2262-04-11T23:47:16.854775807Z"), Some(MAX_TIME_NS));
        assert_eq!(parse_rfc3339_ns("2262-04-11T23:47:16.854775808Z"), None);
        for t in ["2555-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "1969-12-31T23:59:59Z", "0000-01-01T00:00:00Z"] {
            assert_eq!(parse_rfc3339_ns(t), None, "{t}");
        }
        // Before 1970 and past 2262, printed as the instants they are.
        assert_eq!(format_rfc3339_signed_ns(-1), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(format_rfc3339_signed_ns(i64::MIN), "1677-09-21T00:12:43.145224192Z");
        assert_eq!(format_rfc3339_signed_ns(i64::MAX), "2262-04-11T23:47:16.854775807Z");
        assert_eq!(format_rfc3339_ns(MAX_TIME_NS + 1), "2262-04-11T23:47:16.854775808Z");
    }
}
