#!/usr/bin/env bash
# Seeds the fuzz corpora (fuzz/corpus/<target>/) from the repository's own fixtures, so that a
# fuzzer starts from real /proc bytes and real archives rather than from nothing:
#   - crates/cli/tests/fixtures/lab.tar.zst, a collection of a small container: the whole
#     archive (and smaller archives cut from it) for archive_reader, its raw members for
#     proc_parsers, one read log per process with its raw files for table_builder;
#   - the /proc samples written inline in crates/parse and crates/tables (byte-string literals),
#     for every parser;
#   - fixtures/aws/*.json: ECS metadata documents and the times in the AWS samples;
#   - fixtures/flows/*: flow logs in every form, each twice (first byte 0 and 1: the default and
#     the all-fields headerless layout of curtain_flows::fuzzing::flow_reader);
#   - EC2 query API answers (DescribeNetworkInterfaces, DescribeInstances, DescribeAddresses,
#     DescribeRegions, an error) in the shapes of the EC2 API Reference's examples, for ec2_xml;
#   - netlink sock_diag replies laid out as the kernel's headers define them (the collector's
#     fixture has none: it read /proc tables).
# Seeds are added next to what a corpus holds; `cargo fuzz cmin` removes what adds nothing.
# Needs tar, zstd and python3. Usage: fuzz/seed.sh [corpus dir, default fuzz/corpus]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
out=${1:-$here/corpus}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lab"
tar -I zstd -xf "$repo/crates/cli/tests/fixtures/lab.tar.zst" -C "$work/lab"

python3 - "$repo" "$work/lab" "$out" <<'PY'
import hashlib, io, json, os, re, struct, sys, tarfile

repo, lab, out = sys.argv[1:4]

# The parser order of curtain_tables::fuzzing::PARSERS: the first byte of a proc_parsers input.
src = open(os.path.join(repo, "crates/tables/src/fuzzing.rs")).read()
block = re.search(r"pub const PARSERS: \[&str; \d+\] = \[(.*?)\];", src, re.S).group(1)
PARSERS = re.findall(r'"([a-z0-9_]+)"', block)
MARK = b"\0="  # curtain_tables::fuzzing::MEMBER_MARK

def put(target, data, tag):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    name = "seed-%s-%s" % (tag, hashlib.sha1(data).hexdigest()[:16])
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

def parser(name, data, flag=False):
    sel = PARSERS.index(name) | (0x80 if flag else 0)
    put("proc_parsers", bytes([sel]) + data, name)

def read(path):
    with open(path, "rb") as f:
        return f.read()

# --- proc_parsers: the lab's raw files, each to its parser ---
proc = os.path.join(lab, "raw/proc")
by_file = {"stat": "stat", "status": "status", "cmdline": "nul_split", "environ": "nul_split",
           "cgroup": "cgroup", "maps": "maps", "mountinfo": "mountinfo"}
seen = set()
for root, _, files in os.walk(proc):
    for f in files:
        p = os.path.join(root, f)
        rel = os.path.relpath(p, proc)
        data = read(p)
        if (rel, data) in seen:
            continue
        seen.add((rel, data))
        if rel == "stat":
            parser("btime", data)
        elif "/net/" in rel:
            parser("net_" + f, data, flag=True)
        elif f in by_file:
            parser(by_file[f], data)
        if f in ("cmdline", "environ", "stat"):
            for t in ("term", "json_bytes"):
                parser(t, data)
            parser("term_safe", bytes([7]) + data, flag=True)

# Link targets and the read log's own lines.
reads = read(os.path.join(lab, "raw/reads.jsonl"))
targets = set()
for line in reads.splitlines():
    rec = json.loads(line)
    for l in rec.get("links") or []:
        if "target" in l:
            targets.add(l["target"])
for t in sorted(targets):
    parser("link_target", t.encode())
for t in ["socket:[4242]", "/memfd:payload (deleted)", "/tmp/x (deleted)", "anon_inode:[eventfd]", "net:[4026531840]"]:
    parser("link_target", t.encode())
for t in [br"/mnt/with\040space", br"/a\134b\0", b"\\777\\1"]:
    parser("unescape_octal", t)

# The inline samples of crates/parse and crates/tables: every byte-string literal, to every parser.
def unescape(lit):
    out, i = bytearray(), 0
    while i < len(lit):
        c = lit[i]
        if c != "\\":
            out += c.encode()
            i += 1
            continue
        n = lit[i + 1]
        if n == "\n":  # a line continuation skips the newline and the indentation
            i += 2
            while i < len(lit) and lit[i] in " \t":
                i += 1
            continue
        simple = {"n": b"\n", "r": b"\r", "t": b"\t", "0": b"\0", "\\": b"\\", '"': b'"', "'": b"'"}
        if n in simple:
            out += simple[n]
            i += 2
        elif n == "x":
            out.append(int(lit[i + 2:i + 4], 16))
            i += 4
        else:
            out += lit[i:i + 2].encode()
            i += 2
    return bytes(out)

