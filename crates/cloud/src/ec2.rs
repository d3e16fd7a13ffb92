//! EC2's query API for the four calls the sync makes (DescribeNetworkInterfaces,
//! DescribeInstances, DescribeAddresses, DescribeRegions), signed and sent here rather than
//! through aws-sdk-ec2.
//!
//! Written by hand because of what that crate costs to build, not to run: aws-sdk-ec2 is some
//! 750 operations of generated code, for four read calls; without it the clean release build on
//! two cores takes 363 s instead of 660, and its largest compiler process 1.6 GiB instead of
//! 7.4 (docs/BENCHMARKS.md, "Build"). Everything else comes from the
//! SDK's own crates, already in the build for ECS, STS and the rest: the credentials and region of
//! the same [`SdkConfig`], SigV4 from `aws-sigv4`, the HTTPS connector the SDK's clients use
//! (`aws-smithy-http-client`, rustls), its timeouts. What the generated client would add is done
//! here as the SDK does it: the endpoint of every partition, FIPS and dual-stack included, or the
//! one configured (`AWS_ENDPOINT_URL_EC2`, a profile's `services`, `AWS_ENDPOINT_URL`); clock skew
//! corrected from the server's `Date`; standard retries with jittered exponential back-off on
//! throttling, server errors and broken connections; pagination by `NextToken`.

use aws_config::SdkConfig;
use aws_credential_types::provider::{future, ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::http::{HttpConnector, HttpConnectorSettings};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use crate::sync::{chain, CloudError};
use crate::xml::{parse_xml, query_error, Node};

/// The API version every EC2 query names (the current one, unchanged since 2016).
const API_VERSION: &str = "2016-11-15";
/// The most a response body may be: a page of 1,000 interfaces is a few megabytes.
const MAX_BODY: usize = 256 << 20;

/// The EC2 endpoint for `region`, as aws-sdk-ec2's rules give it: a configured endpoint URL
/// (which takes neither FIPS nor dual-stack), else `ec2` or `ec2-fips` in the region's partition.
pub fn endpoint(region: &str, fips: bool, dual_stack: bool, configured: Option<&str>) -> Result<String, String> {
    if let Some(url) = configured {
        if fips || dual_stack {
            return Err("EC2: FIPS and dual-stack endpoints take no configured endpoint URL".into());
        }
        return Ok(url.trim_end_matches('/').to_string());
    }
    if region.is_empty() || !region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return Err(format!("EC2: not a region: {region:?}"));
    }
    // Each partition's DNS suffix and dual-stack suffix (the SDK's partitions.json).
    let (dns, dual) = [
        ("cn-", "amazonaws.com.cn", "api.amazonwebservices.com.cn"),
        ("us-gov-", "amazonaws.com", "api.aws"),
        ("us-iso-", "c2s.ic.gov", "api.aws.ic.gov"),
        ("us-isob-", "sc2s.sgov.gov", "api.aws.scloud"),
        ("us-isof-", "csp.hci.ic.gov", "api.aws.hci.ic.gov"),
        ("eu-isoe-", "cloud.adc-e.uk", "api.cloud-aws.adc-e.uk"),
        ("eusc-", "amazonaws.eu", "api.amazonwebservices.eu"),
    ]
    .into_iter()
    .find(|(prefix, _, _)| region.starts_with(prefix))
    .map_or(("amazonaws.com", "api.aws"), |(_, dns, dual)| (dns, dual));
    Ok(match (fips, dual_stack) {
        (true, true) => format!("https://ec2-fips.{region}.{dual}"),
        // GovCloud's EC2 endpoints are FIPS endpoints already.
        (true, false) if region.starts_with("us-gov-") => format!("https://ec2.{region}.{dns}"),
        (true, false) => format!("https://ec2-fips.{region}.{dns}"),
        (false, true) => format!("https://ec2.{region}.{dual}"),
        (false, false) => format!("https://ec2.{region}.{dns}"),
    })
}

/// The query's body: `Action`, `Version`, then the parameters, form-encoded.
fn form(action: &str, params: &[(String, String)]) -> String {
    let mut f = form_urlencoded::Serializer::new(String::new());
    f.append_pair("Action", action).append_pair("Version", API_VERSION);
    for (k, v) in params {
        f.append_pair(k, v);
    }
    f.finish()
}

