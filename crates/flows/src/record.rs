//! One flow-log record: every field AWS defines for versions 2 to 8 (and the Transit Gateway
//! fields of version 6), declared once in a table that gives each its AWS name, its output column
//! (the name with `-` turned to `_`), the version that brought it and its type. The parsers, the
//! Parquet reader and the outputs all go through that table, so a field is never spelt two ways.
//! A value of `-` is `None`; a field the format did not name is absent ([`FlowRecord::has`] says
//! which); a field AWS does not define is kept as text in `extra`.
//!
//! A record keeps its text once, as read (the line, or each value a Parquet row gave), and each
//! field as a slot: an integer field its value, checked against its type when it is set, a text
//! field where its value lies in that text. Hand-written rather than a struct of typed fields: a
//! line's twenty-odd text fields are then neither copied one by one nor carried along as a
//! kilobyte of inline strings (docs/BENCHMARKS.md, "Flow logs"). Each field is read through its
//! method (`srcaddr()`, `start()`), typed as the table says.

use serde_json::Value;

/// A text field's value kept on its own (an unknown field's, in `extra`).
pub type Text = compact_str::CompactString;

/// How a field's value is read from a record's slot, and checked when it is set.
pub trait FieldValue<'a>: Sized {
    /// Checks `s` as this type's text; an integer's value.
    fn check(s: &[u8]) -> Result<u64, &'static str>;
    /// Checks an integer (Parquet's INT_32 and INT_64 columns) as this type.
    fn check_int(v: i64) -> Result<u64, &'static str>;
    /// The value of field `f` of `r`, known to be set.
    fn load(r: &'a FlowRecord, f: Field) -> Self;
}

impl<'a> FieldValue<'a> for &'a str {
    fn check(_: &[u8]) -> Result<u64, &'static str> {
        Ok(0)
    }
    fn check_int(_: i64) -> Result<u64, &'static str> {
        Ok(0)
    }
    fn load(r: &'a FlowRecord, f: Field) -> &'a str {
        let v = r.slots[f as usize];
        let (at, len) = ((v >> 32) as usize, (v & 0xffff_ffff) as usize);
        &r.buf[at..at + len]
    }
}

macro_rules! int_value {
    ($($t:ty => $what:literal),*) => {$(
        impl<'a> FieldValue<'a> for $t {
            fn check(s: &[u8]) -> Result<u64, &'static str> {
                // Digits only: no sign, no spaces, no `0x` (str::parse takes a leading `+`). One
                // pass, by hand: a record has a dozen of these.
                if s.is_empty() {
                    return Err(concat!("not ", $what));
                }
                if s.len() <= 19 {
                    // Nineteen digits fit a u64 whatever they are: no check per digit, the range
                    // once at the end.
                    let mut v: u64 = 0;
                    for &b in s {
                        let d = b.wrapping_sub(b'0');
                        if d > 9 {
                            return Err(concat!("not ", $what));
                        }
                        v = v * 10 + u64::from(d);
                    }
                    return <$t>::try_from(v).map(u64::from).map_err(|_| concat!("out of range for ", $what));
                }
                let mut v: $t = 0;
                let mut over = false;
                for &b in s {
                    if !b.is_ascii_digit() {
                        return Err(concat!("not ", $what));
                    }
                    match v.checked_mul(10).and_then(|v| v.checked_add(<$t>::from(b - b'0'))) {
                        Some(n) => v = n,
                        None => over = true,
                    }
                }
                if over {
                    return Err(concat!("out of range for ", $what));
                }
                Ok(v.into())
            }
            fn check_int(v: i64) -> Result<u64, &'static str> {
                <$t>::try_from(v).map(u64::from).map_err(|_| concat!("out of range for ", $what))
            }
            fn load(r: &'a FlowRecord, f: Field) -> $t {
                // Checked against the type when set.
                r.slots[f as usize] as $t
            }
        }
    )*};
}

int_value!(u8 => "a number from 0 to 255", u16 => "a number from 0 to 65535",
    u32 => "a 32-bit unsigned number", u64 => "a 64-bit unsigned number");

