//! The chart's README documents every value: its values table is generated from the `# --`
//! comments of values.yaml and must match them.

use switchyard_chart_tests::{chart_dir, chart_values, undocumented_values, value_docs, values_table};

/// The values table of helm/switchyard/README.md is generated from the `# --` comments of
/// values.yaml. `SWITCHYARD_BLESS=1 cargo nextest run -p switchyard-chart-tests readme` rewrites it.
#[test]
fn readme_documents_every_value() {
    let (text, values) = chart_values().unwrap();
    let docs = value_docs(&text);
    let undocumented = undocumented_values(&values, &docs);
    assert!(undocumented.is_empty(), "values without a `# --` comment: {undocumented:?}");
    let table = values_table(&values, &docs);
    let readme_path = chart_dir().join("README.md");
    let readme = std::fs::read_to_string(&readme_path).unwrap();
    let (start, end) = ("<!-- values-table:start -->\n", "<!-- values-table:end -->");
    let (before, rest) = readme.split_once(start).expect("README.md lacks the values-table:start marker");
    let (current, after) = rest.split_once(end).expect("README.md lacks the values-table:end marker");
    if current != table {
        if std::env::var_os("SWITCHYARD_BLESS").is_some() {
            std::fs::write(&readme_path, format!("{before}{start}{table}{end}{after}")).unwrap();
        } else {
            panic!(
                "helm/switchyard/README.md's values table is out of date with values.yaml; regenerate it with \
                 SWITCHYARD_BLESS=1 cargo nextest run -p switchyard-chart-tests readme"
            );
        }
    }
}