/// The error codes that say "slow down" or "try again", retried as the SDK's standard mode does.
fn retryable_code(code: &str) -> bool {
    matches!(
        code,
        "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "RequestThrottledException"
            | "TooManyRequestsException"
            | "ProvisionedThroughputExceededException"
            | "TransactionInProgressException"
            | "RequestLimitExceeded"
            | "BandwidthLimitExceeded"
            | "LimitExceededException"
            | "RequestThrottled"
            | "SlowDown"
            | "PriorRequestNotComplete"
            | "EC2ThrottledException"
            | "RequestTimeout"
            | "RequestTimeoutException"
            | "InternalError"
            | "InternalFailure"
            | "ServiceUnavailable"
            | "Unavailable"
    )
}

/// The error codes of a signature refused for its time.
fn skew_code(code: &str) -> bool {
    matches!(
        code,
        "RequestExpired" | "RequestTimeTooSkewed" | "RequestInTheFuture" | "InvalidSignatureException" | "AuthFailure"
    )
}

/// One HTTPS connector for every client of the process (its connection pool and TLS roots).
fn connector() -> &'static aws_smithy_http_client::Connector {
    static CONNECTOR: OnceLock<aws_smithy_http_client::Connector> = OnceLock::new();
    CONNECTOR.get_or_init(|| {
        aws_smithy_http_client::Connector::builder()
            .connector_settings(
                // aws::base_config's connect timeout (one connector for every configuration);
                // reads are bounded by each attempt's timeout below.
                HttpConnectorSettings::builder().connect_timeout(Duration::from_secs(5)).build(),
            )
            .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
            .build()
    })
}

/// EC2 in one account and region.
pub struct Ec2 {
    endpoint: Result<String, String>,
    region: String,
    credentials: Option<SharedCredentialsProvider>,
    max_attempts: u32,
    attempt_timeout: Duration,
    /// The server's clock less this machine's, in seconds, once a signature was refused for it.
    skew_secs: AtomicI64,
}

impl Ec2 {
    /// EC2 as `conf` says: its region, credentials, endpoint, FIPS and dual-stack settings,
    /// retries and per-attempt timeout.
    pub fn new(conf: &SdkConfig) -> Self {
        let region = conf.region().map(|r| r.to_string()).unwrap_or_default();
        // As a generated client takes it from the configuration: an endpoint set in code, else
        // EC2's own (`AWS_ENDPOINT_URL_EC2`, a profile's `services` section), else the general
        // one; aws-config has applied AWS_IGNORE_CONFIGURED_ENDPOINT_URLS already.
        let own = if conf.get_origin("endpoint_url").is_client_config() {
            None
        } else {
            conf.service_config().and_then(|c| {
                let key = aws_types::service_config::ServiceConfigKey::builder()
                    .service_id("EC2")
                    .env("AWS_ENDPOINT_URL")
                    .profile("endpoint_url")
                    .build()
                    .ok()?;
                c.load_config(key)
            })
        };
        let configured = own.as_deref().or(conf.endpoint_url());
        Ec2 {
            endpoint: endpoint(
                &region,
                conf.use_fips().unwrap_or(false),
                conf.use_dual_stack().unwrap_or(false),
                configured,
            ),
            region,
            credentials: conf.credentials_provider(),
            max_attempts: conf.retry_config().map_or(3, |r| r.max_attempts()).max(1),
            attempt_timeout: conf
                .timeout_config()
                .and_then(|t| t.operation_attempt_timeout())
                .unwrap_or(Duration::from_secs(60)),
            skew_secs: AtomicI64::new(0),
        }
    }

    /// Every page of `action`: each response's root element, `NextToken` followed to the end.
    pub async fn pages(&self, action: &str, params: &[(String, String)]) -> Result<Vec<Node>, CloudError> {
        let mut out = Vec::new();
        let mut sent: Option<String> = None;
        let mut seen = std::collections::HashSet::new();
        loop {
            let mut p = params.to_vec();
            if let Some(t) = &sent {
                p.push(("NextToken".into(), t.clone()));
            }
            let page = self.call(action, &p).await?;
            let next = page.text_at(&["nextToken"]).map(str::to_string);
            out.push(page);
            match next {
                // A token given before would go round for ever: the pages stop there.
                Some(t) if seen.insert(t.clone()) => sent = Some(t),
                _ => return Ok(out),
            }
        }
    }