macro_rules! fields {
    ($($variant:ident $name:literal $column:literal $ver:literal $ident:ident: $ty:ty;)*) => {
        /// A field AWS defines, in the order of its documentation's table.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Field { $($variant),* }

        impl Field {
            /// Every field, in the order of AWS's table (the order of CSV columns).
            pub const ALL: &'static [Field] = &[$(Field::$variant),*];

            /// Its name in a format string and an S3 header (`pkt-srcaddr`).
            pub fn name(self) -> &'static str {
                match self { $(Field::$variant => $name),* }
            }

            /// Its name in Parquet and in curtain's outputs (`pkt_srcaddr`).
            pub fn column(self) -> &'static str {
                match self { $(Field::$variant => $column),* }
            }

            /// The flow-log version that brought it (6: Transit Gateway flow logs only).
            pub fn version(self) -> u8 {
                match self { $(Field::$variant => $ver),* }
            }

            /// Whether its values are integers.
            pub fn is_int(self) -> bool {
                INTS & (1 << self as u64) != 0
            }
        }

        /// The integer fields, a bit each by position.
        const INTS: u64 = 0 $(| ((stringify!($ty).as_bytes()[0] == b'u') as u64) << Field::$variant as u64)*;

        /// One record.
        #[derive(Clone)]
        pub struct FlowRecord {
            /// The text its text fields are in.
            buf: String,
            /// Per field by position: an integer's value, or a text's place in `buf` (start in the
            /// high half, length in the low), when its bit in `set` is on.
            slots: [u64; 64],
            /// The fields with a value (not `-`, and named by the format), a bit per [`Field`].
            set: u64,
            /// The fields the record's format named, a bit per [`Field`] (by its position).
            pub present: u64,
            /// Fields AWS does not define (yet): name as the format gave it, value (`-` is `None`).
            pub extra: Vec<(String, Option<Text>)>,
        }

        impl FlowRecord {
            $(
                #[doc = concat!("`", $name, "`: `None` for `-` and when the format has no such field.")]
                pub fn $ident(&self) -> Option<$ty> {
                    self.get::<$ty>(Field::$variant)
                }
            )*

            /// Checks `raw` as `f`'s type: an integer's value for its slot.
            fn check(f: Field, raw: &[u8]) -> Result<u64, &'static str> {
                match f { $(Field::$variant => <$ty as FieldValue>::check(raw)),* }
            }

            fn check_int(f: Field, v: i64) -> Result<u64, &'static str> {
                match f { $(Field::$variant => <$ty as FieldValue>::check_int(v)),* }
            }
        }
    };
}

const _: () = assert!(Field::ALL.len() <= 64, "`present` has 64 bits");

