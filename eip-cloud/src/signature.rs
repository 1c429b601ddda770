//! Both Alibaba Cloud RPC signature schemes as pure functions, usable by a client (to
//! sign) and by a server (to verify by recomputing):
//!
//! - V1: `HMAC-SHA1` over `METHOD&%2F&percentEncode(CanonicalizedQueryString)`, keyed with
//!   `secret + "&"`, base64 (`SignatureVersion=1.0`).
//! - V3: `ACS3-HMAC-SHA256` over a canonical request built from the method, the path, the
//!   query, the signed headers and the hashed payload; hex signature carried in the
//!   `Authorization` header.
//!
//! Percent-encoding is RFC 3986: only `A-Z a-z 0-9 - _ . ~` stay as they are; a space is
//! `%20`, never `+`. A server must form-decode what it received (`+` is a space) before
//! re-encoding with [`percent_encode`]; [`parse_form`] does that.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// The characters RFC 3986 leaves unreserved are kept; everything else is `%XY`.
pub const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `SignatureMethod` of the V1 scheme.
pub const V1_SIGNATURE_METHOD: &str = "HMAC-SHA1";
/// `SignatureVersion` of the V1 scheme.
pub const V1_SIGNATURE_VERSION: &str = "1.0";
/// The algorithm name of the V3 scheme (first word of `Authorization`, first line of the
/// string to sign).
pub const V3_ALGORITHM: &str = "ACS3-HMAC-SHA256";
/// Hex SHA-256 of an empty payload (`x-acs-content-sha256` of a request with no body).
pub const EMPTY_PAYLOAD_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// RFC 3986 percent-encoding of a UTF-8 string (space is `%20`, `*` is `%2A`, `~` stays).
pub fn percent_encode(s: &str) -> String {
    utf8_percent_encode(s, RFC3986).to_string()
}

/// Decodes an `application/x-www-form-urlencoded` string (a query string or a form body):
/// `+` is a space, `%XY` are bytes. This is what a server applies to what it received
/// before it re-encodes the parameters with [`percent_encode`] to verify a signature.
pub fn parse_form(raw: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The canonicalized query string shared by both schemes: parameters sorted by name
/// (byte order, then by value for repeated names), each name and value percent-encoded,
/// `name=value` pairs joined with `&`. Do not pass `Signature` (V1) in `params`.
pub fn canonical_query<K, V>(params: &[(K, V)]) -> String
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    let mut pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .collect();
    pairs.sort_unstable();
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&percent_encode(k));
        out.push('=');
        out.push_str(&percent_encode(v));
    }
    out
}

/// V1 `StringToSign`: `METHOD & percentEncode("/") & percentEncode(canonical query)`.
/// Any parameter named `Signature` is left out.
pub fn v1_string_to_sign<K, V>(method: &str, params: &[(K, V)]) -> String
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    let without_signature: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .filter(|(k, _)| *k != "Signature")
        .collect();
    format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        percent_encode("/"),
        percent_encode(&canonical_query(&without_signature))
    )
}

/// V1 signature: `Base64(HMAC-SHA1(secret + "&", string_to_sign))`.
pub fn v1_signature(access_key_secret: &str, string_to_sign: &str) -> String {
    let key = format!("{access_key_secret}&");
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha1>::new_from_slice(key.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable_hmac(),
    };
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// V1 in one call: the signature of `params` (without `Signature`) sent with `method`.
pub fn v1_sign<K, V>(method: &str, params: &[(K, V)], access_key_secret: &str) -> String
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    v1_signature(access_key_secret, &v1_string_to_sign(method, params))
}

/// Lower-case hex SHA-256 of `data` (`x-acs-content-sha256`, the hashed canonical request).
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// A V3 canonical request and the `SignedHeaders` value it was built with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalRequest {
    /// `METHOD\n/\nquery\nheaders\nsigned-headers\nhashed-payload`.
    pub text: String,
    /// The signed header names, lower-case, sorted, joined with `;`.
    pub signed_headers: String,
}