    /// One call: its response's root element, after the retries the configuration allows. An
    /// error says what failed, not which call (the caller names it, as it does the SDK's).
    pub async fn call(&self, action: &str, params: &[(String, String)]) -> Result<Node, CloudError> {
        let fail = CloudError;
        let endpoint = self.endpoint.clone().map_err(fail)?;
        let uri = format!("{endpoint}/");
        let body = form(action, params);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = tokio::time::timeout(self.attempt_timeout, self.attempt(&uri, &body)).await;
            let (retry, msg) = match outcome {
                Ok(Ok((200..=299, text, _))) => {
                    // Anything else, a proxy's page or another service's answer, would read as
                    // empty lists: "nothing there" where nothing was asked.
                    let root = parse_xml(&text).map_err(fail)?;
                    if root.name != format!("{action}Response") {
                        return Err(fail(format!("not a {action} response: <{}>", root.name)));
                    }
                    return Ok(root);
                }
                Ok(Ok((status, text, date))) => {
                    let (code, msg) = query_error(status, &text);
                    // A clock too far off for the signature: sign again by the server's clock,
                    // as the SDK does.
                    let skewed = code.as_deref().is_some_and(skew_code) && self.adjust_clock(date.as_deref());
                    (skewed || status >= 500 || status == 429 || code.as_deref().is_some_and(retryable_code), msg)
                }
                Ok(Err((retry, msg))) => (retry, msg),
                Err(_) => (true, format!("no answer within {:?}", self.attempt_timeout)),
            };
            if !retry || attempt >= self.max_attempts {
                return Err(fail(if attempt > 1 { format!("{msg} (after {attempt} attempts)") } else { msg }));
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
    }

    /// Takes the server's clock (a response's `Date`) as the time to sign by from now on, if it
    /// is more than a minute from this machine's: whether it did.
    fn adjust_clock(&self, date: Option<&str>) -> bool {
        use aws_smithy_types::date_time::{DateTime, Format};
        let Some(server) = date.and_then(|d| DateTime::from_str(d, Format::HttpDate).ok()) else { return false };
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        let skew = server.secs() - now;
        // A clock a month off is not skew but a wrong answer (and a year 9999 would overflow
        // the signer's date).
        if skew.abs() > 30 * 86_400 {
            return false;
        }
        let old = self.skew_secs.swap(skew, Ordering::Relaxed);
        (skew - old).abs() > 60
    }

    /// The time to sign by: this machine's, corrected by the skew a server reported.
    fn signing_time(&self) -> SystemTime {
        let skew = self.skew_secs.load(Ordering::Relaxed);
        let d = Duration::from_secs(skew.unsigned_abs());
        if skew >= 0 {
            SystemTime::now() + d
        } else {
            SystemTime::now() - d
        }
    }

    /// Signs and sends one attempt: the status, body and `Date` header, or whether its failure
    /// may be retried and what it was.
    async fn attempt(&self, uri: &str, body: &str) -> Result<(u16, String, Option<String>), (bool, String)> {
        let provider = self.credentials.as_ref().ok_or((false, "no credentials configured".to_string()))?;
        let creds = provider.provide_credentials().await.map_err(|e| (false, chain(&e)))?;
        let identity = creds.into();
        let settings = SigningSettings::default();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("ec2")
            .time(self.signing_time())
            .settings(settings)
            .build()
            .map_err(|e| (false, chain(&e)))?
            .into();
        let content_type = "application/x-www-form-urlencoded; charset=utf-8";
        let signable = SignableRequest::new(
            "POST",
            uri,
            [("content-type", content_type)].into_iter(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| (false, chain(&e)))?;
        let (instructions, _) = sign(signable, &params).map_err(|e| (false, chain(&e)))?.into_parts();
        let mut req = aws_smithy_runtime_api::http::Request::new(SdkBody::from(body.to_string()));
        req.set_method("POST").map_err(|e| (false, chain(&e)))?;
        req.set_uri(uri).map_err(|e| (false, chain(&e)))?;
        req.headers_mut().insert("content-type", content_type);
        // CloudTrail keeps it: the responder's own calls are told from others' by it.
        req.headers_mut().insert("user-agent", concat!("curtain/", env!("CARGO_PKG_VERSION"), " (inventory sync)"));
        for (name, value) in instructions.headers() {
            req.headers_mut().insert(name.to_string(), value.to_string());
        }
        let resp = connector().call(req).await.map_err(|e| (e.is_io() || e.is_timeout(), chain(&e)))?;
        let status = resp.status().as_u16();
        let date = resp.headers().get("date").map(str::to_string);
        // Read up to the cap, never more: a broken or hostile endpoint cannot fill the memory.
        let mut body = ByteStream::new(resp.into_body());
        let mut bytes = Vec::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| (true, chain(&e)))?;
            if bytes.len() + chunk.len() > MAX_BODY {
                return Err((false, format!("a response of more than {MAX_BODY} bytes")));
            }
            bytes.extend_from_slice(&chunk);
        }
        let text = String::from_utf8(bytes).map_err(|_| (false, "a response that is not UTF-8".to_string()))?;
        Ok((status, text, date))
    }
}