fields! {
    Version "version" "version" 2 version: u32;
    AccountId "account-id" "account_id" 2 account_id: &str;
    InterfaceId "interface-id" "interface_id" 2 interface_id: &str;
    Srcaddr "srcaddr" "srcaddr" 2 srcaddr: &str;
    Dstaddr "dstaddr" "dstaddr" 2 dstaddr: &str;
    Srcport "srcport" "srcport" 2 srcport: u16;
    Dstport "dstport" "dstport" 2 dstport: u16;
    Protocol "protocol" "protocol" 2 protocol: u8;
    Packets "packets" "packets" 2 packets: u64;
    Bytes "bytes" "bytes" 2 bytes: u64;
    Start "start" "start" 2 start: u64;
    End "end" "end" 2 end: u64;
    Action "action" "action" 2 action: &str;
    LogStatus "log-status" "log_status" 2 log_status: &str;
    VpcId "vpc-id" "vpc_id" 3 vpc_id: &str;
    SubnetId "subnet-id" "subnet_id" 3 subnet_id: &str;
    InstanceId "instance-id" "instance_id" 3 instance_id: &str;
    TcpFlags "tcp-flags" "tcp_flags" 3 tcp_flags: u32;
    Type "type" "type" 3 r#type: &str;
    PktSrcaddr "pkt-srcaddr" "pkt_srcaddr" 3 pkt_srcaddr: &str;
    PktDstaddr "pkt-dstaddr" "pkt_dstaddr" 3 pkt_dstaddr: &str;
    Region "region" "region" 4 region: &str;
    AzId "az-id" "az_id" 4 az_id: &str;
    SublocationType "sublocation-type" "sublocation_type" 4 sublocation_type: &str;
    SublocationId "sublocation-id" "sublocation_id" 4 sublocation_id: &str;
    PktSrcAwsService "pkt-src-aws-service" "pkt_src_aws_service" 5 pkt_src_aws_service: &str;
    PktDstAwsService "pkt-dst-aws-service" "pkt_dst_aws_service" 5 pkt_dst_aws_service: &str;
    FlowDirection "flow-direction" "flow_direction" 5 flow_direction: &str;
    TrafficPath "traffic-path" "traffic_path" 5 traffic_path: u32;
    ResourceType "resource-type" "resource_type" 6 resource_type: &str;
    TgwId "tgw-id" "tgw_id" 6 tgw_id: &str;
    TgwAttachmentId "tgw-attachment-id" "tgw_attachment_id" 6 tgw_attachment_id: &str;
    TgwSrcVpcAccountId "tgw-src-vpc-account-id" "tgw_src_vpc_account_id" 6 tgw_src_vpc_account_id: &str;
    TgwDstVpcAccountId "tgw-dst-vpc-account-id" "tgw_dst_vpc_account_id" 6 tgw_dst_vpc_account_id: &str;
    TgwSrcVpcId "tgw-src-vpc-id" "tgw_src_vpc_id" 6 tgw_src_vpc_id: &str;
    TgwDstVpcId "tgw-dst-vpc-id" "tgw_dst_vpc_id" 6 tgw_dst_vpc_id: &str;
    TgwSrcSubnetId "tgw-src-subnet-id" "tgw_src_subnet_id" 6 tgw_src_subnet_id: &str;
    TgwDstSubnetId "tgw-dst-subnet-id" "tgw_dst_subnet_id" 6 tgw_dst_subnet_id: &str;
    TgwSrcEni "tgw-src-eni" "tgw_src_eni" 6 tgw_src_eni: &str;
    TgwDstEni "tgw-dst-eni" "tgw_dst_eni" 6 tgw_dst_eni: &str;
    TgwSrcAzId "tgw-src-az-id" "tgw_src_az_id" 6 tgw_src_az_id: &str;
    TgwDstAzId "tgw-dst-az-id" "tgw_dst_az_id" 6 tgw_dst_az_id: &str;
    TgwPairAttachmentId "tgw-pair-attachment-id" "tgw_pair_attachment_id" 6 tgw_pair_attachment_id: &str;
    PacketsLostNoRoute "packets-lost-no-route" "packets_lost_no_route" 6 packets_lost_no_route: u64;
    PacketsLostBlackhole "packets-lost-blackhole" "packets_lost_blackhole" 6 packets_lost_blackhole: u64;
    PacketsLostMtuExceeded "packets-lost-mtu-exceeded" "packets_lost_mtu_exceeded" 6 packets_lost_mtu_exceeded: u64;
    PacketsLostTtlExpired "packets-lost-ttl-expired" "packets_lost_ttl_expired" 6 packets_lost_ttl_expired: u64;
    EcsClusterArn "ecs-cluster-arn" "ecs_cluster_arn" 7 ecs_cluster_arn: &str;
    EcsClusterName "ecs-cluster-name" "ecs_cluster_name" 7 ecs_cluster_name: &str;
    EcsContainerInstanceArn "ecs-container-instance-arn" "ecs_container_instance_arn" 7 ecs_container_instance_arn: &str;
    EcsContainerInstanceId "ecs-container-instance-id" "ecs_container_instance_id" 7 ecs_container_instance_id: &str;
    EcsContainerId "ecs-container-id" "ecs_container_id" 7 ecs_container_id: &str;
    EcsSecondContainerId "ecs-second-container-id" "ecs_second_container_id" 7 ecs_second_container_id: &str;
    EcsServiceName "ecs-service-name" "ecs_service_name" 7 ecs_service_name: &str;
    EcsTaskDefinitionArn "ecs-task-definition-arn" "ecs_task_definition_arn" 7 ecs_task_definition_arn: &str;
    EcsTaskArn "ecs-task-arn" "ecs_task_arn" 7 ecs_task_arn: &str;
    EcsTaskId "ecs-task-id" "ecs_task_id" 7 ecs_task_id: &str;
    RejectReason "reject-reason" "reject_reason" 8 reject_reason: &str;
}

