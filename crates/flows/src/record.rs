//! One flow-log record as typed values: every field AWS defines for versions 2 to 8 (and the
//! Transit Gateway fields of version 6), declared once in a table that gives each its AWS name,
//! its output column (the name with `-` turned to `_`), the version that brought it and its type.
//! The parsers, the Parquet reader and the outputs all go through that table, so a field is never
//! spelt two ways. A value of `-` is `None`; a field the format did not name is absent
//! ([`FlowRecord::has`] says which); a field AWS does not define is kept as text in `extra`.

use serde_json::Value;

/// A text field's value. Nearly every value of a flow record (addresses, account and interface
/// ids, subnet ids, actions) fits in 24 bytes, which `CompactString` keeps without a heap
/// allocation: reading a record allocates nothing for them (ARNs of version 7 are longer).
pub type Text = compact_str::CompactString;

/// How a field's value is read from text and from Parquet, and written back out.
pub trait FieldValue: Sized + Clone {
    fn parse(s: &str) -> Result<Self, &'static str>;
    fn from_i64(v: i64) -> Result<Self, &'static str>;
    fn json(&self) -> Value;
    /// Appends its JSON (what [`Self::json`] gives, without building it).
    fn write_json(&self, out: &mut Vec<u8>);
    fn text(&self) -> String;
}

impl FieldValue for Text {
    fn parse(s: &str) -> Result<Self, &'static str> {
        Ok(Text::new(s))
    }
    fn from_i64(v: i64) -> Result<Self, &'static str> {
        Ok(Text::from(itoa::Buffer::new().format(v)))
    }
    fn json(&self) -> Value {
        Value::String(self.to_string())
    }
    fn write_json(&self, out: &mut Vec<u8>) {
        serde_json::to_writer(out, self.as_str()).expect("a string serialises into memory")
    }
    fn text(&self) -> String {
        self.to_string()
    }
}

macro_rules! int_value {
    ($($t:ty => $what:literal),*) => {$(
        impl FieldValue for $t {
            fn parse(s: &str) -> Result<Self, &'static str> {
                // Digits only: no sign, no spaces, no `0x` (str::parse takes a leading `+`). One
                // pass, by hand: a record has a dozen of these.
                if s.is_empty() {
                    return Err(concat!("not ", $what));
                }
                let mut v: $t = 0;
                let mut over = false;
                for b in s.bytes() {
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
                Ok(v)
            }
            fn from_i64(v: i64) -> Result<Self, &'static str> {
                <$t>::try_from(v).map_err(|_| concat!("out of range for ", $what))
            }
            fn json(&self) -> Value {
                Value::from(*self)
            }
            fn write_json(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(itoa::Buffer::new().format(*self).as_bytes())
            }
            fn text(&self) -> String {
                self.to_string()
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
                match self { $(Field::$variant => stringify!($ty) != "Text"),* }
            }
        }

        /// One record. `None` is AWS's `-` (or a field absent from the format: see [`Self::has`]).
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct FlowRecord {
            $(pub $ident: Option<$ty>,)*
            /// The fields the record's format named, a bit per [`Field`] (by its position).
            pub present: u64,
            /// Fields AWS does not define (yet): name as the format gave it, value (`-` is `None`).
            pub extra: Vec<(String, Option<Text>)>,
        }

        impl FlowRecord {
            /// Sets `f` from its text (`-` is null), marking it present.
            pub fn set(&mut self, f: Field, raw: &str) -> Result<(), &'static str> {
                self.present |= 1 << f as u64;
                if raw == "-" {
                    return Ok(());
                }
                match f { $(Field::$variant => self.$ident = Some(<$ty as FieldValue>::parse(raw)?)),* }
                Ok(())
            }

            /// Sets `f` from an integer (Parquet's INT_32 and INT_64 columns).
            pub fn set_int(&mut self, f: Field, v: i64) -> Result<(), &'static str> {
                self.present |= 1 << f as u64;
                match f { $(Field::$variant => self.$ident = Some(<$ty as FieldValue>::from_i64(v)?)),* }
                Ok(())
            }

            /// The value of `f` as JSON: a number, a string, or null.
            pub fn json(&self, f: Field) -> Value {
                match f { $(Field::$variant => self.$ident.as_ref().map_or(Value::Null, FieldValue::json)),* }
            }

            /// Appends the value of `f` as JSON.
            pub fn write_json(&self, f: Field, out: &mut Vec<u8>) {
                match f { $(Field::$variant => match &self.$ident {
                    Some(v) => v.write_json(out),
                    None => out.extend_from_slice(b"null"),
                }),* }
            }

            /// The value of `f` as text, empty for null.
            pub fn text(&self, f: Field) -> String {
                match f { $(Field::$variant => self.$ident.as_ref().map(FieldValue::text).unwrap_or_default()),* }
            }
        }
    };
}