samples = set()
for d in ("crates/parse/src", "crates/tables/src", "crates/tables/tests"):
    for f in sorted(os.listdir(os.path.join(repo, d))):
        text = open(os.path.join(repo, d, f)).read()
        for m in re.finditer(r'(?<![A-Za-z0-9_])b"((?:[^"\\]|\\.|\\\n)*)"', text, re.S):
            b = unescape(m.group(1))
            if len(b) >= 8:
                samples.add(b)
for b in sorted(samples):
    for name in PARSERS:
        if name not in ("ecs_metadata", "rfc3339", "term_safe"):
            parser(name, b, flag=True)

# ECS metadata: each container document with its task's, and every AWS sample alone.
aws = os.path.join(repo, "fixtures/aws")
for kind in ("fargate", "ec2"):
    c = read(os.path.join(aws, "metadata-v4-container-%s.json" % kind))
    t = read(os.path.join(aws, "metadata-v4-task-%s.json" % kind))
    parser("ecs_metadata", c + b"\0" + t)
for f in sorted(os.listdir(aws)):
    if f.endswith(".json"):
        data = read(os.path.join(aws, f))
        parser("ecs_metadata", data)
        for t in sorted(set(re.findall(rb'"(\d{4}-\d\d-\d\dT[^"]*)"', data))):
            parser("rfc3339", t)
for t in [b"2026-11-29T12:34:56.123456789+05:30", b"1970-01-01T00:00:00Z", b"2262-04-11T23:47:16.854775807Z"]:
    parser("rfc3339", t)

# What a terminal must never see as it is, written in pieces of several lengths.
hostile = ("\x1b[1;31mHIGH\x1b[0m \x1b[2J\x1b]0;title\x07 caf\u00e9 \u202eevil\r\b\x9b31m\t\n").encode() + b"\xff\xe2\x80"
for n in (1, 2, 5):
    parser("term_safe", bytes([n]) + hostile, flag=True)
    parser("term_safe", bytes([n]) + hostile, flag=False)
parser("term", hostile)
parser("json_bytes", hostile)

# sock_diag replies (include/uapi/linux/{netlink,sock_diag,inet_diag,unix_diag}.h): nlmsghdr in
# host order, then inet_diag_msg or unix_diag_msg with its attributes.
def nlmsg(ty, payload, le):
    e = "<" if le else ">"
    m = struct.pack(e + "IHHII", 16 + len(payload), ty, 2, 1, 0) + payload
    return m + b"\0" * (-len(m) % 4)

def inet(family, state, sport, dport, src, dst, uid, inode, le):
    e = "<" if le else ">"
    m = struct.pack("BBBB", family, state, 0, 0) + struct.pack(">HH", sport, dport)
    m += src.ljust(16, b"\0") + dst.ljust(16, b"\0") + b"\0" * 4 + b"\0" * 8
    return m + struct.pack(e + "IIIII", 0, 3, 5, uid, inode)

def unix(ty, state, inode, name, le):
    e = "<" if le else ">"
    m = struct.pack("BBBB", 1, ty, state, 0) + struct.pack(e + "I", inode) + b"\0" * 8
    attr = struct.pack(e + "HH", 4 + len(name), 0) + name
    return m + attr + b"\0" * (-len(attr) % 4)

v6 = bytes(10) + b"\xff\xff" + bytes([127, 0, 0, 1])
diag = {}
for le in (True, False):
    done = nlmsg(3, b"\0" * 4, le)
    tcp = nlmsg(20, inet(2, 10, 8080, 0, bytes([127, 0, 0, 1]), b"", 0, 4242, le), le)
    tcp += nlmsg(18, inet(10, 1, 9000, 40000, v6, v6, 1000, 4343, le), le) + done
    udp = nlmsg(20, inet(2, 7, 53, 0, bytes([127, 0, 0, 53]), b"", 101, 16000, le), le) + done
    ux = nlmsg(20, unix(1, 10, 555, b"/run/x.sock", le), le) + nlmsg(20, unix(2, 7, 556, b"\0abc", le), le) + done
    parser("diag_tcp", tcp, flag=le)
    parser("diag_udp", udp, flag=le)
    parser("diag_unix", ux, flag=le)
    if le:
        diag = {"tcp46": tcp, "udp": udp, "unix": ux}
parser("diag_tcp", nlmsg(2, struct.pack("<i", -13), True), flag=True)

