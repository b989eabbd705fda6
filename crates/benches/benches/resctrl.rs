//! resctrl's cases: parsing `mon_data` event files, and reading every event of every
//! domain of 1,000 groups through the fake (the file walk a sampling round does).

use std::path::PathBuf;
use std::process::ExitCode;

use benches::{Case, Measure};
use resctrl::fake::{FakeReading, FakeResctrl};
use resctrl::{MonEvent, Reading, Resctrl};

const GROUPS: u32 = 1_000;
/// Event files parsed by the parse case: a node's worth of groups, domains and events.
const FILES: usize = 30_000;

const CASES: &[Case] = &[
    Case::new("resctrl/parse-mon-data-30000-files", parse),
    Case::new("resctrl/read-monitoring-1000-groups", read_groups),
];

fn parse(measure: &mut Measure) -> Result<(), String> {
    // What the kernel writes: a decimal count and a newline, now and then a marker.
    let texts: Vec<String> = (0..FILES as u64)
        .map(|i| match i % 50 {
            0 => "Unavailable\n".to_string(),
            _ => format!("{}\n", i * 1_048_573),
        })
        .collect();
    let readings: Vec<Reading> =
        measure.measure(|| texts.iter().map(|t| Reading::parse(t)).collect());
    let values = readings.iter().filter_map(|r| r.value()).count();
    if values != FILES - FILES / 50 || readings[1] != Reading::Value(1_048_573) {
        return Err(format!("{values} of {FILES} files parsed as values"));
    }
    Ok(())
}

fn read_groups(measure: &mut Measure) -> Result<(), String> {
    let fake = FakeResctrl::builder().num_rmids(GROUPS + 1).build();
    let rc = Resctrl::with_provider(fake.clone(), fake.config()).map_err(|e| e.to_string())?;
    let groups: Vec<PathBuf> = (0..GROUPS)
        .map(|g| {
            rc.create_group(&format!("pod-{g}"))
                .map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;
    for (g, group) in groups.iter().enumerate() {
        for domain in fake.l3_domains() {
            fake.set_reading(
                group,
                domain,
                MonEvent::LlcOccupancy,
                FakeReading::Value(g as u64 * 4096),
            );
        }
    }
    let read = measure.measure(|| {
        groups
            .iter()
            .map(|g| rc.read_group_monitoring(g))
            .collect::<Result<Vec<_>, _>>()
    });
    let read = read.map_err(|e| e.to_string())?;
    let last = read
        .last()
        .and_then(|r| r.domains.first())
        .map(|d| d.llc_occupancy);
    if read.len() != GROUPS as usize || last != Some(Reading::Value(u64::from(GROUPS - 1) * 4096)) {
        return Err(format!(
            "read {} groups, last occupancy {last:?}",
            read.len()
        ));
    }
    Ok(())
}

fn main() -> ExitCode {
    benches::main(CASES)
}
