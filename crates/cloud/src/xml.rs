//! The XML of AWS's query APIs (EC2's answers) as a small tree: parsed with `xmlparser`, a
//! tokenizer, because the answers are small and read once, and a tree makes every field one path.
//! Its input comes from the network: bad XML is an error, never a panic (fuzzed: the `ec2_xml`
//! target), nesting is bounded, no entity of a DTD is ever expanded.

/// Deeper XML than any EC2 response is refused (the tree is dropped recursively).
pub const MAX_DEPTH: usize = 64;

/// An XML element: its local name, its text and its child elements.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub text: String,
    pub children: Vec<Node>,
}

impl Node {
    /// The first child element named `name`.
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The element at the end of `path`, one child name at a time.
    pub fn at(&self, path: &[&str]) -> Option<&Node> {
        path.iter().try_fold(self, |n, name| n.child(name))
    }

    /// The text of the element at `path`, if it is there and not empty (EC2 leaves out what is
    /// unset; an emulator may give it empty).
    pub fn text_at(&self, path: &[&str]) -> Option<&str> {
        self.at(path).map(|n| n.text.as_str()).filter(|t| !t.is_empty())
    }

    /// The `item`s of the list element `set` (EC2's `...Set` lists).
    pub fn items<'a>(&'a self, set: &str) -> impl Iterator<Item = &'a Node> + 'a {
        self.child(set).into_iter().flat_map(|s| s.children.iter().filter(|c| c.name == "item"))
    }
}

/// Parses an XML document into its root element. Text is unescaped; namespaces, attributes,
/// comments and declarations are dropped; a DTD's entities are never expanded.
pub fn parse_xml(doc: &str) -> Result<Node, String> {
    use xmlparser::{ElementEnd, Token};
    let mut stack: Vec<Node> = Vec::new();
    let mut root = None;
    for token in xmlparser::Tokenizer::from(doc) {
        match token.map_err(|e| format!("XML: {e}"))? {
            Token::ElementStart { local, .. } => {
                if root.is_some() {
                    return Err("XML: more than one root element".into());
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(format!("XML: nested deeper than {MAX_DEPTH}"));
                }
                stack.push(Node { name: local.as_str().to_string(), ..Node::default() });
            }
            Token::ElementEnd { end: ElementEnd::Open, .. } => {}
            Token::ElementEnd { end, .. } => {
                let node = stack.pop().ok_or("XML: an end without a start")?;
                if let ElementEnd::Close(_, local) = end {
                    if local.as_str() != node.name {
                        return Err(format!("XML: <{}> closed by </{}>", node.name, local.as_str()));
                    }
                }
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => root = Some(node),
                }
            }
            Token::Text { text } => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&unescape(text.as_str())?);
                }
            }
            Token::Cdata { text, .. } => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(text.as_str());
                }
            }
            _ => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(format!("XML: <{}> never closed", open.name));
    }
    root.ok_or_else(|| "XML: no root element".to_string())
}