/// The standard mode's back-off: a random part of 2^(attempt-1) seconds, at most 20 s.
fn backoff(attempt: u32) -> Duration {
    use std::hash::{BuildHasher, RandomState};
    let ceiling = Duration::from_secs(1 << attempt.saturating_sub(1).min(5)).min(Duration::from_secs(20));
    let r = RandomState::new().hash_one(attempt) as f64 / u64::MAX as f64;
    ceiling.mul_f64(r)
}

/// Credentials fetched once and kept until five minutes before they expire, for every client
/// made from the same configuration: the SDK's clients keep theirs in their own identity cache,
/// which [`Ec2`] cannot reach, and an assumed role would otherwise be assumed again per region.
#[derive(Debug)]
pub struct CachedCredentials {
    inner: SharedCredentialsProvider,
    /// The credentials and when they were fetched.
    kept: tokio::sync::Mutex<Option<(Credentials, SystemTime)>>,
}

impl CachedCredentials {
    pub fn shared(inner: SharedCredentialsProvider) -> SharedCredentialsProvider {
        SharedCredentialsProvider::new(CachedCredentials { inner, kept: tokio::sync::Mutex::new(None) })
    }
}

impl ProvideCredentials for CachedCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            let mut kept = self.kept.lock().await;
            let now = SystemTime::now();
            // As the SDK's identity cache: five minutes before they expire, or, without an
            // expiry (a credential_process may rotate them), fifteen minutes after they came.
            let fresh = |(c, at): &(Credentials, SystemTime)| match c.expiry() {
                Some(t) => t > now + Duration::from_secs(300),
                None => now < *at + Duration::from_secs(900),
            };
            if let Some((c, _)) = kept.as_ref().filter(|k| fresh(k)) {
                return Ok(c.clone());
            }
            let c = self.inner.provide_credentials().await?;
            *kept = Some((c.clone(), now));
            Ok(c)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_as_the_sdk_resolves_them() {
        // From aws-sdk-ec2 1.274.0's own endpoint tests (src/config/endpoint.rs): region, FIPS,
        // dual-stack, the URL it resolves.
        let cases = [
            ("af-south-1", false, false, "https://ec2.af-south-1.amazonaws.com"),
            ("ap-south-1", false, true, "https://ec2.ap-south-1.api.aws"),
            ("ca-central-1", true, false, "https://ec2-fips.ca-central-1.amazonaws.com"),
            ("eu-west-1", false, false, "https://ec2.eu-west-1.amazonaws.com"),
            ("us-east-1", false, false, "https://ec2.us-east-1.amazonaws.com"),
            ("us-east-1", true, false, "https://ec2-fips.us-east-1.amazonaws.com"),
            ("us-east-1", false, true, "https://ec2.us-east-1.api.aws"),
            ("us-east-1", true, true, "https://ec2-fips.us-east-1.api.aws"),
            ("cn-north-1", false, false, "https://ec2.cn-north-1.amazonaws.com.cn"),
            ("cn-northwest-1", false, false, "https://ec2.cn-northwest-1.amazonaws.com.cn"),
            ("cn-north-1", true, true, "https://ec2-fips.cn-north-1.api.amazonwebservices.com.cn"),
            ("cn-north-1", true, false, "https://ec2-fips.cn-north-1.amazonaws.com.cn"),
            ("cn-north-1", false, true, "https://ec2.cn-north-1.api.amazonwebservices.com.cn"),
            ("us-gov-east-1", false, false, "https://ec2.us-gov-east-1.amazonaws.com"),
            ("us-gov-west-1", false, false, "https://ec2.us-gov-west-1.amazonaws.com"),
            ("us-gov-east-1", true, true, "https://ec2-fips.us-gov-east-1.api.aws"),
            ("us-gov-east-1", true, false, "https://ec2.us-gov-east-1.amazonaws.com"),
            ("us-gov-east-1", false, true, "https://ec2.us-gov-east-1.api.aws"),
            ("us-iso-east-1", false, false, "https://ec2.us-iso-east-1.c2s.ic.gov"),
            ("us-iso-west-1", false, false, "https://ec2.us-iso-west-1.c2s.ic.gov"),
            ("us-iso-east-1", true, false, "https://ec2-fips.us-iso-east-1.c2s.ic.gov"),
            ("us-isob-east-1", false, false, "https://ec2.us-isob-east-1.sc2s.sgov.gov"),
            ("us-isob-east-1", true, false, "https://ec2-fips.us-isob-east-1.sc2s.sgov.gov"),
        ];
        for (region, fips, dual, want) in cases {
            assert_eq!(endpoint(region, fips, dual, None).as_deref(), Ok(want), "{region} {fips} {dual}");
        }
        assert_eq!(endpoint("us-east-1", false, false, Some("https://example.com/")).unwrap(), "https://example.com");
        assert!(endpoint("us-east-1", true, false, Some("https://example.com")).is_err());
        assert!(endpoint("us-east-1", false, true, Some("https://example.com")).is_err());
        assert!(endpoint("", false, false, None).is_err());
        // A region is a host label, never a way into the URL.
        assert!(endpoint("evil.example.com/x?", false, false, None).is_err());
    }

    #[test]
    fn what_is_retried() {
        assert!(retryable_code("RequestLimitExceeded"));
        assert!(retryable_code("InternalError"));
        assert!(!retryable_code("UnauthorizedOperation"));
        assert!(skew_code("RequestExpired"));
        assert!(!skew_code("UnauthorizedOperation"));
    }

    #[test]
    fn a_query_is_form_encoded() {
        let q =
            form("DescribeInstances", &[("InstanceId.1".into(), "i-1".into()), ("NextToken".into(), "a+b/c=".into())]);
        assert_eq!(q, "Action=DescribeInstances&Version=2016-11-15&InstanceId.1=i-1&NextToken=a%2Bb%2Fc%3D");
    }

    #[test]
    fn back_off_grows_and_stays_bounded() {
        for attempt in 1..10 {
            let d = backoff(attempt);
            assert!(
                d <= Duration::from_secs(20).min(Duration::from_secs(1 << (attempt - 1).min(5))),
                "{attempt}: {d:?}"
            );
        }
    }

    /// A server on 127.0.0.1 that answers each connection with the next of `replies` (status,
    /// header lines, body) and hands back every request it read (head and body).
    async fn scripted(replies: Vec<(u16, String, String)>) -> (String, tokio::task::JoinHandle<Vec<String>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let mut seen = Vec::new();
            for (status, headers, body) in replies {
                let (mut conn, _) = listener.accept().await.unwrap();
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let n = conn.read(&mut buf).await.unwrap();
                    req.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&req).to_string();
                    if let Some(head_end) = text.find("\r\n\r\n") {
                        let len: usize = text[..head_end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap())
                            })
                            .unwrap_or(0);
                        if req.len() >= head_end + 4 + len || n == 0 {
                            break;
                        }
                    }
                }
                seen.push(String::from_utf8(req).unwrap());
                let reply = format!(
                    "HTTP/1.1 {status} X\r\n{headers}Content-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                conn.write_all(reply.as_bytes()).await.unwrap();
            }
            seen
        });
        (url, server)
    }

    fn conf(url: &str, attempts: u32) -> SdkConfig {
        SdkConfig::builder()
            .region(aws_config::Region::new("eu-west-1"))
            .endpoint_url(url)
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "AKIDEXAMPLE",
                "secret",
                Some("token".into()),
                None,
                "test",
            )))
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(attempts))
            .build()
    }

    #[tokio::test]
    async fn throttling_is_retried_pages_are_followed_and_requests_signed() {
        let throttled = "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors></Response>";
        let page = |token: &str, eni: &str| {
            format!("<DescribeNetworkInterfacesResponse><networkInterfaceSet><item><networkInterfaceId>{eni}</networkInterfaceId></item></networkInterfaceSet>{token}</DescribeNetworkInterfacesResponse>")
        };
        let (url, server) = scripted(vec![
            (503, String::new(), throttled.into()),
            (200, String::new(), page("<nextToken>t/1+</nextToken>", "eni-1")),
            (200, String::new(), page("", "eni-2")),
        ])
        .await;
        let ec2 = Ec2::new(&conf(&url, 3));
        let pages = ec2.pages("DescribeNetworkInterfaces", &[("MaxResults".into(), "1000".into())]).await.unwrap();
        let enis: Vec<_> = pages
            .iter()
            .flat_map(|p| p.items("networkInterfaceSet"))
            .filter_map(|n| n.text_at(&["networkInterfaceId"]))
            .collect();
        assert_eq!(enis, ["eni-1", "eni-2"]);
        let seen = server.await.unwrap();
        assert_eq!(seen.len(), 3);
        for req in &seen {
            let lower = req.to_ascii_lowercase();
            assert!(req.starts_with("POST / HTTP/1.1\r\n"), "{req}");
            assert!(lower.contains("content-type: application/x-www-form-urlencoded; charset=utf-8\r\n"), "{req}");
            assert!(lower.contains("x-amz-security-token: token\r\n"), "{req}");
            assert!(lower.contains("user-agent: curtain/"), "{req}");
            let auth = req.lines().find(|l| l.to_ascii_lowercase().starts_with("authorization:")).unwrap();
            assert!(auth.contains("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"), "{auth}");
            assert!(auth.contains("/eu-west-1/ec2/aws4_request"), "{auth}");
            assert!(auth.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token"), "{auth}");
        }
        assert!(seen[0].ends_with("\r\n\r\nAction=DescribeNetworkInterfaces&Version=2016-11-15&MaxResults=1000"));
        assert_eq!(seen[0].split("\r\n\r\n").nth(1), seen[1].split("\r\n\r\n").nth(1), "a retry sends the same query");
        assert!(seen[2].ends_with("&MaxResults=1000&NextToken=t%2F1%2B"), "{}", seen[2]);
    }

    #[tokio::test]
    async fn an_error_is_named_and_not_retried_unless_it_may_pass() {
        let denied = "<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized.</Message></Error></Errors></Response>";
        let (url, server) = scripted(vec![(403, String::new(), denied.into())]).await;
        let e = Ec2::new(&conf(&url, 3)).call("DescribeAddresses", &[]).await.unwrap_err();
        assert_eq!(e.0, "UnauthorizedOperation: You are not authorized.");
        assert_eq!(server.await.unwrap().len(), 1);
        // A server error every time: as many attempts as configured, then the last error.
        let (url, server) =
            scripted(vec![(500, String::new(), "oops".into()), (500, String::new(), "oops".into())]).await;
        let e = Ec2::new(&conf(&url, 2)).call("DescribeRegions", &[]).await.unwrap_err();
        assert_eq!(e.0, "HTTP 500: oops (after 2 attempts)");
        assert_eq!(server.await.unwrap().len(), 2);
        // Nobody listening: a connection error, retried, then named.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let e = Ec2::new(&conf(&format!("http://127.0.0.1:{port}"), 2)).call("DescribeRegions", &[]).await.unwrap_err();
        assert!(e.0.contains("Connection refused") && e.0.ends_with("(after 2 attempts)"), "{}", e.0);
    }

    #[tokio::test]
    async fn a_signature_refused_for_a_skewed_clock_is_made_again_by_the_servers() {
        use aws_smithy_types::date_time::{DateTime, Format};
        let ahead = SystemTime::now() + Duration::from_secs(3600);
        let date = DateTime::from(ahead).fmt(Format::HttpDate).unwrap();
        let expired = "<Response><Errors><Error><Code>RequestExpired</Code><Message>Request has expired.</Message></Error></Errors></Response>";
        let ok = "<DescribeRegionsResponse><regionInfo><item><regionName>eu-west-1</regionName></item></regionInfo></DescribeRegionsResponse>";
        let (url, server) =
            scripted(vec![(400, format!("Date: {date}\r\n"), expired.into()), (200, String::new(), ok.into())]).await;
        let r = Ec2::new(&conf(&url, 3)).call("DescribeRegions", &[]).await.unwrap();
        assert_eq!(r.items("regionInfo").next().unwrap().text_at(&["regionName"]), Some("eu-west-1"));
        let seen = server.await.unwrap();
        // x-amz-date is ISO 8601 in its basic form: 20261203T191214Z.
        let stamp = |req: &str| {
            let v = req.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("x-amz-date: ").map(str::to_string));
            let v = v.unwrap();
            let iso = format!("{}-{}-{}T{}:{}:{}Z", &v[0..4], &v[4..6], &v[6..8], &v[9..11], &v[11..13], &v[13..15]);
            DateTime::from_str(&iso, Format::DateTime).unwrap().secs()
        };
        let moved = stamp(&seen[1]) - stamp(&seen[0]);
        assert!((3590..=3610).contains(&moved), "{moved}");
        // Wrong keys on a right clock: not retried.
        let now = DateTime::from(SystemTime::now()).fmt(Format::HttpDate).unwrap();
        let denied = "<Response><Errors><Error><Code>AuthFailure</Code><Message>AWS was not able to validate the provided access credentials</Message></Error></Errors></Response>";
        let (url, server) = scripted(vec![(401, format!("Date: {now}\r\n"), denied.into())]).await;
        let e = Ec2::new(&conf(&url, 3)).call("DescribeRegions", &[]).await.unwrap_err();
        assert!(e.0.starts_with("AuthFailure: "), "{}", e.0);
        assert_eq!(server.await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn an_answer_to_another_question_or_tokens_going_round_end_it() {
        // A proxy's page that is XML too: an error, not empty lists.
        let (url, server) = scripted(vec![(200, String::new(), "<html><body>Sign in</body></html>".into())]).await;
        let e = Ec2::new(&conf(&url, 3)).call("DescribeRegions", &[]).await.unwrap_err();
        assert_eq!(e.0, "not a DescribeRegions response: <html>");
        server.await.unwrap();
        // Tokens A, B, A: three pages, then it stops instead of going round.
        let page = |token: &str| {
            format!("<DescribeInstancesResponse><nextToken>{token}</nextToken></DescribeInstancesResponse>")
        };
        let (url, server) = scripted(vec![
            (200, String::new(), page("A")),
            (200, String::new(), page("B")),
            (200, String::new(), page("A")),
        ])
        .await;
        let pages = Ec2::new(&conf(&url, 3)).pages("DescribeInstances", &[]).await.unwrap();
        assert_eq!(pages.len(), 3);
        assert_eq!(server.await.unwrap().len(), 3);
        // A Date in the year 9999 is no clock to sign by: the error stands, nothing overflows.
        let expired = "<Response><Errors><Error><Code>RequestExpired</Code><Message>Request has expired.</Message></Error></Errors></Response>";
        let (url, server) =
            scripted(vec![(400, "Date: Fri, 31 Dec 9999 23:59:59 GMT\r\n".into(), expired.into())]).await;
        let e = Ec2::new(&conf(&url, 3)).call("DescribeRegions", &[]).await.unwrap_err();
        assert!(e.0.starts_with("RequestExpired: "), "{}", e.0);
        assert_eq!(server.await.unwrap().len(), 1);
    }
}