# --- table_builder: one read log per process, with the raw files its records name ---
manifest = json.loads(read(os.path.join(lab, "manifest.json")))
clock = json.dumps(manifest["clock"]).encode()
lines = reads.splitlines(keepends=True)
head = [l for l in lines if not re.match(rb'\{"op":"[a-z]+","path":"\d', l)]
groups, cur = [], None
for l in lines:
    if l in head:
        continue
    rec = json.loads(l)
    if rec["op"] == "opendir":
        cur = []
        groups.append(cur)
    cur.append(l)

def member_of(rec):
    if rec.get("error"):
        return None
    if rec["op"] == "read":
        return "raw/proc/" + rec["path"]
    if rec["op"] == "netlink":
        return "raw/netlink/%d/%s" % (rec["netns"], rec["path"].split("/", 2)[2][4:])
    return None

def log_seed(log, extra=()):
    members = [("clock", clock)]
    for l in log:
        m = member_of(json.loads(l))
        if m and m.startswith("raw/proc/"):
            members.append((m, read(os.path.join(lab, m))))
    members += list(extra)
    data = b"".join(log)
    for name, b in members:
        data += MARK + name.encode() + b"\n" + b
    return data

for g in groups:
    put("table_builder", log_seed(head + g), "process")
# The process that read the socket tables, with netlink dumps in place of two of them.
net = next(g for g in groups if any(b"/net/" in l for l in g))
pid = json.loads(net[0])["path"]
netns = json.loads(next(l for l in net if b"/net/tcp" in l))["netns"]
swapped = [l for l in net if b'/net/tcp' not in l and b'/net/unix' not in l]
for t in ("tcp46", "unix"):
    swapped.append(json.dumps({"op": "netlink", "path": "%s/net/%s" % (pid, t), "size": len(diag[t]), "netns": netns},
                              separators=(",", ":")).encode() + b"\n")
put("table_builder", log_seed(head + swapped, [("raw/netlink/%d/%s" % (netns, t), diag[t]) for t in ("tcp46", "unix")]),
    "netlink")

# --- archive_reader: the fixture whole, and small archives cut from it ---
put("archive_reader", read(os.path.join(repo, "crates/cli/tests/fixtures/lab.tar.zst")), "lab-zstd")

def sha(b):
    return hashlib.sha256(b).hexdigest()

def small_archive(fmt, pids, longname):
    keep = [g for g in groups if json.loads(g[0])["path"] in pids]
    log = b"".join(head + [l for g in keep for l in g])
    raw = []
    for l in log.splitlines():
        m = member_of(json.loads(l))
        if m:
            raw.append((m, read(os.path.join(lab, m))))
    files = [("raw/reads.jsonl", log)]
    for t in ("processes", "fds", "maps", "errors", "mounts", "sockets"):
        rows = read(os.path.join(lab, "tables/%s.jsonl" % t)).splitlines(keepends=True)
        rows = [r for r in rows if json.loads(r).get("pid") in [int(p) for p in pids] + [None]]
        files.append(("tables/%s.jsonl" % t, b"".join(rows)))
    if longname:
        files.append(("files/" + "n" * 120, b"a member with a GNU long name or a pax path"))
    # Repeated raw files are hard links to the first, as the collector writes them.
    first, links, index = {}, [], b""
    for name, b in raw:
        key = (name.rsplit("/", 1)[1], b)
        if key in first and b:
            links.append((name, first[key]))
        else:
            first.setdefault(key, name)
            files.append((name, b))
        index += json.dumps({"path": name, "size": len(b), "sha256": sha(b)}, separators=(",", ":")).encode() + b"\n"
    files.append(("raw/index.jsonl", index))
    listed = [{"path": n, "size": len(b), "sha256": sha(b)} for n, b in files if not n.startswith("raw/proc/")]
    m = dict(manifest, members=listed)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        order = [f for f in files if f[0].startswith("raw/proc/")] + [f for f in files if not f[0].startswith("raw/proc/")]
        for name, b in order:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(b), 0o444, manifest["clock"]["realtime_start_ns"] // 10**9
            tf.addfile(ti, io.BytesIO(b))
            if name == order[len(raw) - len(links) - 1][0]:
                for lname, target in links:
                    li = tarfile.TarInfo(lname)
                    li.type, li.linkname, li.mode = tarfile.LNKTYPE, target, 0o444
                    tf.addfile(li)
        body = json.dumps(m, indent=2).encode()
        ti = tarfile.TarInfo("manifest.json")
        ti.size, ti.mode = len(body), 0o444
        tf.addfile(ti, io.BytesIO(body))
    return buf.getvalue()

pids = [json.loads(g[0])["path"] for g in groups]
self_pid = json.loads(head[0])["target"]
for fmt, tag in ((tarfile.GNU_FORMAT, "gnu"), (tarfile.PAX_FORMAT, "pax")):
    a = small_archive(fmt, [self_pid, "1"], longname=True)
    put("archive_reader", a, "small-" + tag)
    with open(os.path.join(out, "archive_reader", "small-%s.tar" % tag), "wb") as f:
        f.write(a)