/// XML's five named references and numeric character references.
fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let end = rest[i..].find(';').ok_or_else(|| format!("XML: unterminated reference in {s:?}"))?;
        let name = &rest[i + 1..i + end];
        let c = match name {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = match name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => name.strip_prefix('#').and_then(|d| d.parse().ok()),
                };
                code.and_then(char::from_u32).ok_or_else(|| format!("XML: unknown reference &{name};"))?
            }
        };
        out.push(c);
        rest = &rest[i + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// An AWS query API error's code and text (`<Response><Errors><Error>`, or `<ErrorResponse><Error>`),
/// or the status and the start of a body that is none.
pub fn query_error(status: u16, body: &str) -> (Option<String>, String) {
    // Shown on a terminal and matched against known codes: the server's words without their
    // control characters, a code without the blanks around it, a message of bounded length.
    let printable =
        |s: &str, max: usize| s.chars().take(max).map(|c| if c.is_control() { ' ' } else { c }).collect::<String>();
    let root = parse_xml(body).ok();
    let error = root.as_ref().and_then(|r| r.at(&["Errors", "Error"]).or_else(|| r.child("Error")));
    let code = error.and_then(|e| e.text_at(&["Code"])).map(|c| printable(c.trim(), 200));
    let message = error.and_then(|e| e.text_at(&["Message"])).unwrap_or("");
    let text = match &code {
        Some(c) => format!("{c}: {}", printable(message, 1000)),
        None => format!("HTTP {status}: {}", printable(body, 200)),
    };
    (code, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_as_a_tree() {
        // The shape of EC2's DescribeAddresses response (EC2 API Reference, "DescribeAddresses",
        // Example 1), with a reference and CDATA in the text.
        let doc = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeAddressesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
   <requestId>f7de5e98-491a-4c19-a92d-908d6EXAMPLE</requestId>
   <addressesSet>
      <item>
         <publicIp>203.0.113.41</publicIp>
         <allocationId>eipalloc-08229861</allocationId>
         <domain>vpc</domain>
         <instanceId>i-0598c7d356eba48d7</instanceId>
         <associationId>eipassoc-f0229899</associationId>
         <networkInterfaceId>eni-ef229886</networkInterfaceId>
         <tagSet><item><key>Name</key><value>a &amp; b <![CDATA[<c>]]></value></item></tagSet>
      </item>
      <item><publicIp>198.51.100.2</publicIp><domain>vpc</domain><networkInterfaceId/></item>
   </addressesSet>
</DescribeAddressesResponse>"#;
        let root = parse_xml(doc).unwrap();
        assert_eq!(root.name, "DescribeAddressesResponse");
        let items: Vec<_> = root.items("addressesSet").collect();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].text_at(&["publicIp"]), Some("203.0.113.41"));
        assert_eq!(items[0].text_at(&["networkInterfaceId"]), Some("eni-ef229886"));
        assert_eq!(items[0].items("tagSet").next().unwrap().text_at(&["value"]), Some("a & b <c>"));
        assert_eq!(items[1].text_at(&["networkInterfaceId"]), None);
        assert_eq!(items[1].text_at(&["allocationId"]), None);
    }

    #[test]
    fn bad_xml_is_an_error_never_a_panic() {
        for doc in [
            "",
            "<a>",
            "<a></b>",
            "</a>",
            "<a/><b/>",
            "<a>&bogus;</a>",
            "<a>&#xD800;</a>",
            "<a>&amp</a>",
            &"<a>".repeat(MAX_DEPTH + 1),
        ] {
            assert!(parse_xml(doc).is_err(), "{doc:?}");
        }
        // A DTD's entities are not expanded.
        let doc = r#"<!DOCTYPE a [<!ENTITY x "boom">]><a>&x;</a>"#;
        assert!(parse_xml(doc).is_err());
        assert_eq!(unescape("&#65;&#x42;&lt;&gt;&quot;&apos;").unwrap(), "AB<>\"'");
    }

    #[test]
    fn errors_name_their_code() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>ea966190-f9aa-478e-9ede-example</RequestID></Response>"#;
        let (code, text) = query_error(503, body);
        assert_eq!(code.as_deref(), Some("RequestLimitExceeded"));
        assert_eq!(text, "RequestLimitExceeded: Request limit exceeded.");
        assert_eq!(query_error(502, "<html>bad gateway</html>").1, "HTTP 502: <html>bad gateway</html>");
        assert_eq!(query_error(502, "no\x1b[2Jclear\nline").1, "HTTP 502: no [2Jclear line");
    }

    #[test]
    fn an_error_code_with_control_characters_is_shown_and_matched_printable() {
        // Found by the ec2_xml fuzz target: the code was kept as it came while the text shown
        // had its control characters replaced.
        let (code, text) = query_error(400, "<Response><Errors><Error><Code> Throttling\tsoon\r\n</Code><Message>m</Message></Error></Errors></Response>");
        assert_eq!(code.as_deref(), Some("Throttling soon"));
        assert_eq!(text, "Throttling soon: m");
    }
}