/// Builds the V3 canonical request. `headers` are the headers to sign, as (name, value)
/// pairs; names are lower-cased and sorted, values trimmed. `hashed_payload` is the hex
/// SHA-256 of the body ([`EMPTY_PAYLOAD_SHA256`] for none).
pub fn v3_canonical_request<K, V, HK, HV>(
    method: &str,
    path: &str,
    query: &[(K, V)],
    headers: &[(HK, HV)],
    hashed_payload: &str,
) -> CanonicalRequest
where
    K: AsRef<str>,
    V: AsRef<str>,
    HK: AsRef<str>,
    HV: AsRef<str>,
{
    let mut hs: Vec<(String, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_ref().trim().to_ascii_lowercase(), v.as_ref().trim()))
        .collect();
    hs.sort();
    let mut canonical_headers = String::new();
    for (k, v) in &hs {
        canonical_headers.push_str(k);
        canonical_headers.push(':');
        canonical_headers.push_str(v);
        canonical_headers.push('\n');
    }
    let signed_headers = hs
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let path = if path.is_empty() { "/" } else { path };
    let text = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        method.to_ascii_uppercase(),
        path,
        canonical_query(query),
        canonical_headers,
        signed_headers,
        hashed_payload
    );
    CanonicalRequest {
        text,
        signed_headers,
    }
}

/// V3 `StringToSign`: `"ACS3-HMAC-SHA256\n" + hex(sha256(canonical_request))`.
pub fn v3_string_to_sign(canonical_request: &str) -> String {
    format!(
        "{V3_ALGORITHM}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// V3 signature: `hex(HMAC-SHA256(secret, string_to_sign))`.
pub fn v3_signature(access_key_secret: &str, string_to_sign: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(access_key_secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable_hmac(),
    };
    mac.update(string_to_sign.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// V3 in one call: builds the canonical request, signs it and returns the
/// `Authorization` value to send.
pub fn v3_sign<K, V, HK, HV>(
    method: &str,
    path: &str,
    query: &[(K, V)],
    headers: &[(HK, HV)],
    hashed_payload: &str,
    access_key_id: &str,
    access_key_secret: &str,
) -> Authorization
where
    K: AsRef<str>,
    V: AsRef<str>,
    HK: AsRef<str>,
    HV: AsRef<str>,
{
    let canonical = v3_canonical_request(method, path, query, headers, hashed_payload);
    let signature = v3_signature(access_key_secret, &v3_string_to_sign(&canonical.text));
    Authorization {
        access_key_id: access_key_id.to_owned(),
        signed_headers: canonical
            .signed_headers
            .split(';')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        signature,
    }
}

/// The V3 `Authorization` header:
/// `ACS3-HMAC-SHA256 Credential=<id>,SignedHeaders=<a;b;c>,Signature=<hex>`.
/// Holds no secret (the signature is a MAC), so `Debug` is derived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The AccessKeyId of `Credential=`.
    pub access_key_id: String,
    /// The lower-case header names of `SignedHeaders=`, in the order given.
    pub signed_headers: Vec<String>,
    /// The hex signature.
    pub signature: String,
}

impl Authorization {
    /// Parses an `Authorization` header value; `None` when it is not a well-formed
    /// `ACS3-HMAC-SHA256` value (unknown algorithm, missing or empty component).
    pub fn parse(value: &str) -> Option<Self> {
        let rest = value.trim().strip_prefix(V3_ALGORITHM)?;
        if !rest.starts_with(' ') {
            return None;
        }
        let mut credential = None;
        let mut signed = None;
        let mut signature = None;
        for part in rest.trim().split(',') {
            let (k, v) = part.trim().split_once('=')?;
            let v = v.trim();
            match k.trim() {
                "Credential" => credential = Some(v),
                "SignedHeaders" => signed = Some(v),
                "Signature" => signature = Some(v),
                _ => {}
            }
        }
        let (credential, signed, signature) = (credential?, signed?, signature?);
        if credential.is_empty() || signed.is_empty() || signature.is_empty() {
            return None;
        }
        Some(Self {
            access_key_id: credential.to_owned(),
            signed_headers: signed
                .split(';')
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
            signature: signature.to_owned(),
        })
    }
}

impl std::fmt::Display for Authorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{V3_ALGORITHM} Credential={},SignedHeaders={},Signature={}",
            self.access_key_id,
            self.signed_headers.join(";"),
            self.signature
        )
    }
}

