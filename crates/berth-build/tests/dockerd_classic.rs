//! The parser against what dockerd's classic builder did with the same Dockerfile
//! (recorded under tests/dockerd-classic/, see its README): one step per history
//! entry after FROM, in order, each entry naming the step's instruction.

use std::path::Path;

#[test]
fn metadata_steps_line_up_with_dockerds_history() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dockerd-classic/metadata");
    let text = std::fs::read_to_string(dir.join("Dockerfile")).expect("Dockerfile");
    let history = std::fs::read_to_string(dir.join("history.txt")).expect("history.txt");
    let df = berth_build::Dockerfile::parse(&text).expect("parses");
    assert_eq!(df.stages.len(), 1);
    let steps = &df.stages[0].steps;
    assert_eq!(steps[0].instruction.keyword(), "FROM");
    let entries: Vec<&str> = history.lines().collect();
    assert_eq!(steps.len() - 1, entries.len(), "{entries:#?}");
    for (step, entry) in steps[1..].iter().zip(&entries) {
        let kw = step.instruction.keyword();
        let (_, after) = entry
            .split_once("#(nop)")
            .unwrap_or_else(|| panic!("no #(nop) in {entry}"));
        assert!(
            after.trim_start().starts_with(kw),
            "step {:?} against dockerd's {entry:?}",
            step.original
        );
    }
    // dockerd printed `Step 18/18 : LABEL v=$V`: the original text, unexpanded.
    assert_eq!(
        steps.last().map(|s| s.original.as_str()),
        Some("LABEL v=$V")
    );
}