put("archive_reader", small_archive(tarfile.GNU_FORMAT, pids[:3], longname=False), "three")

flows = os.path.join(repo, "fixtures/flows")
for name in sorted(os.listdir(flows)):
    if name != "README.md":
        data = open(os.path.join(flows, name), "rb").read()
        for choice in (b"\0", b"\1"):
            put("flow_reader", choice + data, "fixture")

# EC2 query API answers in the shapes of the EC2 API Reference's examples, and an error.
ns = ' xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"'
ec2 = [
    '<?xml version="1.0" encoding="UTF-8"?>\n<DescribeNetworkInterfacesResponse%s><requestId>fc45294c-example</requestId>'
    '<networkInterfaceSet><item><networkInterfaceId>eni-0f7a1b2c</networkInterfaceId><subnetId>subnet-c88a35a3</subnetId>'
    '<vpcId>vpc-8ba0e3e9</vpcId><description>arn:aws:ecs:us-east-1:123456789012:attachment/7d6a8e3c-example</description>'
    '<requesterId>578734482556</requesterId><requesterManaged>true</requesterManaged><status>in-use</status>'
    '<privateIpAddress>10.0.1.23</privateIpAddress><groupSet><item><groupId>sg-3f4b5653</groupId><groupName>web</groupName></item></groupSet>'
    '<attachment><attachmentId>eni-attach-1</attachmentId><instanceId>i-0598c7d356eba48d7</instanceId></attachment>'
    '<association><publicIp>203.0.113.12</publicIp></association><interfaceType>interface</interfaceType>'
    '<privateIpAddressesSet><item><privateIpAddress>10.0.1.23</privateIpAddress><primary>true</primary>'
    '<association><publicIp>203.0.113.12</publicIp></association></item></privateIpAddressesSet>'
    '<ipv6AddressesSet><item><ipv6Address>2001:db8::1</ipv6Address></item></ipv6AddressesSet></item></networkInterfaceSet>'
    '<nextToken>eyJ2IjoiMiJ9</nextToken></DescribeNetworkInterfacesResponse>' % ns,
    '<DescribeInstancesResponse%s><reservationSet><item><reservationId>r-1</reservationId><instancesSet><item>'
    '<instanceId>i-1234567890abcdef0</instanceId><instanceState><code>16</code><name>running</name></instanceState>'
    '<instanceType>t3.micro</instanceType><launchTime>2026-11-28T10:00:00.000Z</launchTime>'
    '<privateIpAddress>10.0.0.12</privateIpAddress><ipAddress>54.194.252.215</ipAddress>'
    '<tagSet><item><key>Name</key><value>web &amp; &lt;api&gt; &#233;</value></item></tagSet>'
    '<networkInterfaceSet><item><privateIpAddressesSet><item><privateIpAddress>10.0.0.12</privateIpAddress></item>'
    '</privateIpAddressesSet></item></networkInterfaceSet></item></instancesSet></item></reservationSet></DescribeInstancesResponse>' % ns,
    '<DescribeAddressesResponse%s><addressesSet><item><publicIp>203.0.113.41</publicIp><allocationId>eipalloc-08229861</allocationId>'
    '<domain>vpc</domain><instanceId>i-0598c7d356eba48d7</instanceId><associationId>eipassoc-f0229899</associationId>'
    '<networkInterfaceId>eni-ef229886</networkInterfaceId></item><item><publicIp>198.51.100.2</publicIp>'
    '<domain>vpc</domain><networkInterfaceId/></item></addressesSet></DescribeAddressesResponse>' % ns,
    '<DescribeRegionsResponse%s><regionInfo><item><regionName>eu-west-1</regionName><regionEndpoint>ec2.eu-west-1.amazonaws.com</regionEndpoint>'
    '</item><item><regionName><![CDATA[us-east-1]]></regionName></item></regionInfo></DescribeRegionsResponse>' % ns,
    '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>RequestLimitExceeded</Code>'
    '<Message>Request limit exceeded.</Message></Error></Errors><RequestID>ea966190-example</RequestID></Response>',
    '<!DOCTYPE a [<!ENTITY x "boom">]><a>&x;</a>',
]
for doc in ec2:
    put("ec2_xml", doc.encode(), "api")
PY

# The small GNU archive compressed too, as the collector writes it.
for t in "$out"/archive_reader/small-*.tar; do
    z=$(zstd -q -c "$t" | tee "$work/z" | sha1sum | cut -c1-16)
    mv "$work/z" "$out/archive_reader/seed-zstd-$z"
    rm "$t"
done
for t in proc_parsers table_builder archive_reader flow_reader ec2_xml; do
    echo "$t: $(ls "$out/$t" | wc -l) files, $(du -sh "$out/$t" | cut -f1)"
done