const _: () = assert!(Field::ALL.len() <= 64, "`present` has 64 bits");

fields! {
    Version "version" "version" 2 version: u32;
    AccountId "account-id" "account_id" 2 account_id: Text;
    InterfaceId "interface-id" "interface_id" 2 interface_id: Text;
    Srcaddr "srcaddr" "srcaddr" 2 srcaddr: Text;
    Dstaddr "dstaddr" "dstaddr" 2 dstaddr: Text;
    Srcport "srcport" "srcport" 2 srcport: u16;
    Dstport "dstport" "dstport" 2 dstport: u16;
    Protocol "protocol" "protocol" 2 protocol: u8;
    Packets "packets" "packets" 2 packets: u64;
    Bytes "bytes" "bytes" 2 bytes: u64;
    Start "start" "start" 2 start: u64;
    End "end" "end" 2 end: u64;
    Action "action" "action" 2 action: Text;
    LogStatus "log-status" "log_status" 2 log_status: Text;
    VpcId "vpc-id" "vpc_id" 3 vpc_id: Text;
    SubnetId "subnet-id" "subnet_id" 3 subnet_id: Text;
    InstanceId "instance-id" "instance_id" 3 instance_id: Text;
    TcpFlags "tcp-flags" "tcp_flags" 3 tcp_flags: u32;
    Type "type" "type" 3 r#type: Text;
    PktSrcaddr "pkt-srcaddr" "pkt_srcaddr" 3 pkt_srcaddr: Text;
    PktDstaddr "pkt-dstaddr" "pkt_dstaddr" 3 pkt_dstaddr: Text;
    Region "region" "region" 4 region: Text;
    AzId "az-id" "az_id" 4 az_id: Text;
    SublocationType "sublocation-type" "sublocation_type" 4 sublocation_type: Text;
    SublocationId "sublocation-id" "sublocation_id" 4 sublocation_id: Text;
    PktSrcAwsService "pkt-src-aws-service" "pkt_src_aws_service" 5 pkt_src_aws_service: Text;
    PktDstAwsService "pkt-dst-aws-service" "pkt_dst_aws_service" 5 pkt_dst_aws_service: Text;
    FlowDirection "flow-direction" "flow_direction" 5 flow_direction: Text;
    TrafficPath "traffic-path" "traffic_path" 5 traffic_path: u32;
    ResourceType "resource-type" "resource_type" 6 resource_type: Text;
    TgwId "tgw-id" "tgw_id" 6 tgw_id: Text;
    TgwAttachmentId "tgw-attachment-id" "tgw_attachment_id" 6 tgw_attachment_id: Text;
    TgwSrcVpcAccountId "tgw-src-vpc-account-id" "tgw_src_vpc_account_id" 6 tgw_src_vpc_account_id: Text;
    TgwDstVpcAccountId "tgw-dst-vpc-account-id" "tgw_dst_vpc_account_id" 6 tgw_dst_vpc_account_id: Text;
    TgwSrcVpcId "tgw-src-vpc-id" "tgw_src_vpc_id" 6 tgw_src_vpc_id: Text;
    TgwDstVpcId "tgw-dst-vpc-id" "tgw_dst_vpc_id" 6 tgw_dst_vpc_id: Text;
    TgwSrcSubnetId "tgw-src-subnet-id" "tgw_src_subnet_id" 6 tgw_src_subnet_id: Text;
    TgwDstSubnetId "tgw-dst-subnet-id" "tgw_dst_subnet_id" 6 tgw_dst_subnet_id: Text;
    TgwSrcEni "tgw-src-eni" "tgw_src_eni" 6 tgw_src_eni: Text;
    TgwDstEni "tgw-dst-eni" "tgw_dst_eni" 6 tgw_dst_eni: Text;
    TgwSrcAzId "tgw-src-az-id" "tgw_src_az_id" 6 tgw_src_az_id: Text;
    TgwDstAzId "tgw-dst-az-id" "tgw_dst_az_id" 6 tgw_dst_az_id: Text;
    TgwPairAttachmentId "tgw-pair-attachment-id" "tgw_pair_attachment_id" 6 tgw_pair_attachment_id: Text;
    PacketsLostNoRoute "packets-lost-no-route" "packets_lost_no_route" 6 packets_lost_no_route: u64;
    PacketsLostBlackhole "packets-lost-blackhole" "packets_lost_blackhole" 6 packets_lost_blackhole: u64;
    PacketsLostMtuExceeded "packets-lost-mtu-exceeded" "packets_lost_mtu_exceeded" 6 packets_lost_mtu_exceeded: u64;
    PacketsLostTtlExpired "packets-lost-ttl-expired" "packets_lost_ttl_expired" 6 packets_lost_ttl_expired: u64;
    EcsClusterArn "ecs-cluster-arn" "ecs_cluster_arn" 7 ecs_cluster_arn: Text;
    EcsClusterName "ecs-cluster-name" "ecs_cluster_name" 7 ecs_cluster_name: Text;
    EcsContainerInstanceArn "ecs-container-instance-arn" "ecs_container_instance_arn" 7 ecs_container_instance_arn: Text;
    EcsContainerInstanceId "ecs-container-instance-id" "ecs_container_instance_id" 7 ecs_container_instance_id: Text;
    EcsContainerId "ecs-container-id" "ecs_container_id" 7 ecs_container_id: Text;
    EcsSecondContainerId "ecs-second-container-id" "ecs_second_container_id" 7 ecs_second_container_id: Text;
    EcsServiceName "ecs-service-name" "ecs_service_name" 7 ecs_service_name: Text;
    EcsTaskDefinitionArn "ecs-task-definition-arn" "ecs_task_definition_arn" 7 ecs_task_definition_arn: Text;
    EcsTaskArn "ecs-task-arn" "ecs_task_arn" 7 ecs_task_arn: Text;
    EcsTaskId "ecs-task-id" "ecs_task_id" 7 ecs_task_id: Text;
    RejectReason "reject-reason" "reject_reason" 8 reject_reason: Text;
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

impl FlowRecord {
    /// Whether the record's format named `f`.
    pub fn has(&self, f: Field) -> bool {
        self.present & (1 << f as u64) != 0
    }

    /// NODATA or SKIPDATA: a record of an interval, not of a flow.
    pub fn is_nodata(&self) -> bool {
        matches!(self.log_status.as_deref(), Some("NODATA") | Some("SKIPDATA"))
    }
}

#[cfg(test)]
mod tests {
    use super::FieldValue;

    /// The hand-written integer parse takes what `str::parse` takes of digits alone, and nothing
    /// else: at the type's bounds, one past them, signs, spaces, empty.
    #[test]
    fn integers_parse_as_the_standard_library_does_digits() {
        for s in ["0", "7", "00042", "65535", "65536", "4294967295", "4294967296", "18446744073709551615"] {
            assert_eq!(<u16 as FieldValue>::parse(s).ok(), s.parse::<u16>().ok(), "{s}");
            assert_eq!(<u32 as FieldValue>::parse(s).ok(), s.parse::<u32>().ok(), "{s}");
            assert_eq!(<u64 as FieldValue>::parse(s).ok(), s.parse::<u64>().ok(), "{s}");
        }
        assert_eq!(
            <u64 as FieldValue>::parse("18446744073709551616"),
            Err("out of range for a 64-bit unsigned number")
        );
        assert_eq!(<u8 as FieldValue>::parse("256"), Err("out of range for a number from 0 to 255"));
        for bad in ["", "+1", "-1", " 1", "1 ", "0x10", "1e3", "١"] {
            assert!(<u64 as FieldValue>::parse(bad).is_err(), "{bad:?}");
        }
    }
}