impl Field {
    /// The field a format string, header or Parquet column names: `pkt-srcaddr` or `pkt_srcaddr`.
    pub fn from_name(name: &str) -> Option<Field> {
        let name = name.trim();
        if name.is_empty() {
            return None;
        }
        Field::ALL
            .iter()
            .copied()
            .find(|f| f.name() == name || f.column() == name || f.name().eq_ignore_ascii_case(name))
    }
}

impl Default for FlowRecord {
    fn default() -> FlowRecord {
        FlowRecord { buf: String::new(), slots: [0; 64], set: 0, present: 0, extra: Vec::new() }
    }
}

impl FlowRecord {
    /// A record whose text fields will be set from `line` ([`Self::set_at`]).
    pub fn with_line(line: &str) -> FlowRecord {
        FlowRecord { buf: line.to_string(), ..FlowRecord::default() }
    }

    /// Whether the record's format named `f`.
    pub fn has(&self, f: Field) -> bool {
        self.present & (1 << f as u64) != 0
    }

    /// NODATA or SKIPDATA: a record of an interval, not of a flow.
    pub fn is_nodata(&self) -> bool {
        matches!(self.log_status(), Some("NODATA") | Some("SKIPDATA"))
    }

    /// Whether `f` has a value (is named by the format, and not `-`).
    fn is_set(&self, f: Field) -> bool {
        self.set & (1 << f as u64) != 0
    }

    /// The value of `f` as `T` (its type in the table: `&str`, `u16`...), `None` for null.
    fn get<'a, T: FieldValue<'a>>(&'a self, f: Field) -> Option<T> {
        self.is_set(f).then(|| T::load(self, f))
    }

    /// The value of `f` as text, whatever its type (`None` for null).
    pub fn str(&self, f: Field) -> Option<std::borrow::Cow<'_, str>> {
        if !self.is_set(f) {
            return None;
        }
        Some(if f.is_int() {
            std::borrow::Cow::Owned(self.slots[f as usize].to_string())
        } else {
            std::borrow::Cow::Borrowed(<&str as FieldValue>::load(self, f))
        })
    }

    /// Sets `f` from the text at `at..at + len` of the line the record was made with
    /// ([`Self::with_line`]); `-` is null. Marks it present. A place outside the line, or not
    /// between its characters (the line is UTF-8), is an error, never a panic.
    pub fn set_at(&mut self, f: Field, at: usize, len: usize) -> Result<(), &'static str> {
        if at.checked_add(len).is_none_or(|end| end > self.buf.len()) {
            return Err("outside the line");
        }
        if !self.buf.is_char_boundary(at) || !self.buf.is_char_boundary(at + len) {
            return Err("not on a character boundary");
        }
        self.set_split(f, at, len)
    }

    /// [`Self::set_at`] for a place known to be in the line and between its characters: a value
    /// a line's parse split at spaces or at the line's ends. Inlined into that parse.
    #[inline]
    pub(crate) fn set_split(&mut self, f: Field, at: usize, len: usize) -> Result<(), &'static str> {
        let Some(raw) = self.buf.as_bytes().get(at..at + len) else { return Err("outside the line") };
        debug_assert!(self.buf.is_char_boundary(at) && self.buf.is_char_boundary(at + len));
        self.present |= 1 << f as u64;
        if raw == b"-" {
            return Ok(());
        }
        self.slots[f as usize] = if f.is_int() {
            // Digits alone pass: ASCII, so the bytes are the text.
            FlowRecord::check(f, raw)?
        } else {
            let (Ok(at), Ok(len)) = (u32::try_from(at), u32::try_from(len)) else { return Err("a line over 4 GiB") };
            u64::from(at) << 32 | u64::from(len)
        };
        self.set |= 1 << f as u64;
        Ok(())
    }

    /// Keeps the value of a field AWS does not define, under the name the format gave it (`-` is
    /// null).
    pub fn set_extra(&mut self, name: &str, raw: &str) {
        self.extra.push((name.to_string(), (raw != "-").then(|| Text::new(raw))));
    }

    /// Sets `f` from its text (`-` is null), marking it present: the text is added to the
    /// record's, then set from there.
    pub fn set(&mut self, f: Field, raw: &str) -> Result<(), &'static str> {
        let at = self.buf.len();
        self.buf.push_str(raw);
        self.set_at(f, at, raw.len())
    }

    /// Sets `f` from an integer (Parquet's INT_32 and INT_64 columns).
    pub fn set_int(&mut self, f: Field, v: i64) -> Result<(), &'static str> {
        if !f.is_int() {
            return self.set(f, itoa::Buffer::new().format(v));
        }
        self.present |= 1 << f as u64;
        self.slots[f as usize] = FlowRecord::check_int(f, v)?;
        self.set |= 1 << f as u64;
        Ok(())
    }

    /// The value of `f` as JSON: a number, a string, or null.
    pub fn json(&self, f: Field) -> Value {
        if !self.is_set(f) {
            Value::Null
        } else if f.is_int() {
            Value::from(self.slots[f as usize])
        } else {
            Value::String(<&str as FieldValue>::load(self, f).to_string())
        }
    }

    /// Appends the value of `f` as JSON.
    pub fn write_json(&self, f: Field, out: &mut Vec<u8>) {
        if !self.is_set(f) {
            out.extend_from_slice(b"null");
        } else if f.is_int() {
            out.extend_from_slice(itoa::Buffer::new().format(self.slots[f as usize]).as_bytes());
        } else {
            serde_json::to_writer(out, <&str as FieldValue>::load(self, f)).expect("a string serialises into memory")
        }
    }

    /// The value of `f` as text, empty for null.
    pub fn text(&self, f: Field) -> String {
        self.str(f).map(|s| s.into_owned()).unwrap_or_default()
    }
}

