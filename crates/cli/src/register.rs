//! The asset register's commands: history ingested from CloudTrail and EventBridge, the live
//! inventory across accounts and regions, and `whois`.

use crate::args::{DbArg, FindingsFormat, IngestCommand, SyncArgs, WhoisArgs};
use crate::output::text_out;
use curtain_report::text;
use std::io::{self, Write};

pub(crate) fn register(db: &DbArg) -> io::Result<curtain_store::Register> {
    curtain_store::Register::open(std::path::Path::new(&db.db)).map_err(|e| io::Error::other(format!("{}: {e}", db.db)))
}

pub(crate) fn ingest(cmd: &IngestCommand) -> io::Result<i32> {
    let (files, db, limit, cloudtrail) = match cmd {
        IngestCommand::Events { files, db, limit } => (files, db, limit, false),
        IngestCommand::Cloudtrail { files, db, limit } => (files, db, limit, true),
    };
    let mut reg = register(db)?;
    let (mut tasks, mut enis, mut others, mut skipped, mut errors) = (0, 0, 0, 0, 0);
    for f in files {
        let bytes = curtain_cloud::ingest::read_input(f, limit.max_input)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", f.display())))?;
        let got =
            if cloudtrail { curtain_cloud::ingest::cloudtrail(&bytes) } else { curtain_cloud::ingest::events(&bytes) };
        for e in &got.errors {
            eprintln!("curtain: {}: {}", curtain_report::term(&f.display().to_string()), curtain_report::term(e));
        }
        for t in &got.tasks {
            reg.add_task(t).map_err(io::Error::other)?;
        }
        for e in &got.enis {
            reg.add_eni(e).map_err(io::Error::other)?;
        }
        for i in &got.instances {
            reg.add_instance(i).map_err(io::Error::other)?;
        }
        // After the interfaces and allocations they name (the same file or an earlier one).
        for a in &got.associations {
            if !reg.associate_address(a).map_err(io::Error::other)? {
                let what = a.allocation_id.as_deref().or(a.public_ip.as_deref()).unwrap_or("?");
                let to = a.eni_id.as_deref().or(a.instance_id.as_deref()).unwrap_or("?");
                eprintln!(
                    "curtain: {}: AssociateAddress {} of {} to {}: the register does not know that address or that interface; not recorded",
                    curtain_report::term(&f.display().to_string()),
                    curtain_report::term(&a.source.id),
                    curtain_report::term(what),
                    curtain_report::term(to)
                );
            }
        }
        for (id, at, source) in &got.disassociations {
            reg.disassociate_address(id, *at, source).map_err(io::Error::other)?;
        }
        for (instance, at, source) in &got.ended_instances {
            reg.end_instance(instance, *at, source).map_err(io::Error::other)?;
        }
        for c in &got.lambda_configs {
            reg.add_lambda_config(c).map_err(io::Error::other)?;
        }
        others += got.instances.len()
            + got.ended_instances.len()
            + got.associations.len()
            + got.disassociations.len()
            + got.lambda_configs.len();
        (tasks, enis, skipped, errors) =
            (tasks + got.tasks.len(), enis + got.enis.len(), skipped + got.skipped, errors + got.errors.len());
    }
    let (t, e, i) = reg.counts().map_err(io::Error::other)?;
    println!(
        "ingested {} file(s): {tasks} task record(s), {enis} ENI record(s), {others} instance, Elastic IP and Lambda record(s), {skipped} other record(s) skipped, {errors} unreadable; register {}: {t} tasks, {e} ENIs, {i} addresses",
        files.len(),
        db.db
    );
    Ok(if errors > 0 { 1 } else { 0 })
}

