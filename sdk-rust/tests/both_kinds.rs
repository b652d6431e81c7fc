//! A module offering both filter kinds: a network filter tags the
//! connection, and an HTTP filter on the connection's streams reads the tag
//! back (`HostFilter::connection_metadata_*`).

use sluice_sdk::testing::FakeModule;
use sluice_sdk::*;

struct TagConfig {
    tenant: String,
}

impl TagConfig {
    fn new(_: &mut HostConfig<'_>, config: &[u8]) -> Result<TagConfig, String> {
        Ok(TagConfig { tenant: String::from_utf8_lossy(config).into_owned() })
    }
}

impl NetworkFilterConfig for TagConfig {
    fn new_filter(&self, _: &mut HostConnection<'_>) -> Box<dyn NetworkFilter> {
        Box::new(Tag { tenant: self.tenant.clone() })
    }
}

struct Tag {
    tenant: String,
}

impl NetworkFilter for Tag {
    fn on_new_connection(&mut self, host: &mut HostConnection<'_>) -> NetworkStatus {
        host.set_metadata_string("tagger", "tenant", &self.tenant).unwrap();
        let port = host.attribute_int(Attribute::DestinationPort).unwrap();
        host.set_metadata_number("tagger", "port", port as f64).unwrap();
        NetworkStatus::Continue
    }
}

struct ReadTagConfig;

impl ReadTagConfig {
    fn new(_: &mut HostConfig<'_>, _: &[u8]) -> Result<ReadTagConfig, String> {
        Ok(ReadTagConfig)
    }
}

impl HttpFilterConfig for ReadTagConfig {
    fn new_filter(&self, _: &mut HostFilter<'_>) -> Box<dyn HttpFilter> {
        Box::new(ReadTag)
    }
}

struct ReadTag;

impl HttpFilter for ReadTag {
    fn on_request_headers(&mut self, host: &mut HostFilter<'_>, _: bool) -> HeadersStatus {
        match host.connection_metadata_string("tagger", "tenant") {
            Ok(tenant) => {
                let tenant = tenant.to_vec();
                host.set_request_header("x-tenant", tenant).unwrap();
            }
            Err(e) => host.set_request_header("x-tenant-error", format!("{e:?}")).unwrap(),
        }
        if let Ok(port) = host.connection_metadata_number("tagger", "port") {
            host.set_request_header("x-connection-port", port.to_string()).unwrap();
        }
        HeadersStatus::Continue
    }
}

declare_module! {
    filters: { "read_tag" => ReadTagConfig::new },
    network_filters: { "tag" => TagConfig::new },
}

#[test]
fn both_kinds_are_offered_each_under_its_own_names() {
    let sym = __sluice_module::symbols();
    assert!(sym.http.is_some() && sym.network.is_some());
    let m = FakeModule::load(sym).unwrap();
    assert_eq!(m.config("tag", "").err().unwrap(), "unknown filter_name \"tag\" (this module offers: read_tag)");
    assert_eq!(
        m.network_config("read_tag", "").err().unwrap(),
        "unknown network filter_name \"read_tag\" (this module offers network filters: tag)"
    );
}

#[test]
fn the_network_filter_tags_and_the_http_filter_reads() {
    let m = FakeModule::load(__sluice_module::symbols()).unwrap();
    let net = m.network_config("tag", "acme").unwrap();
    let mut conn = net.new_connection().unwrap();
    assert_eq!(conn.start(), NetworkStatus::Continue);
    assert_eq!(conn.metadata_string("tagger", "tenant").unwrap(), b"acme");
    assert_eq!(conn.metadata_number("tagger", "port"), Ok(10000.0));

    // What sluice's HTTP connection manager hands its streams.
    let http = m.config("read_tag", "").unwrap();
    let mut st = http.new_stream().unwrap();
    st.set_connection_metadata_string("tagger", "tenant", "acme");
    st.set_connection_metadata_number("tagger", "port", 10000.0);
    assert_eq!(st.request_headers(true), HeadersStatus::Continue);
    assert_eq!(st.request_header("x-tenant").as_deref(), Some(&b"acme"[..]));
    assert_eq!(st.request_header("x-connection-port").as_deref(), Some(&b"10000"[..]));

    // A connection no network filter tagged.
    let mut bare = http.new_stream().unwrap();
    assert_eq!(bare.request_headers(true), HeadersStatus::Continue);
    assert_eq!(bare.request_header("x-tenant-error").as_deref(), Some(&b"NotFound"[..]));
}
