//! Running the README's shell examples verbatim against a test cluster: the blocks of a
//! section, with the documented ports, binary path and tool name changed to the test's.

/// Every shell block of the README section under `heading`, in order.
pub fn shell_blocks(heading: &str) -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let section = readme.split(heading).nth(1).unwrap_or_else(|| panic!("the README has a section {heading:?}"));
    let section = section.split("\n## ").next().unwrap();
    section.split("```sh").skip(1).map(|b| b.split("```").next().unwrap().to_owned()).collect()
}

/// `script` pointed at `cluster` with the grpcurl at `grpcurl`; each background line (`... &`)
/// writes to `<stream>.<n>`, its pid appended to `<stream>.pids`.
pub fn on_cluster(cluster: &super::Cluster, script: &str, grpcurl: &str, stream: &str) -> String {
    let mut out = script.to_owned();
    for (service, port) in [("connectors", 7101), ("router", 7102), ("capacity", 7103), ("automessages", 7104)] {
        let addr = cluster.grpc[service].trim_start_matches("http://").replace("127.0.0.1", "localhost");
        out = out.replace(&format!("localhost:{port}"), &addr);
    }
    let out = out
        .replace("grpcurl ", &format!("{grpcurl} "))
        .replace("target/release/switchyard", env!("CARGO_BIN_EXE_switchyard"));
    let mut streams = 0;
    out.lines()
        .map(|line| match line.strip_suffix(" &") {
            Some(foreground) => {
                streams += 1;
                format!("{foreground} > '{stream}.{streams}' 2>&1 &\necho $! >> '{stream}.pids'")
            }
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}
