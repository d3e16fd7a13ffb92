//! The S3 Parquet delivery, read row by row through the `parquet` crate's record API (no Arrow:
//! a row at a time keeps memory to a row group's pages whatever the file's size). Columns are the
//! field names with `_` (`pkt_srcaddr`); AWS types them INT_32, INT_64 or STRING, and any other
//! writer's types are taken where the value fits. A column AWS does not define is kept as text.
//!
//! The crate is not written for hostile files: it returns errors for most damage, but a panic
//! in it is caught here and reported as the file's failure, never the run's.

use std::panic::{catch_unwind, AssertUnwindSafe};

use parquet::file::reader::{ChunkReader, FileReader, SerializedFileReader};
use parquet::record::Field as PqField;

use crate::input::RowSink;
use crate::record::{Field, FlowRecord};

pub(crate) fn read<R: ChunkReader + 'static>(sink: &mut dyn RowSink, input: R) {
    let outcome = catch_unwind(AssertUnwindSafe(|| rows(sink, input)));
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err((row, e))) => sink.failed(row, format!("Parquet: {e}")),
        Err(_) => sink.failed(0, "Parquet: the reader gave up on this file (a damaged file)".into()),
    }
}

fn rows<R: ChunkReader + 'static>(
    sink: &mut dyn RowSink,
    input: R,
) -> Result<(), (u64, parquet::errors::ParquetError)> {
    let reader = SerializedFileReader::new(input).map_err(|e| (0, e))?;
    let iter = reader.get_row_iter(None).map_err(|e| (0, e))?;
    let mut n = 0u64;
    for row in iter {
        n += 1;
        let row = row.map_err(|e| (n, e))?;
        let mut r = FlowRecord::default();
        let mut bad = None;
        for (name, value) in row.get_column_iter() {
            if let Err(e) = set(&mut r, name, value) {
                bad = Some(format!("{name}: {e}"));
                break;
            }
        }
        match bad {
            None => sink.row(n, r),
            Some(reason) => sink.bad_row(n, reason),
        }
    }
    Ok(())
}

fn set(r: &mut FlowRecord, name: &str, v: &PqField) -> Result<(), String> {
    let int = |v: &PqField| -> Option<i64> {
        Some(match *v {
            PqField::Byte(x) => x.into(),
            PqField::Short(x) => x.into(),
            PqField::Int(x) => x.into(),
            PqField::Long(x) => x,
            PqField::UByte(x) => x.into(),
            PqField::UShort(x) => x.into(),
            PqField::UInt(x) => x.into(),
            PqField::ULong(x) => i64::try_from(x).ok()?,
            _ => return None,
        })
    };
    let text = |v: &PqField| -> Result<Option<String>, String> {
        Ok(match v {
            PqField::Null => None,
            PqField::Str(s) => Some(s.clone()),
            PqField::Bytes(b) => Some(String::from_utf8(b.data().to_vec()).map_err(|_| "not UTF-8".to_string())?),
            other => match int(other) {
                Some(i) => Some(i.to_string()),
                None => return Err(format!("a value of an unexpected type: {other}")),
            },
        })
    };
    match Field::from_name(name) {
        Some(f) => match (int(v), v) {
            (_, PqField::Null) => r.set(f, "-").map_err(str::to_string),
            (Some(i), _) => r.set_int(f, i).map_err(|e| format!("{e}: {i}")),
            (None, _) => {
                let s = text(v)?.unwrap_or_default();
                // `-` in a STRING column is AWS's null too.
                r.set(f, &s).map_err(|e| format!("{e}: {:?}", crate::format::clip(&s)))
            }
        },
        None => {
            let s = text(v)?.filter(|s| s != "-");
            r.extra.push((name.to_string(), s.map(crate::record::Text::from)));
            Ok(())
        }
    }
}