/// `inventory export --parquet DIR`: the register's intervals, tasks and containers, each in a
/// folder of its own (an Athena table's location is a folder). DIR is created, or must be empty;
/// each file appears only whole and nothing is replaced (`NewFile`).
pub(crate) fn inventory_export(a: &crate::args::ExportArgs) -> io::Result<i32> {
    let dir = &a.parquet;
    let shown = dir.display().to_string();
    if !a.db.exists() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: no register (--db; `curtain inventory sync` or `curtain ingest` make one)", a.db.display()),
        ));
    }
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{shown}: is a symbolic link; outputs are never written through one"),
            ))
        }
        Ok(m) if !m.is_dir() => {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("{shown}: exists and is not a folder")))
        }
        Ok(_) => {
            if std::fs::read_dir(dir)?.next().is_some() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{shown}: holds files already; an export never replaces or mixes with them"),
                ));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            std::fs::create_dir(dir).map_err(|e| io::Error::new(e.kind(), format!("{shown}: {e}")))?
        }
        Err(e) => return Err(io::Error::new(e.kind(), format!("{shown}: {e}"))),
    }
    let reg = curtain_store::Register::open(&a.db).map_err(|e| io::Error::other(format!("{}: {e}", a.db.display())))?;
    let err = |e: curtain_store::Error| io::Error::other(format!("{}: {e}", a.db.display()));
    let holders = reg.all_holders().map_err(err)?;
    let tasks = reg.all_tasks().map_err(err)?;
    let db = a.db.to_string_lossy().into_owned();
    use curtain_flows::parquet_out::{write_containers, write_intervals, write_tasks};
    for name in ["intervals", "tasks", "containers"] {
        let sub = dir.join(name);
        std::fs::create_dir(&sub).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", sub.display())))?;
        let path = sub.join(format!("{name}.parquet"));
        let f = curtain_archive::output::NewFile::create(&path.to_string_lossy(), &[&db])?;
        let f = match name {
            "intervals" => write_intervals(&holders, f)?,
            "tasks" => write_tasks(&tasks, f)?,
            _ => write_containers(&tasks, f)?,
        };
        f.commit()?;
    }
    let containers: usize = tasks.iter().map(|t| t.containers.len()).sum();
    println!(
        "exported {}: {} address interval(s), {} task(s), {} container(s) as Parquet in {shown}",
        a.db.display(),
        holders.len(),
        tasks.len(),
        containers
    );
    Ok(0)
}

/// Said by the commands that need the AWS SDK in a build without it.
#[cfg(not(feature = "aws"))]
pub(crate) fn without_aws(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("{what} needs the AWS SDK, left out of this build: build curtain with its default features"),
    )
}

#[cfg(not(feature = "aws"))]
pub(crate) fn inventory_sync(_: &SyncArgs) -> io::Result<i32> {
    Err(without_aws("inventory sync"))
}