/// Formats a timestamp the way both schemes want it: `YYYY-MM-DDThh:mm:ssZ` (UTC).
pub fn format_timestamp(ts: jiff::Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Parses a `YYYY-MM-DDThh:mm:ssZ` timestamp (`Timestamp`, `x-acs-date`, metadata
/// `Expiration`); `None` when malformed.
pub fn parse_timestamp(s: &str) -> Option<jiff::Timestamp> {
    let civil = s.trim().strip_suffix('Z')?;
    let dt = jiff::civil::DateTime::strptime("%Y-%m-%dT%H:%M:%S", civil).ok()?;
    dt.to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

/// A fresh nonce for `SignatureNonce` / `x-acs-signature-nonce`: 32 hex characters, as
/// the SDK sends.
pub fn new_nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cold]
fn unreachable_hmac() -> ! {
    // `Hmac::new_from_slice` only fails for fixed-size-key MACs; HMAC takes any key.
    unreachable!("HMAC accepts keys of any length")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alloc_params() -> Vec<(&'static str, &'static str)> {
        vec![
            ("RegionId", "cn-hangzhou"),
            ("Bandwidth", "5"),
            ("ClientToken", "tok-1"),
            ("Name", "my eip/1"),
            ("Tag.1.Key", "k8s"),
            ("Tag.1.Value", "a b"),
        ]
    }

    fn v1_common() -> Vec<(&'static str, &'static str)> {
        vec![
            ("Action", "AllocateEipAddress"),
            ("Format", "json"),
            ("Version", "2016-04-28"),
            ("Timestamp", "2024-01-01T00:00:00Z"),
            ("SignatureNonce", "0123456789abcdef0123456789abcdef"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("AccessKeyId", "testid"),
        ]
    }

    #[test]
    fn percent_encoding_is_rfc3986() {
        assert_eq!(
            percent_encode("a b*c~d-e_f.g/h+"),
            "a%20b%2Ac~d-e_f.g%2Fh%2B"
        );
        assert_eq!(percent_encode("é"), "%C3%A9");
        assert_eq!(percent_encode("12:46:24"), "12%3A46%3A24");
    }

    #[test]
    fn form_decoding_turns_plus_into_space() {
        let parsed = parse_form("Name=my+eip%2F1&Tag.1.Value=a+b&X=%2B");
        assert_eq!(
            parsed,
            vec![
                ("Name".to_owned(), "my eip/1".to_owned()),
                ("Tag.1.Value".to_owned(), "a b".to_owned()),
                ("X".to_owned(), "+".to_owned()),
            ]
        );
    }

    #[test]
    fn v1_published_describe_regions_vector() {
        let params = [
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Format", "XML"),
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("Version", "2014-05-26"),
            ("SignatureVersion", "1.0"),
        ];
        let sts = v1_string_to_sign("GET", &params);
        assert_eq!(
            sts,
            "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
        );
        assert_eq!(
            v1_signature("testsecret", &sts),
            "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
        );
    }

    #[test]
    fn v1_allocate_eip_vectors_post_and_get() {
        let mut params = v1_common();
        params.extend(alloc_params());
        assert_eq!(
            v1_sign("POST", &params, "testsecret"),
            "vIDz0eGaJaFCRifHb/v0QBwKMuk="
        );
        assert_eq!(
            v1_sign("GET", &params, "testsecret"),
            "DiLShpNeVYpR+DK0LBh5xxzzH4g="
        );
        // The Signature parameter itself is never part of what is signed.
        params.push(("Signature", "vIDz0eGaJaFCRifHb/v0QBwKMuk="));
        assert_eq!(
            v1_sign("post", &params, "testsecret"),
            "vIDz0eGaJaFCRifHb/v0QBwKMuk="
        );
        // A different secret gives a different signature.
        assert_ne!(
            v1_sign("POST", &params, "wrongsecret"),
            "vIDz0eGaJaFCRifHb/v0QBwKMuk="
        );
    }

    #[test]
    fn v3_published_run_instances_vector() {
        let query = [
            (
                "ImageId",
                "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd",
            ),
            ("RegionId", "cn-shanghai"),
        ];
        let headers = [
            ("host", "ecs.cn-shanghai.aliyuncs.com"),
            ("x-acs-action", "RunInstances"),
            ("x-acs-content-sha256", EMPTY_PAYLOAD_SHA256),
            ("x-acs-date", "2023-10-26T09:01:01Z"),
            ("x-acs-signature-nonce", "d410180a5abf7fe235dd9b74aca91fc0"),
            ("x-acs-version", "2014-05-26"),
        ];
        let canonical = v3_canonical_request("POST", "/", &query, &headers, EMPTY_PAYLOAD_SHA256);
        let hashed = sha256_hex(canonical.text.as_bytes());
        assert!(hashed.starts_with("29622f5f"), "{hashed}");
        assert!(hashed.ends_with("5015"), "{hashed}");
        let auth = v3_sign(
            "POST",
            "/",
            &query,
            &headers,
            EMPTY_PAYLOAD_SHA256,
            "YourAccessKeyId",
            "YourAccessKeySecret",
        );
        assert_eq!(
            auth.signature,
            "e521358f7776c97df52e6b2891a8bc73026794a071b50c3323388c4e0df64804"
        );
        assert_eq!(
            auth.to_string(),
            "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=e521358f7776c97df52e6b2891a8bc73026794a071b50c3323388c4e0df64804"
        );
    }

    #[test]
    fn v3_allocate_eip_vector() {
        let query = alloc_params();
        assert_eq!(
            canonical_query(&query),
            "Bandwidth=5&ClientToken=tok-1&Name=my%20eip%2F1&RegionId=cn-hangzhou&Tag.1.Key=k8s&Tag.1.Value=a%20b"
        );
        // Header order and case in the input do not matter.
        let headers = [
            ("X-Acs-Signature-Nonce", "0123456789abcdef0123456789abcdef"),
            ("host", "vpc.aliyuncs.com"),
            ("x-acs-version", "2016-04-28"),
            ("x-acs-action", "AllocateEipAddress"),
            ("x-acs-date", " 2024-01-01T00:00:00Z "),
            ("x-acs-content-sha256", EMPTY_PAYLOAD_SHA256),
        ];
        let canonical = v3_canonical_request("POST", "/", &query, &headers, EMPTY_PAYLOAD_SHA256);
        assert_eq!(
            sha256_hex(canonical.text.as_bytes()),
            "f5ab89265e69b6237decf1f77abf2bd2dd7920c333853ab3e400c4a4db673851"
        );
        assert_eq!(
            v3_signature("testsecret", &v3_string_to_sign(&canonical.text)),
            "b197889e7f75775309835e0833f15222906e8e58c539740db41ed99d0fb14a82"
        );
        // What a server receives on the wire (form-encoded, `+` for space) verifies too.
        let wire = parse_form(
            "Bandwidth=5&ClientToken=tok-1&Name=my+eip%2F1&RegionId=cn-hangzhou&Tag.1.Key=k8s&Tag.1.Value=a+b",
        );
        let again = v3_canonical_request("POST", "", &wire, &headers, EMPTY_PAYLOAD_SHA256);
        assert_eq!(again, canonical);
    }

    #[test]
    fn authorization_round_trips_and_rejects_garbage() {
        let header =
            "ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=host;x-acs-action,Signature=abc";
        let auth = Authorization::parse(header).expect("valid header parses");
        assert_eq!(auth.access_key_id, "testid");
        assert_eq!(auth.signed_headers, vec!["host", "x-acs-action"]);
        assert_eq!(auth.signature, "abc");
        assert_eq!(auth.to_string(), header);
        let spaced = "ACS3-HMAC-SHA256 Credential=testid, SignedHeaders=host, Signature=abc";
        assert_eq!(
            Authorization::parse(spaced).map(|a| a.signature),
            Some("abc".to_owned())
        );
        for bad in [
            "",
            "ACS3-HMAC-SHA256",
            "ACS3-HMAC-SHA256Credential=a,SignedHeaders=h,Signature=s",
            "AWS4-HMAC-SHA256 Credential=a,SignedHeaders=h,Signature=s",
            "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=h",
            "ACS3-HMAC-SHA256 Credential=,SignedHeaders=h,Signature=s",
            "ACS3-HMAC-SHA256 Credential=a,SignedHeaders,Signature=s",
        ] {
            assert_eq!(Authorization::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn timestamps_round_trip() {
        let ts = parse_timestamp("2016-02-23T12:46:24Z").expect("valid timestamp");
        assert_eq!(format_timestamp(ts), "2016-02-23T12:46:24Z");
        assert_eq!(parse_timestamp("2016-02-23 12:46:24"), None);
        assert_eq!(parse_timestamp("garbage"), None);
        let nonce = new_nonce();
        assert_eq!(nonce.len(), 32);
        assert!(nonce.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(nonce, new_nonce());
    }
}