/// Records are equal when they hold the same values, however their text is laid out.
impl PartialEq for FlowRecord {
    fn eq(&self, o: &FlowRecord) -> bool {
        self.present == o.present
            && self.set == o.set
            && self.extra == o.extra
            && Field::ALL.iter().all(|&f| self.str(f) == o.str(f))
    }
}

impl Eq for FlowRecord {}

impl std::fmt::Debug for FlowRecord {
    fn fmt(&self, w: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = w.debug_struct("FlowRecord");
        for &f in Field::ALL {
            if self.has(f) {
                d.field(f.column(), &self.str(f));
            }
        }
        d.field("extra", &self.extra).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::FieldValue;

    /// The hand-written integer parse takes what `str::parse` takes of digits alone, and nothing
    /// else: at the type's bounds, one past them, signs, spaces, empty.
    #[test]
    fn integers_parse_as_the_standard_library_does_digits() {
        for s in [
            "0",
            "7",
            "00042",
            "65535",
            "65536",
            "4294967295",
            "4294967296",
            "9999999999999999999",
            "18446744073709551615",
            "99999999999999999999",
            "000000000000000000000065535",
        ] {
            assert_eq!(<u16 as FieldValue>::check(s.as_bytes()).ok(), s.parse::<u16>().ok().map(u64::from), "{s}");
            assert_eq!(<u32 as FieldValue>::check(s.as_bytes()).ok(), s.parse::<u32>().ok().map(u64::from), "{s}");
            assert_eq!(<u64 as FieldValue>::check(s.as_bytes()).ok(), s.parse::<u64>().ok(), "{s}");
        }
        assert_eq!(
            <u64 as FieldValue>::check(b"18446744073709551616"),
            Err("out of range for a 64-bit unsigned number")
        );
        assert_eq!(<u8 as FieldValue>::check(b"256"), Err("out of range for a number from 0 to 255"));
        let mut r = super::FlowRecord::with_line("2 é 7");
        assert_eq!(r.set_at(super::Field::Srcaddr, 2, 1), Err("not on a character boundary"));
        assert_eq!(r.set_at(super::Field::Srcaddr, 5, 9), Err("outside the line"));
        assert_eq!(r.set_at(super::Field::Srcport, usize::MAX, 2), Err("outside the line"));
        assert_eq!(r.set_at(super::Field::Srcport, 5, 1), Ok(()));
        assert_eq!((r.srcport(), r.srcaddr()), (Some(7), None));
        for bad in ["", "+1", "-1", " 1", "1 ", "0x10", "1e3", "١", "1/", ":", "00000000000000000000/"] {
            assert!(<u64 as FieldValue>::check(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }
}