#[cfg(feature = "aws")]
pub(crate) fn inventory_sync(a: &SyncArgs) -> io::Result<i32> {
    use curtain_cloud::aws::{sync, Accounts, SyncPlan};
    let mut reg = register(&a.db)?;
    let at_ns =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    let plan = SyncPlan {
        accounts: if a.org {
            Accounts::Organization
        } else if a.accounts.is_empty() {
            Accounts::Caller
        } else {
            Accounts::List(a.accounts.clone())
        },
        role: a.role.clone(),
        regions: a.regions.clone(),
        concurrency: a.concurrency,
        at_ns,
    };
    // A bar per account × region on a terminal; nothing when piped.
    use std::io::IsTerminal;
    let bars = indicatif::MultiProgress::with_draw_target(if io::stderr().is_terminal() {
        indicatif::ProgressDrawTarget::stderr()
    } else {
        indicatif::ProgressDrawTarget::hidden()
    });
    let style = indicatif::ProgressStyle::with_template("{spinner} {prefix:.bold} {msg}").expect("template");
    let live: std::sync::Mutex<std::collections::HashMap<String, indicatif::ProgressBar>> = Default::default();
    let progress = |account: &str, region: &str, what: &str| {
        let key = format!("{account} {region}");
        let mut live = live.lock().expect("progress lock");
        let bar = live.entry(key.clone()).or_insert_with(|| {
            let b = bars.add(indicatif::ProgressBar::new_spinner().with_style(style.clone()).with_prefix(key));
            b.enable_steady_tick(std::time::Duration::from_millis(120));
            b
        });
        bar.set_message(what.to_string());
    };
    let mut lines = Vec::new();
    let mut failed = 0usize;
    let mut write_err: Option<String> = None;
    let mut done = |inv: curtain_cloud::sync::RegionInventory| {
        for t in &inv.tasks {
            if let Err(e) = reg.add_task(t) {
                write_err.get_or_insert(e.to_string());
            }
        }
        for e in &inv.enis {
            if let Err(e) = reg.add_eni(e) {
                write_err.get_or_insert(e.to_string());
            }
        }
        let mut results = Vec::new();
        // After the interfaces they are on.
        results.extend(inv.associations.iter().map(|a| reg.observe_association(a).map(|_| ())));
        results.extend(inv.services.iter().map(|s| reg.add_service(s)));
        results.extend(inv.task_definitions.iter().map(|d| reg.add_task_definition(d)));
        results.extend(inv.instances.iter().map(|i| reg.add_container_instance(i)));
        results.extend(inv.ec2_instances.iter().map(|i| reg.add_instance(i)));
        if let Some(configs) = &inv.lambda_configs {
            results.extend(configs.iter().map(|c| reg.add_lambda_config(c)));
            let listed: Vec<&str> = configs.iter().map(|c| c.function_name.as_str()).collect();
            results.push(reg.end_unlisted_functions(&inv.account_id, &inv.region, &listed, at_ns));
        }
        if let Some(Err(e)) = results.into_iter().find(|r| r.is_err()) {
            write_err.get_or_insert(e.to_string());
        }
        if let Some(b) = live.lock().expect("progress lock").remove(&format!("{} {}", inv.account_id, inv.region)) {
            b.finish_and_clear();
        }
        failed += !inv.errors.is_empty() as usize;
        lines.push(format!(
            "  {} {}: {} cluster(s), {} task(s), {} ENI(s), {} service(s), {} task definition(s), {} container instance(s), {} EC2 instance(s){}",
            inv.account_id,
            inv.region,
            inv.clusters,
            inv.tasks.len(),
            inv.enis.len(),
            inv.services.len(),
            inv.task_definitions.len(),
            inv.instances.len(),
            inv.ec2_instances.len(),
            if inv.errors.is_empty() { String::new() } else { format!("; errors: {}", inv.errors.join("; ")) }
        ));
    };
    let rt = tokio_runtime()?;
    let result = rt.block_on(sync(&plan, &progress, &mut done));
    bars.clear().ok();
    if let Some(e) = write_err {
        return Err(io::Error::other(format!("{}: {e}", a.db.db)));
    }
    result.map_err(io::Error::other)?;
    lines.sort();
    let (t, e, i) = reg.counts().map_err(io::Error::other)?;
    println!(
        "inventory sync at {}: {} account × region(s), {failed} with errors",
        curtain_model::format_rfc3339_ns(at_ns),
        lines.len()
    );
    for l in &lines {
        println!("{}", curtain_report::term(l));
    }
    println!("register {}: {t} tasks, {e} ENIs, {i} addresses", a.db.db);
    Ok(if failed > 0 { 1 } else { 0 })
}

#[cfg(feature = "aws")]
pub(crate) fn tokio_runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()
}

pub(crate) fn whois(a: &WhoisArgs) -> io::Result<i32> {
    let at =
        match &a.at {
            Some(t) => Some(curtain_model::parse_rfc3339_ns(t).ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, format!("--at {t}: not an RFC 3339 time"))
            })?),
            None => None,
        };
    let reg = register(&a.db)?;
    let holders = reg.whois(&a.ip, at).map_err(io::Error::other)?;
    match a.format {
        FindingsFormat::Json => {
            let mut out = io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &serde_json::json!({ "ip": a.ip, "at": a.at, "holders": holders }))?;
            writeln!(out)?;
        }
        FindingsFormat::Text => text::holders(&mut text_out(), &a.ip, a.at.as_deref(), &holders)?,
    }
    Ok(if holders.is_empty() { 1 } else { 0 })
}
